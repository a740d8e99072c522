"""``mlopsctl registry list`` and ``registry show``: the registered model versions, who registered
them, and per environment what Git wants against what runs; ``registry push``: this machine's
artifacts sent to the team's shared store."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import click
from rich.cells import cell_len, set_cell_size
from rich.console import COLOR_SYSTEMS, Console, Group, RenderableType
from rich.markup import escape
from rich.style import Style
from rich.table import Table
from rich.text import Text

from mlopsctl.cli.common import global_options, options
from mlopsctl.registry.api import (
    ALREADY_THERE,
    MISSING,
    NOT_COMMITTED,
    UPLOADED,
    ModelRow,
    PushResult,
    Registrar,
    VersionDetails,
    VersionRow,
    missing_error,
    model_rows,
    open_registry,
    parse_ref,
    push_artifacts,
    version_details,
    version_rows as list_version_rows,
)
from mlopsctl.spec.api import UNSAFE, terminal_safe

MAX_METRICS_SHOWN = 3
DIGEST_SHOWN = 10
SHRINKABLE = ("metrics", "environments", "wanted", "running")
"""The columns that wrap, in this order, when a row is wider than the terminal."""
Cell = tuple[str, str | None]
"""Plain text of a table cell and its rich style (None: unstyled)."""
Painter = Callable[[str, str | None], str]


@click.group("registry")
def registry_group() -> None:
    """Registered model versions: immutable records under registry/, artifacts checked by digest."""


@registry_group.command("list")
@click.argument("model", required=False)
@click.option("--all", "all_versions", is_flag=True, help="Every version of every model (default: one row per model).")
@global_options
def list_command(model: str | None, all_versions: bool) -> int:
    """List versions of MODEL, or one row per model (its latest version and where versions run)."""
    opts = options()
    repo = open_registry(opts.repo_root())
    if model is None and not all_versions:
        models = model_rows(repo)
        payload = {"models": [row.to_dict() for row in models]} if opts.json else None
        opts.emit(payload, lambda console: _render_models(console, models))
        return 0
    rows = list_version_rows(repo, model)
    payload = {"versions": [row.to_dict() for row in rows]} if opts.json else None
    opts.emit(payload, lambda console: _render_versions(console, rows))
    return 0


@registry_group.command("show")
@click.argument("ref", metavar="MODEL@VERSION")
@click.option("--no-verify", is_flag=True, help="Do not read the artifact to check its digest.")
@global_options
def show_command(ref: str, no_verify: bool) -> int:
    """Everything about one version: lineage, metrics, gates, params, environment, artifact."""
    opts = options()
    model, version = parse_ref(ref)
    details = version_details(open_registry(opts.repo_root()), model, version, verify=not no_verify)
    opts.emit(details.to_dict(), lambda console: _render_details(console, details))
    return 0 if details.artifact_state in ("verified", "not checked") else 1


@registry_group.command("push")
@click.argument("refs", nargs=-1, metavar="[MODEL@VERSION]...")
@click.option("--all", "every_version", is_flag=True, help="Every registered version of every model.")
@global_options
def push_command(refs: tuple[str, ...], every_version: bool) -> int:
    """Upload artifacts this machine holds to the shared artifact store (MLOPS_ARTIFACT_STORE).

    For versions trained before the store was configured; what the store holds already is not sent again.
    Exit 1 when some artifact is neither in the store nor on this machine.
    """
    opts = options()
    if bool(refs) == every_version:
        raise click.UsageError("name the versions to push (MODEL@VERSION ...) or give --all, not both")
    result = push_artifacts(opts.repo_root(), list(refs), every_version=every_version)
    opts.emit(result.to_dict(), lambda console: _render_pushed(console, result))
    if result.missing:
        raise missing_error(result)
    return 0


COMMANDS = [registry_group]


def _render_pushed(console: Console, result: PushResult) -> None:
    if not result.artifacts:
        console.print("no registered versions yet; register one with: mlopsctl train MODEL")
        return
    styles = {UPLOADED: "green", ALREADY_THERE: "dim", MISSING: "red"}
    cells: list[list[Cell]] = [
        [
            (item.ref, None),
            (item.sha256[:DIGEST_SHOWN], None),
            (f"{item.size:,} bytes", None),
            (item.outcome, styles.get(item.outcome)),
        ]
        for item in result.artifacts
    ]
    print_table(console, ["version", "artifact", "size", "outcome"], cells)
    uploaded = sum(item.outcome == UPLOADED for item in result.artifacts)
    console.print(f"[dim]{uploaded} uploaded to {escape(result.store)}[/]")


# --------------------------------------------------------------------------- list rendering


def _render_models(console: Console, rows: list[ModelRow]) -> None:
    if not rows:
        console.print("no registered versions yet; register one with: mlopsctl train MODEL")
        return
    columns = [
        "model",
        "latest",
        "versions",
        "created",
        "registered by",
        "metrics",
        "gates",
        "artifact",
        "environments",
    ]
    cells = [
        [
            (row.latest.summary.model, None),
            (f"v{row.latest.summary.version}", None),
            (str(row.versions), None),
            (row.latest.summary.created_at[:10], None),
            _registrar(row.latest.registered_by),
            (_metrics(row.latest.summary.metrics), None),
            _gates(row.latest.summary.gates_passed),
            (row.latest.summary.artifact_sha256[:DIGEST_SHOWN], None),
            (row.stage_text(), None) if row.placements else ("-", "dim"),
        ]
        for row in rows
    ]
    print_table(console, columns, cells)
    noun = "model" if len(rows) == 1 else "models"
    console.print(f"[dim]{len(rows)} {noun}; versions of one: mlopsctl registry list MODEL; all: --all[/]")


def _render_versions(console: Console, rows: list[VersionRow]) -> None:
    if not rows:
        console.print("no registered versions yet; register one with: mlopsctl train MODEL")
        return
    columns = [
        "model",
        "version",
        "created",
        "registered by",
        "metrics",
        "gates",
        "rows",
        "artifact",
        "wanted",
        "running",
    ]
    cells = [
        [
            (row.summary.model, None),
            (f"v{row.summary.version}", None),
            (row.summary.created_at.replace("T", " ")[:16], None),
            _registrar(row.registered_by),
            (_metrics(row.summary.metrics), None),
            _gates(row.summary.gates_passed),
            (f"{row.summary.data_rows:,}" if row.summary.data_rows is not None else "-", None),
            (row.summary.artifact_sha256[:DIGEST_SHOWN], None),
            _stage(row.stages, row.archived),
            (", ".join(row.running), None) if row.running else ("-", "dim"),
        ]
        for row in rows
    ]
    print_table(console, columns, cells)


def print_table(console: Console, columns: list[str], rows: list[list[Cell]]) -> None:
    """An aligned table written in one go (styles as ANSI codes on a colour terminal).

    rich's Table measures and wraps every cell, which takes seconds for thousands of rows; a
    registry listing must stay well under a second at 20,000 versions, so rows are laid out here.
    When a row is wider than the terminal, the metrics column wraps between metrics, then the
    environments (or wanted and running) columns between words.
    """
    header: list[Cell] = [(name, "bold") for name in columns]
    table = _without_controls([header, *rows])
    ascii_only = all(text.isascii() for line in table for text, _ in line)
    measure = len if ascii_only else cell_len
    widths = [max(measure(line[i][0]) for line in table) for i in range(len(columns))]
    wrap_at = _fit(widths, columns, console.width, table)
    paint = _painter(console)
    if not wrap_at and ascii_only:
        lines = _plain_lines(table, widths, paint)
    else:
        lines = [text for line in table for text in _row_lines(line, widths, wrap_at, paint)]
    console.file.write("\n".join(lines) + "\n")
    console.file.flush()


def _without_controls(table: list[list[Cell]]) -> list[list[Cell]]:
    """Cells with the terminal's control characters dropped: the table is written past the safe console.

    Model and metric names come from record files anyone can commit; one scan of all the text keeps
    the common case (nothing to drop) as fast as before.
    """
    if UNSAFE.search("".join(text for line in table for text, _ in line)) is None:
        return table
    return [[(terminal_safe(text), style) for text, style in line] for line in table]


def _plain_lines(table: list[list[Cell]], widths: list[int], paint: Painter) -> list[str]:
    """The common case, kept lean: ASCII cells that fit, one line per row, the last cell unpadded.

    Styled cells take few distinct values (passed, failed, -), so each is padded and painted once.
    """
    template = " ".join(f"{{:<{width}}}" for width in widths[:-1]) + " {}"
    pads = [*widths[:-1], 0]
    painted: dict[tuple[str, str, int], str] = {}

    def cell(text: str, style: str | None, width: int) -> str:
        if not style:
            return text
        key = (text, style, width)
        if key not in painted:
            painted[key] = paint(text.ljust(width), style)
        return painted[key]

    return [
        template.format(*[cell(text, style, width) for (text, style), width in zip(line, pads, strict=True)]).rstrip()
        for line in table
    ]


def _fit(widths: list[int], columns: list[str], available: int, table: list[list[Cell]]) -> set[int]:
    """Narrow the shrinkable columns, in turn, to fit ``available`` (never below their longest word).

    Returns the indices of the columns that must wrap.
    """
    wrapped: set[int] = set()
    for name in SHRINKABLE:
        excess = sum(widths) + len(widths) - 1 - available
        if excess <= 0 or name not in columns:
            continue
        index = columns.index(name)
        longest = max(cell_len(word) for line in table for word in line[index][0].split() or [""])
        widths[index] = max(longest, widths[index] - excess)
        wrapped.add(index)
    return wrapped


def _row_lines(line: list[Cell], widths: list[int], wrap_at: set[int], paint: Painter) -> list[str]:
    parts = [_cell_lines(text, widths[i], wrap=i in wrap_at) for i, (text, _) in enumerate(line)]
    last = len(line) - 1
    return [
        " ".join(
            paint(_pad(part[depth] if depth < len(part) else "", widths[i], pad=i < last), line[i][1])
            for i, part in enumerate(parts)
        ).rstrip()
        for depth in range(max(len(part) for part in parts))
    ]


def _cell_lines(text: str, width: int, *, wrap: bool) -> list[str]:
    """The cell's lines; a wrapped cell starts each environment (``a: ...; b: ...``) on a line of its own."""
    if not wrap:
        return [text]
    parts = [part + ";" for part in text.split("; ")]
    parts[-1] = parts[-1][:-1]
    return [line for part in parts for line in textwrap.wrap(part, width, break_long_words=False)] or [""]


def _pad(text: str, width: int, *, pad: bool) -> str:
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…"
    return text + " " * (width - size) if pad else text


def _painter(console: Console) -> Painter:
    system = COLOR_SYSTEMS.get(console.color_system or "")
    if system is None:
        return lambda text, _style: text
    codes: dict[str, tuple[str, str]] = {}

    def paint(text: str, style: str | None) -> str:
        if not style:
            return text
        if style not in codes:
            before, _, after = Style.parse(style).render("\0", color_system=system).partition("\0")
            codes[style] = (before, after)
        before, after = codes[style]
        return f"{before}{text}{after}"

    return paint


def _metrics(metrics: dict[str, float]) -> str:
    shown = [f"{name}={value:.4g}" for name, value in list(metrics.items())[:MAX_METRICS_SHOWN]]
    extra = len(metrics) - MAX_METRICS_SHOWN
    return " ".join(shown) + (f" +{extra}" if extra > 0 else "")


def _gates(passed: bool) -> Cell:
    return ("passed", "green") if passed else ("failed", "red")


def _registrar(registrar: Registrar | None) -> Cell:
    return (registrar.name, None) if registrar is not None else (NOT_COMMITTED, "yellow")


def _stage(stages: list[str], archived: bool) -> Cell:
    if stages:
        return (", ".join(stages), None)
    return ("archived", "dim") if archived else ("-", "dim")


# --------------------------------------------------------------------------- show rendering


def _render_details(console: Console, details: VersionDetails) -> None:
    record = details.record
    where, style = _stage(details.stages, details.archived)
    stage = f"[{style}]{escape(where)}[/]" if style else escape(where)
    console.print(f"[bold]{escape(record.ref)}[/]  {escape(record.task)}  {escape(record.estimator)}  stage: {stage}")
    console.print(f"[dim]{escape(str(details.path))}[/]\n")
    sections = [
        ("Lineage", _lineage(details)),
        ("Environments", _environments(details)),
        ("Metrics", _pairs({name: f"{value:.6g}" for name, value in record.metrics.items()})),
        ("Gates", _gate_table(details)),
        ("Params", _pairs({name: repr(value) for name, value in sorted(record.params.items())})),
        ("Environment", _pairs({name: _plain(value) for name, value in record.environment.items()})),
        ("Artifact", _artifact(details)),
        ("Signature", _signature(details)),
    ]
    for title, body in sections:
        console.print(f"[bold underline]{title}[/]")
        console.print(body)
        console.print()


def _pairs(values: dict[str, str]) -> Table | Text:
    if not values:
        return Text("  (none)", style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in values.items():
        grid.add_row(f"  {escape(name)}", escape(value))
    return grid


def _lineage(details: VersionDetails) -> RenderableType:
    record = details.record
    data = record.data
    dirty = " (uncommitted changes)" if record.spec_dirty else ""
    return _pairs(
        {
            "registered": record.created_at,
            "registered by": _registered_by(details.registered_by),
            "run": record.run_id,
            "spec commit": f"{record.spec_commit}{dirty}",
            "spec sha256": record.spec_sha256,
            "data": data.uri,
            "data sha256": data.sha256,
            "data shape": f"{data.rows:,} rows x {data.columns} columns",
            "schema sha256": data.schema_sha256,
        }
    )


def _registered_by(registrar: Registrar | None) -> str:
    """``Ada Lovelace <ada@example.com>, 2024-06-11T10:00:00+02:00, commit 1a2b3c4d5e6f``."""
    if registrar is None:
        return NOT_COMMITTED
    return terminal_safe(f"{registrar.label()}, {registrar.date}, commit {registrar.commit[:12]}")


def _environments(details: VersionDetails) -> RenderableType:
    """Each environment's committed wish for this model against what was last seen running there."""
    if not details.placements:
        return Text("  (no environment wants or runs this model)", style="dim")
    rows = {env: placement.text() for env, placement in details.placements.items()}
    return _pairs(rows)


def _gate_table(details: VersionDetails) -> RenderableType:
    gates = details.record.gates
    if not gates:
        return Text("  (no gates)", style="dim")
    grid = Table.grid(padding=(0, 2))
    for gate in gates:
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        value = "not measured" if gate.value is None else f"{gate.value:.6g}"
        grid.add_row(f"  {mark}", escape(gate.gate), f"[dim]measured {value}[/]")
    verdict = "[green]all gates passed[/]" if details.record.gates_passed else "[red]gates failed[/]"
    return Group(grid, Text.from_markup(f"  {verdict}"))


def _artifact(details: VersionDetails) -> RenderableType:
    artifact = details.record.artifact
    colour = "green" if details.artifact_state == "verified" else "red"
    if details.artifact_state == "not checked":
        colour = "yellow"
    grid = _pairs(
        {
            "sha256": artifact.sha256,
            "size": f"{artifact.size:,} bytes",
            "format": artifact.format,
            "uri": artifact.uri,
            "path": str(details.artifact_path),
        }
    )
    if isinstance(grid, Table):
        grid.add_row("  state", f"[{colour}]{escape(details.artifact_state)}[/]")
    return grid


def _signature(details: VersionDetails) -> RenderableType:
    signature = details.record.signature
    inputs = ", ".join(f"{column.name}:{column.type}" for column in signature.inputs)
    values = {"target": signature.target, "inputs": inputs}
    if signature.classes is not None:
        values["classes"] = ", ".join(map(str, signature.classes))
    features = len(details.record.reference.features)
    values["drift reference"] = f"{features} features binned" + (
        ", predictions binned" if details.record.reference.prediction else ""
    )
    return _pairs(values)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    return str(value)
