"""Serving rows as stored (issue 13, item 6): the 8x8 digits with an id, a capture time, 64 pixels, the label.

The spec declares all 67 columns in ``data.columns`` and trains on the 61 pixels that vary (three
are 0 in every image), so a client that sends a row as stored carries six declared columns that
are not features: the id, the time column, the label and the three constant pixels.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sklearn.datasets import load_digits

PIXELS = [f"pixel_{i}" for i in range(64)]
CONSTANT_PIXELS = ("pixel_0", "pixel_32", "pixel_39")
FEATURES = [p for p in PIXELS if p not in CONSTANT_PIXELS]


def digits_frame() -> pd.DataFrame:
    """The digits as stored rows: image_id, taken_at, pixel_0..pixel_63 (integers 0-16), digit."""
    data = load_digits()
    frame = pd.DataFrame(data.data.astype(int), columns=PIXELS)
    frame.insert(0, "taken_at", pd.date_range("2026-01-01", periods=len(frame), freq="min").strftime("%Y-%m-%dT%H:%M"))
    frame.insert(0, "image_id", [f"img-{i:05d}" for i in range(len(frame))])
    frame["digit"] = data.target
    return frame


def digits_spec(unknown_fields: str = "reject") -> dict[str, Any]:
    columns: dict[str, str] = {"image_id": "string", "taken_at": "datetime"}
    columns.update({p: "integer" for p in PIXELS})
    columns["digit"] = "integer"
    return {
        "apiVersion": "mlopsctl/v1",
        "kind": "Model",
        "name": "digits",
        "data": {"source": "data/digits.csv", "target": "digit", "time_column": "taken_at", "columns": columns},
        "quality": {"min_rows": 100},
        "features": [{"name": p, "kind": "numeric", "scale": "standard"} for p in FEATURES],
        "training": {
            "task": "classification",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000},
            "split": {"method": "stratified", "test_size": 0.25, "seed": 1},
        },
        "evaluation": {"metrics": ["accuracy"]},
        "serving": {"unknown_fields": unknown_fields},
    }


def write_spec(root: Path, unknown_fields: str) -> None:
    """models/digits/model.yaml with ``serving.unknown_fields`` set (not committed)."""
    spec_file = root / "models" / "digits" / "model.yaml"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(yaml.safe_dump(digits_spec(unknown_fields), sort_keys=False))


def add_digits_model(root: Path) -> pd.DataFrame:
    """data/digits.csv and the digits spec in the repository at ``root``, committed; returns the rows."""
    frame = digits_frame()
    (root / "data").mkdir(exist_ok=True)
    frame.to_csv(root / "data" / "digits.csv", index=False)
    write_spec(root, "reject")
    subprocess.run(["git", "add", "data/digits.csv", "models/digits"], cwd=root, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-q", "-m", "Add digits"], cwd=root, check=True, capture_output=True)
    return frame


def stored_rows(frame: pd.DataFrame, count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows exactly as stored: every declared column, plain JSON values."""
    rows: list[dict[str, Any]] = frame.iloc[:count].to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]
