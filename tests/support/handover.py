"""Helpers for the handover tests (no tests here): the handover sockets of an environment's services."""

from __future__ import annotations

from pathlib import Path

from mlopsctl.deploy.api import light_repo
from mlopsctl.deploy.handover import handover_path, is_socket
from tests.support.apply_repo import state


def handover_sockets(root: Path, env: str) -> list[Path]:
    """The handover sockets that exist for the instances the deploy state records."""
    repo = light_repo(root)
    paths = [handover_path(repo, env, str(instance["id"])) for instance in state(root, env)["instances"]]
    return [path for path in paths if path is not None and is_socket(path)]


def started_before_handovers(root: Path, env: str) -> None:
    """Make the recorded services look started by an mlopsctl without handovers: their sockets go.

    The service still listens on the unlinked socket, but nobody can reach it there, so apply
    replaces it the old way (preflight on a scratch port, stop, start): the path the docker
    target takes too.
    """
    for path in handover_sockets(root, env):
        path.unlink()
