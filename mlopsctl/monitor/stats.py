"""Drift statistics: PSI over reference bins, two-sample KS and chi-square.

One epsilon (:data:`EPS`) clamps every share before PSI takes a logarithm, here, in the live
health checks and in the rendered PromQL recording rules (``clamp_min(share, EPS)``), so an empty
bin gives a large but finite PSI and all three report the same number for the same counts.

The KS statistic is exact (equal to ``scipy.stats.ks_2samp``) but avoids sorting a million values
twice: values are first counted into a fine grid, the grid bounds the statistic, and only the
grid cells that could still hold the maximum are sorted and searched exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EPS = 1e-4
"""Smallest share a bin takes in PSI (reference and live alike)."""

_SCIPY_EXACT_MAX_N = 10_000  # ks_2samp(method="auto") computes exact p-values up to this size
_SORT_ALL_BELOW = 50_000  # below this many values, a plain sort is as fast as the grid
_MAX_CELLS = 1 << 16
_VALUES_PER_CELL = 8
_NEGLIGIBLE_P = 1e-10

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class TestResult:
    """A statistic and its p-value."""

    statistic: float
    pvalue: float


def shares(counts: Sequence[float] | FloatArray) -> FloatArray:
    """Counts as shares of their total; all NaN when the total is 0 (a window without data)."""
    values = np.asarray(counts, dtype=float)
    total = values.sum()
    if total <= 0:
        return np.full(values.shape, np.nan)
    result: FloatArray = values / total
    return result


def psi(expected_shares: Sequence[float] | FloatArray, actual_counts: Sequence[float] | FloatArray) -> float:
    """Population stability index of ``actual_counts`` against the reference shares.

    ``sum((a - e) * ln(a / e))`` with both shares clamped below at :data:`EPS`. NaN when there
    are no actual observations (0/0).
    """
    expected = np.asarray(expected_shares, dtype=float)
    actual = shares(actual_counts)
    if expected.shape != actual.shape:
        raise ValueError(f"PSI needs the same bins: {expected.size} reference shares, {actual.size} counts")
    if np.isnan(actual).any():
        return math.nan
    return psi_from_shares(expected, actual)


def psi_from_shares(expected: FloatArray, actual: FloatArray) -> float:
    e = np.maximum(expected, EPS)
    a = np.maximum(actual, EPS)
    return float(np.sum((a - e) * np.log(a / e)))


Counts = Sequence[float] | FloatArray


def chi_square(reference_counts: Counts, current_counts: Counts) -> TestResult:
    """Two-sample chi-square test of homogeneity on the same bins (no continuity correction).

    Equal to ``scipy.stats.chi2_contingency([ref, cur], correction=False)`` over the bins that
    hold at least one value in either sample; a single such bin gives statistic 0 and p 1.
    """
    reference = np.asarray(reference_counts, dtype=float)
    current = np.asarray(current_counts, dtype=float)
    columns = reference + current
    kept = columns > 0
    reference, current, columns = reference[kept], current[kept], columns[kept]
    rows = (float(reference.sum()), float(current.sum()))
    if columns.size < 2 or 0.0 in rows:
        return TestResult(0.0, 1.0)
    total = rows[0] + rows[1]
    expected_reference = columns * (rows[0] / total)
    expected_current = columns * (rows[1] / total)
    statistic = float(
        np.sum((reference - expected_reference) ** 2 / expected_reference)
        + np.sum((current - expected_current) ** 2 / expected_current)
    )
    dof = columns.size - 1
    # chi2.sf is chdtrc; scipy.special alone spares status the import of scipy.stats
    from scipy.special import chdtrc

    return TestResult(statistic, float(chdtrc(dof, statistic)))


def ks_2samp(reference: FloatArray, current: FloatArray) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test, equal to ``scipy.stats.ks_2samp`` (two-sided, auto)."""
    a = np.asarray(reference, dtype=float)
    b = np.asarray(current, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("KS needs at least one value in each sample")
    if max(a.size, b.size) <= _SCIPY_EXACT_MAX_N:
        from scipy import stats as sps

        result = sps.ks_2samp(a, b)
        return TestResult(float(result.statistic), float(result.pvalue))
    d = ks_statistic(a, b)
    m, n = sorted([float(a.size), float(b.size)], reverse=True)
    return TestResult(d, ks_pvalue(d, float(np.round(m * n / (m + n)))))


def ks_pvalue(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, as ks_2samp's asymptotic mode computes it, but fast when tiny.

    scipy computes the exact one-sided Smirnov sum there, seconds for n in the hundreds of
    thousands. Massart's bound ``sf <= 2 exp(-2 n d^2)`` holds for every n; below
    :data:`_NEGLIGIBLE_P` the bound itself is returned, which is within that of scipy's value.
    """
    bound = 2.0 * math.exp(-2.0 * n * d * d)
    if bound < _NEGLIGIBLE_P:
        return bound
    from scipy import stats as sps

    return float(np.clip(sps.kstwo.sf(d, n), 0.0, 1.0))


def ks_statistic(a: FloatArray, b: FloatArray) -> float:
    """sup |F_a - F_b| over the data, exactly as scipy computes it."""
    if a.size + b.size <= _SORT_ALL_BELOW:
        return _ks_exact(np.sort(a), np.sort(b), a.size, b.size)
    low = float(min(a.min(), b.min()))
    high = float(max(a.max(), b.max()))
    if low == high:
        return 0.0
    return _ks_grid(a, b, low, high)


@dataclass(frozen=True)
class _Grid:
    low: float
    scale: float
    size: int

    def cells(self, values: FloatArray) -> np.ndarray[Any, Any]:
        # Monotone in the value (subtracting, scaling and flooring never reorder), so cells are intervals.
        scaled = values - self.low
        scaled *= self.scale
        cells = scaled.astype(np.int64)
        return np.minimum(cells, self.size - 1, out=cells)


def _ks_grid(a: FloatArray, b: FloatArray, low: float, high: float) -> float:
    size = min(_MAX_CELLS, (a.size + b.size) // _VALUES_PER_CELL)
    grid = _Grid(low, size / (high - low), size)
    cells_a = grid.cells(a)
    count_a = np.bincount(cells_a, minlength=size)
    cells_b = grid.cells(b)
    count_b = np.bincount(cells_b, minlength=size)
    cum_a, cum_b = np.cumsum(count_a), np.cumsum(count_b)
    before_a, before_b = cum_a - count_a, cum_b - count_b
    occupied = (count_a + count_b) > 0
    # At a cell's largest value both CDFs equal the cumulative counts: an attained lower bound.
    lower = float(np.abs(cum_a / a.size - cum_b / b.size)[occupied].max())
    # Inside a cell the CDFs move between their values before and after it: an upper bound.
    upper = np.maximum(cum_a / a.size - before_b / b.size, cum_b / b.size - before_a / a.size)
    open_cells = occupied & (upper > lower)
    if not open_cells.any():
        return lower
    # A value in an open cell sees every value of the closed cells at or below its own cell.
    closed_a = np.cumsum(np.where(open_cells, 0, count_a))
    closed_b = np.cumsum(np.where(open_cells, 0, count_b))
    sub_a = a[open_cells[cells_a]]
    del cells_a
    sub_b = b[open_cells[cells_b]]
    del cells_b
    sub_a.sort()
    sub_b.sort()

    def closed_below(points: FloatArray) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        cells = grid.cells(points)
        return closed_a[cells], closed_b[cells]

    return max(lower, _ks_exact(sub_a, sub_b, a.size, b.size, closed_below))


_CHUNK = 1 << 17
"""Points evaluated at once: bounds the memory of the exact pass whatever the data size."""


def _ks_exact(
    a: FloatArray,
    b: FloatArray,
    n_a: int,
    n_b: int,
    closed_below: Callable[[FloatArray], tuple[Any, Any]] | None = None,
) -> float:
    """Largest CDF gap at the values of the sorted ``a`` and ``b``.

    ``closed_below`` gives, for points, how many values of each full sample lie below them
    without being in ``a`` or ``b`` (values of closed grid cells); scipy's CDFs are rebuilt exactly.
    """
    best = 0.0
    for sample in (a, b):
        for start in range(0, sample.size, _CHUNK):
            points = sample[start : start + _CHUNK]
            base_a, base_b = closed_below(points) if closed_below is not None else (0, 0)
            cdf_a = (base_a + np.searchsorted(a, points, side="right")) / n_a
            cdf_b = (base_b + np.searchsorted(b, points, side="right")) / n_b
            diffs = cdf_a - cdf_b
            best = max(best, float(np.clip(-diffs.min(), 0, 1)), float(diffs.max()))
    return best
