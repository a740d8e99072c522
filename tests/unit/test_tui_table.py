"""The dashboard's live table: repaint only what changed, keep the render caches small, fixed-width trend."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from mlopsctl.tui.views import TREND_WIDTH, LiveTable, _fill, _trend

ROWS = 30


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(id="table")

    def on_mount(self) -> None:
        table = self.query_one(LiveTable)
        table.add_columns("NAME", "STATE", "TREND")
        _fill(table, rows(state="WARN"))


def rows(state: str, changed: int | None = None) -> list[tuple[str, list[Any]]]:
    return [
        (
            f"m{i:02d}",
            [f"m{i:02d}", Text("CRIT" if i == changed else state, style="red"), _trend(deque([1.0, float(i)]))],
        )
        for i in range(ROWS)
    ]


class Counting:
    """Counts the cells DataTable itself renders (through rich), under LiveTable's cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = DataTable._render_cell

        def render_cell(table: DataTable[Any], *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(table, *args, **kwargs)

        monkeypatch.setattr(DataTable, "_render_cell", render_cell)


async def test_an_update_renders_only_the_cells_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    app = TableApp()
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(LiveTable)
        first = counting.calls
        assert first >= ROWS * 3  # every visible body cell once, and the header
        counting.calls = 0
        _fill(table, rows(state="WARN", changed=7))
        await pilot.pause()
        assert str(table.get_cell("m07", table.ordered_columns[1].key)) == "CRIT"
        # DataTable alone would render all 90 visible cells again; by content only the changed one
        # (twice at most: once for the row under the cursor's style) and the header row.
        assert 1 <= counting.calls <= 6
        counting.calls = 0
        _fill(table, rows(state="WARN", changed=7))
        await pilot.pause()
        assert counting.calls == 0


async def test_render_caches_hold_about_two_screens() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(LiveTable)
        rows_deep = 2 * max(table.size.height, 25)
        assert table._row_render_cache.maxsize == rows_deep
        assert table._line_cache.maxsize == rows_deep
        assert table._cell_render_cache.maxsize == rows_deep * 12
        assert table._cell_render_cache.maxsize < 10_000  # DataTable's own default


@pytest.mark.parametrize("points", [0, 1, 3, TREND_WIDTH, 60])
def test_the_trend_is_always_full_width(points: int) -> None:
    line = _trend(deque(float(i % 5) for i in range(points)))
    assert line.cell_len == TREND_WIDTH
    assert len(line.plain.strip()) == min(points, TREND_WIDTH)
