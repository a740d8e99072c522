"""``mlopsctl registry list`` and ``registry show``: the registered model versions, where they run."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlopsctl.cli.common import global_options, options
from mlopsctl.registry.api import ModelRow, VersionDetails, VersionRow, model_rows, open_registry, version_details
from mlopsctl.registry.api import version_rows as list_version_rows
from mlopsctl.registry.records import VersionRecord, parse_ref

MAX_METRICS_SHOWN = 3
WRAPPED_COLUMNS = {"metrics": 15, "stage": 10, "stages": 10}
DIGEST_SHOWN = 10
"""Columns that wrap in a narrow terminal, with the width below which they do not shrink."""


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
        opts.emit({"models": [row.to_dict() for row in models]}, lambda console: _render_models(console, models))
        return 0
    rows = list_version_rows(repo, model)
    opts.emit({"versions": [row.to_dict() for row in rows]}, lambda console: _render_versions(console, rows))
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


COMMANDS = [registry_group]


# --------------------------------------------------------------------------- list rendering


def _render_models(console: Console, rows: list[ModelRow]) -> None:
    if not rows:
        console.print("no registered versions yet; register one with: mlopsctl train MODEL")
        return
    table = _table("model", "latest", "versions", "created", "metrics", "gates", "artifact", "stages")
    for row in rows:
        summary = row.latest.summary
        placed = row.stage_text()
        table.add_row(
            escape(summary.model),
            f"v{summary.version}",
            str(row.versions),
            summary.created_at[:10],
            _metrics(summary.metrics),
            _gates(summary.gates_passed),
            summary.artifact_sha256[:DIGEST_SHOWN],
            escape(placed) or "[dim]-[/]",
        )
    console.print(table)
    noun = "model" if len(rows) == 1 else "models"
    console.print(f"[dim]{len(rows)} {noun}; versions of one: mlopsctl registry list MODEL; all: --all[/]")


def _render_versions(console: Console, rows: list[VersionRow]) -> None:
    if not rows:
        console.print("no registered versions yet; register one with: mlopsctl train MODEL")
        return
    table = _table("model", "version", "created", "metrics", "gates", "rows", "artifact", "stage")
    for row in rows:
        summary = row.summary
        table.add_row(
            escape(summary.model),
            f"v{summary.version}",
            _when(summary.created_at),
            _metrics(summary.metrics),
            _gates(summary.gates_passed),
            _rows(summary.data_rows),
            summary.artifact_sha256[:DIGEST_SHOWN],
            _stage(row.stages, row.archived),
        )
    console.print(table)


def _table(*columns: str) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column not in WRAPPED_COLUMNS)
    return table


def _when(created_at: str) -> str:
    return created_at.replace("T", " ")[:16]


def _metrics(metrics: dict[str, float]) -> str:
    shown = [f"{escape(name)}={value:.4g}" for name, value in list(metrics.items())[:MAX_METRICS_SHOWN]]
    extra = len(metrics) - MAX_METRICS_SHOWN
    return " ".join(shown) + (f" [dim]+{extra}[/]" if extra > 0 else "")


def _gates(passed: bool) -> str:
    return "[green]passed[/]" if passed else "[red]failed[/]"


def _rows(rows: int | None) -> str:
    return f"{rows:,}" if rows is not None else "-"


def _stage(stages: list[str], archived: bool) -> str:
    if stages:
        return escape(", ".join(stages))
    return "[dim]archived[/]" if archived else "[dim]-[/]"


# --------------------------------------------------------------------------- show rendering


def _render_details(console: Console, details: VersionDetails) -> None:
    record = details.record
    where = _stage(details.stages, details.archived)
    console.print(f"[bold]{escape(record.ref)}[/]  {record.task}  {escape(record.estimator)}  stage: {where}")
    console.print(f"[dim]{escape(str(details.path))}[/]\n")
    sections = [
        ("Lineage", _lineage(record)),
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


def _lineage(record: VersionRecord) -> RenderableType:
    data = record.data
    dirty = " (uncommitted changes)" if record.spec_dirty else ""
    return _pairs(
        {
            "registered": record.created_at,
            "run": record.run_id,
            "spec commit": f"{record.spec_commit}{dirty}",
            "spec sha256": record.spec_sha256,
            "data": data.uri,
            "data sha256": data.sha256,
            "data shape": f"{data.rows:,} rows x {data.columns} columns",
            "schema sha256": data.schema_sha256,
        }
    )


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
