"""scikit-learn's 8x8 digits in a model repository: 64 integer pixels and the digit, three pixels blank.

RECONSTRUCTED by the serving engineer (issue 13 items 6/8) after overwriting this untracked file by
mistake: the names below are inferred from tests/functional/test_train_constant_features.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_digits

from tests.support.train_repo import commit_all

PIXELS = [f"pixel_{row}_{column}" for row in range(8) for column in range(8)]
TARGET = "digit"


def digits_frame() -> pd.DataFrame:
    """The 1797 images: one integer column per pixel (0-16), then the digit."""
    data = load_digits()
    frame = pd.DataFrame(data.data.astype(int), columns=PIXELS)
    frame[TARGET] = data.target
    return frame


BLANK_PIXELS = [name for name in PIXELS if digits_frame()[name].nunique() == 1]


def digits_spec() -> str:
    columns = {name: "integer" for name in PIXELS} | {TARGET: "integer"}
    spec = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Model",
        "name": "digits",
        "data": {"source": "data/digits.csv", "target": TARGET, "columns": columns},
        "quality": {"min_rows": 100},
        "features": [{"name": name, "kind": "numeric", "scale": "standard"} for name in PIXELS],
        "training": {
            "task": "classification",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000},
            "split": {"method": "stratified", "test_size": 0.25, "seed": 1},
        },
        "evaluation": {"metrics": ["accuracy"]},
    }
    return "# yaml-language-server: $schema=../../schemas/model.schema.json\n" + yaml.safe_dump(spec, sort_keys=False)


@pytest.fixture
def digits_repo(model_repo: Path) -> Path:
    """The init repository plus the digits model and its data, committed."""
    (model_repo / "models" / "digits").mkdir(parents=True)
    (model_repo / "models" / "digits" / "model.yaml").write_text(digits_spec())
    digits_frame().to_csv(model_repo / "data" / "digits.csv", index=False)
    commit_all(model_repo, "Add the digits model")
    return model_repo
