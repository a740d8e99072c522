"""A validated batch of rows, the one shape every request format becomes before prediction.

Columns hold plain Python values so a single row costs no array allocations before it reaches the
model: numeric columns hold floats (``nan`` marks a missing value), text columns (categories,
strings, dates) hold ``str`` or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC_TYPES = frozenset({"integer", "float", "boolean"})
"""Signature types whose values reach the pipeline as floats."""


def is_numeric_type(declared: str) -> bool:
    return declared in NUMERIC_TYPES


@dataclass(frozen=True)
class Batch:
    """Rows of input, column by column, in the signature's column order."""

    rows: int
    columns: dict[str, list[Any]]
    ignored: int = 0
    """Field names the spec never declared that came with the request and were ignored
    (``serving.unknown_fields: ignore``), counted once per request."""

    def row(self, index: int) -> dict[str, Any]:
        return {name: values[index] for name, values in self.columns.items()}


@dataclass(frozen=True)
class Prediction:
    """What a model answered for a batch: labels (or values) and, for classifiers, probabilities."""

    labels: np.ndarray[Any, Any]
    probabilities: np.ndarray[Any, Any] | None = None
