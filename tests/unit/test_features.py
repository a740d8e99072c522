"""The spec's features compiled to one scikit-learn pipeline, and the signature and reference derived from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectFromModel, SelectKBest, f_classif, f_regression
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from mlopsctl.errors import CheckFailed
from mlopsctl.features.compile import (
    build_pipeline,
    feature_frame,
    reference_for,
    signature_for,
    transformed_width,
)
from mlopsctl.spec.models import ModelSpec


def spec(**changes: Any) -> ModelSpec:
    data: dict[str, Any] = {
        "name": "shop",
        "data": {
            "source": "data/shop.csv",
            "target": "bought",
            "columns": {
                "age": "integer",
                "spend": "float",
                "visits": "integer",
                "plan": "category",
                "region": "string",
                "bought": "integer",
            },
        },
        "quality": {"completeness": {"max_missing": {"spend": 0.1}}},
        "features": [
            {"name": "age", "kind": "numeric", "scale": "standard"},
            {"name": "spend", "kind": "numeric", "impute": "mean", "scale": "minmax"},
            {"name": "visits", "kind": "numeric", "impute": "none"},
            {"name": "plan", "kind": "categorical"},
            {"name": "region", "kind": "categorical", "encode": "ordinal", "impute": "constant", "fill_value": "none"},
        ],
        "training": {"task": "classification", "estimator": "sklearn.linear_model.LogisticRegression"},
        "evaluation": {"metrics": ["accuracy"]},
    }
    data.update(changes)
    return ModelSpec.model_validate(data)


def frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    spend = rng.uniform(0, 100, rows)
    spend[::10] = np.nan
    region = rng.choice(["north", "south", "east"], rows).astype(object)
    region[::7] = None
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "spend": spend,
            "visits": rng.integers(0, 9, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": region,
            "bought": np.arange(rows) % 2,
        }
    )


def test_pipeline_has_the_shape_serving_relies_on() -> None:
    pipeline = build_pipeline(spec(), {"C": 0.5})
    assert [name for name, _ in pipeline.steps] == ["features", "model"]
    features = pipeline.named_steps["features"]
    assert isinstance(features, ColumnTransformer)
    assert features.remainder == "drop"
    assert features.verbose_feature_names_out is False
    assert [(name, columns) for name, _, columns in features.transformers] == [
        ("age", ["age"]),
        ("spend", ["spend"]),
        ("visits", ["visits"]),
        ("plan", ["plan"]),
        ("region", ["region"]),
    ]
    steps = {name: transformer for name, transformer, _ in features.transformers}
    assert [type(s).__name__ for _, s in steps["age"].steps] == ["SimpleImputer", "StandardScaler"]
    assert steps["age"].steps[0][1].strategy == "median"
    assert steps["spend"].steps[0][1].strategy == "mean"
    assert isinstance(steps["spend"].steps[1][1], MinMaxScaler)
    assert steps["visits"] == "passthrough"
    plan_impute, plan_encode = (step for _, step in steps["plan"].steps)
    assert plan_impute.strategy == "most_frequent"
    assert isinstance(plan_encode, OneHotEncoder)
    assert plan_encode.handle_unknown == "ignore" and plan_encode.sparse_output is False
    region_impute, region_encode = (step for _, step in steps["region"].steps)
    assert (region_impute.strategy, region_impute.fill_value) == ("constant", "none")
    assert isinstance(region_encode, OrdinalEncoder)
    assert (region_encode.handle_unknown, region_encode.unknown_value) == ("use_encoded_value", -1)
    assert pipeline.named_steps["model"].get_params()["C"] == 0.5


@pytest.mark.parametrize(
    "scale, kind", [("standard", StandardScaler), ("robust", RobustScaler), ("minmax", MinMaxScaler)]
)
def test_scalers(scale: str, kind: type) -> None:
    built = build_pipeline(spec(features=[{"name": "age", "kind": "numeric", "scale": scale}]), {})
    ((_, transformer, _),) = built.named_steps["features"].transformers
    assert isinstance(transformer.steps[-1][1], kind)


def test_fitted_pipeline_takes_the_feature_frame_and_handles_unseen_values() -> None:
    the_spec = spec()
    data = frame()
    x = feature_frame(the_spec, data)
    pipeline = build_pipeline(the_spec, {"max_iter": 500}).fit(x, data["bought"])
    unseen = x.iloc[:2].copy()
    unseen["plan"] = ["enterprise", np.nan]
    unseen["region"] = ["west", np.nan]
    assert pipeline.predict(unseen).shape == (2,)
    width = pipeline.named_steps["features"].transform(x).shape[1]
    assert width == transformed_width(the_spec, x) == 3 + 3 + 1  # numeric, plan one-hot, region ordinal


def test_transformed_width_counts_the_categories_imputation_adds() -> None:
    the_spec = spec(
        features=[
            {"name": "region", "kind": "categorical", "impute": "constant", "fill_value": "unknown"},
            {"name": "plan", "kind": "categorical", "impute": "none"},
        ]
    )
    data = frame()
    data.loc[[1, 2], "plan"] = None
    x = feature_frame(the_spec, data)
    fitted = build_pipeline(the_spec, {}).named_steps["features"].fit(x)
    assert fitted.transform(x).shape[1] == transformed_width(the_spec, x) == 4 + 4


def test_feature_frame_types() -> None:
    data = pd.DataFrame(
        {
            "age": pd.array([1, None, 3], dtype="Int64"),
            "spend": [1.5, np.nan, 2.0],
            "visits": pd.array([True, False, None], dtype="boolean"),
            "plan": [1.0, 2.0, np.nan],
            "region": pd.array(["a", None, "b"], dtype="str"),
        }
    )
    x = feature_frame(spec(), data)
    assert list(x.columns) == ["age", "spend", "visits", "plan", "region"]
    assert x["age"].dtype == np.float64 and np.isnan(x["age"].iloc[1])
    assert x["visits"].tolist()[:2] == [1.0, 0.0] and np.isnan(x["visits"].iloc[2])
    assert x["plan"].tolist()[:2] == ["1", "2"] and pd.isna(x["plan"].iloc[2])
    assert pd.api.types.is_string_dtype(x["plan"].dtype)  # pandas 3 infers its str dtype from the text
    assert x["region"].tolist()[0] == "a" and pd.isna(x["region"].iloc[1])


def test_correlation_selection_caps_k_at_the_width() -> None:
    the_spec = spec(feature_selection={"method": "correlation", "k": 50})
    pipeline = build_pipeline(the_spec, {}, width=7)
    assert [name for name, _ in pipeline.steps] == ["features", "select", "model"]
    selector = pipeline.named_steps["select"]
    assert isinstance(selector, SelectKBest)
    assert selector.score_func is f_classif
    assert selector.k == 7
    regression = spec(
        feature_selection={"method": "correlation", "k": 2},
        training={"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        evaluation={"metrics": ["rmse"]},
    )
    assert build_pipeline(regression, {}).named_steps["select"].score_func is f_regression


def test_importance_selection_keeps_k_columns() -> None:
    the_spec = spec(feature_selection={"method": "importance", "k": 3})
    data = frame()
    x = feature_frame(the_spec, data)
    pipeline = build_pipeline(the_spec, {"max_iter": 500}, width=transformed_width(the_spec, x)).fit(x, data["bought"])
    selector = pipeline.named_steps["select"]
    assert isinstance(selector, SelectFromModel)
    assert selector.max_features == 3 and selector.threshold == -np.inf
    assert selector.estimator.random_state == 42  # the split seed: the selection is reproducible
    assert int(selector.get_support().sum()) == 3


def test_unknown_estimator_is_a_clear_error() -> None:
    broken = spec(training={"task": "classification", "estimator": "sklearn.linear_model.LogisticRegresion"})
    with pytest.raises(CheckFailed) as caught:
        build_pipeline(broken, {})
    assert caught.value.message == (
        "'LogisticRegresion' is not a class in sklearn.linear_model; did you mean 'LogisticRegression'?"
    )


def test_signature_lists_inputs_types_nullability_categories_and_classes() -> None:
    the_spec = spec()
    data = frame()
    x = feature_frame(the_spec, data)
    pipeline = build_pipeline(the_spec, {"max_iter": 500}).fit(x, data["bought"])
    signature = signature_for(the_spec, x, pipeline)
    assert [(c.name, c.type, c.nullable) for c in signature.inputs] == [
        ("age", "integer", False),
        ("spend", "float", True),  # allowed by quality.completeness and seen in training
        ("visits", "integer", False),
        ("plan", "category", False),
        ("region", "string", True),  # seen missing in training
    ]
    assert signature.inputs[3].categories == ["basic", "plus", "pro"]
    assert signature.inputs[4].categories == ["east", "north", "south"]
    assert signature.inputs[0].categories is None
    assert (signature.task, signature.target, signature.classes) == ("classification", "bought", [0, 1])
    assert all(type(c) is int for c in signature.classes or [])


def test_reference_bins_features_and_predictions() -> None:
    the_spec = spec()
    x = feature_frame(the_spec, frame())
    predictions = np.array([0, 1, 1, 1])
    reference = reference_for(the_spec, x, predictions, classes=[0, 1, 2])
    assert set(reference.features) == {"age", "spend", "visits", "plan", "region"}
    assert reference.features["age"].kind == "numeric"
    assert len(reference.features["age"].edges) == 9  # spec.monitoring.bins = 10
    assert reference.features["spend"].missing_share == pytest.approx(0.1)
    assert reference.features["plan"].kind == "categorical"
    prediction = reference.prediction
    assert prediction is not None
    assert prediction.categories == ["0", "1", "2"]
    assert prediction.shares == [0.25, 0.75, 0.0, 0.0]  # the classes, then __other__
    regression = reference_for(
        spec(
            training={"task": "regression", "estimator": "sklearn.linear_model.Ridge"}, evaluation={"metrics": ["rmse"]}
        ),
        x,
        np.linspace(0.0, 1.0, 101),
    )
    assert regression.prediction is not None and regression.prediction.kind == "numeric"
    assert len(regression.prediction.edges) == 9
