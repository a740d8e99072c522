"""Version drafts for the registry tests: a fitted breast-cancer pipeline, its skops bytes and a draft around them."""

from __future__ import annotations

import hashlib
import io
from functools import cache
from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlopsctl.contract.binning import numeric_reference
from mlopsctl.contract.records import DataFingerprint, GateResult, InputColumn, Reference, Signature
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.registry.store import VersionDraft

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area", "worst concavity"]


@cache
def breast_cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    return frame[[*FEATURES, "target"]]


@cache
def fitted(c: float = 1.0) -> tuple[Pipeline, dict[str, float]]:
    """A pipeline fitted on a fixed split, and the metrics scikit-learn computes on the held-out part."""
    frame = breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        frame[FEATURES], frame["target"], test_size=0.25, random_state=7, stratify=frame["target"]
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=c, max_iter=500))])
    pipeline.fit(x_train, y_train)
    metrics = {
        "roc_auc": float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])),
        "accuracy": float(accuracy_score(y_test, pipeline.predict(x_test))),
    }
    return pipeline, metrics


@cache
def artifact_bytes(c: float = 1.0) -> bytes:
    return dump_pipeline(fitted(c)[0])


def fingerprint(frame: pd.DataFrame) -> DataFingerprint:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    schema = ",".join(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())
    return DataFingerprint(
        uri="data/breast_cancer.csv",
        sha256=hashlib.sha256(buffer.getvalue().encode()).hexdigest(),
        rows=len(frame),
        columns=frame.shape[1],
        schema_sha256=hashlib.sha256(schema.encode()).hexdigest(),
    )


def make_draft(model: str = "churn", *, c: float = 1.0, run_id: str = "run-1", **overrides: Any) -> VersionDraft:
    """A complete draft for ``model`` from a real fit (``c`` picks the regularisation, so the artifact)."""
    frame = breast_cancer()
    _, metrics = fitted(c)
    gate = GateResult(gate="roc_auc >= 0.85", value=metrics["roc_auc"], passed=metrics["roc_auc"] >= 0.85)
    fields: dict[str, Any] = {
        "model": model,
        "run_id": run_id,
        "spec_commit": "0" * 40,
        "spec_dirty": False,
        "spec_sha256": "a" * 64,
        "task": "classification",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": c, "max_iter": 500},
        "metrics": metrics,
        "gates": [gate],
        "gates_passed": gate.passed,
        "data": fingerprint(frame),
        "environment": {"python": "3.11", "packages": {"scikit-learn": "1.9", "skops": "0.16"}},
        "signature": Signature(
            inputs=[InputColumn(name=name, type="float") for name in FEATURES],
            task="classification",
            target="target",
            classes=[0, 1],
        ),
        "reference": Reference(features={name: numeric_reference(frame[name], 10) for name in FEATURES}),
        "artifact": artifact_bytes(c),
    }
    fields.update(overrides)
    return VersionDraft(**fields)
