"""The fast path answers exactly as the fitted pipeline does (property-based), or is not used."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures
from sklearn.tree import DecisionTreeClassifier

from mlopsctl.contract.batch import Batch
from mlopsctl.contract.predictor import (
    FastPredictor,
    InputRejected,
    SklearnPredictor,
    build_predictor,
    compile_pipeline,
    probe_batch,
)
from tests.support.serving import (
    CHURN_CATEGORICAL,
    Fitted,
    batch_of,
    cancer_fitted,
    churn_fitted,
    frame_of,
    registry_pipeline,
    wine_fitted,
)

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PIPELINES = {
    "forest": lambda: churn_fitted(),
    "logistic": lambda: churn_fitted(LogisticRegression(max_iter=1000)),
    "ordinal-minmax": lambda: churn_fitted(scale="minmax", encode="ordinal"),
    "robust-select": lambda: churn_fitted(LogisticRegression(max_iter=1000), scale="robust", select=5),
    "constant-impute-unscaled": lambda: churn_fitted(
        ExtraTreesClassifier(15, random_state=1), scale=None, impute="constant"
    ),
    "tree": lambda: churn_fitted(DecisionTreeClassifier(max_depth=7, random_state=0)),
    "forest-regression": lambda: churn_fitted(regression=True),
    "ridge-regression": lambda: churn_fitted(Ridge(alpha=2.0), regression=True),
    "gradient-boosting": lambda: churn_fitted(GradientBoostingClassifier(n_estimators=15, random_state=0)),
}
_cache: dict[str, Fitted] = {}


def fitted(name: str) -> Fitted:
    if name not in _cache:
        _cache[name] = PIPELINES[name]()
    return _cache[name]


def churn_row(fit: Fitted) -> st.SearchStrategy[dict[str, Any]]:
    """A churn row: any finite numbers (or missing), known or unseen categories (or missing)."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for column in fit.record.signature.inputs:
        if column.type == "category":
            known = st.sampled_from(column.categories or ["x"])
            fields[column.name] = st.one_of(known, st.text(max_size=5), st.none())
        elif column.type == "integer":
            fields[column.name] = st.one_of(st.integers(-1000, 1000), st.none())
        else:
            fields[column.name] = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.none())
    return st.fixed_dictionaries(fields)


def assert_same(fit: Fitted, rows: list[dict[str, Any]], predictor: Any) -> None:
    got = predictor.predict(batch_of(rows, fit.record))
    frame = frame_of(rows, fit.record)
    expected = fit.pipeline.predict(frame)
    assert got.labels.tolist() == expected.tolist()
    if hasattr(fit.pipeline, "predict_proba"):
        assert got.probabilities is not None
        np.testing.assert_array_equal(got.probabilities, fit.pipeline.predict_proba(frame))
    else:
        assert got.probabilities is None


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_registry_shaped_pipelines_compile_to_the_fast_path(name: str) -> None:
    fit = fitted(name)
    predictor = build_predictor(fit.pipeline, fit.record.signature, fit.record.reference)
    assert isinstance(predictor, FastPredictor), predictor.description
    assert predictor.description.startswith("fast path: ")


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_fast_path_equals_pipeline_on_random_rows(name: str) -> None:
    fit = fitted(name)
    fast = compile_pipeline(fit.pipeline)

    @EXAMPLES
    @given(rows=st.lists(churn_row(fit), min_size=1, max_size=12))
    def check(rows: list[dict[str, Any]]) -> None:
        assert_same(fit, rows, fast)

    check()


@pytest.mark.parametrize("name", ["forest", "logistic", "forest-regression"])
def test_fast_path_equals_pipeline_on_a_large_batch(name: str) -> None:
    """Over 256 rows the forest sums tree by tree instead of in one gather: still the same bits."""
    fit = fitted(name)
    rows = fit.frame.astype(object).where(fit.frame.notna(), None).to_dict(orient="records")
    assert_same(fit, rows, compile_pipeline(fit.pipeline))


@pytest.mark.parametrize("model", [LogisticRegression(max_iter=5000), RandomForestClassifier(30, random_state=3)])
def test_multiclass_fast_path_equals_pipeline(model: Any) -> None:
    fit = wine_fitted(model)
    fast = compile_pipeline(fit.pipeline)
    numbers = st.one_of(st.floats(-1e3, 1e4, allow_nan=False), st.none())
    row = st.fixed_dictionaries({c.name: numbers for c in fit.record.signature.inputs})

    @EXAMPLES
    @given(rows=st.lists(row, min_size=1, max_size=8))
    def check(rows: list[dict[str, Any]]) -> None:
        assert_same(fit, rows, fast)

    check()
    assert fast.predict(batch_of(frame_rows(fit), fit.record)).probabilities.shape == (len(fit.frame), 3)


def frame_rows(fit: Fitted) -> list[dict[str, Any]]:
    return fit.frame.to_dict(orient="records")


def test_fifty_tree_forest_on_ten_features_matches_row_by_row() -> None:
    fit = cancer_fitted(RandomForestClassifier(50, random_state=0))
    fast = compile_pipeline(fit.pipeline)
    for row in frame_rows(fit)[:20]:
        assert_same(fit, [row], fast)


def test_unknown_step_keeps_the_pipeline_and_says_why() -> None:
    fit = cancer_fitted()
    pipeline = registry_pipeline(
        [(name, PolynomialFeatures(2)) for name in fit.frame.columns[:3]], LogisticRegression(max_iter=3000)
    )
    pipeline.fit(fit.frame, fit.pipeline.predict(fit.frame))
    record = fit.record.model_copy(deep=True)
    record.signature.inputs = record.signature.inputs[:3]
    predictor = build_predictor(pipeline, record.signature, None)
    assert isinstance(predictor, SklearnPredictor)
    assert predictor.description == (
        "scikit-learn pipeline (no fast path: column 'mean_radius': PolynomialFeatures is not supported by the fast path)"
    )
    rows = frame_rows(fit)[:5]
    got = predictor.predict(batch_of([{k: r[k] for k in fit.frame.columns[:3]} for r in rows], record))
    assert got.labels.tolist() == pipeline.predict(fit.frame.iloc[:5, :3]).tolist()


def test_probe_rows_cover_every_category_missing_and_unseen() -> None:
    fit = fitted("forest")
    probe = probe_batch(fit.record.signature, fit.record.reference)
    for name in CHURN_CATEGORICAL:
        seen = set(probe.columns[name])
        assert {*fit.record.reference.features[name].categories, None, "never-seen-in-training"} <= seen
    assert any(math.isnan(v) for v in probe.columns["tenure_months"])


def test_unknown_category_is_refused_when_the_encoder_refuses_it() -> None:
    fit = churn_fitted()
    contract = fit.pipeline.named_steps["features"].named_transformers_["contract"]
    contract.steps[-1] = (
        "encode",
        OneHotEncoder(handle_unknown="error", sparse_output=False).fit(fit.frame[["contract"]].fillna("one-year")),
    )
    fast = compile_pipeline(fit.pipeline)
    row = frame_rows(fit)[0] | {"contract": "lifetime"}
    with pytest.raises(InputRejected) as caught:
        fast.predict(batch_of([row], fit.record))
    assert (caught.value.field, caught.value.row, caught.value.message) == (
        "contract",
        0,
        "unknown category 'lifetime' is not accepted by this model",
    )


def test_value_beyond_float32_is_refused_for_trees() -> None:
    fit = cancer_fitted(RandomForestClassifier(5, random_state=0))
    fast = compile_pipeline(fit.pipeline)
    rows = frame_rows(fit)[:3]
    rows[2] = rows[2] | {"mean_area": 1e300}
    with pytest.raises(InputRejected) as caught:
        fast.predict(batch_of(rows, fit.record))
    assert (caught.value.field, caught.value.row) == ("mean_area", 2)
    assert caught.value.message == "value out of the model's numeric range after its transforms"


def test_missing_value_without_an_imputer_is_refused() -> None:
    fit = cancer_fitted()
    from sklearn.preprocessing import StandardScaler

    pipeline = registry_pipeline([(n, StandardScaler()) for n in fit.frame.columns], LogisticRegression(max_iter=3000))
    pipeline.fit(fit.frame, fit.pipeline.predict(fit.frame))
    fast = compile_pipeline(pipeline)
    rows = frame_rows(fit)[:2]
    rows[1] = rows[1] | {"mean_texture": None}
    with pytest.raises(InputRejected) as caught:
        fast.predict(batch_of(rows, fit.record))
    assert (caught.value.field, caught.value.row) == ("mean_texture", 1)
    assert caught.value.message == "the model has no imputer for this field; send a value"


def test_single_rows_and_batches_agree() -> None:
    fit = fitted("forest")
    fast = compile_pipeline(fit.pipeline)
    rows = fit.frame.astype(object).where(fit.frame.notna(), None).to_dict(orient="records")[:40]
    whole = fast.predict(batch_of(rows, fit.record))
    for i, row in enumerate(rows):
        one = fast.predict(Batch(1, batch_of([row], fit.record).columns))
        assert one.labels.tolist() == whole.labels[i : i + 1].tolist()
        np.testing.assert_array_equal(one.probabilities, whole.probabilities[i : i + 1])
