"""What the dashboard shows, gathered without Textual: models, where their versions run, health.

The faces reach it through :mod:`mlopsctl.overview.api`.

The first screen must be quick on large repositories (200 models, 2,000 versions), so
:func:`read_overview` touches only what the models table needs: model folder names, registry
file names and the environment files. Specs, records, runs and health are read on demand or by
background workers, and merged in with :meth:`Overview.merge_health`.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlopsctl.registry.paths import version_numbers  # not records: the record model costs ~65 ms to import
from mlopsctl.spec.models import NAME_PATTERN, Environment
from mlopsctl.spec.yamlpos import safe_load

if TYPE_CHECKING:
    from mlopsctl.monitor.health import HealthReport

HISTORY_POINTS = 60
"""Samples kept per model for the request-rate sparkline."""

NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Placement:
    """What one environment says about one model."""

    env: str
    version: int
    strategy: str = "replace"
    candidate: int | None = None
    weight: int | None = None

    def label(self) -> str:
        if self.candidate is None:
            return f"v{self.version}"
        if self.strategy == "canary":
            return f"v{self.version}→v{self.candidate} {self.weight}%"
        return f"v{self.version}+v{self.candidate} shadow"

    def runs(self, version: int) -> bool:
        return version in (self.version, self.candidate)


@dataclass
class ModelRow:
    name: str
    versions: list[int]
    placements: dict[str, Placement] = field(default_factory=dict)
    state: str = "-"
    reasons: list[str] = field(default_factory=list)
    worst_drift: str = ""
    worst_psi: float | None = None
    request_rate: float | None = None
    rate_over: str = ""
    """The span the request rate is measured over: "over 1h", or "over 2m of 1h" for a young service."""
    rate_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))

    @property
    def latest(self) -> int | None:
        return self.versions[-1] if self.versions else None

    def stage_of(self, version: int) -> list[str]:
        return [env for env, placement in self.placements.items() if placement.runs(version)]


@dataclass
class Overview:
    root: Path
    environments: list[str]
    models: dict[str, ModelRow]
    problems: list[str] = field(default_factory=list)

    def rows(self, text_filter: str = "") -> list[ModelRow]:
        needle = text_filter.lower()
        return [row for name, row in sorted(self.models.items()) if needle in name.lower()]

    def merge_health(self, report: HealthReport) -> None:
        """Fold per-deployment health into per-model state, worst drift and request rate."""
        for row in self.models.values():
            row.state, row.reasons, row.worst_drift, row.worst_psi, row.request_rate = "-", [], "", None, None
            row.rate_over = ""
        for deployment in report.deployments:
            target = self.models.get(deployment.model)
            if target is not None:
                _fold(target, deployment)
        for row in self.models.values():
            row.rate_history.append(row.request_rate or 0.0)


def _fold(row: ModelRow, deployment: Any) -> None:
    state = str(deployment.state)
    if _SEVERITY.get(state, 0) >= _SEVERITY.get(row.state, 0):
        row.state = state
    row.reasons.extend(f"{deployment.env} v{deployment.version}: {r}" for r in deployment.reasons)
    rate = deployment.values.get("request_rate")
    if rate is not None and not math.isnan(rate) and deployment.role != "shadow":
        row.request_rate = (row.request_rate or 0.0) + rate
        row.rate_over = deployment.over
    for feature in deployment.features:
        if math.isnan(feature.psi) or (row.worst_psi is not None and feature.psi <= row.worst_psi):
            continue
        row.worst_psi = feature.psi
        row.worst_drift = f"{feature.feature} {feature.psi:.2f}"


_SEVERITY = {"-": 0, "OK": 1, "UNKNOWN": 2, "WARN": 3, "CRIT": 4}


def read_overview(root: Path) -> Overview:
    """Models, their version numbers and placements, from file names and environment files only."""
    environments, problems = read_environment_files(root)
    names = (
        sorted(p.name for p in (root / "models").iterdir() if (p / "model.yaml").is_file())
        if (root / "models").is_dir()
        else []
    )
    models = {name: ModelRow(name=name, versions=version_numbers(root, name)) for name in names}
    for env in environments.values():
        for model, deployment in env.deployments.items():
            row = models.setdefault(model, ModelRow(name=model, versions=version_numbers(root, model)))
            row.placements[env.name] = Placement(
                env.name, deployment.version, deployment.strategy, deployment.candidate, deployment.weight
            )
    return Overview(root=root, environments=sorted(environments), models=models, problems=problems)


def read_environment_files(root: Path) -> tuple[dict[str, Environment], list[str]]:
    """Every environments/*.yaml that parses, and one line per file that does not."""
    found: dict[str, Environment] = {}
    problems: list[str] = []
    for path in sorted((root / "environments").glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path.relative_to(root)}: {str(exc).splitlines()[0]} (run mlopsctl validate)")
            continue
        environment = _environment(path.stem, text, problems)
        if environment is not None:
            found[path.stem] = environment
    return found, problems


def _environment(name: str, text: str, problems: list[str]) -> Environment | None:
    """The environment in ``text``, or None with one line in ``problems`` naming the file, line and field.

    The file name and the deployments' keys become paths (state, logs, records), so a file whose
    names do not match the name pattern is left out like any other invalid file.
    """
    if NAME.fullmatch(name):
        try:
            return Environment.model_validate(safe_load(text, f"environments/{name}.yaml"))
        except (yaml.YAMLError, ValueError):
            pass
    from mlopsctl.errors import MlopsError
    from mlopsctl.spec.environments import parse_environment  # positions: only for a file that fails

    try:
        return parse_environment(name, text)
    except MlopsError as exc:
        lines = exc.message.splitlines()
        first = lines[1] if len(lines) > 1 else lines[0]  # several problems: the first one, after the heading
        problems.append(f"{first.strip()} (run mlopsctl validate)")
    return None
