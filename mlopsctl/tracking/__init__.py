"""Experiment tracking: every training run recorded in a local SQLite database."""
