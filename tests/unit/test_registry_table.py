"""The listing table: aligned columns, metrics wrapping in a narrow terminal, colour only on terminals."""

from __future__ import annotations

import io

from rich.console import Console

from mlopsctl.cli.registry import print_table

COLUMNS = ["model", "metrics", "gates", "stage"]
ROWS: list[list[tuple[str, str | None]]] = [
    [("churn", None), ("roc_auc=0.9931 accuracy=0.965", None), ("passed", "green"), ("production", None)],
    [("fraud-detector", None), ("rmse=1.5", None), ("failed", "red"), ("-", "dim")],
]


def render(console: Console) -> str:
    print_table(console, COLUMNS, ROWS)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_columns_are_aligned_without_trailing_spaces() -> None:
    out = render(Console(file=io.StringIO(), width=120, color_system=None))
    assert out == (
        "model          metrics                       gates  stage\n"
        "churn          roc_auc=0.9931 accuracy=0.965 passed production\n"
        "fraud-detector rmse=1.5                      failed -\n"
    )


def test_a_narrow_terminal_wraps_metrics_between_metrics() -> None:
    out = render(Console(file=io.StringIO(), width=40, color_system=None))
    assert out == (
        "model          metrics        gates  stage\n"
        "churn          roc_auc=0.9931 passed production\n"
        "               accuracy=0.965\n"
        "fraud-detector rmse=1.5       failed -\n"
    )


def test_styles_become_ansi_codes_only_on_a_colour_terminal() -> None:
    out = render(Console(file=io.StringIO(), width=120, force_terminal=True, color_system="standard"))
    assert "\x1b[32mpassed\x1b[0m" in out
    assert "\x1b[31mfailed\x1b[0m" in out
    assert "\x1b[1mmodel         \x1b[0m" in out
    assert out.splitlines()[2].endswith(" \x1b[2m-\x1b[0m")  # the last column is not padded
