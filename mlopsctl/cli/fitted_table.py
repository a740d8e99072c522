"""Rich tables that fit the terminal: the columns that matter stay whole, the others give way.

A column is *essential* (always shown) or optional, shown in the order of its ``rank`` while the
table still fits the console. *Flexible* columns (names, reasons) wrap inside their minimum
width instead of being cut with an ellipsis; every other column keeps its cells on one line, so a
verdict such as ``UNKNOWN`` is never shortened to ``UNKNO…``. What did not fit is named under the
table, with where to find it (``-o json`` carries every column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

CELL_OVERHEAD = 3
"""Characters a column costs besides its cells: one space each side and its left border."""
FLEXIBLE_MIN = 12
"""Narrowest a wrapping column gets (a feature name wraps over lines from here)."""


@dataclass(frozen=True)
class FitColumn:
    """One column: its header, whether it may be hidden, and how it behaves when space is short."""

    header: str
    essential: bool = False
    rank: int = 0
    """Among optional columns, lower ranks are kept first."""
    flexible: bool = False
    """Wraps (folds) its cells instead of needing its natural width."""
    min_width: int = FLEXIBLE_MIN
    justify: Literal["left", "right"] = "left"


def fitted_table(
    console: Console, title: str, columns: Sequence[FitColumn], rows: Sequence[Sequence[str]]
) -> tuple[Table, list[str]]:
    """A table of the columns that fit ``console.width``, and the headers left out."""
    widths = [_natural_width(i, column, rows) for i, column in enumerate(columns)]
    shown = _choose(columns, widths, console.width)
    table = Table(title=title, title_justify="left")
    for i in shown:
        _add_column(table, columns[i], widths[i])
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table, [column.header for i, column in enumerate(columns) if i not in shown]


def print_fitted(console: Console, title: str, columns: Sequence[FitColumn], rows: Sequence[Sequence[str]]) -> None:
    """Print :func:`fitted_table` and, when columns were left out, one line naming them."""
    table, hidden = fitted_table(console, title, columns, rows)
    console.print(table)
    if hidden:
        console.print(f"[dim]not shown at this width: {', '.join(hidden)} (-o json has every column)[/]")


def _natural_width(index: int, column: FitColumn, rows: Sequence[Sequence[str]]) -> int:
    cells = [Text.from_markup(row[index]).cell_len for row in rows]
    return max([len(column.header), *cells])


def _needed(column: FitColumn, natural: int) -> int:
    return (min(natural, column.min_width) if column.flexible else natural) + CELL_OVERHEAD


def _choose(columns: Sequence[FitColumn], widths: Sequence[int], available: int) -> list[int]:
    """Indexes of the essential columns, then of optional ones by rank while they fit (in table order)."""
    chosen = [i for i, column in enumerate(columns) if column.essential]
    used = 1 + sum(_needed(columns[i], widths[i]) for i in chosen)
    optional = sorted((i for i, column in enumerate(columns) if not column.essential), key=lambda i: columns[i].rank)
    for i in optional:
        cost = _needed(columns[i], widths[i])
        if used + cost <= available:
            chosen.append(i)
            used += cost
    return sorted(chosen)


def _add_column(table: Table, column: FitColumn, natural: int) -> None:
    if column.flexible:
        table.add_column(
            column.header, justify=column.justify, overflow="fold", min_width=min(natural, column.min_width)
        )
    else:
        table.add_column(column.header, justify=column.justify, no_wrap=True, min_width=natural)
