"""A refresh that widens the models table's cells sizes its columns as DataTable's own measure would.

The dashboard measures a widened text cell by its widest line instead of through rich's console
(which asks the terminal for its size on every measurement: 400 of them on the event loop when the
first refreshes widen REQ/S and TREND in 200 rows, issue 13 item 16's start-up lag). The widths must
stay exactly DataTable's: every column as wide as its widest cell or its label.
"""

from __future__ import annotations

from pathlib import Path

from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter

from mlopsctl.monitor.health import DeploymentHealth, HealthReport
from mlopsctl.monitor.judge import Check, State
from mlopsctl.spec.loader import Repo
from tests.support.dashboard import SIZE, make_app
from tests.support.tui_repo import build_tui_repo


def _busy(rate: float) -> HealthReport:
    health = DeploymentHealth("staging", "churn", 1, "stable", "127.0.0.1:9000", "1h")
    health.checks = [Check("up", "infrastructure", State.OK, 1.0, "up")]
    health.values = {"request_rate": rate, "p95_latency_ms": 3.0, "error_rate": 0.0, "up": 1.0}
    return HealthReport("bench", [health])


def _measured(table: DataTable[object]) -> list[int]:
    """Each column's width as DataTable measures it: its widest cell through rich, or its label."""
    console = table.app.console
    widths = []
    for column in table.ordered_columns:
        cells = [
            measure(console, default_cell_formatter(c, wrap=False, height=1), 1) for c in table.get_column(column.key)
        ]
        widths.append(max([*cells, measure(console, column.label, 1)]))
    return widths


async def test_widened_cells_size_their_columns_as_datatable_measures_them(tmp_path: Path) -> None:
    root = build_tui_repo(tmp_path / "repo", models=3)
    rates = iter([12345.678, 1.0, 987654321.5])

    def fetch(_repo: Repo) -> HealthReport:
        return _busy(next(rates))

    app = make_app(root, fetch_health=fetch)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#models", DataTable)
        for _ in range(3):  # wider, narrower, wider again
            app.refresh_health()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert [c.content_width for c in table.ordered_columns] == _measured(table)
