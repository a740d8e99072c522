"""Hold out the evaluation rows: stratified, random, or time-based (the newest rows), with a recorded seed.

The indices are positions in the data set. Random and stratified splits are exactly scikit-learn's
``train_test_split`` with the spec's ``test_size`` and ``seed`` (so anyone can recompute them); a
time split keeps the oldest rows for training, in time order, and holds out the newest
``ceil(test_size * rows)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlopsctl.errors import CheckFailed
from mlopsctl.spec.models import ModelSpec

MIN_PER_CLASS = 2


@dataclass(frozen=True)
class Split:
    method: str
    seed: int
    test_size: float
    train: np.ndarray[Any, Any]
    test: np.ndarray[Any, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seed": self.seed,
            "test_size": self.test_size,
            "train_rows": len(self.train),
            "test_rows": len(self.test),
        }


def split_rows(spec: ModelSpec, frame: pd.DataFrame, y: np.ndarray[Any, Any]) -> Split:
    settings = spec.training.split
    rows = np.arange(len(frame))
    if settings.method == "time":
        train, test = _time_split(spec, frame, settings.test_size)
    else:
        stratify = y if settings.method == "stratified" else None
        if stratify is not None:
            _check_stratifiable(spec, y, settings.test_size)
        train, test = train_test_split(
            rows, test_size=settings.test_size, random_state=settings.seed, stratify=stratify
        )
    if len(train) == 0 or len(test) == 0:
        raise CheckFailed(
            f"{len(frame)} rows cannot be split into training and held-out rows with test_size {settings.test_size}",
            hint="add rows, or change training.split.test_size",
        )
    return Split(settings.method, settings.seed, settings.test_size, np.asarray(train), np.asarray(test))


def _time_split(spec: ModelSpec, frame: pd.DataFrame, test_size: float) -> tuple[np.ndarray[Any, Any], ...]:
    column = spec.data.time_column
    assert column is not None  # validate checks that a time split names a time column
    times = pd.to_datetime(frame[column], errors="coerce")
    if times.isna().any():
        raise CheckFailed(
            f"the time column '{column}' has {int(times.isna().sum())} missing or unreadable values; "
            "a time split needs a timestamp on every row",
            hint="fill them, or use training.split.method: random",
        )
    order = np.argsort(times.to_numpy(), kind="stable")
    n_test = math.ceil(test_size * len(frame))
    return order[: len(frame) - n_test], order[len(frame) - n_test :]


def _check_stratifiable(spec: ModelSpec, y: np.ndarray[Any, Any], test_size: float) -> None:
    labels, counts = np.unique(y, return_counts=True)
    few = [(label, count) for label, count in zip(labels, counts, strict=True) if count < MIN_PER_CLASS]
    if few:
        listing = ", ".join(f"'{label}' ({count} row)" for label, count in few)
        raise CheckFailed(
            f"cannot stratify the split on '{spec.data.target}': classes {listing} have fewer than "
            f"{MIN_PER_CLASS} rows",
            hint="add rows of those classes, or use training.split.method: random",
        )
    n_test = math.ceil(test_size * len(y))
    if n_test < len(labels) or len(y) - n_test < len(labels):
        raise CheckFailed(
            f"cannot stratify {len(y)} rows of {len(labels)} classes with test_size {test_size}: "
            "each side of the split needs a row of every class",
            hint="add rows, or change training.split.test_size",
        )
