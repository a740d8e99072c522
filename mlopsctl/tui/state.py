"""What the dashboard knows, as plain data: the app owns one :class:`DashboardState` and views render it.

No widgets here. The app and its workers replace parts of the state (on the event loop, from
messages); views read it in ``refresh_view`` and never change it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.overview.api import Overview
from mlopsctl.ports.api import Operation
from mlopsctl.spec.api import Repo

if TYPE_CHECKING:
    from mlopsctl.deploy.api import Plan
    from mlopsctl.monitor.api import HealthReport
    from mlopsctl.rollout.api import Decision

LIVE_POINTS = 40
LIVE_METRICS = ("p95_latency_ms", "error_rate", "cpu_cores", "memory_bytes", "request_rate")
LiveKey = tuple[str, str, int, str]
"""(environment, model, version, role) of one running deployment."""
LiveSeries = dict[str, deque[float]]


@dataclass(frozen=True)
class Selection:
    """What the user points at in the current view: the subject of an action."""

    model: str | None = None
    version: int | None = None
    env: str | None = None
    runs: tuple[str, ...] = ()


def _live_series() -> LiveSeries:
    return defaultdict(lambda: deque(maxlen=LIVE_POINTS))


@dataclass
class DashboardState:
    """Everything the views draw: the overview, health, details, history, plans and the operation log."""

    root: Path
    overview: Overview
    readonly: bool = False
    refresh_seconds: float = 5.0
    paused: bool = False
    repo: Repo | None = None
    """The full spec scan, once the background load finished."""
    report: HealthReport | None = None
    banners: list[str] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model: ``versions`` and ``runs`` as table rows (see :func:`mlopsctl.tui.present.model_details`)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    plan_text: dict[str, str] = field(default_factory=dict)
    """The last plan computed per environment, as text (or why it could not be computed)."""
    plans: dict[str, Plan] = field(default_factory=dict)
    """The last plan computed per environment: the one source of the Environments view's SYNC column."""
    plan_failed: dict[str, str] = field(default_factory=dict)
    """Per environment whose last plan failed: the error, as the CLI would print it."""
    operations: deque[Operation] = field(default_factory=lambda: deque(maxlen=2000))
    live_history: dict[LiveKey, LiveSeries] = field(default_factory=lambda: defaultdict(_live_series))
    rollouts: dict[str, Decision] = field(default_factory=dict)
    """Per ``env/model`` in a canary: its rollout step and checks, judged without committing (as --dry-run)."""
    rollout_problems: dict[str, str] = field(default_factory=dict)
    """Per environment whose canaries could not be judged: why (Prometheus unreachable, a spec problem)."""

    def record_live(self, report: HealthReport) -> None:
        """Append the report's values to each deployment's sparkline series (NaN where a value is missing)."""
        for deployment in report.deployments:
            series = self.live_history[(deployment.env, deployment.model, deployment.version, deployment.role)]
            for name in LIVE_METRICS:
                value = deployment.values.get(name)
                series[name].append(float("nan") if value is None else float(value))

    def crit_models(self) -> set[str]:
        return {name for name, row in self.overview.models.items() if row.state == "CRIT"}


def carry_health(old: Overview, new: Overview) -> None:
    """Keep the health columns of models still present while a fresh overview waits for its report."""
    for name, row in new.models.items():
        if name in old.models:
            before = old.models[name]
            row.rate_history = before.rate_history
            row.state, row.reasons = before.state, before.reasons
            row.worst_drift, row.worst_psi, row.request_rate = before.worst_drift, before.worst_psi, before.request_rate
