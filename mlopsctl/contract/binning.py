"""Reference distributions: the bins a version's drift is measured in.

Computed once from the training data at registration and stored in the version record. The
prediction service counts live values into exactly these bins (``bin_index``), Prometheus
recording rules and ``mlopsctl drift`` compare the counts with the stored shares, so all three
see the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlopsctl.contract.records import BinnedReference

if TYPE_CHECKING:  # pandas is imported where it is used: reading bins (status) does not need it
    import pandas as pd

OTHER = "__other__"


def numeric_edges(values: np.ndarray[Any, Any], bins: int) -> list[float]:
    """Interior quantile edges of the finite ``values``, deduplicated (discrete data gives fewer bins)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="linear")
    edges = np.unique(quantiles)
    # A top edge equal to the maximum would leave the last bin empty by construction.
    return [float(edge) for edge in edges if edge < finite.max()]


def bin_index(edges: Sequence[float], values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Bin of each value: ``i`` such that ``edges[i-1] < x <= edges[i]`` (open ends)."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="left")


def numeric_reference(series: pd.Series, bins: int) -> BinnedReference:
    import pandas as pd

    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(values)
    present = values[~missing]
    edges = numeric_edges(present, bins)
    counts = (
        np.bincount(bin_index(edges, present), minlength=len(edges) + 1) if present.size else np.zeros(len(edges) + 1)
    )
    return BinnedReference(
        kind="numeric",
        edges=edges,
        shares=_shares(counts),
        missing_share=float(missing.mean()) if values.size else 0.0,
        count=int(present.size),
    )


def categorical_reference(series: pd.Series, max_categories: int = 50) -> BinnedReference:
    missing = series.isna()
    present = series[~missing].astype(str)
    counts = present.value_counts()
    categories = [str(c) for c in counts.index[:max_categories]]
    observed = [int(counts[c]) for c in categories] + [int(counts.iloc[max_categories:].sum())]
    return BinnedReference(
        kind="categorical",
        categories=categories,
        shares=_shares(np.asarray(observed, dtype=float)),
        missing_share=float(missing.mean()) if len(series) else 0.0,
        count=int(present.size),
    )


def category_index(categories: Sequence[str], values: Sequence[Any]) -> list[int]:
    """Bin of each categorical value; unseen values go to the last (``__other__``) bin."""
    lookup = {category: i for i, category in enumerate(categories)}
    other = len(categories)
    return [lookup.get(str(value), other) for value in values]


def bin_labels(reference: BinnedReference) -> list[str]:
    """Stable label per bin, used as the ``bin`` label of the service's counters."""
    if reference.kind == "categorical":
        return [*reference.categories, OTHER]
    bounds = [*(_fmt(edge) for edge in reference.edges), "+Inf"]
    return bounds


def _fmt(edge: float) -> str:
    return repr(float(edge))


def _shares(counts: np.ndarray[Any, Any]) -> list[float]:
    total = float(counts.sum())
    if total == 0:
        return [0.0] * len(counts)
    return [float(c) / total for c in counts]
