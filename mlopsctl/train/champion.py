"""The new version against what each environment runs: a comparison to print, and the champion rule.

What an environment runs is its desired state in Git: ``environments/<env>.yaml`` as committed
at ``HEAD``, read by the same reader ``plan`` and ``apply`` use
(:func:`mlopsctl.deploy.desired.read_environments`). Its *stable* version is compared: a canary
or shadow candidate is noted but is not what answers (most) requests. The running version's
metrics come from its version record.

``evaluation.champion: ENV`` turns the comparison into a rule: a version worse than ``ENV``'s on
the primary metric (the first of ``evaluation.metrics``) by more than
``evaluation.champion_margin`` is not registered. Error metrics (rmse, mae, mape, log_loss) and
latencies are better when lower; every other metric when higher. When the champion environment
does not exist, runs no version of the model, or its version's record cannot be read or lacks the
metric, there is nothing to hold the new version to: the comparison says so and training
registers as usual (a first version must be possible).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlopsctl.deploy.desired import read_environments
from mlopsctl.errors import MlopsError
from mlopsctl.registry.records import read_record
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import SERVING_METRICS, Deployment, ModelSpec

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "log_loss", *SERVING_METRICS})
"""Metrics where a smaller value is the better model; every other metric is better when higher."""


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class Placement:
    """The stable version of one model that one environment runs, and its recorded metrics."""

    env: str
    version: int
    metrics: dict[str, float] | None
    """None when the version's record cannot be read (``problem`` says why)."""
    problem: str | None = None
    candidate: str | None = None
    """A canary or shadow candidate next to it, e.g. "canary v3 20%" (not compared)."""


@dataclass(frozen=True)
class Placements:
    """Where a model runs, as committed; ``note`` says why nothing could be read."""

    model: str
    environments: list[str]
    """Every environment committed at HEAD, whether or not it runs the model."""
    found: list[Placement]
    note: str | None = None


@dataclass(frozen=True)
class ChampionVerdict:
    """The new version held to the champion environment's version on the primary metric."""

    env: str
    metric: str
    margin: float
    higher_is_better: bool
    version: int | None = None
    """The champion environment's stable version, when it runs one."""
    new: float | None = None
    running: float | None = None
    worse_by: float | None = None
    """How much worse the new version is (negative: better); None when nothing was compared."""
    refused: bool = False
    message: str = ""


@dataclass(frozen=True)
class Comparison:
    """The new version's metrics against each environment's, and the champion's verdict."""

    model: str
    primary: str
    higher_is_better: bool
    new_ref: str
    """What the new version would be called, e.g. "churn@3"."""
    placements: list[Placement]
    new_metrics: dict[str, float]
    champion: ChampionVerdict | None = None
    note: str | None = None
    differences: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Environment -> metric -> new minus running (None when the running version lacks it)."""

    @property
    def refused(self) -> str | None:
        """Why the version must not be registered, or None."""
        return self.champion.message if self.champion is not None and self.champion.refused else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "higher_is_better": self.higher_is_better,
            "new": self.new_ref,
            "environments": [
                {**asdict(placement), "difference": self.differences.get(placement.env, {})}
                for placement in self.placements
            ],
            "champion": asdict(self.champion) if self.champion is not None else None,
            "note": self.note,
        }


# --------------------------------------------------------------------------- reading what runs


def read_placements(repo: Repo, spec: ModelSpec) -> Placements:
    """Which version of ``spec``'s model each environment runs, as committed at HEAD.

    A repository whose environments cannot be read (no commit yet, a broken file) gets a note,
    unless the spec names a champion: then the rule cannot be judged, and the error stands.
    """
    try:
        environments = read_environments(repo.root)
    except MlopsError as exc:
        if spec.evaluation.champion is not None:
            raise
        return Placements(spec.name, [], [], note=f"no comparison: {exc.message}")
    found = [
        _placement(repo, spec.name, env, environment.deployments[spec.name])
        for env, environment in environments.items()
        if spec.name in environment.deployments
    ]
    return Placements(spec.name, sorted(environments), found)


def _placement(repo: Repo, model: str, env: str, deployment: Deployment) -> Placement:
    candidate = _candidate_text(deployment)
    try:
        record = read_record(repo.root, model, deployment.version)
    except MlopsError as exc:
        return Placement(env, deployment.version, None, problem=exc.message, candidate=candidate)
    return Placement(env, deployment.version, dict(record.metrics), candidate=candidate)


def _candidate_text(deployment: Deployment) -> str | None:
    if deployment.candidate is None:
        return None
    share = f" {deployment.weight}%" if deployment.weight is not None else ""
    return f"{deployment.strategy} v{deployment.candidate}{share}"


# --------------------------------------------------------------------------- comparing


def compare(spec: ModelSpec, placements: Placements, metrics: dict[str, float], next_version: int) -> Comparison:
    """The new ``metrics`` against every placement, and the champion's verdict when the spec names one."""
    primary = spec.evaluation.metrics[0]
    new_ref = f"{spec.name}@{next_version}"
    return Comparison(
        model=spec.name,
        primary=primary,
        higher_is_better=higher_is_better(primary),
        new_ref=new_ref,
        placements=placements.found,
        new_metrics=dict(metrics),
        champion=_verdict(spec, placements, metrics, new_ref),
        note=placements.note,
        differences={placement.env: _differences(metrics, placement) for placement in placements.found},
    )


def _differences(metrics: dict[str, float], placement: Placement) -> dict[str, float | None]:
    running = placement.metrics or {}
    return {name: value - running[name] if name in running else None for name, value in metrics.items()}


def _verdict(
    spec: ModelSpec, placements: Placements, metrics: dict[str, float], new_ref: str
) -> ChampionVerdict | None:
    env = spec.evaluation.champion
    if env is None:
        return None
    metric = spec.evaluation.metrics[0]
    base = ChampionVerdict(env, metric, spec.evaluation.champion_margin, higher_is_better(metric))
    nothing = _nothing_to_compare(spec, placements, base)
    if nothing is not None:
        return nothing
    placement = next(p for p in placements.found if p.env == env)
    running = (placement.metrics or {}).get(metric)
    if running is None:
        why = placement.problem or f"its record has no {metric}"
        return _unjudged(base, placement.version, f"{env} runs {spec.name}@{placement.version}, but {why}")
    return _judged(base, spec.name, placement.version, new_ref, metrics[metric], running)


def _nothing_to_compare(spec: ModelSpec, placements: Placements, base: ChampionVerdict) -> ChampionVerdict | None:
    env = base.env
    if env not in placements.environments:
        known = ", ".join(placements.environments) or "none"
        return _unjudged(
            base,
            None,
            f"evaluation.champion names '{env}', but there is no environments/{env}.yaml at HEAD "
            f"(environments: {known})",
        )
    if not any(placement.env == env for placement in placements.found):
        return _unjudged(base, None, f"{env} runs no version of {spec.name} yet")
    return None


def _unjudged(base: ChampionVerdict, version: int | None, why: str) -> ChampionVerdict:
    message = f"{why}: nothing to hold the new version to, so it is registered if its gates pass"
    return ChampionVerdict(**{**asdict(base), "version": version, "message": message})


def _judged(
    base: ChampionVerdict, model: str, version: int, new_ref: str, new: float, running: float
) -> ChampionVerdict:
    worse_by = running - new if base.higher_is_better else new - running
    refused = worse_by > base.margin
    direction = "higher" if base.higher_is_better else "lower"
    figures = (
        f"{base.metric} {figure(new)} against {base.env}'s {model}@{version} {figure(running)} ({direction} is better)"
    )
    if refused:
        message = (
            f"{new_ref} would be worse than {base.env}'s {model}@{version} on {base.metric} ({direction} is better): "
            f"{figure(new)} against {figure(running)}, {figure(worse_by)} worse, more than "
            f"evaluation.champion_margin {base.margin:g} allows"
        )
    elif worse_by > 0:
        message = f"{figures}: {figure(worse_by)} worse, within evaluation.champion_margin {base.margin:g}"
    else:
        message = f"{figures}: {'as good' if worse_by == 0 else f'{figure(-worse_by)} better'}"
    fields = {**asdict(base), "version": version, "new": new, "running": running}
    return ChampionVerdict(**{**fields, "worse_by": worse_by, "refused": refused, "message": message})


def figure(value: float) -> str:
    """A metric as the train command prints it: four decimals (or four significant digits when huge)."""
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


__all__ = [
    "LOWER_IS_BETTER",
    "ChampionVerdict",
    "Comparison",
    "Placement",
    "Placements",
    "compare",
    "higher_is_better",
    "read_placements",
]
