"""Helpers the tests share: repositories, fitted models, real services and fakes.

Test modules import from here, never from each other (tests/unit/test_test_layout.py checks it).
"""
