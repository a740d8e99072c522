"""Shadow and canary comparison: a candidate's answers against the stable version's on the same rows.

A row agrees when the candidate answers the same class (classification) or a value within
``monitoring.shadow.tolerance`` of the stable one (regression). Its difference is the largest
absolute difference of any class probability (when both versions give probabilities; else 0 or
1 on the class) or the absolute difference of the values. The counts are exported under the
CANDIDATE's labels with the stable version in ``stable_version``
(:data:`~mlopsctl.contract.metrics.COMPARED_ROWS_TOTAL`, ``AGREED_ROWS_TOTAL``,
``ANSWER_DIFFERENCE``).

Everything is numpy over the whole batch (no Python loop per row or class): the comparison runs
on the event loop after the client's answer is sent, so it must stay cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.batch import Prediction

Array = np.ndarray[Any, Any]
BOUNDS = np.asarray(mc.DIFFERENCE_BUCKETS, dtype=np.float64)


@dataclass(frozen=True)
class Compared:
    """One batch compared: which rows agreed and each row's difference."""

    agreed: Array
    difference: Array


@dataclass
class Agreement:
    """The running comparison of one candidate with the stable version (counters and histogram)."""

    stable_version: str
    tolerance: float = 0.0
    """Regression: the largest absolute difference that still agrees."""
    compared: int = 0
    agreed: int = 0
    buckets: Array = field(default_factory=lambda: np.zeros(len(mc.DIFFERENCE_BUCKETS) + 1, dtype=np.int64))
    """Rows per difference bucket (not cumulative), the last one above every bound."""
    total: float = 0.0

    def count(self, found: Compared) -> None:
        """Add one batch's rows; a non-finite difference lands in +Inf and stays out of the sum."""
        self.compared += int(found.agreed.size)
        self.agreed += int(np.count_nonzero(found.agreed))
        finite = np.isfinite(found.difference)
        self.total += float(found.difference[finite].sum())
        where = np.searchsorted(BOUNDS, found.difference, side="left")  # like bisect_left: le is inclusive
        self.buckets += np.bincount(where, minlength=self.buckets.size)


def compare(
    candidate: Prediction,
    stable: Prediction,
    classes: tuple[Sequence[Any] | None, Sequence[Any] | None],
    tolerance: float,
) -> Compared:
    """Row by row: ``classes`` are the candidate's and the stable version's (None: regression)."""
    candidate_classes, stable_classes = classes
    if candidate_classes is None or stable_classes is None:
        return _regression(candidate.labels, stable.labels, tolerance)
    agreed = same_labels(candidate.labels, stable.labels)
    if candidate.probabilities is None or stable.probabilities is None:
        return Compared(agreed, (~agreed).astype(np.float64))
    difference = probability_difference(
        (candidate.probabilities, candidate_classes), (stable.probabilities, stable_classes)
    )
    return Compared(agreed, difference)


def _regression(candidate: Array, stable: Array, tolerance: float) -> Compared:
    difference = np.abs(np.asarray(candidate, dtype=np.float64) - np.asarray(stable, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        agreed = difference <= tolerance  # NaN: never agrees
    return Compared(agreed, difference)


def same_labels(candidate: Array, stable: Array) -> Array:
    """Equal classes; labels of different kinds (1 against "1") are compared as text."""
    a, b = np.asarray(candidate), np.asarray(stable)
    if a.dtype.kind != b.dtype.kind:
        a, b = a.astype(str), b.astype(str)
    return np.asarray(a == b, dtype=bool)


def probability_difference(candidate: tuple[Array, Sequence[Any]], stable: tuple[Array, Sequence[Any]]) -> Array:
    """Per row, the largest absolute difference of a class probability; a class one version lacks
    has probability 0 there."""
    (a, a_classes), (b, b_classes) = candidate, stable
    if list(a_classes) != list(b_classes):
        names = sorted({str(c) for c in (*a_classes, *b_classes)})
        a, b = _aligned(a, a_classes, names), _aligned(b, b_classes, names)
    largest: Array = np.abs(a - b).max(axis=1)
    return largest


def _aligned(probabilities: Array, classes: Sequence[Any], names: list[str]) -> Array:
    aligned = np.zeros((probabilities.shape[0], len(names)), dtype=np.float64)
    aligned[:, [names.index(str(c)) for c in classes]] = probabilities
    return aligned
