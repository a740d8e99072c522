"""What the faces ask of monitoring: health of deployments, drift live or offline, rendered configs.

* :func:`status`: every deployment of an environment (or of all), judged from the metrics source
  (:func:`health_probe` judges one environment again and again, as a watch does);
* :func:`drift`: per-feature drift of one model, live from the metrics of its deployments or,
  given two data files, offline with the same methods and the spec's thresholds;
* :func:`render_monitoring`: Prometheus scrape config, rules and a Grafana dashboard per
  environment, checked with promtool;
* :func:`health_fetcher`: the dashboard's refresh, every environment through one kept source;
* :func:`start_traffic_replay`: bounded replayed traffic in the background, as the demo makes it.

Offline drift reads data files with pandas; it is imported only when offline drift runs, so the
live commands stay light.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.errors import NotFound, UsageError
from mlopsctl.fsio import atomic_write_text
from mlopsctl.monitor.cache import open_for_health
from mlopsctl.monitor.feedback import FeedbackSummary, send_feedback, service_url
from mlopsctl.monitor.health import DeploymentHealth, FeatureDrift, HealthReport, collect_health
from mlopsctl.monitor.judge import State
from mlopsctl.monitor.render import promtool_check, render_environment, write_rendered
from mlopsctl.monitor.sources import metrics_source
from mlopsctl.monitor.targets import Endpoint, deployment_endpoints
from mlopsctl.registry.records import read_record
from mlopsctl.spec.loader import Repo, open_repo
from mlopsctl.spec.models import DURATION_PATTERN, ModelSpec
from mlopsctl.state_links import refuse_state_links

if TYPE_CHECKING:
    from mlopsctl.monitor.offline import OfflineFeature, OfflineReport


def checked_window(value: str | None) -> str | None:
    """The ``--window`` given, checked to be a duration such as 15m or 1h."""
    if value is not None and re.fullmatch(DURATION_PATTERN, value) is None:
        raise UsageError(f"--window '{value}' is not a duration", hint="use a number and s, m, h or d, e.g. 15m or 1h")
    return value


# --------------------------------------------------------------------------- status


def status(root: Path, env: str | None = None, window: str | None = None) -> HealthReport:
    """Health of every deployment of ``env`` (every environment when None)."""
    repo = open_for_health(root)  # settings and environments; specs through the health cache
    if env is not None:
        repo.environment(env)
    return collect_health(repo, env, window=checked_window(window))


def health_probe(root: Path, env: str) -> Callable[[], HealthReport]:
    """Judge ``env`` again on each call, through one metrics source (a direct scrape keeps its samples)."""
    repo = open_repo(root)
    source = metrics_source(repo.settings.prometheus, deployment_endpoints(repo, env))
    return lambda: collect_health(repo, env, source=source)


def endpoints(root: Path, env: str) -> list[Endpoint]:
    """Where each deployment of ``env`` answers, as the metrics source scrapes it."""
    return deployment_endpoints(open_repo(root), env)


def health_fetcher() -> Callable[[Repo], HealthReport]:
    """Health of every environment of the repository handed in, once per call (the dashboard's refresh).

    A direct-scrape source keeps history between refreshes, so the source is kept while the
    Prometheus URL and the endpoints stay the same.
    """
    sources: dict[tuple[Any, ...], Any] = {}

    def fetch(repo: Repo) -> HealthReport:
        found = [e for env in sorted(repo.environments) for e in deployment_endpoints(repo, env)]
        key = (repo.settings.prometheus.url, tuple(found))
        if key not in sources:
            sources.clear()
            sources[key] = metrics_source(repo.settings.prometheus, found)
        return collect_health(repo, source=sources[key])

    return fetch


# --------------------------------------------------------------------------- replayed traffic


@dataclass(frozen=True)
class TrafficReplay:
    """A replay of data rows running in the background, its output in ``log`` and its pid in ``pid_file``."""

    pid: int
    url: str
    log: Path
    pid_file: Path


@dataclass(frozen=True)
class TrafficLoad:
    """What :func:`start_traffic_replay` sends: rows of ``data``, ``shift`` applied, bounded in time."""

    data: Path
    shift: str
    rate: int
    batch: int
    seconds: int


def start_traffic_replay(root: Path, env: str, load: TrafficLoad, *, name: str) -> TrafficReplay:
    """Replay ``load`` against the first deployment of ``env`` (``python -m mlopsctl.traffic``), detached.

    Output goes to ``<name>.log`` and the pid to ``<name>.pid`` in the state directory (never through a
    symlink).
    """
    repo = open_repo(root)
    url = f"http://{endpoints(root, env)[0].instance}"
    log = refuse_state_links(repo.root, repo.state_dir / f"{name}.log")
    pid_file = refuse_state_links(repo.root, repo.state_dir / f"{name}.pid")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            _traffic_command(url, load), stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    atomic_write_text(pid_file, str(process.pid))
    return TrafficReplay(process.pid, url, log, pid_file)


def _traffic_command(url: str, load: TrafficLoad) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlopsctl.traffic",
        *("--url", url, "--data", str(load.data), "--shift", load.shift),
        *("--rate", str(load.rate), "--batch", str(load.batch), "--seconds", str(load.seconds)),
    ]


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class OfflineFiles:
    """Two data files to compare offline, and optionally the registered version whose bins to use."""

    reference: Path | None = None
    current: Path | None = None
    version: int | None = None

    @property
    def wanted(self) -> bool:
        return self.reference is not None or self.current is not None


@dataclass(frozen=True)
class LiveDrift:
    """Per-feature drift of a model's live deployments, as the metrics source reports it."""

    report: HealthReport
    min_observations: int
    """The floor below which a feature's verdict is UNKNOWN (the spec's, or --min-observations)."""

    @property
    def state(self) -> State:
        """The worst feature state over every deployment."""
        return max(deployment_drift_state(d) for d in self.report.deployments)

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "min_observations": self.min_observations}


def deployment_drift_state(deployment: DeploymentHealth) -> State:
    """The worst feature state of one deployment (UNKNOWN when no feature was judged)."""
    return max((f.state for f in deployment.features), default=State.UNKNOWN)


def drift(
    root: Path,
    model: str,
    *,
    env: str | None = None,
    window: str | None = None,
    files: OfflineFiles | None = None,
    min_observations: int | None = None,
) -> LiveDrift | OfflineReport:
    """Drift of ``model``: offline between ``files`` when given, else live from its deployments.

    ``min_observations`` replaces the spec's ``monitoring.min_observations`` for this call.
    """
    files = files or OfflineFiles()
    repo = open_repo(root)
    spec = repo.model(model)
    if min_observations is not None:
        spec = _with_floor(spec, min_observations)
        repo.models[model] = spec
    if files.wanted:
        return _offline(repo, model, spec, files)
    if files.version is not None:
        raise UsageError("--version applies to offline drift", hint="add --reference and --current, or drop --version")
    return _live(repo, model, env, window, spec.monitoring.min_observations)


def _with_floor(spec: ModelSpec, min_observations: int) -> ModelSpec:
    if min_observations < 1:
        raise UsageError(f"--min-observations {min_observations} is below 1", hint="give a count of 1 or more")
    monitoring = spec.monitoring.model_copy(update={"min_observations": min_observations})
    return spec.model_copy(update={"monitoring": monitoring})


def _offline(repo: Repo, model: str, spec: ModelSpec, files: OfflineFiles) -> OfflineReport:
    if files.reference is None or files.current is None:
        raise UsageError("offline drift needs both --reference and --current", hint="pass both data files")
    from mlopsctl.monitor.offline import load_table, offline_drift  # pandas: only offline drift needs it

    version = files.version
    bins = read_record(repo.root, model, version).reference.features if version is not None else None
    names = spec.feature_names()
    reference, current = load_table(files.reference, names), load_table(files.current, names)
    return offline_drift(model, spec.features, reference, current, spec.monitoring, bins)


def _live(repo: Repo, model: str, env: str | None, window: str | None, floor: int) -> LiveDrift:
    if env is not None:
        repo.environment(env)
    report = collect_health(repo, env, window=checked_window(window), models=[model])
    if not report.deployments:
        where = f"environment '{env}'" if env else "any environment"
        raise NotFound(f"{model} is not deployed in {where}", hint="offline: pass --reference and --current")
    return LiveDrift(report, floor)


# --------------------------------------------------------------------------- monitoring render


def render_monitoring(
    root: Path, env: str | None = None, out: Path | None = None, scrape_interval: str = "15s"
) -> list[dict[str, Any]]:
    """Write each environment's files under ``out`` (default: <repo>/monitoring/ENV), check them."""
    repo = open_repo(root)
    envs = [repo.environment(env).name] if env else sorted(repo.environments)
    folder = out if out is not None else repo.root / "monitoring"
    return [_render_one(repo, name, folder / name, scrape_interval) for name in envs]


def _render_one(repo: Repo, env: str, target: Path, scrape_interval: str) -> dict[str, Any]:
    files = write_rendered(render_environment(repo, env, scrape_interval), target)
    rendered: dict[str, Any] = {"env": env, "folder": str(target), "files": [str(f) for f in files]}
    rendered["promtool"] = promtool_check(target)
    return rendered


# --------------------------------------------------------------------------- feedback


def send_labels(
    root: Path, file: Path, *, env: str | None = None, model: str | None = None, url: str | None = None
) -> FeedbackSummary:
    """Post the labels of ``file`` to the service of ``model`` in ``env`` (or at ``url``)."""
    return send_feedback(service_url(open_repo(root), env, model, url), file)


__all__ = [
    "DeploymentHealth",
    "Endpoint",
    "FeatureDrift",
    "FeedbackSummary",
    "HealthReport",
    "LiveDrift",
    "OfflineFeature",
    "OfflineFiles",
    "OfflineReport",
    "State",
    "TrafficLoad",
    "TrafficReplay",
    "checked_window",
    "deployment_drift_state",
    "drift",
    "endpoints",
    "health_fetcher",
    "health_probe",
    "render_monitoring",
    "send_labels",
    "start_traffic_replay",
    "status",
]
