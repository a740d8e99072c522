"""Helpers for the prediction service's tests: pipelines shaped as the registry stores them, and records.

The pipelines are built directly with scikit-learn in exactly the registry's shape
(``features`` ColumnTransformer, optional ``select``, ``model``), and version records are written
by hand, so these tests do not depend on the training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from mlopsctl.contract.binning import categorical_reference, numeric_reference
from mlopsctl.contract.records import (
    ArtifactRef,
    BinnedReference,
    DataFingerprint,
    InputColumn,
    Reference,
    Signature,
    VersionRecord,
)
from mlopsctl.scaffold.sample import churn_frame

CHURN_NUMERIC = {"tenure_months": "integer", "monthly_charges": "float", "support_calls": "integer", "age": "integer"}
CHURN_CATEGORICAL = ("contract", "payment_method")
CHURN_FEATURES = (*CHURN_NUMERIC, *CHURN_CATEGORICAL)
SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


@dataclass
class Fitted:
    """A fitted pipeline with the frame it was trained on and its hand-written record."""

    pipeline: Pipeline
    frame: pd.DataFrame
    record: VersionRecord


def numeric_step(scale: str | None = "standard", impute: str = "median") -> Pipeline:
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=impute))]
    if scale:
        steps.append(("scale", SCALERS[scale]()))
    return Pipeline(steps)


def categorical_step(encode: str = "onehot", impute: str = "most_frequent") -> Pipeline:
    imputer = (
        SimpleImputer(strategy="constant", fill_value="unknown")
        if impute == "constant"
        else SimpleImputer(strategy="most_frequent")
    )
    encoder: Any = (
        OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        if encode == "onehot"
        else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    )
    return Pipeline([("impute", imputer), ("encode", encoder)])


def registry_pipeline(transformers: Sequence[tuple[str, Any]], model: Any, select: Any = None) -> Pipeline:
    features = ColumnTransformer([(name, step, [name]) for name, step in transformers], remainder="drop")
    steps: list[tuple[str, Any]] = [("features", features)]
    if select is not None:
        steps.append(("select", select))
    steps.append(("model", model))
    return Pipeline(steps)


def churn_data(rows: int = 1200, seed: int = 7) -> pd.DataFrame:
    frame = churn_frame(rows, seed)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.03, "contract"] = np.nan
    return frame


def churn_fitted(
    model: Any | None = None,
    *,
    version: int = 1,
    scale: str | None = "standard",
    encode: str = "onehot",
    impute: str = "most_frequent",
    select: int | None = None,
    regression: bool = False,
    rows: int = 1200,
    seed: int = 7,
) -> Fitted:
    """The churn sample as the registry would train it; ``regression`` predicts monthly_charges instead."""
    frame = churn_data(rows, seed)
    target = "monthly_charges" if regression else "churned"
    if regression:
        frame = frame[frame[target].notna()].reset_index(drop=True)
    numeric = {n: t for n, t in CHURN_NUMERIC.items() if n != target}
    transformers = [(name, numeric_step(scale)) for name in numeric]
    transformers += [(name, categorical_step(encode, impute)) for name in CHURN_CATEGORICAL]
    default = RandomForestRegressor if regression else RandomForestClassifier
    estimator = model if model is not None else default(n_estimators=20, max_depth=6, random_state=0)
    selector = SelectKBest(f_regression if regression else f_classif, k=select) if select else None
    pipeline = registry_pipeline(transformers, estimator, selector)
    features = frame[[*numeric, *CHURN_CATEGORICAL]]
    pipeline.fit(features, frame[target])
    columns = [InputColumn(name=n, type=t, nullable=True) for n, t in numeric.items()]
    columns += [
        InputColumn(name=n, type="category", nullable=True, categories=sorted(frame[n].dropna().unique()))
        for n in CHURN_CATEGORICAL
    ]
    task = "regression" if regression else "classification"
    record = make_record("churn", version, pipeline, features, columns, target, task)
    return Fitted(pipeline, features, record)


def wine_fitted(model: Any | None = None, *, version: int = 1) -> Fitted:
    """Three classes, thirteen numeric features."""
    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    estimator = model if model is not None else LogisticRegression(max_iter=5000)
    pipeline = registry_pipeline([(name, numeric_step("standard")) for name in frame.columns], estimator)
    pipeline.fit(frame, data.target)
    columns = [InputColumn(name=n, type="float", nullable=True) for n in frame.columns]
    record = make_record("wine", version, pipeline, frame, columns, "cultivar", "classification")
    return Fitted(pipeline, frame, record)


def cancer_fitted(model: Any | None = None, *, version: int = 1, features: int = 10) -> Fitted:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, :features].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    estimator = model if model is not None else LogisticRegression(max_iter=2000)
    pipeline = registry_pipeline([(name, numeric_step("standard")) for name in frame.columns], estimator)
    pipeline.fit(frame, data.target)
    columns = [InputColumn(name=n, type="float", nullable=False) for n in frame.columns]
    record = make_record("cancer", version, pipeline, frame, columns, "malignant", "classification")
    return Fitted(pipeline, frame, record)


def make_record(
    model: str,
    version: int,
    pipeline: Pipeline,
    frame: pd.DataFrame,
    columns: list[InputColumn],
    target: str,
    task: str,
) -> VersionRecord:
    features: dict[str, BinnedReference] = {}
    for column in columns:
        series = frame[column.name]
        features[column.name] = (
            categorical_reference(series) if column.type == "category" else numeric_reference(series, 10)
        )
    classes = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_] if task == "classification" else None
    predictions = pd.Series(pipeline.predict(frame))
    prediction_ref = categorical_reference(predictions.astype(str)) if classes else numeric_reference(predictions, 10)
    return VersionRecord(
        model=model,
        version=version,
        created_at="2024-06-11T10:00:00Z",
        run_id=f"run-{model}-{version}",
        spec_commit="0123456789abcdef0123456789abcdef01234567",
        spec_sha256="ab" * 32,
        task=task,
        estimator=type(pipeline.steps[-1][1]).__name__,
        gates_passed=True,
        data=DataFingerprint(
            uri="data/x.csv", sha256="cd" * 32, rows=len(frame), columns=len(columns), schema_sha256="ef" * 32
        ),
        artifact=ArtifactRef(uri=f"sha256/{version:02d}/x.skops", sha256=f"{version:02x}" * 32, size=1),
        signature=Signature(inputs=columns, task=task, target=target, classes=classes),
        reference=Reference(features=features, prediction=prediction_ref),
    )


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN becomes null, numpy scalars become Python ones."""
    rows = []
    for raw in frame.to_dict(orient="records"):
        rows.append({k: (None if _missing(v) else (v.item() if hasattr(v, "item") else v)) for k, v in raw.items()})
    return rows


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def frame_of(batch_rows: list[dict[str, Any]], record: VersionRecord) -> pd.DataFrame:
    """The DataFrame scikit-learn gets for these rows: floats with NaN, categories as objects with NaN."""
    data: dict[str, Any] = {}
    for column in record.signature.inputs:
        values = [row[column.name] for row in batch_rows]
        if column.type == "category":
            data[column.name] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
        else:
            data[column.name] = pd.Series([np.nan if v is None else float(v) for v in values], dtype=float)
    return pd.DataFrame(data)


def batch_of(batch_rows: list[dict[str, Any]], record: VersionRecord) -> Any:
    """The same rows as the service's validated batch (floats with nan, strings with None)."""
    from mlopsctl.contract.batch import Batch

    columns: dict[str, list[Any]] = {}
    for column in record.signature.inputs:
        values = [row[column.name] for row in batch_rows]
        if column.type == "category":
            columns[column.name] = values
        else:
            columns[column.name] = [float("nan") if v is None else float(v) for v in values]
    return Batch(len(batch_rows), columns)


class Client:
    """A keep-alive HTTP client for the service: JSON in, (status, headers, parsed body) out."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def post(self, path: str, document: Any) -> tuple[int, dict[str, str], Any]:
        import json

        status, headers, data = self.request("POST", path, json.dumps(document).encode())
        return status, headers, json.loads(data)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def close(self) -> None:
        self.connection.close()


def serve_in_thread(*fits: Fitted, strategy: str | None = None, weight: float = 0.0, **options: Any) -> Any:
    """A started ServerThread serving the first fit (and the second as candidate)."""
    from mlopsctl.serve.runner import ServerThread, make_app
    from mlopsctl.serve.service import LoadedVersion, build_service

    loaded = [LoadedVersion(f.record, f.pipeline) for f in fits]
    service = build_service(
        loaded[0],
        loaded[1] if len(loaded) > 1 else None,
        strategy=strategy,  # type: ignore[arg-type]
        weight=weight,
        max_rows=options.pop("max_rows", 10_000),
        seed=options.pop("seed", 11),
    )
    return ServerThread(make_app(service, **options)).start()


def write_version(folder: Any, fit: Fitted) -> tuple[Any, Any, VersionRecord]:
    """The record YAML and the skops artifact of ``fit``, as the registry writes them (digest included)."""
    import yaml

    from mlopsctl.registry.artifacts import dump_pipeline, sha256_hex

    folder.mkdir(parents=True, exist_ok=True)
    data = dump_pipeline(fit.pipeline)
    digest = sha256_hex(data)
    artifact = ArtifactRef(uri=f"sha256/{digest[:2]}/{digest}.skops", sha256=digest, size=len(data))
    record = fit.record.model_copy(update={"artifact": artifact})
    record_file = folder / f"v{record.version}.yaml"
    record_file.write_text(yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))
    artifact_file = folder / f"{digest}.skops"
    artifact_file.write_bytes(data)
    return record_file, artifact_file, record


class ServiceProcess:
    """``python -m mlopsctl.serve`` in a subprocess on a free loopback port, stopped with SIGTERM."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "mlopsctl.serve", *args, "--port", str(self.port), "--log-level", "WARNING"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
        )

    def wait_ready(self, timeout: float = 120.0) -> ServiceProcess:
        import time
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}: {self.process.stderr.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise TimeoutError(f"{self.url} was not ready within {timeout} s")

    def stop(self, timeout: float = 30.0) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def __enter__(self) -> ServiceProcess:
        return self.wait_ready()

    def __exit__(self, *exc: Any) -> None:
        if self.stop() != 0 and exc[0] is None:
            raise AssertionError(f"the service did not stop cleanly: {self.process.stderr.read()}")  # type: ignore[union-attr]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
