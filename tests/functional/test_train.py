"""``mlopsctl train`` on scikit-learn's own data sets: the registered metrics are what scikit-learn computes.

The fixture repository is a real one from ``mlopsctl init`` with two more models committed: a
classifier on the breast cancer data and a regressor on the diabetes data, both written to CSV
from the copies scikit-learn ships (tests/support/train_repo.py, shared with runs and reproduce).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, train_test_split

from mlopsctl.registry.records import read_record
from mlopsctl.spec.loader import open_repo
from mlopsctl.tracking.store import RunStore
from tests.support.train_repo import (
    CANCER_FEATURES,
    CLASSIFICATION_METRICS,
    DIABETES_FEATURES,
    REGRESSION_METRICS,
    cancer_frame,
    commit_all,
    diabetes_frame,
    git,
    records,
    sk_repo,
    train_json,
)

__all__ = ["sk_repo"]  # the fixture these tests take, shared with runs and reproduce


def cancer_split(frame: pd.DataFrame) -> tuple[Any, ...]:
    return tuple(
        train_test_split(
            frame[CANCER_FEATURES], frame["benign"], test_size=0.25, random_state=7, stratify=frame["benign"]
        )
    )


def expected_classification(model: Any, x_test: pd.DataFrame, y_test: pd.Series) -> dict[str, float]:
    predictions = model.predict(x_test)
    proba = model.predict_proba(x_test)
    return {
        "roc_auc": skm.roc_auc_score(y_test, proba[:, 1]),
        "accuracy": skm.accuracy_score(y_test, predictions),
        "f1": skm.f1_score(y_test, predictions),
        "precision": skm.precision_score(y_test, predictions),
        "recall": skm.recall_score(y_test, predictions),
        "log_loss": skm.log_loss(y_test, proba),
        "balanced_accuracy": skm.balanced_accuracy_score(y_test, predictions),
    }


# --------------------------------------------------------------------------- the happy paths


def test_train_registers_metrics_equal_to_scikit_learn(cli: Any, sk_repo: Path) -> None:
    head_before = git(sk_repo, "rev-parse", "HEAD")
    result = cli("--repo", str(sk_repo), "train", "cancer")
    assert result.code == 0, result.stderr
    assert "Registered cancer@1" in result.stdout
    assert "mlopsctl serve cancer@1" in result.stdout
    assert "mlopsctl promote cancer@1 --env staging" in result.stdout

    x_train, x_test, y_train, y_test = cancer_split(cancer_frame())
    direct = RandomForestClassifier(n_estimators=25, max_depth=4, n_jobs=1, random_state=7).fit(x_train, y_train)
    expected = expected_classification(direct, x_test, y_test)

    record = read_record(sk_repo, "cancer", 1)
    assert {name: record.metrics[name] for name in CLASSIFICATION_METRICS} == expected
    assert set(record.metrics) == {*CLASSIFICATION_METRICS, "p50_latency_ms", "p95_latency_ms", "p99_latency_ms"}
    assert record.params == {"n_estimators": 25, "max_depth": 4, "n_jobs": 1, "random_state": 7}
    assert record.gates_passed is True
    assert [gate.gate for gate in record.gates] == ["roc_auc >= 0.9", "p95_latency_ms <= 600000"]
    assert record.spec_commit == head_before
    assert record.spec_dirty is False
    assert record.data.uri == "data/cancer.csv"
    assert record.data.rows == 569
    assert record.signature.classes == [0, 1]
    assert [column.name for column in record.signature.inputs] == CANCER_FEATURES
    assert record.reference.prediction is not None
    assert record.reference.prediction.categories == ["0", "1"]
    assert record.environment["packages"]["scikit-learn"]
    # the registration is one commit holding exactly the record
    assert git(sk_repo, "rev-parse", "HEAD^") == head_before
    assert git(sk_repo, "show", "--name-only", "--format=", "HEAD") == "registry/cancer/v1.yaml"
    assert git(sk_repo, "status", "--porcelain") == ""


def test_regression_metrics_equal_scikit_learn(cli: Any, sk_repo: Path) -> None:
    payload = train_json(cli, sk_repo, "diabetes")
    frame = diabetes_frame()
    x_train, x_test, y_train, y_test = train_test_split(
        frame[DIABETES_FEATURES], frame["progression"], test_size=0.25, random_state=3
    )
    predictions = Ridge(alpha=0.5).fit(x_train, y_train).predict(x_test)
    expected = {
        "rmse": skm.root_mean_squared_error(y_test, predictions),
        "mae": skm.mean_absolute_error(y_test, predictions),
        "r2": skm.r2_score(y_test, predictions),
        "mape": skm.mean_absolute_percentage_error(y_test, predictions),
    }
    record = read_record(sk_repo, "diabetes", 1)
    assert {name: record.metrics[name] for name in REGRESSION_METRICS} == expected
    assert {name: payload["metrics"][name] for name in REGRESSION_METRICS} == expected
    assert payload["ref"] == "diabetes@1"
    assert payload["split"] == {"method": "random", "seed": 3, "test_size": 0.25, "train_rows": 331, "test_rows": 111}
    assert record.params == {"alpha": 0.5, "random_state": 3}  # the split seed, since Ridge takes a random_state
    assert record.reference.prediction is not None and record.reference.prediction.kind == "numeric"


def test_grid_is_one_experiment_equal_to_grid_search_cv(cli: Any, sk_repo: Path) -> None:
    payload = train_json(cli, sk_repo, "cancer", "--grid")
    x_train, x_test, y_train, y_test = cancer_split(cancer_frame())
    search = GridSearchCV(
        RandomForestClassifier(n_estimators=25, max_depth=4, n_jobs=1, random_state=7),
        {"max_depth": [2, 4], "min_samples_leaf": [1, 8]},
        cv=3,
        scoring="roc_auc",
    ).fit(x_train, y_train)

    candidates = payload["grid"]
    assert [c["params"] for c in candidates] == list(search.cv_results_["params"])
    assert [c["cv_score"] for c in candidates] == list(search.cv_results_["mean_test_score"])
    best = min(candidates, key=lambda c: c["rank"])
    assert best["params"] == search.best_params_
    assert payload["params"] == {
        "n_estimators": 25,
        "max_depth": 4,
        "n_jobs": 1,
        "random_state": 7,
        **search.best_params_,
    }
    expected = expected_classification(search.best_estimator_, x_test, y_test)
    assert {name: payload["metrics"][name] for name in CLASSIFICATION_METRICS} == expected

    with RunStore(open_repo(sk_repo).metadata_db) as store:
        runs = store.list_runs("cancer")
    assert len(runs) == 1  # the whole grid is one tracked run
    assert runs[0].kind == "grid"
    assert runs[0].grid == candidates
    assert runs[0].version == 1
    assert read_record(sk_repo, "cancer", 1).params == payload["params"]


def test_set_overrides_params_and_records_them(cli: Any, sk_repo: Path) -> None:
    payload = train_json(
        cli, sk_repo, "cancer", "--set", "training.params.max_depth=2", "--set", "training.params.n_estimators=10"
    )
    assert payload["params"] == {"n_estimators": 10, "max_depth": 2, "n_jobs": 1, "random_state": 7}
    assert payload["overrides"] == ["training.params.max_depth=2", "training.params.n_estimators=10"]
    x_train, x_test, y_train, y_test = cancer_split(cancer_frame())
    direct = RandomForestClassifier(n_estimators=10, max_depth=2, n_jobs=1, random_state=7).fit(x_train, y_train)
    assert {n: payload["metrics"][n] for n in CLASSIFICATION_METRICS} == expected_classification(direct, x_test, y_test)
    record = read_record(sk_repo, "cancer", 1)
    assert record.spec_dirty is False  # params are in the record, so the committed spec still reproduces it
    # the spec file itself is untouched
    assert "max_depth: 4" in (sk_repo / "models" / "cancer" / "model.yaml").read_text()


def test_set_beyond_params_marks_the_version_dirty(cli: Any, sk_repo: Path) -> None:
    payload = train_json(cli, sk_repo, "cancer", "--set", "training.split.seed=11")
    assert payload["split"]["seed"] == 11
    assert read_record(sk_repo, "cancer", 1).spec_dirty is True
    train_json(cli, sk_repo, "cancer", "--set", "evaluation.gates=[accuracy >= 0.5]")  # gates do not change the model
    assert read_record(sk_repo, "cancer", 2).spec_dirty is False


def test_no_register_tracks_the_run_only(cli: Any, sk_repo: Path) -> None:
    result = cli("--repo", str(sk_repo), "train", "cancer", "--no-register")
    assert result.code == 0, result.stderr
    assert "Not registered (--no-register)" in result.stdout
    assert records(sk_repo, "cancer") == []
    with RunStore(open_repo(sk_repo).metadata_db) as store:
        (run,) = store.list_runs("cancer")
    assert run.status == "FINISHED"
    assert run.version is None
    assert run.metrics["roc_auc"] > 0.9


def test_failing_gate_exits_1_and_registers_nothing(cli: Any, sk_repo: Path) -> None:
    result = cli("--repo", str(sk_repo), "train", "cancer", "--set", "evaluation.gates=[p95_latency_ms <= 0]")
    assert result.code == 1
    assert "FAIL  p95_latency_ms <= 0" in result.stdout
    assert "Not registered: gates failed (p95_latency_ms <= 0)" in result.stdout
    assert records(sk_repo, "cancer") == []


def test_second_version_and_the_commit_is_printed(cli: Any, sk_repo: Path) -> None:
    first = train_json(cli, sk_repo, "diabetes")
    second = train_json(cli, sk_repo, "diabetes", "--set", "training.params.alpha=5")
    assert (first["version"], second["version"]) == (1, 2)
    assert second["commit"] == git(sk_repo, "rev-parse", "HEAD")
    assert records(sk_repo, "diabetes") == [1, 2]
    assert read_record(sk_repo, "diabetes", 2).params == {"alpha": 5, "random_state": 3}


def use_time_split(root: Path, frame: pd.DataFrame) -> None:
    """The diabetes data with its ``seen`` dates, and a spec that splits on them (25% newest held out)."""
    frame.to_csv(root / "data" / "diabetes.csv", index=False, date_format="%Y-%m-%d")
    spec_file = root / "models" / "diabetes" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["data"]["time_column"] = "seen"
    spec["data"]["columns"]["seen"] = "datetime"
    spec["training"]["split"] = {"method": "time", "test_size": 0.25}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    commit_all(root, "time split")


def test_time_split_holds_out_the_newest_rows(cli: Any, sk_repo: Path) -> None:
    frame = diabetes_frame()
    frame.insert(0, "seen", pd.date_range("2024-01-01", periods=len(frame), freq="D")[::-1])
    use_time_split(sk_repo, frame)

    payload = train_json(cli, sk_repo, "diabetes", "--no-register")
    # rows are stored newest first, so the newest 111 rows are the first 111
    ordered = frame.iloc[::-1]
    train, test = ordered.iloc[: len(frame) - 111], ordered.iloc[len(frame) - 111 :]
    predictions = Ridge(alpha=0.5).fit(train[DIABETES_FEATURES], train["progression"]).predict(test[DIABETES_FEATURES])
    assert payload["metrics"]["r2"] == skm.r2_score(test["progression"], predictions)
    assert payload["split"]["method"] == "time"


def test_json_output_has_no_progress_and_parses(cli: Any, sk_repo: Path) -> None:
    result = cli("--repo", str(sk_repo), "train", "diabetes", "-o", "json")
    assert result.code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["registered"] is True


def test_signature_marks_nullable_columns_and_categories(cli: Any, model_repo: Path) -> None:
    """The init repo's churn model: categorical inputs list their categories; a column with gaps is nullable."""
    payload = train_json(
        cli,
        model_repo,
        "churn",
        "--set",
        "training.params.n_estimators=10",
        "--set",
        "evaluation.gates=[roc_auc >= 0.5]",
    )
    record = read_record(model_repo, "churn", payload["version"])
    inputs = {column.name: column for column in record.signature.inputs}
    assert inputs["contract"].categories == ["month-to-month", "one-year", "two-year"]
    assert inputs["contract"].nullable is False
    assert inputs["monthly_charges"].nullable is True
    assert inputs["tenure_months"].type == "integer"
    assert record.reference.features["contract"].kind == "categorical"
    assert np.isclose(sum(record.reference.features["tenure_months"].shares), 1.0)


WINE_FEATURES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids", "hue"]


def wine_frame() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame[[*WINE_FEATURES, "target"]].rename(columns={"target": "cultivar"})
    frame.loc[::9, "ash"] = np.nan  # gaps for the median imputer
    frame.loc[::13, "hue"] = np.nan
    return frame


def test_multiclass_with_imputation_and_scaling_equals_scikit_learn(cli: Any, sk_repo: Path) -> None:
    """Three classes (macro averages, one-vs-rest ROC AUC), missing values imputed, features standardised."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    spec = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Model",
        "name": "wine",
        "data": {
            "source": "data/wine.csv",
            "target": "cultivar",
            "columns": {**dict.fromkeys(WINE_FEATURES, "float"), "cultivar": "integer"},
        },
        "quality": {"completeness": {"max_missing": {"ash": 0.2, "hue": 0.2}}},
        "features": [{"name": name, "kind": "numeric", "scale": "standard"} for name in WINE_FEATURES],
        "training": {
            "task": "classification",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000},
            "split": {"method": "stratified", "test_size": 0.3, "seed": 5},
        },
        "evaluation": {"metrics": CLASSIFICATION_METRICS, "gates": ["accuracy >= 0.8"]},
    }
    (sk_repo / "models" / "wine").mkdir()
    (sk_repo / "models" / "wine" / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    frame = wine_frame()
    frame.to_csv(sk_repo / "data" / "wine.csv", index=False)
    commit_all(sk_repo, "wine")

    payload = train_json(cli, sk_repo, "wine")
    x_train, x_test, y_train, y_test = train_test_split(
        frame[WINE_FEATURES], frame["cultivar"], test_size=0.3, random_state=5, stratify=frame["cultivar"]
    )
    direct = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000, random_state=5)
    ).fit(x_train, y_train)
    predictions, proba = direct.predict(x_test), direct.predict_proba(x_test)
    expected = {
        "roc_auc": skm.roc_auc_score(y_test, proba, multi_class="ovr", labels=[0, 1, 2]),
        "accuracy": skm.accuracy_score(y_test, predictions),
        "f1": skm.f1_score(y_test, predictions, average="macro"),
        "precision": skm.precision_score(y_test, predictions, average="macro"),
        "recall": skm.recall_score(y_test, predictions, average="macro"),
        "log_loss": skm.log_loss(y_test, proba),
        "balanced_accuracy": skm.balanced_accuracy_score(y_test, predictions),
    }
    assert {name: payload["metrics"][name] for name in CLASSIFICATION_METRICS} == expected
    record = read_record(sk_repo, "wine", 1)
    assert record.signature.classes == [0, 1, 2]
    assert {c.name: c.nullable for c in record.signature.inputs}["ash"] is True
    assert payload["latency"]["predictor"].startswith("fast path: 8 features, LogisticRegression")


def test_train_on_another_data_file(cli: Any, sk_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "fewer.csv"
    diabetes_frame().iloc[:300].to_csv(other, index=False)
    payload = train_json(cli, sk_repo, "diabetes", "--data", str(other), "--no-register")
    assert payload["data"]["uri"] == str(other)
    assert payload["data"]["rows"] == 300
    assert payload["split"]["test_rows"] == 75


def test_time_split_grid_cross_validates_forward_in_time(cli: Any, sk_repo: Path) -> None:
    from sklearn.model_selection import TimeSeriesSplit

    frame = diabetes_frame()
    frame.insert(0, "seen", pd.date_range("2024-01-01", periods=len(frame), freq="D"))
    use_time_split(sk_repo, frame)

    payload = train_json(cli, sk_repo, "diabetes", "--grid", "--no-register")
    train = frame.iloc[: len(frame) - 111]
    search = GridSearchCV(
        Ridge(random_state=42),
        {"alpha": [0.1, 1.0, 10.0]},
        cv=TimeSeriesSplit(3),
        scoring="neg_root_mean_squared_error",
    ).fit(train[DIABETES_FEATURES], train["progression"])
    assert [c["cv_score"] for c in payload["grid"]] == [-s for s in search.cv_results_["mean_test_score"]]
    assert payload["params"]["alpha"] == search.best_params_["alpha"]


def test_feature_selection_by_correlation(cli: Any, sk_repo: Path) -> None:
    from mlopsctl.registry.store import load_version

    payload = train_json(cli, sk_repo, "cancer", "--set", "feature_selection={method: correlation, k: 3}")
    _, pipeline = load_version(open_repo(sk_repo), "cancer", payload["version"])
    assert [name for name, _ in pipeline.steps] == ["features", "select", "model"]
    assert int(pipeline.named_steps["select"].get_support().sum()) == 3
    assert read_record(sk_repo, "cancer", 1).spec_dirty is True  # the committed spec has no selection


def test_progress_bars_draw_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from mlopsctl.cli.common import Options
    from mlopsctl.cli.train import ProgressBars

    out = io.StringIO()
    opts = Options(err=Console(file=out, force_terminal=True, width=100))
    with ProgressBars(opts) as bars:
        bars("Loading data", 0, None)
        bars("Grid search", 0, 4)
        bars("Grid search", 3, 4)
    assert "Grid search" in out.getvalue()
    quiet = Options(output="json", err=Console(file=io.StringIO(), force_terminal=True))
    with ProgressBars(quiet) as bars:
        bars("Loading data", 0, None)
    assert quiet.err.file.getvalue() == ""  # type: ignore[attr-defined]
