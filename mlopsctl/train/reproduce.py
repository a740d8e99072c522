"""``mlopsctl reproduce MODEL@VERSION``: train a registered version again and say whether it comes out the same.

The spec is read from the commit the version records (``<commit>:models/<m>/model.yaml`` through
the git port; the working tree is not touched), its training.params replaced by the recorded ones (which hold
the grid's choice and the seed), and the data is read from the recorded location. When that
file is missing or holds other bytes, the artifact store's snapshot of the recorded data is used
(fetched and digest-checked; the output says so); without a snapshot, reproduction is refused: the
answer would be about other data. The new metrics are compared with the recorded ones (equal, or within 1e-9), the
new artifact's sha256 with the recorded digest, and, as the stronger check, the new pipeline's
predictions on the held-out rows with the registered pipeline's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.data.load import OUTSIDE, Dataset, display_path, load_dataset
from mlopsctl.errors import CheckFailed, MlopsError, NotFound, PolicyRefused
from mlopsctl.ports.git import Git
from mlopsctl.registry.artifacts import dump_pipeline, sha256_hex
from mlopsctl.registry.records import record_path
from mlopsctl.registry.store import load_version
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.locations import OPT_IN, escapes_repository, outside_allowed, resolved_outside, shown
from mlopsctl.spec.models import SERVING_METRICS, ModelSpec
from mlopsctl.spec.yamlpos import parse_yaml
from mlopsctl.tracking.environment import capture_environment
from mlopsctl.tracking.store import FINISHED, RUNNING, Run, RunStore, new_run_id, now, this_process
from mlopsctl.train.datastore import snapshot_dataset
from mlopsctl.train.fit import Fitted, fit_and_evaluate
from mlopsctl.train.progress import ProgressFn, no_progress

TOLERANCE = 1e-9


@dataclass(frozen=True)
class MetricCheck:
    name: str
    recorded: float
    reproduced: float | None

    @property
    def difference(self) -> float | None:
        return None if self.reproduced is None else abs(self.reproduced - self.recorded)

    @property
    def exact(self) -> bool:
        return self.reproduced == self.recorded

    @property
    def matches(self) -> bool:
        return self.difference is not None and self.difference <= TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "recorded": self.recorded,
            "reproduced": self.reproduced,
            "difference": self.difference,
            "exact": self.exact,
            "matches": self.matches,
        }


@dataclass
class ReproduceResult:
    model: str
    version: int
    run_id: str
    spec_commit: str
    metrics: list[MetricCheck]
    artifact_recorded: str
    artifact_reproduced: str
    rows_compared: int
    predictions_differ: int
    max_probability_difference: float | None
    duration: float
    data_note: str | None = None
    """Why the data came from the artifact store's snapshot rather than the file at data.uri, when it did."""
    bundle: str | None = None
    """The bundle folder reproduced from (then no run is tracked: there is no repository)."""
    environment_differences: list[str] = field(default_factory=list)
    """Python and tracked packages whose version here is not the record's: 'numpy 2.1.0 (recorded 2.0.2)'."""

    @property
    def metrics_match(self) -> bool:
        return all(check.matches for check in self.metrics)

    @property
    def artifact_matches(self) -> bool:
        return self.artifact_recorded == self.artifact_reproduced

    @property
    def predictions_match(self) -> bool:
        return self.predictions_differ == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": f"{self.model}@{self.version}",
            "run_id": self.run_id,
            "spec_commit": self.spec_commit,
            "metrics_match": self.metrics_match,
            "metrics": [check.to_dict() for check in self.metrics],
            "artifact": {
                "recorded": self.artifact_recorded,
                "reproduced": self.artifact_reproduced,
                "matches": self.artifact_matches,
            },
            "predictions": {
                "rows": self.rows_compared,
                "differ": self.predictions_differ,
                "matches": self.predictions_match,
                "max_probability_difference": self.max_probability_difference,
            },
            "duration": self.duration,
            "data_note": self.data_note,
            "bundle": self.bundle,
            "environment_differences": self.environment_differences,
        }


def reproduce_version(
    repo: Repo, ref: str, *, data_path: Path | None = None, progress: ProgressFn = no_progress
) -> ReproduceResult:
    model, version = parse_ref(ref)
    record, registered = load_version(repo, model, version)
    spec = recorded_spec(repo, record)
    progress("Loading data", 0, None)
    dataset, note = _recorded_dataset(repo, spec, record, data_path)
    _require_same_data(record, dataset.fingerprint.sha256, dataset.fingerprint.uri)
    with RunStore(repo.metadata_db) as store:
        run = store.start(_reproduce_run(record))
        started = time.perf_counter()
        try:
            fitted = fit_and_evaluate(
                spec,
                dataset.frame,
                source=dataset.fingerprint.uri,
                params=record.params,
                latency=False,
                progress=progress,
            )
            result = _compare(record, run.id, fitted, registered, time.perf_counter() - started)
            result.data_note = note
        except BaseException as exc:
            store.fail(run.id, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
            raise
        store.update(
            run.id,
            status=FINISHED,
            duration=result.duration,
            metrics=fitted.metrics,
            data=dataset.fingerprint.model_dump(),
            artifacts={"reproduces": f"{model}@{record.version}", "matches": result.metrics_match},
        )
    return result


def _recorded_dataset(
    repo: Repo, spec: ModelSpec, record: VersionRecord, data_path: Path | None
) -> tuple[Dataset, str | None]:
    """The data the version was trained on: ``--data``, else the file at data.uri when it holds those very
    bytes, else the artifact store's snapshot of them (and a line saying so)."""
    if data_path is not None:
        return load_dataset(repo, spec, data_path), None
    uri = shown(record.data.uri)
    path = recorded_data(repo, record)  # a data.uri outside the repository stays refused: the record says so
    if not path.is_file():
        return _from_snapshot(repo, spec, record, f"{uri} is missing here", None)
    dataset = load_dataset(repo, spec, path)
    sha256 = dataset.fingerprint.sha256
    if sha256 == record.data.sha256:
        return dataset, None
    why = f"{uri} here holds other data (sha256 {sha256[:12]})"
    return _from_snapshot(repo, spec, record, why, _data_changed(record, sha256, dataset.fingerprint.uri))


def _from_snapshot(
    repo: Repo, spec: ModelSpec, record: VersionRecord, why: str, otherwise: MlopsError | None
) -> tuple[Dataset, str | None]:
    try:
        return snapshot_dataset(repo, spec, record, why)
    except NotFound as missing:
        if otherwise is not None:
            raise otherwise from None
        raise NotFound(
            f"{why}, and {missing.message}",
            hint="restore the file (e.g. git checkout or your data store), or pass it with --data PATH",
        ) from None


def recorded_data(repo: Repo, record: VersionRecord) -> Path:
    """The record's data.uri as a path, refused when it leads outside the repository and the user has not opted in.

    The record is repository content: it must not make mlopsctl read ``/etc/passwd`` where
    ``data.source`` in a spec could not. A path given with ``--data`` is the user's and is not judged.
    """
    uri = record.data.uri
    path = repo.resolve(uri)
    if escapes_repository(uri):
        why = "is outside the repository"
    elif resolved_outside(repo.root, path):
        why = "leads outside the repository through a symbolic link"
    else:
        return path
    if outside_allowed():
        return path
    where = display_path(repo.root, record_path(repo.root, record.model, record.version))
    raise PolicyRefused(
        f"{where}: data.uri {shown(uri)} {why}; data is read only from inside it",
        title=OUTSIDE,
        hint=f"give the data with --data PATH, or {OPT_IN}",
    )


def recorded_spec(repo: Repo, record: VersionRecord) -> ModelSpec:
    """The model's spec as committed at the record's spec_commit, with the recorded parameters."""
    relative = f"models/{record.model}/model.yaml"
    if record.spec_dirty:
        raise CheckFailed(
            f"{record.ref} was trained from a spec that differs from commit {record.spec_commit[:12]} "
            "(uncommitted changes, or a --set that changes the model beyond training.params); that spec was not kept, "
            "so the version cannot be reproduced",
            title="Not reproducible",
            hint="commit spec changes before training versions you may need to reproduce",
        )
    git = Git(repo.root)
    committed = git.show_bytes(record.spec_commit, relative)
    if committed is None:
        raise CheckFailed(
            f"cannot read {relative} at commit {record.spec_commit[:12]}: {_missing_reason(git, record, relative)}",
            title="Not reproducible",
            hint="fetch the commit (git fetch) or restore the history it was made in",
        )
    if hashlib.sha256(committed).hexdigest() != record.spec_sha256:
        raise CheckFailed(
            f"{relative} at commit {record.spec_commit[:12]} does not have the recorded sha256 "
            f"{record.spec_sha256[:12]}",
            title="Not reproducible",
        )
    return spec_from_text(committed.decode("utf-8"), f"{record.spec_commit[:12]}:{relative}", record.params)


def _missing_reason(git: Git, record: VersionRecord, relative: str) -> str:
    """What git says about a committed file that cannot be read (no such commit, or no such path in it)."""
    return git.run("cat-file", "-e", f"{record.spec_commit}:{relative}", check=False).stderr.strip()


def spec_from_text(text: str, where: str, params: dict[str, Any]) -> ModelSpec:
    doc = parse_yaml(text, Path(where))
    if doc.problems or not isinstance(doc.data, dict):
        raise CheckFailed(f"{where} does not parse: {doc.problems[0] if doc.problems else 'not a mapping'}")
    data = {**doc.data, "training": {**doc.data.get("training", {}), "params": params}}
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise CheckFailed(f"{where} no longer validates: {exc.errors()[0]['msg']}", title="Not reproducible") from exc


def _require_same_data(record: VersionRecord, sha256: str, uri: str) -> None:
    if sha256 != record.data.sha256:
        raise _data_changed(record, sha256, uri)


def _data_changed(record: VersionRecord, sha256: str, uri: str) -> CheckFailed:
    return CheckFailed(
        f"the data at {uri} is not the data {record.ref} was trained on: "
        f"its sha256 is {sha256[:12]}, the record says {record.data.sha256[:12]} "
        f"({record.data.rows} rows from {record.data.uri})",
        title="Data changed",
        hint="restore that exact file (e.g. git checkout or your data store), or pass it with --data PATH",
    )


def _reproduce_run(record: VersionRecord) -> Run:
    host, pid, pid_started = this_process()
    return Run(
        id=new_run_id(),
        model=record.model,
        kind="reproduce",
        status=RUNNING,
        started=now(),
        estimator=record.estimator,
        params=record.params,
        spec_sha256=record.spec_sha256,
        git_commit=record.spec_commit,
        git_dirty=record.spec_dirty,
        environment=capture_environment(),
        host=host,
        pid=pid,
        pid_started=pid_started,
    )


def environment_differences(recorded: dict[str, Any]) -> list[str]:
    """Python and the tracked packages whose version here is not the recorded one."""
    here = capture_environment()
    differences = []
    if recorded.get("python") and recorded["python"] != here["python"]:
        differences.append(f"python {here['python']} (recorded {recorded['python']})")
    packages = recorded.get("packages") if isinstance(recorded.get("packages"), dict) else {}
    for name, version in sorted((packages or {}).items()):
        current = here["packages"].get(name)
        if version and current and version != current:
            differences.append(f"{name} {current} (recorded {version})")
    return differences


def compare_with_record(
    record: VersionRecord, run_id: str, fitted: Fitted, registered: Any, duration: float
) -> ReproduceResult:
    """The reproduced run against the record: metrics, artifact bytes, predictions, environment."""
    return _compare(record, run_id, fitted, registered, duration)


def _compare(record: VersionRecord, run_id: str, fitted: Fitted, registered: Any, duration: float) -> ReproduceResult:
    # single-row latency measures the machine, not the model: it is not compared
    checks = [
        MetricCheck(name, value, fitted.metrics.get(name))
        for name, value in record.metrics.items()
        if name not in SERVING_METRICS
    ]
    test_x = fitted.test_features
    before = registered.predict(test_x)
    differ = int(np.sum(np.asarray(before) != np.asarray(fitted.pipeline.predict(test_x))))
    return ReproduceResult(
        model=record.model,
        version=record.version,
        run_id=run_id,
        spec_commit=record.spec_commit,
        metrics=checks,
        artifact_recorded=record.artifact.sha256,
        artifact_reproduced=sha256_hex(dump_pipeline(fitted.pipeline)),
        rows_compared=len(test_x),
        predictions_differ=differ,
        max_probability_difference=_probability_difference(registered, fitted, test_x),
        duration=duration,
        environment_differences=environment_differences(record.environment),
    )


def _probability_difference(registered: Any, fitted: Fitted, test_x: Any) -> float | None:
    if not hasattr(registered, "predict_proba"):
        return None
    try:
        before = registered.predict_proba(test_x)
        after = fitted.pipeline.predict_proba(test_x)
    except AttributeError:
        return None
    return float(np.max(np.abs(before - after))) if before.shape == after.shape else None


__all__ = ["MetricCheck", "MlopsError", "ReproduceResult", "reproduce_version"]
