"""``mlopsctl explain REQUEST_ID``: which model answered a request, and does it still answer the same.

The request is looked up in the prediction logs of the repository's state folder (rotated files
included): ``predictions/serve/<model>/`` for ``mlopsctl serve``, ``predictions/env/<env>/<model>/``
for deployments. The version that answered is loaded through the registry (its artifact's sha256
checked against the record before it is deserialised) and re-run on the logged inputs through the
same predictor the service builds; MATCH when labels are equal and probabilities agree to 1e-9.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlopsctl.contract.batch import Batch, is_numeric_type
from mlopsctl.contract.predictor import build_predictor
from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.serve.predlog import caller_id, find_request
from mlopsctl.spec.loader import Repo

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Explanation:
    """A logged answer, the version behind it, and the same inputs answered again."""

    request_id: str
    time: float
    log_folder: str
    model: str
    version: int
    role: str
    spec_commit: str
    artifact_sha256: str
    data: dict[str, Any]
    inputs: dict[str, list[Any]]
    outputs: list[Any]
    probabilities: list[list[float]] | None
    rerun_outputs: list[Any]
    rerun_probabilities: list[list[float]] | None
    verdict: str
    """MATCH or DIFFERENT."""
    differences: list[str]

    @property
    def matches(self) -> bool:
        return self.verdict == "MATCH"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain_request(repo: Repo, request_id: str, env: str | None = None) -> Explanation:
    """Find ``request_id`` in the prediction logs and re-run the archived artifact on its inputs."""
    try:
        caller_id(request_id)
    except ValueError:
        raise UsageError(f"{request_id!r} is not a request id (1 to 128 of A-Z a-z 0-9 . _ : -)") from None
    folders = log_folders(repo, env)
    for folder in folders:
        line = find_request(folder, request_id)
        if line is not None:
            return _explain(repo, folder, line)
    where = f"environment {env}" if env else "any environment or mlopsctl serve"
    raise NotFound(
        f"no logged answer has request id {request_id!r} in the prediction logs of {where}",
        hint="ids stay findable while their log file is kept (serving.prediction_log.keep_files); "
        "requests sampled out (serving.prediction_log.sample) are never logged",
    )


def log_folders(repo: Repo, env: str | None) -> list[Path]:
    """Every model's log folder of ``env`` (of everything when None)."""
    root = repo.state_dir / "predictions"
    if env is not None:
        if env not in repo.environments:
            known = ", ".join(sorted(repo.environments)) or "none"
            raise UsageError(f"unknown environment {env!r}", hint=f"environments: {known}")
        parents = [root / "env" / env]
    else:
        parents = [root / "serve", *_children(root / "env")]
    return [folder for parent in parents for folder in _children(parent)]


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _explain(repo: Repo, folder: Path, line: dict[str, Any]) -> Explanation:
    from mlopsctl.registry.store import load_version

    record, pipeline = load_version(repo, str(line["model"]), int(line["version"]))
    inputs = {str(k): list(v) for k, v in dict(line["inputs"]).items()}
    labels, probabilities = rerun(record, pipeline, inputs, int(line["rows"]))
    differences = compare(line, record, labels, probabilities)
    return Explanation(
        request_id=str(line["id"]),
        time=float(line["time"]),
        log_folder=str(folder),
        model=record.model,
        version=record.version,
        role=str(line["role"]),
        spec_commit=record.spec_commit,
        artifact_sha256=record.artifact.sha256,
        data=record.data.model_dump(),
        inputs=inputs,
        outputs=list(line["outputs"]),
        probabilities=line.get("probabilities"),
        rerun_outputs=labels,
        rerun_probabilities=probabilities,
        verdict="DIFFERENT" if differences else "MATCH",
        differences=differences,
    )


def rerun(
    record: VersionRecord, pipeline: Any, inputs: dict[str, list[Any]], rows: int
) -> tuple[list[Any], list[list[float]] | None]:
    """The pipeline's answer to the logged inputs, through the predictor the service builds."""
    numeric = {c.name for c in record.signature.inputs if is_numeric_type(c.type)}
    columns = {
        name: [math.nan if v is None else float(v) for v in values] if name in numeric else values
        for name, values in inputs.items()
    }
    predictor = build_predictor(pipeline, record.signature, record.reference)
    prediction = predictor.predict(Batch(rows, columns))
    proba = prediction.probabilities.tolist() if prediction.probabilities is not None else None
    return prediction.labels.tolist(), proba


def compare(
    line: dict[str, Any], record: VersionRecord, labels: list[Any], probabilities: list[list[float]] | None
) -> list[str]:
    """What differs between the logged answer and the re-run (empty: MATCH)."""
    differences = []
    if line.get("artifact_sha256") != record.artifact.sha256:
        differences.append(
            f"the log names artifact sha256:{line.get('artifact_sha256')}, the registry sha256:{record.artifact.sha256}"
        )
    if list(line["outputs"]) != labels:
        differences.append(f"outputs: logged {line['outputs']}, re-run {labels}")
    logged = line.get("probabilities")
    if not _close(logged, probabilities):
        differences.append(f"probabilities: logged {logged}, re-run {probabilities}")
    return differences


def _close(logged: Any, rerun: list[list[float]] | None) -> bool:
    if logged is None or rerun is None:
        return logged is None and rerun is None
    first, second = np.asarray(logged, dtype=np.float64), np.asarray(rerun, dtype=np.float64)
    return first.shape == second.shape and bool(np.allclose(first, second, rtol=0.0, atol=TOLERANCE))
