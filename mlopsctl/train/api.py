"""``mlopsctl train``: one call from a spec and a data set to a checked, tracked, registered version.

Steps: the spec (with ``--set`` overrides) is checked; a run is opened in the tracking store;
what each environment runs is read from Git (:mod:`mlopsctl.train.champion`); the data is loaded,
fingerprinted and checked (a failed check ends the run as FAILED and writes nothing else; checks
that pass with a warning, such as a feature with one value in every row, are recorded on the run);
the pipeline is fitted (or the grid run and its best refit), evaluated on the held-out rows and
timed on single rows; the gates are judged and the metrics compared with each environment's
version; and when the gates pass, the champion rule (``evaluation.champion``) does not refuse it,
and ``register`` is not False, the version is registered and committed. The run row is updated at
the end either way, so every attempt leaves a trace and only an accepted one leaves a version.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import DataFingerprint, GateResult
from mlopsctl.data.load import Dataset, load_dataset
from mlopsctl.data.quality import CheckResult, check_or_raise, run_quality_checks
from mlopsctl.errors import MlopsError, UsageError
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.registry.snapshots import StoredSnapshot
from mlopsctl.registry.store import Registration, VersionDraft, latest_version, register
from mlopsctl.spec.loader import Repo
from mlopsctl.tracking.environment import capture_environment
from mlopsctl.tracking.store import FAILED, FINISHED, RUNNING, Run, RunStore, new_run_id, now, this_process
from mlopsctl.train.bundle import ExportedBundle, export_bundle, reproduce_bundle
from mlopsctl.train.champion import (
    ChampionVerdict,
    Comparison,
    Placement,
    compare,
    figure,
    higher_is_better,
    read_placements,
)
from mlopsctl.train.datastore import SnapshotUpload, require_storable
from mlopsctl.train.evaluate import check_gates
from mlopsctl.train.fit import Fitted, fit_and_evaluate, seeded_params
from mlopsctl.train.held_out import score_on_held_out
from mlopsctl.train.progress import ProgressFn, no_progress
from mlopsctl.train.reproduce import ReproduceResult, reproduce_version
from mlopsctl.train.spec import RunSpec, run_spec


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    model: str
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, float]
    gates: list[GateResult]
    gates_passed: bool
    data: DataFingerprint
    split: dict[str, Any]
    duration: float
    overrides: list[str] = field(default_factory=list)
    grid: list[dict[str, Any]] | None = None
    version: int | None = None
    commit: str | None = None
    """The commit that registered the version."""
    not_registered: str | None = None
    """Why no version was registered (gates failed, --no-register), when none was."""
    latency: dict[str, Any] | None = None
    """How latency was measured: rows timed and the predictor (the service's fast path or the pipeline)."""
    warnings: list[CheckResult] = field(default_factory=list)
    """Data checks that passed with a warning (a feature with one value in every row, ...)."""
    comparison: Comparison | None = None
    """The metrics against the version each environment runs, and the champion's verdict."""
    data_snapshot: StoredSnapshot | None = None
    """Where the exact data file was stored (None: not registering, or data_snapshot_max_bytes is 0)."""

    @property
    def ref(self) -> str | None:
        return f"{self.model}@{self.version}" if self.version is not None else None

    @property
    def refused(self) -> str | None:
        """Why the champion rule refused this version (then nothing was registered), or None."""
        return self.comparison.refused if self.comparison is not None else None

    @property
    def accepted(self) -> bool:
        """The gates passed and the champion rule did not refuse: the exit code's question."""
        return self.gates_passed and self.refused is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "commit": self.commit,
            "registered": self.version is not None,
            "not_registered": self.not_registered,
            "estimator": self.estimator,
            "params": self.params,
            "overrides": self.overrides,
            "metrics": self.metrics,
            "gates": [gate.model_dump() for gate in self.gates],
            "gates_passed": self.gates_passed,
            "refused": self.refused,
            "warnings": [warning.to_dict() for warning in self.warnings],
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
            "data": self.data.model_dump(),
            "data_snapshot": self.data_snapshot.to_dict() if self.data_snapshot is not None else None,
            "split": self.split,
            "grid": self.grid,
            "latency": self.latency,
            "duration": self.duration,
        }


def train_model(
    repo: Repo,
    model_name: str,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    grid: bool = False,
    register: bool = True,
    data_path: Path | None = None,
    progress: ProgressFn = no_progress,
) -> TrainResult:
    """Train ``model_name`` and, when its gates pass, register the result as its next version."""
    prepared = run_spec(repo, model_name, list(overrides), data_given=data_path is not None, grid=grid)
    params = seeded_params(prepared.spec, prepared.spec.training.params)
    if grid:
        _require_grid(prepared)
    if register:
        _warm_serializer()
    with RunStore(repo.metadata_db) as store:
        run = store.start(_new_run(prepared, params, "grid" if grid else "train"))
        started = time.perf_counter()
        try:
            result = _train(repo, store, run, prepared, params, grid, register, data_path, progress)
        except BaseException as exc:
            store.fail(run.id, _error_text(exc), time.perf_counter() - started)
            raise
    return result


def _train(
    repo: Repo,
    store: RunStore,
    run: Run,
    prepared: RunSpec,
    params: dict[str, Any],
    grid: bool,
    register_version: bool,
    data_path: Path | None,
    progress: ProgressFn,
) -> TrainResult:
    started = time.perf_counter()
    spec = prepared.spec
    if register_version:
        require_storable(repo, spec, data_path)
    placements = read_placements(repo, spec)
    dataset, warnings = load_checked(repo, prepared, data_path, store, run.id, progress)
    with SnapshotUpload(repo, dataset, enabled=register_version) as upload:  # stored while the model fits
        fitted = fit_and_evaluate(
            spec,
            dataset.frame,
            source=dataset.fingerprint.uri,
            params=params,
            grid=grid,
            serialize=register_version,
            progress=progress,
        )
        gates = check_gates(spec.evaluation.gates, fitted.metrics)
        passed = all(gate.passed for gate in gates)
        comparison = compare(spec, placements, fitted.metrics, (latest_version(repo, spec.name) or 0) + 1)
        registration: Registration | None = None
        snapshot: StoredSnapshot | None = None
        if passed and comparison.refused is None and register_version:
            progress("Storing the data", 0, None)
            snapshot = upload.result()  # stored and confirmed before any record names the data
            progress("Registering", 0, None)
            registration = register(repo, _draft(prepared, run, fitted, gates, dataset, snapshot))
    result = TrainResult(
        run_id=run.id,
        model=spec.name,
        estimator=spec.training.estimator,
        params=fitted.params,
        metrics=fitted.metrics,
        gates=gates,
        gates_passed=passed,
        data=dataset.fingerprint,
        split=fitted.split.to_dict(),
        duration=time.perf_counter() - started,
        overrides=prepared.overrides,
        grid=fitted.grid.candidates if fitted.grid is not None else None,
        version=registration.record.version if registration else None,
        commit=registration.commit if registration else None,
        not_registered=None if registration else _why_not(passed, comparison.refused, register_version),
        latency={"rows": fitted.latency.rows, "predictor": fitted.latency.predictor} if fitted.latency else None,
        warnings=warnings,
        comparison=comparison,
        data_snapshot=snapshot,
    )
    store.update(run.id, **_finished_fields(result, registration))
    return result


def load_checked(
    repo: Repo, prepared: RunSpec, data_path: Path | None, store: RunStore, run_id: str, progress: ProgressFn
) -> tuple[Dataset, list[CheckResult]]:
    """Load and fingerprint the data, run the data checks, and record both on the run.

    Failed checks raise; checks that passed with a warning are returned (and recorded), and training goes on.
    """
    progress("Loading data", 0, None)
    dataset = load_dataset(repo, prepared.spec, data_path)
    store.update(run_id, data=dataset.fingerprint.model_dump())
    progress("Checking data", 0, None)
    report = run_quality_checks(prepared.spec, dataset.frame)
    warnings = report.warnings()
    store.update(run_id, warnings=[warning.to_dict() for warning in warnings])
    check_or_raise(report, model=prepared.spec.name, source=dataset.fingerprint.uri)
    return dataset, warnings


def _warm_serializer() -> None:
    """Import skops in the background while the data loads and the model fits.

    Importing it costs well over half a second of CPU (it walks scikit-learn for its list of trusted
    types); overlapped with I/O-bound and GIL-free work it no longer adds to the run's wall time.
    """
    threading.Thread(target=_import_quietly, args=("skops.io",), name="mlopsctl-warm-skops", daemon=True).start()


def _import_quietly(module: str) -> None:
    with contextlib.suppress(Exception):  # the real import later reports any problem
        importlib.import_module(module)


def _require_grid(prepared: RunSpec) -> None:
    if not prepared.spec.training.grid:
        raise UsageError(
            f"--grid needs a hyperparameter grid, and models/{prepared.spec.name}/model.yaml has no training.grid",
            hint="add training.grid (each parameter to a list of values), or train without --grid",
        )


def _new_run(prepared: RunSpec, params: dict[str, Any], kind: str) -> Run:
    host, pid, pid_started = this_process()
    return Run(
        id=new_run_id(),
        model=prepared.spec.name,
        kind=kind,
        status=RUNNING,
        started=now(),
        estimator=prepared.spec.training.estimator,
        params=params,
        overrides=prepared.overrides,
        spec_sha256=prepared.sha256,
        git_commit=prepared.commit or None,
        git_dirty=prepared.dirty,
        environment=capture_environment(),
        host=host,
        pid=pid,
        pid_started=pid_started,
    )


def _draft(
    prepared: RunSpec,
    run: Run,
    fitted: Fitted,
    gates: list[GateResult],
    dataset: Dataset,
    snapshot: StoredSnapshot | None,
) -> VersionDraft:
    spec = prepared.spec
    return VersionDraft(
        model=spec.name,
        run_id=run.id,
        spec_commit=prepared.commit,
        spec_dirty=prepared.dirty,
        spec_sha256=prepared.sha256,
        task=spec.training.task,
        estimator=spec.training.estimator,
        params=fitted.params,
        metrics=fitted.metrics,
        gates=gates,
        gates_passed=all(gate.passed for gate in gates),
        data=dataset.fingerprint.model_copy(update={"stored": snapshot is not None}),
        environment=run.environment,
        signature=fitted.signature,
        reference=fitted.reference,
        artifact=fitted.artifact if fitted.artifact is not None else dump_pipeline(fitted.pipeline),
    )


def _finished_fields(result: TrainResult, registration: Registration | None) -> dict[str, Any]:
    artifacts: dict[str, Any] = {}
    if registration is not None:
        artifact = registration.record.artifact
        artifacts = {"artifact": artifact.model_dump(), "record": str(registration.path)}
    return {
        "status": FINISHED,
        "duration": result.duration,
        "params": result.params,
        "metrics": result.metrics,
        "gates": [gate.model_dump() for gate in result.gates],
        "gates_passed": result.gates_passed,
        "grid": result.grid,
        "version": result.version,
        "artifacts": {**artifacts, "latency": result.latency},
        "comparison": result.comparison.to_dict() if result.comparison is not None else None,
    }


def _why_not(passed: bool, refused: str | None, register_version: bool) -> str:
    if not passed:
        return "gates failed"
    if refused is not None:
        return f"refused by evaluation.champion: {refused}"
    return "--no-register" if not register_version else "not registered"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, MlopsError):
        return f"{exc.title}: {exc.message}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: stopped by the user"
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "FAILED",
    "ChampionVerdict",
    "CheckResult",
    "Comparison",
    "ExportedBundle",
    "Placement",
    "ProgressFn",
    "ReproduceResult",
    "TrainResult",
    "export_bundle",
    "figure",
    "higher_is_better",
    "load_checked",
    "no_progress",
    "reproduce_bundle",
    "reproduce_version",
    "score_on_held_out",
    "train_model",
]
