"""Where a canary is in its rollout: which step its weight is, and since when.

A step starts at the commit that set the deployment's current canary (the same candidate at the
same weight): the environment file's revisions are walked back from ``HEAD`` until the deployment
read differently (:func:`mlopsctl.gitops.snapshot.deployment_revisions`, the walk promotions use). The walk is bounded
(:data:`MAX_COMMITS`); a step older than that counts from the oldest commit read, which only makes
it older, never younger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.gitops.snapshot import Snapshot, deployment_revisions
from mlopsctl.ports.git import Git
from mlopsctl.spec.models import Deployment, ModelSpec

MAX_COMMITS = 200
"""Commits of the environment file read to find when a step started."""
FULL = 100


@dataclass(frozen=True)
class Step:
    """The step a canary deployment is at."""

    index: int
    """0-based position in :attr:`weights`."""
    weights: tuple[int, ...]
    """The rollout's steps, ending at 100 (the full promotion)."""
    started: float
    """Unix time of the commit that set this step's weight."""
    commit: str

    @property
    def weight(self) -> int:
        return self.weights[self.index]

    @property
    def number(self) -> str:
        """``1/4``: this step, of how many."""
        return f"{self.index + 1}/{len(self.weights)}"

    @property
    def next_weight(self) -> int:
        return self.weights[self.index + 1]

    @property
    def next_number(self) -> str:
        return f"{self.index + 2}/{len(self.weights)}"

    @property
    def last(self) -> bool:
        """The next step is the full promotion."""
        return self.next_weight == FULL


def rollout_weights(spec: ModelSpec) -> tuple[int, ...]:
    """``rollout.steps``, with the full promotion (100) after the last step when the spec leaves it out."""
    steps = tuple(spec.rollout.steps)
    return steps if steps[-1] == FULL else (*steps, FULL)


def step_started(root: Path, env: str, model: str, deployment: Deployment) -> tuple[str, float]:
    """The commit (and its time) from which the deployment's canary has read as it reads at ``HEAD``."""
    wanted = (deployment.version, deployment.strategy, deployment.candidate, deployment.weight)
    since: tuple[str, float] | None = None
    for revision in deployment_revisions(Snapshot(Git(root)), env, model, MAX_COMMITS):
        if _placement(revision.deployment) != wanted:
            break
        since = (revision.commit, revision.time)
    if since is None:  # not committed yet: the step starts now
        return "", 0.0
    return since


def _placement(found: dict[str, Any] | None) -> tuple[object, ...] | None:
    """(version, strategy, candidate, weight) of a deployment as committed (None: absent or unreadable)."""
    if found is None:
        return None
    return (found.get("version"), found.get("strategy", "replace"), found.get("candidate"), found.get("weight"))
