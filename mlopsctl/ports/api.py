"""What the faces ask of the ports: the log of every outside operation they ran.

Each port (git, Docker, HTTP, processes, Prometheus) records its calls in :mod:`mlopsctl.oplog`;
the dashboard's Log view subscribes here, and records its own failed workers next to them.
"""

from __future__ import annotations

from mlopsctl.oplog import Listener, Operation, record, subscribe

__all__ = ["Listener", "Operation", "record", "subscribe"]
