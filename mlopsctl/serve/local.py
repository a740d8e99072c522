"""``mlopsctl serve MODEL@VERSION``: a registered version served as a local process.

The versions are loaded through the registry (their artifacts' digests checked against the
records before anything is deserialised), the serving limits come from the model's spec, and the
same service as in the images runs in the foreground until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import errno
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.batch import is_numeric_type
from mlopsctl.contract.records import InputColumn, Reference, VersionRecord
from mlopsctl.errors import UsageError
from mlopsctl.serve.feedback import PerformanceSettings, Recorder
from mlopsctl.serve.httpserver import Limits
from mlopsctl.serve.inputs import FieldPolicy
from mlopsctl.serve.performance import METRICS
from mlopsctl.serve.predlog import LogSettings, env_folder, serve_folder
from mlopsctl.serve.runner import serve_async
from mlopsctl.serve.service import LoadedVersion, Service, Strategy, build_service
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec, ServingSpec, duration_seconds
from mlopsctl.spec.yamlpos import load_yaml

DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeRequest:
    model: str
    version: int | None
    candidate: int | None = None
    strategy: Strategy = "canary"
    weight: float = 10.0
    host: str = "127.0.0.1"
    port: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Listening:
    """What the CLI prints once the service answers."""

    url: str
    model: str
    version: int
    candidate: int | None
    strategy: str | None
    weight: float | None
    predictor: str
    example: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def model_spec(repo: Repo, model: str) -> ModelSpec | None:
    """The model's spec: as scanned, partial, or read alone from its file.

    ``apply`` hands over a light repository with no specs loaded (plan reads none), so without the
    last case a deployed service would run without the spec's prediction log and live metric.
    None when there is no spec or it does not validate: serving then takes the defaults.
    """
    spec = repo.models.get(model) or repo.partial_models.get(model)
    if spec is not None or not repo.model_file(model).is_file():
        return spec
    doc = load_yaml(repo.model_file(model))
    if doc.problems:
        return None
    try:
        return ModelSpec.model_validate(doc.data)
    except ValueError:  # pydantic's ValidationError: validate says where; serving takes the defaults
        return None


def serving_spec(repo: Repo, model: str) -> ServingSpec:
    spec = model_spec(repo, model)
    return spec.serving if spec is not None else ServingSpec()


def shadow_tolerance(repo: Repo, model: str) -> float:
    """monitoring.shadow.tolerance: a candidate's regression answer this close to the stable one agrees."""
    monitoring = getattr(model_spec(repo, model), "monitoring", None)  # a partial spec may lack the block
    return float(monitoring.shadow.tolerance) if monitoring is not None else 0.0


def field_policy(repo: Repo, model: str) -> FieldPolicy:
    """The spec's declared data columns (accepted, ignored when not features) and its unknown-field policy."""
    spec = model_spec(repo, model)
    data = getattr(spec, "data", None)  # a partial spec may lack a block that did not validate
    declared = tuple(getattr(data, "columns", None) or ())
    return FieldPolicy(declared, getattr(spec, "serving", ServingSpec()).unknown_fields)


@dataclass(frozen=True)
class LogArguments:
    """The spec's prediction log and live metric, as ``Launch`` fields (deploy) or a Recorder (serve)."""

    log: LogSettings | None
    performance: PerformanceSettings | None

    def launch_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``deploy.runtime.Launch``: the service's logging arguments."""
        fields: dict[str, Any] = {}
        if self.log is not None:
            fields |= {"prediction_log": str(self.log.folder), "log_sample": self.log.sample}
            fields |= {"log_max_bytes": self.log.max_bytes, "log_keep_files": self.log.keep_files}
        if self.performance is not None:
            fields |= {"performance_metric": self.performance.metric}
            fields |= {"performance_window": self.performance.window_seconds}
        return fields


def log_arguments(repo: Repo, model: str, folder: Path) -> LogArguments:
    """What ``model``'s spec asks to log (into ``folder``) and which live metric to compute."""
    spec = model_spec(repo, model)
    wanted = serving_spec(repo, model).prediction_log
    settings = LogSettings(folder, wanted.sample, wanted.max_bytes, wanted.keep_files) if wanted.enabled else None
    monitoring = getattr(spec, "monitoring", None)
    performance = getattr(monitoring, "performance", None)
    if monitoring is None or performance is None or performance.metric not in METRICS:
        return LogArguments(settings, None)
    return LogArguments(settings, PerformanceSettings(performance.metric, duration_seconds(monitoring.window)))


def deployment_log_arguments(repo: Repo, env: str, model: str) -> LogArguments:
    """For apply's ``Launch``: the log of ``model`` in ``env`` goes to the state folder's env log."""
    return log_arguments(repo, model, env_folder(repo.state_dir, env, model))


def recorder(repo: Repo, model: str) -> Recorder:
    """The spec's prediction log (in the state folder) and live metric, for ``mlopsctl serve``."""
    found = log_arguments(repo, model, serve_folder(repo.state_dir, model))
    return Recorder(found.log, found.performance)


def prepare(repo: Repo, request: ServeRequest) -> tuple[Service, Limits, int]:
    """Load and verify the versions, compile them; returns the service, its limits and the port."""
    from mlopsctl.registry.store import load_version

    if request.candidate is not None and request.candidate == request.version:
        raise UsageError(f"--candidate {request.candidate} is the version being served", hint="name another version")
    stable = LoadedVersion(*load_version(repo, request.model, request.version))
    candidate = None
    if request.candidate is not None:
        candidate = LoadedVersion(*load_version(repo, request.model, request.candidate))
        if candidate.record.version == stable.record.version:
            raise UsageError(
                f"--candidate {request.candidate} is the version being served", hint="name another version"
            )
    spec = serving_spec(repo, request.model)
    service = build_service(
        stable,
        candidate,
        strategy=request.strategy if candidate is not None else None,
        weight=request.weight,
        max_rows=spec.max_batch_rows,
        seed=request.seed,
        fields=field_policy(repo, request.model),
        recorder=recorder(repo, request.model),
        tolerance=shadow_tolerance(repo, request.model),
    )
    port = request.port if request.port is not None else (spec.port or DEFAULT_PORT)
    return service, Limits(max_body_bytes=spec.max_body_bytes), port


def run(service: Service, limits: Limits, host: str, port: int, on_listening: Callable[[Listening], None]) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM (then stop gracefully)."""
    from mlopsctl.serve.app import ServiceApp

    app = ServiceApp(limits, service)

    def listening(bound: int) -> None:
        on_listening(listening_info(service, host, bound))

    try:
        asyncio.run(serve_async(app, host, port, on_listening=listening))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use",
                hint="choose another with --port N (--port 0 picks a free one)",
            ) from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def listening_info(service: Service, host: str, port: int) -> Listening:
    stable, candidate = service.stable, service.candidate
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    return Listening(
        url=url,
        model=stable.name,
        version=stable.record.version,
        candidate=candidate.record.version if candidate is not None else None,
        strategy=service.strategy,
        weight=service.weight if service.strategy == "canary" else None,
        predictor=stable.predictor.description,
        example=curl_example(url, stable.record),
    )


def curl_example(url: str, record: VersionRecord) -> str:
    body = json.dumps({"record": example_record(record.signature.inputs, record.reference)}, separators=(",", ":"))
    return f"curl -s {url}/predict -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def example_record(inputs: list[InputColumn], reference: Reference) -> dict[str, Any]:
    """A plausible row: the middle reference bin of numeric fields, the most common category of others."""
    row: dict[str, Any] = {}
    for column in inputs:
        binned = reference.features.get(column.name)
        if is_numeric_type(column.type):
            edges = binned.edges if binned is not None else []
            value = edges[len(edges) // 2] if edges else 1
            row[column.name] = (
                bool(value) if column.type == "boolean" else (round(value) if column.type == "integer" else value)
            )
        else:
            choices = (binned.categories if binned is not None else []) or column.categories or ["value"]
            row[column.name] = choices[0]
    return row
