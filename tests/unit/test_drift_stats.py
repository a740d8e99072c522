"""PSI, KS and chi-square against reference computations (scipy; PSI written out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from mlopsctl.contract.binning import bin_index, numeric_edges
from mlopsctl.monitor import stats

TOLERANCE = 1e-9


def hand_psi(expected: list[float], counts: list[float], eps: float) -> float:
    """PSI as a person writes it: each bin's share, floored at eps, then sum (a - e) ln(a / e)."""
    total = sum(counts)
    value = 0.0
    for e, c in zip(expected, counts, strict=True):
        a = max(c / total, eps)
        e = max(e, eps)
        value += (a - e) * math.log(a / e)
    return value


@pytest.mark.parametrize(
    ("expected", "counts"),
    [
        ([0.25, 0.25, 0.25, 0.25], [25, 25, 25, 25]),  # identical
        ([0.1, 0.2, 0.3, 0.4], [40, 30, 20, 10]),  # shifted
        ([0.5, 0.5, 0.0], [40, 40, 20]),  # empty reference bin (unseen category)
        ([0.2, 0.3, 0.5], [0, 30, 70]),  # empty live bin
        ([1.0], [123]),  # single-valued column: one bin
    ],
)
def test_psi_equals_the_formula(expected: list[float], counts: list[float]) -> None:
    assert stats.psi(expected, counts) == pytest.approx(hand_psi(expected, counts, stats.EPS), abs=TOLERANCE)


def test_identical_distribution_is_zero() -> None:
    assert stats.psi([0.3, 0.7], [30, 70]) == 0.0


def test_empty_bin_is_finite_because_of_the_clamp() -> None:
    value = stats.psi([0.5, 0.5, 0.0], [0, 50, 50])
    assert math.isfinite(value)
    assert value == pytest.approx(hand_psi([0.5, 0.5, 0.0], [0, 50, 50], 1e-4), abs=TOLERANCE)


def test_no_observations_is_nan_not_zero() -> None:
    assert math.isnan(stats.psi([0.5, 0.5], [0, 0]))


def test_bins_must_match() -> None:
    with pytest.raises(ValueError, match="PSI needs the same bins: 2 reference shares, 3 counts"):
        stats.psi([0.5, 0.5], [1, 2, 3])


def test_psi_over_reference_bins_of_raw_values() -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.normal(size=5000), rng.normal(0.3, size=3000)
    edges = numeric_edges(reference, 10)
    expected = np.bincount(bin_index(edges, reference), minlength=11) / reference.size
    counts = np.bincount(bin_index(edges, current), minlength=11)
    assert stats.psi(expected, counts) == pytest.approx(
        hand_psi(list(expected), list(counts), stats.EPS), abs=TOLERANCE
    )


def samples() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    return [
        ("small exact", rng.normal(size=300), rng.normal(0.2, size=500)),
        ("mid, plain sort", rng.normal(size=20_000), rng.normal(0.01, size=25_000)),
        ("large, grid, shifted", rng.normal(size=300_000), rng.normal(0.05, size=200_000)),
        ("large, grid, same", rng.normal(size=200_000), rng.normal(size=300_000)),
        ("large, ties", rng.integers(0, 50, 200_000).astype(float), rng.integers(0, 52, 150_000).astype(float)),
        ("large, heavy tail", rng.pareto(1.1, 200_000), rng.pareto(1.0, 100_000)),
        ("large, disjoint", rng.normal(size=100_000), rng.normal(100, size=100_000)),
        ("large, constant same", np.full(80_000, 3.0), np.full(60_000, 3.0)),
        ("large, constants apart", np.full(80_000, 3.0), np.full(60_000, 4.0)),
        ("constant vs spread", np.full(70_000, 0.5), rng.uniform(size=70_000)),
        ("small constant", np.full(10, 1.0), np.full(20, 1.0)),
    ]


@pytest.mark.parametrize(("name", "a", "b"), samples(), ids=[s[0] for s in samples()])
def test_ks_equals_scipy(name: str, a: np.ndarray, b: np.ndarray) -> None:
    ours = stats.ks_2samp(a, b)
    theirs = sps.ks_2samp(a, b)
    assert ours.statistic == pytest.approx(float(theirs.statistic), abs=TOLERANCE), name
    assert ours.pvalue == pytest.approx(float(theirs.pvalue), abs=TOLERANCE), name


def test_ks_needs_values() -> None:
    with pytest.raises(ValueError, match="KS needs at least one value in each sample"):
        stats.ks_2samp(np.array([]), np.array([1.0]))


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([10, 20, 30], [12, 18, 33]),
        ([10, 0, 30, 5], [12, 0, 31, 40]),  # a bin empty on both sides is left out, as scipy needs
        ([100, 0], [0, 100]),
        ([50, 50], [50, 50]),
        ([3.5, 1.25, 9.0], [2, 7, 1]),  # reference shares times a count: not integers
    ],
)
def test_chi_square_equals_scipy(reference: list[float], current: list[float]) -> None:
    table = np.array([reference, current], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    expected = sps.chi2_contingency(table, correction=False)
    ours = stats.chi_square(reference, current)
    assert ours.statistic == pytest.approx(float(expected.statistic), abs=TOLERANCE)
    assert ours.pvalue == pytest.approx(float(expected.pvalue), abs=TOLERANCE)


def test_chi_square_single_bin_matches_scipy() -> None:
    expected = sps.chi2_contingency(np.array([[40.0], [60.0]]), correction=False)
    ours = stats.chi_square([40, 0], [60, 0])
    assert (ours.statistic, ours.pvalue) == (float(expected.statistic), float(expected.pvalue)) == (0.0, 1.0)


def test_chi_square_goodness_of_fit_agrees_when_the_reference_is_huge() -> None:
    """With an enormous reference sample, homogeneity tends to scipy.stats.chisquare against its shares."""
    shares = np.array([0.2, 0.3, 0.5])
    current = np.array([30.0, 30.0, 40.0])
    fit = sps.chisquare(current, shares * current.sum())
    ours = stats.chi_square(shares * 1e12, current)
    assert ours.statistic == pytest.approx(float(fit.statistic), rel=1e-6)


@pytest.mark.parametrize("d", [0.02, 0.025, 0.03, 0.05, 0.3])
def test_ks_pvalue_shortcut_stays_within_tolerance_of_scipy(d: float) -> None:
    """Where Massart's bound is negligible the bound is returned; it is within 1e-9 of scipy's exact value."""
    n = 30_000.0
    assert stats.ks_pvalue(d, n) == pytest.approx(float(sps.kstwo.sf(d, n)), abs=TOLERANCE)
