"""Ports: the one place each outside system (git, Docker, HTTP, processes, Prometheus) is reached.

One module per outside system; each records every call in :mod:`mlopsctl.oplog`, so the
dashboard's Log view and the CLI's "what I ran" lines see the same operations whoever ran them.
"""
