"""What the faces ask of the team's shared stores: push this machine's artifacts to the artifact store.

The work is the registry's (:mod:`mlopsctl.registry.push`); this door exists because the faces
reach the core only through ``api`` modules.
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.registry.api import open_registry
from mlopsctl.registry.push import (
    ALREADY_THERE,
    MISSING,
    UPLOADED,
    PushedArtifact,
    PushResult,
    missing_error,
    push_artifacts as _push_artifacts,
)


def push_artifacts(root: Path | None, refs: list[str], *, every_version: bool = False) -> PushResult:
    """Upload the artifacts of ``refs`` (MODEL@VERSION), or of every version, that the store lacks.

    Raises NotFound (exit 1) after pushing the rest when some are neither there nor on this machine.
    """
    repo = open_registry(root)
    result = _push_artifacts(repo, refs, every_version=every_version)
    return result


__all__ = ["ALREADY_THERE", "MISSING", "UPLOADED", "PushResult", "PushedArtifact", "missing_error", "push_artifacts"]
