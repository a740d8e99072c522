"""The dashboard's views: Models, Model, Environments, History and Log.

State down, messages up: a view renders the app's :class:`~mlopsctl.tui.state.DashboardState`
(the overview, health, history, runs) and reports the selection; it never calls the app. A
drill-down, a command line or a need for data is a message (:mod:`mlopsctl.tui.messages`) that
the app handles; loading and actions run in the app's workers (:mod:`mlopsctl.tui.actions`).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.cache import LRUCache
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import CellKey

from mlopsctl.ports.api import Operation
from mlopsctl.tui import present, render
from mlopsctl.tui.messages import (
    CommandEntered,
    DetailsWanted,
    HistoryWanted,
    ModelOpened,
    PlansWanted,
    VersionOpened,
)
from mlopsctl.tui.safe import SafeStatic, safe_cell, safe_text
from mlopsctl.tui.state import DashboardState, Selection

if TYPE_CHECKING:
    from textual.widgets import RichLog

__all__ = ["EnvironmentsView", "HistoryView", "LogView", "ModelView", "ModelsView", "Selection", "View"]


class View(Screen[None]):
    """Common chrome: breadcrumbs, banner, the prompt for : and /, and the footer."""

    view_id: ClassVar[str] = "view"
    filter_text: str = ""
    _chrome: tuple[str, str, tuple[str, ...]] | None = None
    _drawn_at_mount = False

    @property
    def state(self) -> DashboardState:
        """What to render: the app's state (read only here)."""
        state = getattr(self.app, "state", None)
        assert isinstance(state, DashboardState), "a View runs inside an app that has a DashboardState"
        return state

    def compose(self) -> ComposeResult:
        yield SafeStatic(id="crumbs")
        yield SafeStatic(id="banner")
        yield from self.body()
        yield Input(id="prompt")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def crumbs(self) -> list[str]:
        return [self.view_id]

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).display = False
        self.refresh_view()
        self._drawn_at_mount = True

    def on_screen_resume(self) -> None:
        # The resume that follows the mount finds the view just drawn (the first screen: 200 rows).
        if not self._drawn_at_mount:
            self.refresh_view()
        self._drawn_at_mount = False

    def update_chrome(self) -> None:
        state = self.state
        trail = " › ".join(["mlopsctl", *self.crumbs()])
        mode = "paused" if state.paused else f"live · {state.refresh_seconds:g}s"
        extra = f"  filter: /{self.filter_text}" if self.filter_text else ""
        flags = "  [readonly]" if state.readonly else ""
        chrome = (trail, f"  │ {mode}{extra}{flags}", tuple(state.banners))
        if chrome == self._chrome:
            return  # a widget update re-lays out the screen: only when something changed
        self._chrome = chrome
        self.query_one("#crumbs", Static).update(Text.assemble((chrome[0], "bold"), (chrome[1], "dim")))
        banner = self.query_one("#banner", Static)
        banner.update(Text(" ⚠ " + "  ⚠ ".join(state.banners), style="bold black on yellow") if state.banners else "")
        banner.display = bool(state.banners)

    def refresh_view(self) -> None:
        self.update_chrome()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.refresh_view()

    def selection(self) -> Selection:
        return Selection()

    def open_prompt(self, kind: str) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.display = True
        prompt.placeholder = (
            "command (models, model NAME, env NAME, history, log, help, quit)" if kind == ":" else "filter"
        )
        prompt.value = self.filter_text if kind == "/" else ""
        prompt.border_title = kind
        prompt.focus()

    def close_prompt(self) -> bool:
        prompt = self.query_one("#prompt", Input)
        if not prompt.display:
            return False
        prompt.display = False
        self.focus_main()
        return True

    def focus_main(self) -> None:
        tables = self.query(DataTable)
        if tables:
            tables.first().focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "prompt" and event.input.border_title == "/":
            self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "prompt":
            return
        kind = event.input.border_title
        self.close_prompt()
        if kind == ":":
            self.post_message(CommandEntered(event.value))


class LiveTable(DataTable[Any]):
    """A DataTable whose content changes on every refresh, with render caches about two screens deep.

    DataTable keys its render caches on a counter that every cell update bumps, so after a refresh
    every cached row is stale. Its defaults (1,000 rows, 10,000 cells) then keep some 120,000 stale
    objects alive, and the cyclic collector walks all of them on each full pass: 90-130 ms with 200
    models, long enough to swallow a key press. Two screens of rows are all that scrolling reuses.
    If Textual renames these caches this does nothing, and ``bench/bench_tui.py`` shows the lag.
    """

    ROW_CACHES: ClassVar[tuple[str, ...]] = ("_row_render_cache", "_row_renderable_cache", "_line_cache")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cells_by_content: LRUCache[tuple[Any, ...], Any] = LRUCache(2000)
        self.presized = False
        """Set by :func:`_fill` once it sized the columns for the rows it added: none to measure again."""

    def _update_dimensions(self, new_rows: Any) -> None:
        """DataTable measures every cell of every new row on its next idle (200 rows: 40-140 ms on the
        event loop, right after the first screen). :func:`_fill` sized the columns from the same cells
        already, so only the scrollable size is recomputed then."""
        if self.presized:
            self.presized = False
            new_rows = ()
        super()._update_dimensions(new_rows)

    def on_mount(self) -> None:
        self.fit_caches()

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        """DataTable's, with a text cell measured by its width rather than through the console.

        DataTable measures each widened cell through rich, whose console reads the terminal's size
        (system calls) every time: the first refreshes widen REQ/S and TREND in every row, 400
        measurements on the event loop with 200 models. A Text cell's measure is its widest line,
        so that is taken directly; anything else, or a cell that got narrower, DataTable measures.
        """
        measured: set[CellKey] = set()
        for cell in updated_cells:
            column, row = self.columns.get(cell.column_key), self.rows.get(cell.row_key)
            if column is None or row is None:
                continue
            value = self._data[cell.row_key][cell.column_key]
            if row.height != 1 or not isinstance(value, Text):
                measured.add(cell)
                continue
            width = _widest_line(value)
            if width < column.content_width:
                measured.add(cell)  # narrower: DataTable measures the whole column again
            else:
                column.content_width = max(width, _widest_line(column.label))
        if measured:
            super()._update_column_widths(measured)
        self._require_update_dimensions = True

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        """A cell's lines, cached by what the cell shows rather than by the table's update counter.

        DataTable renders every visible cell again after any update (about 60 microseconds each
        through rich, 500 cells on a full screen: 60-90 ms here). Keyed by content, a refresh
        renders only the cells that changed; rows are then re-assembled from cached cells.
        """
        content = self._content_key(row_index, column_index)
        if content is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_index,
            column_index,
            content,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
        )
        lines = self._cells_by_content.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._cells_by_content[key] = lines
        return lines

    def _content_key(self, row_index: int, column_index: int) -> tuple[Any, ...] | None:
        """What a body cell shows, hashable; None for header and label cells or unusual values."""
        if row_index < 0 or column_index < 0:
            return None
        try:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            if row_key is None or column_key is None:
                return None
            value = self._data[row_key][column_key]
            height = self.rows[row_key].height
        except (KeyError, IndexError):
            return None
        if isinstance(value, str):
            return (row_key, column_key, height, value)
        if isinstance(value, Text):
            return (row_key, column_key, height, value.plain, value.style, tuple(value.spans), value.justify)
        return None

    def on_resize(self, _event: events.Resize) -> None:
        self.fit_caches()

    def fit_caches(self) -> None:
        rows = 2 * max(self.size.height, 25)
        sizes = dict.fromkeys(self.ROW_CACHES, rows)
        sizes["_cell_render_cache"] = sizes["_cells_by_content"] = rows * max(len(self.columns), 12)
        for name, size in sizes.items():
            cache = getattr(self, name, None)
            if isinstance(cache, LRUCache) and cache.maxsize != size:
                if size < cache.maxsize:
                    cache.clear()  # an LRU cache only shrinks by being emptied
                cache.maxsize = size


def _cursor_key(table: DataTable[Any]) -> str | None:
    if table.row_count == 0:
        return None
    row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return str(row_key.value) if row_key.value is not None else None


def _fill(table: DataTable[Any], unsafe_rows: list[tuple[str, list[Any]]]) -> None:
    """Replace the rows, keeping the cursor on the same key when it still exists.

    Every table of the dashboard fills here, so this is where repository text is made safe.
    """
    rows = [(key, [safe_cell(cell) for cell in cells]) for key, cells in unsafe_rows]
    keep = _cursor_key(table)
    if [str(k.value) for k in table.rows] == [key for key, _ in rows]:
        for key, cells in rows:
            shown = table.get_row(key)  # in ordered_columns order
            for column, old, cell in zip(table.ordered_columns, shown, cells, strict=False):
                if not _same(old, cell):
                    # Re-measuring a column measures all its rows: only when the new cell is wider.
                    wider = _width(cell) > column.content_width
                    table.update_cell(key, column.key, _plain(cell), update_width=wider)
        return
    table.clear()
    for key, cells in rows:
        table.add_row(*map(_plain, cells), key=key)
    # Size the columns now rather than on the table's next idle, which a quick second update can skip.
    for index, column in enumerate(table.ordered_columns):
        widest = max((_width(cells[index]) for _, cells in rows if index < len(cells)), default=0)
        column.content_width = max(column.content_width, widest)
    if isinstance(table, LiveTable):
        table.presized = True
    table.refresh()
    if keep is not None and keep in [key for key, _ in rows]:
        table.move_cursor(row=table.get_row_index(keep))


def _plain(cell: Any) -> Any:
    """A string cell as the Text DataTable would make of it, so it is not parsed as markup on every render."""
    return Text(cell, end="", no_wrap=True) if isinstance(cell, str) else cell


def _same(old: Any, new: Any) -> bool:
    """Cell equality by content: rich Text compares by identity, which would redraw every Text cell."""
    if isinstance(old, Text) and isinstance(new, str):  # a string cell is kept as plain Text (_plain)
        return not old.spans and not old.style and old.plain == new
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return bool(old == new)


def _widest_line(text: Text) -> int:
    """What rich measures a Text to at most: its widest line (0 when empty)."""
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def _width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


class ModelsView(View):
    view_id = "models"
    sort_column: int = 0
    sort_reverse: bool = False

    def body(self) -> ComposeResult:
        yield LiveTable(id="models", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        table.add_columns(*self.columns())
        super().on_mount()
        table.focus()

    def columns(self) -> list[str]:
        return [
            "MODEL",
            "LATEST",
            "VERSIONS",
            *(e.upper() for e in self.state.overview.environments),
            "HEALTH",
            "DRIFT",
            "REQ/S",
            "TREND",
        ]

    def refresh_view(self) -> None:
        super().refresh_view()
        table = self.query_one("#models", DataTable)
        if len(table.columns) != len(self.columns()):
            table.clear(columns=True)
            table.add_columns(*self.columns())
        overview = self.state.overview
        rows = [(row.name, self._cells(row, overview.environments)) for row in overview.rows(self.filter_text)]
        rows.sort(key=lambda item: _sort_key(item[1][self.sort_column]), reverse=self.sort_reverse)
        _fill(table, rows)

    def _cells(self, row: Any, envs: list[str]) -> list[Any]:
        placements = [row.placements[e].label() if e in row.placements else "-" for e in envs]
        drift = Text(row.worst_drift, style="bold red" if (row.worst_psi or 0) >= 0.25 else "")
        return [
            row.name,
            f"v{row.latest}" if row.latest else "-",
            str(len(row.versions)),
            *placements,
            render.state(row.state),
            drift,
            render.rate(row.request_rate) + _span_note(row.rate_over),
            _trend(row.rate_history),
        ]

    def cycle_sort(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(self.columns())
        self.notify(f"sorted by {self.columns()[self.sort_column]}", timeout=1.5)
        self.refresh_view()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.column_index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        self.sort_column = event.column_index
        self.refresh_view()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(ModelOpened(str(event.row_key.value)))

    def selection(self) -> Selection:
        model = _cursor_key(self.query_one("#models", DataTable))
        row = self.state.overview.models.get(model or "")
        return Selection(model=model, version=row.latest if row else None)


TREND_WIDTH = 20


def _trend(history: Any) -> Text:
    """The request-rate sparkline, right-aligned at its full width from the first point on.

    A column that widens as history fills would re-measure and repaint every visible cell on each
    refresh until the line is full; at full width from the start only the changed cells repaint.
    """
    line = render.sparkline(history, TREND_WIDTH)
    line.pad_left(TREND_WIDTH - line.cell_len)
    return line


def _sort_key(cell: Any) -> tuple[int, float, str]:
    text = str(cell.plain if isinstance(cell, Text) else cell)
    try:
        return (0, float(text.lstrip("v")), "")
    except ValueError:
        return (1, 0.0, text)


class ModelView(View):
    view_id = "model"

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.marked: list[str] = []

    def crumbs(self) -> list[str]:
        return ["models", self.model]

    def body(self) -> ComposeResult:
        with Horizontal(id="model-top"):
            with Vertical(id="model-left"):
                yield Static(Text("Versions", style="bold"), classes="section")
                yield LiveTable(id="versions", cursor_type="row", zebra_stripes=True)
                yield Static(Text("Runs  (space marks, c compares)", style="bold"), classes="section")
                yield LiveTable(id="runs", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="model-right"):
                yield Static(Text("Drift (PSI per feature)", style="bold"), classes="section")
                yield SafeStatic(id="drift")
                yield Static(Text("Live", style="bold"), classes="section")
                yield SafeStatic(id="live")

    def on_mount(self) -> None:
        self.query_one("#versions", DataTable).add_columns(
            "VERSION", "CREATED", "PRIMARY METRIC", "GATES", "DATA", "COMMIT", "IMAGE", "STAGE"
        )
        self.query_one("#runs", DataTable).add_columns("", "RUN", "STARTED", "STATUS", "METRICS", "VERSION")
        super().on_mount()
        self.query_one("#versions", DataTable).focus()
        self.post_message(DetailsWanted(self.model))

    def refresh_view(self) -> None:
        super().refresh_view()
        details = self.state.details.get(self.model)
        if details is None:
            return
        needle = self.filter_text.lower()
        _fill(
            self.query_one("#versions", DataTable),
            [
                (str(v["version"]), v["cells"])
                for v in details["versions"]
                if needle in " ".join(map(str, v["cells"])).lower()
            ],
        )
        _fill(
            self.query_one("#runs", DataTable),
            [(r["id"], ["●" if r["id"] in self.marked else "", *r["cells"]]) for r in details["runs"]],
        )
        self.query_one("#drift", Static).update(present.drift_text(self.state, self.model))
        self.query_one("#live", Static).update(present.live_text(self.state, self.model))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "versions" and event.row_key.value is not None:
            self.post_message(VersionOpened(self.model, int(str(event.row_key.value))))

    def toggle_mark(self) -> None:
        run = _cursor_key(self.query_one("#runs", DataTable))
        if run is None:
            return
        if run in self.marked:
            self.marked.remove(run)
        else:
            self.marked.append(run)
        self.refresh_view()

    def selection(self) -> Selection:
        versions = self.query_one("#versions", DataTable)
        key = _cursor_key(versions)
        return Selection(model=self.model, version=int(key) if key else None, runs=tuple(self.marked))


class EnvironmentsView(View):
    view_id = "environments"

    def __init__(self, env: str | None = None) -> None:
        super().__init__()
        self.env = env

    def crumbs(self) -> list[str]:
        return ["environments", *([self.env] if self.env else [])]

    def body(self) -> ComposeResult:
        yield LiveTable(id="environments", cursor_type="row", zebra_stripes=True)
        yield Static(Text("Plan  (d plans the selected environment, a applies it)", style="bold"), classes="section")
        yield SafeStatic(id="plan")
        yield Static(Text("Rollout  (mlopsctl rollout commits the decision)", style="bold"), classes="section rollout")
        yield SafeStatic(id="rollout", classes="rollout")

    def on_mount(self) -> None:
        self.query_one("#environments", DataTable).add_columns(
            "ENV", "MODEL", "DESIRED (GIT)", "OBSERVED", "HEALTH", "SYNC (PLAN)"
        )
        super().on_mount()
        self.query_one("#environments", DataTable).focus()
        self.post_message(PlansWanted())

    def refresh_view(self) -> None:
        super().refresh_view()
        rows = present.environment_rows(self.state, self.env, self.filter_text)
        _fill(self.query_one("#environments", DataTable), rows)
        self._show_plan()

    def _show_plan(self) -> None:
        selection = self.selection()
        self.query_one("#plan", Static).update(Text(self.state.plan_text.get(selection.env or "", "")))
        panel = present.rollout_panel(self.state, selection.env, selection.model)
        for part in self.query(".rollout"):
            part.display = panel is not None
        self.query_one("#rollout", Static).update(panel or "")

    def selection(self) -> Selection:
        key = _cursor_key(self.query_one("#environments", DataTable))
        if key is None:
            envs = self.state.overview.environments
            return Selection(env=self.env or (envs[0] if envs else None))
        env, _, model = key.partition("/")
        models = self.state.overview.models
        placement = models[model].placements.get(env) if model in models else None
        return Selection(model=model, env=env, version=placement.version if placement else None)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_plan()


class HistoryView(View):
    view_id = "history"

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.model = model

    def crumbs(self) -> list[str]:
        return ["history", *([self.model] if self.model else [])]

    def body(self) -> ComposeResult:
        yield LiveTable(id="history", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#history", DataTable).add_columns(
            "WHEN", "WHO", "ACTION", "MODEL", "VERSION", "ENV", "STRATEGY", "GATES", "COMMIT"
        )
        super().on_mount()
        self.query_one("#history", DataTable).focus()
        self.post_message(HistoryWanted())

    def refresh_view(self) -> None:
        super().refresh_view()
        needle = self.filter_text.lower()
        rows = [
            (entry["commit"], entry["cells"])
            for entry in self.state.history
            if (self.model is None or entry["model"] == self.model)
            and needle in " ".join(map(str, entry["cells"])).lower()
        ]
        _fill(self.query_one("#history", DataTable), rows)


class LogView(View):
    """Every outside operation, newest last. The live refresh repeats the same scrape every few
    seconds: consecutive identical entries fold into one "repeated N times" line, so git, docker
    and process operations stay readable between them."""

    view_id = "log"
    last: Operation | None = None
    """The newest entry already handled (the operation deque drops old ones, so no index is kept)."""
    repeats = 0
    """How many identical entries followed the last line written, not yet written."""
    FOLD_AT = 100

    def body(self) -> ComposeResult:
        from textual.widgets import RichLog  # rich.pretty and attrs: only once the Log view opens

        yield RichLog(id="log", wrap=True, highlight=False, markup=False)

    def refresh_view(self) -> None:
        super().refresh_view()
        log = self._log()
        entries = list(self.state.operations)
        if self.filter_text:
            log.clear()
            self.last, self.repeats = None, 0
        for entry in self._new_entries(entries):
            if self.filter_text.lower() in entry.command.lower():
                self._write(log, entry)
            self.last = entry

    def _log(self) -> RichLog:
        from textual.widgets import RichLog

        return self.query_one("#log", RichLog)

    def _new_entries(self, entries: list[Operation]) -> list[Operation]:
        if self.last is None:
            return entries
        for index in range(len(entries) - 1, -1, -1):
            if entries[index] is self.last:
                return entries[index + 1 :]
        return entries  # the last one written has left the deque: everything there is new

    def _write(self, log: RichLog, entry: Operation) -> None:
        previous = self.last
        if previous is not None and _same_operation(previous, entry) and self.repeats < self.FOLD_AT:
            self.repeats += 1
            return
        self._flush_repeats(log, previous)
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.at))
        mark = Text("✓ ", style="green") if entry.ok else Text("✗ ", style="bold red")
        kind = (f"{entry.kind:<11}", "cyan")  # "prometheus", the longest kind, still gets a space
        log.write(safe_text(Text.assemble((stamp + " ", "dim"), mark, kind, entry.command)))

    def _flush_repeats(self, log: RichLog, previous: Operation | None) -> None:
        if self.repeats and previous is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(previous.at))
            log.write(Text(f"         … repeated {self.repeats} more times, last at {stamp}", style="dim"))
        self.repeats = 0

    def focus_main(self) -> None:
        self._log().focus()


def _same_operation(one: Operation, other: Operation) -> bool:
    return (one.kind, one.command, one.ok) == (other.kind, other.command, other.ok)


def fmt_metric(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


def _span_note(over: str) -> str:
    """' (2m of 1h)' when the rate covers less than the window (a service younger than it), else ''."""
    return f" ({over.removeprefix('over ')})" if " of " in over else ""
