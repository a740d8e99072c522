"""Helpers for the rollout tests (no tests here): the spec's rollout block, a canary committed by hand,
and candidates that fail a step's checks for real: one that disagrees with the stable version, one
much slower per request, one whose model raises on values beyond its training range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.gitops_repo import git

MODEL_FILE = "models/churn/model.yaml"


def set_rollout(root: Path, commit: bool = True, **values: Any) -> None:
    """Set the churn spec's ``rollout`` block (e.g. a short ``min_interval``) and commit it."""
    path = root / MODEL_FILE
    spec = yaml.safe_load(path.read_text())
    spec["rollout"] = {**spec.get("rollout", {}), **values}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    if commit:
        git(root, "add", MODEL_FILE)
        git(root, "commit", "-q", "-m", "Rollout settings")


def commit_canary(root: Path, env: str, stable: int, candidate: int, weight: int, port: int | None = None) -> None:
    """environments/<env>.yaml with churn's canary, committed by hand (as a reviewer would merge it)."""
    deployment: dict[str, Any] = {"version": stable, "strategy": "canary", "candidate": candidate, "weight": weight}
    if port is not None:
        deployment["port"] = port
    document: dict[str, Any] = {"apiVersion": "mlopsctl/v1", "kind": "Environment", "name": env, "target": "local"}
    document["deployments"] = {"churn": deployment}
    path = root / "environments" / f"{env}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    git(root, "add", str(path))
    git(root, "commit", "-q", "-m", f"Canary in {env}")


def trailers(root: Path, key: str, count: int) -> list[str]:
    """The ``key`` trailer of the last ``count`` commits, newest first."""
    out = git(root, "log", f"-n{count}", f"--format=%(trailers:key={key},valueonly)%x00")
    return [part.strip() for part in out.split("\x00") if part.strip()]


def register_agreeing(root: Path, version: int) -> None:
    """Register churn@<version> (the next number) as the same small forest as churn@1 of
    :func:`tests.support.apply_repo.make_repo`: it agrees with it on every row."""
    from sklearn.ensemble import RandomForestClassifier

    from tests.support.serving import churn_fitted

    fitted = churn_fitted(
        RandomForestClassifier(n_estimators=5, max_depth=4, random_state=1), version=version, rows=600
    )
    _register(root, version, fitted.pipeline, fitted.record)


def register_flipped(root: Path, version: int) -> None:
    """Register churn@<version> (the next number): a forest trained on flipped labels, so it answers
    every row, quickly and without error, and disagrees with the stable version on most of them."""
    from sklearn.ensemble import RandomForestClassifier

    from tests.support.serving import (
        CHURN_CATEGORICAL,
        CHURN_NUMERIC,
        categorical_step,
        churn_data,
        churn_fitted,
        numeric_step,
        registry_pipeline,
    )

    made = churn_fitted(version=version, rows=600).record
    frame = churn_data(600, 7)
    transformers = [(name, numeric_step()) for name in CHURN_NUMERIC]
    transformers += [(name, categorical_step()) for name in CHURN_CATEGORICAL]
    pipeline = registry_pipeline(transformers, RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0))
    pipeline.fit(frame[[*CHURN_NUMERIC, *CHURN_CATEGORICAL]], 1 - frame["churned"])
    _register(root, version, pipeline, made)


def register_slower(root: Path, version: int, trees: int = 600) -> None:
    """Register churn@<version> (the next number): ``trees`` fully grown trees taught the answers of
    churn@1 of :func:`tests.support.apply_repo.make_repo` (5 trees of depth 4) on 10,000 rows of the
    churn sample. It gives churn@1's answer on every row of ``churn_data(200, 11)`` (the tests'
    traffic) and never fails, but walks hundreds of times as many nodes per request (about 1 ms of
    model time against a few tens of microseconds): its p95 latency is several histogram buckets
    above churn@1's."""
    from sklearn.ensemble import RandomForestClassifier

    from tests.support.serving import CHURN_FEATURES, churn_data, churn_fitted

    stable = churn_fitted(RandomForestClassifier(n_estimators=5, max_depth=4, random_state=1), version=1, rows=600)
    fitted = churn_fitted(RandomForestClassifier(n_estimators=trees, random_state=3), version=version, rows=600)
    taught = churn_data(10_000, 5)[list(CHURN_FEATURES)]
    fitted.pipeline.fit(taught, stable.pipeline.predict(taught))
    _register(root, version, fitted.pipeline, fitted.record)


BEYOND_TENURE = 96
"""A tenure in months above every tenure of the churn sample (0 to 72): a customer of eight years."""


def register_failing_beyond_range(root: Path, version: int) -> None:
    """Register churn@<version> (the next number): a categorical naive Bayes model over the raw tenure
    and age (imputed, not scaled) and the one-hot categories. scikit-learn's ``CategoricalNB`` knows
    the integer values it saw in training as categories and raises ``IndexError`` on a larger one,
    so a tenure above the sample's 72 months (:data:`BEYOND_TENURE`) is a 500 from this version,
    while the stable forest answers it. Every value the service's start-up probe builds from the
    version's reference bins is inside the range, so the version loads and serves."""
    from sklearn.impute import SimpleImputer
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.pipeline import Pipeline

    from tests.support.serving import CHURN_CATEGORICAL, categorical_step, churn_data, churn_fitted, registry_pipeline

    made = churn_fitted(version=version, rows=600).record
    frame = churn_data(600, 7)
    raw = ("tenure_months", "age")
    transformers: list[tuple[str, Any]] = [(n, Pipeline([("impute", SimpleImputer(strategy="median"))])) for n in raw]
    transformers += [(name, categorical_step()) for name in CHURN_CATEGORICAL]
    pipeline = registry_pipeline(transformers, CategoricalNB())
    pipeline.fit(frame[[*raw, *CHURN_CATEGORICAL]], frame["churned"])
    _register(root, version, pipeline, made)


def _register(root: Path, version: int, pipeline: Any, made: Any) -> None:
    """Register ``pipeline`` through the real registry, with ``made``'s data, signature and reference."""
    from mlopsctl.contract.records import GateResult
    from mlopsctl.registry.artifacts import dump_pipeline
    from mlopsctl.registry.store import VersionDraft, register_version
    from mlopsctl.spec.loader import open_repo

    draft = VersionDraft(
        model="churn",
        run_id=f"run-{version}",
        spec_commit=git(root, "rev-parse", "HEAD"),
        spec_dirty=False,
        spec_sha256="ab" * 32,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={},
        metrics={"roc_auc": 0.9},
        gates=[GateResult(gate="roc_auc >= 0.75", value=0.9, passed=True)],
        gates_passed=True,
        data=made.data,
        environment={},
        signature=made.signature,
        reference=made.reference,
        artifact=dump_pipeline(pipeline),
    )
    record = register_version(open_repo(root), draft)
    assert record.version == version, f"registered churn@{record.version}, expected {version}"
