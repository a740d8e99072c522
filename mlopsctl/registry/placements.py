"""Per environment and model: what Git wants to run, and what was last seen running, side by side.

* **Wanted** is the environment file as committed at ``HEAD`` (what ``plan`` and ``apply`` read;
  an edit not committed yet is never applied). All files come through one ``git ls-tree`` and one
  batched ``cat-file``. Before the first commit there is nothing Git wants.
* **Running** is what the last ``apply`` (or ``down``) recorded on this machine in the endpoints
  file ``<state_dir>/targets/<env>.json`` (its format is :mod:`mlopsctl.monitor.targets`'): no
  process or network is probed, so a listing stays fast and works offline. An environment never
  applied here is unknown ("-"); ``mlopsctl plan --env ENV`` checks the live services.

The two differ after a promotion that was not applied yet: ``production: wants v2, running v1``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.errors import MlopsError
from mlopsctl.ports.git import Git
from mlopsctl.spec.environments import env_path, parse_environment
from mlopsctl.spec.models import NAME_PATTERN, Deployment, Environment
from mlopsctl.state_links import refuse_state_links

UNKNOWN = "-"
ROLE_ORDER = {"stable": 0, "canary": 1, "shadow": 2}


@dataclass(frozen=True, slots=True)
class Wanted:
    """One deployment of a committed environment file."""

    deployment: Deployment

    @property
    def version(self) -> int:
        return self.deployment.version

    @property
    def strategy(self) -> str:
        return self.deployment.strategy

    @property
    def candidate(self) -> int | None:
        return self.deployment.candidate

    @property
    def weight(self) -> int | None:
        return self.deployment.weight

    def versions(self) -> list[int]:
        return [self.version] if self.candidate is None else [self.version, self.candidate]

    def text(self) -> str:
        """``v3``, ``v2 + v3 (canary 20%)``, ``v2 + v3 (shadow)``."""
        if self.candidate is None:
            return f"v{self.version}"
        share = f" {self.weight}%" if self.weight is not None else ""
        return f"v{self.version} + v{self.candidate} ({self.strategy}{share})"

    def to_dict(self) -> dict[str, Any]:
        return self.deployment.model_dump(exclude_defaults=True)


@dataclass(frozen=True, slots=True)
class Served:
    """One version answering (or shadowing) for a model, as apply recorded it."""

    version: int
    role: str
    """stable, canary or shadow."""

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "role": self.role}


@dataclass(slots=True)
class Placement:
    """One model in one environment: what Git wants (None: nothing) and what runs (None: unknown)."""

    env: str
    wants: Wanted | None
    running: list[Served] | None
    applied_commit: str | None = None

    def running_versions(self) -> list[int]:
        return [served.version for served in self.running or []]

    def wants_text(self) -> str:
        return self.wants.text() if self.wants is not None else "nothing"

    def running_text(self) -> str:
        """``v2 + v3``; ``-`` when nothing is known here; ``nothing`` when apply left none running."""
        if self.running is None:
            return UNKNOWN
        return " + ".join(f"v{served.version}" for served in self.running) or "nothing"

    def text(self) -> str:
        """``wants v3 (canary 20%)``-style summary: ``wants v2 + v3 (canary 20%), running v2``."""
        return f"wants {self.wants_text()}, running {self.running_text()}"

    def in_sync(self) -> bool | None:
        """Whether what runs is what Git wants (None: what runs is unknown)."""
        if self.running is None:
            return None
        wanted = self.wants.versions() if self.wants is not None else []
        return sorted(wanted) == sorted(self.running_versions())

    def to_dict(self) -> dict[str, Any]:
        return {
            "wants": self.wants.to_dict() if self.wants is not None else None,
            "running": [served.to_dict() for served in self.running] if self.running is not None else None,
            "applied_commit": self.applied_commit,
            "in_sync": self.in_sync(),
        }


@dataclass
class Observed:
    """What the last apply recorded for one environment: model -> what it serves."""

    commit: str | None = None
    served: dict[str, list[Served]] = field(default_factory=dict)


Placements = dict[str, dict[str, Placement]]
"""model -> environment -> placement, for every environment that wants or runs the model."""


def placements(git: Git, head: str | None, state_dir: Path, fallback: dict[str, Environment]) -> Placements:
    """Every model's placement in every environment known at ``head`` (``HEAD``) or on this machine.

    ``fallback`` (the working tree's environment files) is used only before the first commit.
    """
    wanted = committed_environments(git, head) if head is not None else None
    if wanted is None:
        wanted = fallback
    observed = _observed(git.root, state_dir)
    found: Placements = {}
    for env in sorted(set(wanted) | set(observed)):
        deployments = wanted[env].deployments if env in wanted else {}
        seen = observed.get(env)
        for model in sorted(set(deployments) | set(seen.served if seen else {})):
            found.setdefault(model, {})[env] = _placement(env, deployments.get(model), seen, model)
    return found


def _placement(env: str, deployment: Deployment | None, seen: Observed | None, model: str) -> Placement:
    wants = Wanted(deployment) if deployment is not None else None
    if seen is None:
        return Placement(env, wants, None)
    return Placement(env, wants, seen.served.get(model, []), seen.commit)


# --------------------------------------------------------------------------- wanted: the files at HEAD


def committed_environments(git: Git, head: str) -> dict[str, Environment] | None:
    """Environment files as committed at ``head`` (one that does not validate is left out), or None
    when git cannot read them. ``validate`` and ``plan`` report a broken file, with its line."""
    try:
        listing = git.out("ls-tree", "--name-only", head, "environments/").splitlines()
        names = sorted(Path(line).stem for line in listing if line.endswith(".yaml"))
        names = [name for name in names if re.fullmatch(NAME_PATTERN, name)]
        texts = git.read_blobs([f"{head}:{env_path(name)}" for name in names])
    except MlopsError:
        return None
    return {name: environment for name, text in zip(names, texts, strict=True) if (environment := _parsed(name, text))}


def _parsed(name: str, text: str | None) -> Environment | None:
    try:
        return parse_environment(name, text or "")
    except MlopsError:
        return None


# --------------------------------------------------------------------------- running: what apply recorded


def _observed(root: Path, state_dir: Path) -> dict[str, Observed]:
    """Every environment apply recorded on this machine, and what it left running."""
    found = {env: observed_environment(root, state_dir, env) for env in _observed_names(root, state_dir)}
    return {env: observed for env, observed in found.items() if observed is not None}


def _observed_names(root: Path, state_dir: Path) -> list[str]:
    folder = state_dir / "targets"
    try:
        refuse_state_links(root, folder)
        return sorted(path.stem for path in folder.glob("*.json") if re.fullmatch(NAME_PATTERN, path.stem))
    except (OSError, MlopsError):
        return []


def observed_environment(root: Path, state_dir: Path, env: str) -> Observed | None:
    """What apply recorded for ``env``, or None when it recorded nothing readable here."""
    path = state_dir / "targets" / f"{env}.json"
    try:
        refuse_state_links(root, path)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, MlopsError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
        return None
    observed = Observed(commit=data["commit"] if isinstance(data.get("commit"), str) else None)
    for row in data["endpoints"]:
        _add_endpoint(observed, row)
    for served in observed.served.values():
        served.sort(key=lambda s: (ROLE_ORDER.get(s.role, len(ROLE_ORDER)), s.version))
    return observed


def _add_endpoint(observed: Observed, row: Any) -> None:
    """One endpoint row; a row that does not read (a hand-edited file) is skipped."""
    if not isinstance(row, dict):
        return
    model, version, role = row.get("model"), row.get("version"), row.get("role", "stable")
    if not isinstance(model, str) or re.fullmatch(NAME_PATTERN, model) is None:
        return
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(role, str):
        return
    served = observed.served.setdefault(model, [])
    if all(s.version != version or s.role != role for s in served):
        served.append(Served(version, role))
