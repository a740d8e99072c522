"""Two models on the data scikit-learn ships (breast cancer classifier, diabetes regressor) in a
repository from `mlopsctl init`, and helpers to train them and read what they recorded.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from mlopsctl.registry.records import version_numbers

CANCER_FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_area", "worst_concavity", "mean_symmetry"]


DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


CLASSIFICATION_METRICS = ["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "balanced_accuracy"]


REGRESSION_METRICS = ["rmse", "mae", "r2", "mape"]


CANCER_SPEC = f"""\
# yaml-language-server: $schema=../../schemas/model.schema.json
apiVersion: mlopsctl/v1
kind: Model
name: cancer
description: Tells benign from malignant tumours (scikit-learn's breast cancer data).
data:
  source: data/cancer.csv
  target: benign
  columns:
{chr(10).join(f"    {name}: float" for name in CANCER_FEATURES)}
    benign: integer
quality:
  min_rows: 100
  accuracy:
    allowed:
      benign: [0, 1]
features:
{chr(10).join(f"  - {{name: {name}, kind: numeric}}" for name in CANCER_FEATURES)}
training:
  task: classification
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: 25
    max_depth: 4
    n_jobs: 1
  grid:
    max_depth: [2, 4]
    min_samples_leaf: [1, 8]
  cv_folds: 3
  split:
    method: stratified
    test_size: 0.25
    seed: 7
evaluation:
  metrics: [{", ".join(CLASSIFICATION_METRICS)}]
  gates:
    - roc_auc >= 0.9
    - p95_latency_ms <= 600000
"""


DIABETES_SPEC = f"""\
# yaml-language-server: $schema=../../schemas/model.schema.json
apiVersion: mlopsctl/v1
kind: Model
name: diabetes
description: Disease progression one year on (scikit-learn's diabetes data).
data:
  source: data/diabetes.csv
  target: progression
  columns:
{chr(10).join(f"    {name}: float" for name in DIABETES_FEATURES)}
    progression: float
features:
{chr(10).join(f"  - {{name: {name}, kind: numeric}}" for name in DIABETES_FEATURES)}
training:
  task: regression
  estimator: sklearn.linear_model.Ridge
  params:
    alpha: 0.5
  grid:
    alpha: [0.1, 1.0, 10.0]
  split:
    method: random
    test_size: 0.25
    seed: 3
evaluation:
  metrics: [{", ".join(REGRESSION_METRICS)}]
  gates:
    - r2 >= 0.3
"""


def cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(name).replace(" ", "_") for name in frame.columns]
    return frame[[*CANCER_FEATURES, "target"]].rename(columns={"target": "benign"})


def diabetes_frame() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame[[*DIABETES_FEATURES, "target"]].rename(columns={"target": "progression"})


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def sk_repo(model_repo: Path) -> Path:
    """The init repository plus the cancer (classification) and diabetes (regression) models, committed."""
    for name, spec, frame in (
        ("cancer", CANCER_SPEC, cancer_frame()),
        ("diabetes", DIABETES_SPEC, diabetes_frame()),
    ):
        (model_repo / "models" / name).mkdir(parents=True)
        (model_repo / "models" / name / "model.yaml").write_text(spec)
        frame.to_csv(model_repo / "data" / f"{name}.csv", index=False)
    commit_all(model_repo, "Add the cancer and diabetes models")
    return model_repo


def train_json(cli: Any, root: Path, *args: str) -> dict[str, Any]:
    result = cli("--repo", str(root), "train", *args, "-o", "json")
    assert result.code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def records(root: Path, model: str) -> list[int]:
    return version_numbers(root, model)
