"""When a version ran live as a shadow or a canary, read from the environment files' git history.

A promotion's pull request shows how the version behaved live (issue 16). The window of that
behaviour is a run: the committed revisions of ``environments/<env>.yaml`` in which the version is
the deployment's candidate in one role, from the commit that made it so until the commit that
changed it (or until now, when it still is). Of every environment's latest run, the one that
ended last wins (one still running beats any that stopped), the promotion's own environment first
on a tie.

Commit times are written by whoever made the commit: a run's start is clamped into
``[end - MAX_WINDOW_SECONDS, end]``, so a forged date can neither widen the queries without bound
nor put the window in the future.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from mlopsctl.gitops.snapshot import Revision, Snapshot, deployment_revisions
from mlopsctl.registry.records import is_version
from mlopsctl.spec.models import NAME_PATTERN

LIVE_ROLES = ("shadow", "canary")
MAX_REVISIONS = 2000
"""Revisions of one environment file read when looking for a run (the newest ones)."""
MAX_WINDOW_SECONDS = 30 * 86400
"""The longest window evidence is read over: 30 days before the run's end."""


@dataclass(frozen=True)
class LiveRun:
    """``candidate`` running as ``role`` beside ``stable`` in ``env`` from ``start`` until ``end``."""

    env: str
    role: str
    candidate: int
    stable: int | None
    start: float
    started_by: str
    """The commit that made the version the candidate."""
    end: float
    ended_by: str | None
    """The commit that changed it, or None when it still runs."""
    clamped: bool = False
    """The start was moved to ``end - MAX_WINDOW_SECONDS`` (or to ``end``: a date in the future)."""

    @property
    def running(self) -> bool:
        return self.ended_by is None


def latest_live_run(
    snap: Snapshot, model: str, version: int, prefer_env: str, now: float | None = None
) -> LiveRun | None:
    """The run of ``model@version`` as a shadow or canary that ended last in any environment, or None."""
    now = time.time() if now is None else now
    envs = [env for env in snap.environment_names() if re.fullmatch(NAME_PATTERN, env)]  # others never deploy
    runs = [run for env in envs if (run := env_run(snap, env, model, version, now)) is not None]
    if not runs:
        return None
    return max(runs, key=lambda run: (run.running, run.end, run.env == prefer_env))


def env_run(snap: Snapshot, env: str, model: str, version: int, now: float) -> LiveRun | None:
    """The latest run of ``model@version`` as a shadow or canary in ``env``, or None."""
    revisions = env_revisions(snap, env, model)
    newest = next((i for i, rev in enumerate(revisions) if _live_role(rev.deployment, version)), None)
    if newest is None:
        return None
    role = _live_role(revisions[newest].deployment, version)
    oldest = newest
    while oldest + 1 < len(revisions) and _live_role(revisions[oldest + 1].deployment, version) == role:
        oldest += 1
    ended = revisions[newest - 1] if newest > 0 else None
    end = min(ended.time, now) if ended is not None else now
    start = min(max(revisions[oldest].time, end - MAX_WINDOW_SECONDS), end)
    return LiveRun(
        env=env,
        role=str(role),
        candidate=version,
        stable=_stable(revisions[newest].deployment),
        start=start,
        started_by=revisions[oldest].commit,
        end=end,
        ended_by=ended.commit if ended is not None else None,
        clamped=start != revisions[oldest].time,
    )


def env_revisions(snap: Snapshot, env: str, model: str) -> list[Revision]:
    """``model``'s deployment in the newest committed revisions of ``env``'s file, newest first (a revision
    that does not parse has no deployment, so it ends a run)."""
    return list(deployment_revisions(snap, env, model, MAX_REVISIONS))


def _live_role(deployment: dict[str, Any] | None, version: int) -> str | None:
    """``shadow`` or ``canary`` when ``version`` is the deployment's candidate in that role."""
    if not deployment or deployment.get("candidate") != version:
        return None
    role = deployment.get("strategy")
    return role if role in LIVE_ROLES else None


def _stable(deployment: dict[str, Any] | None) -> int | None:
    version = deployment.get("version") if deployment else None
    return version if is_version(version) else None
