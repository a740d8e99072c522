"""The Models view names the span a request rate covers when it is shorter than the window (issue 13
item 2: a service that ran 2 minutes of a 1 h window shows its real rate, and says so)."""

from __future__ import annotations

from mlopsctl.tui import render
from mlopsctl.tui.views import _span_note


def test_a_rate_over_part_of_the_window_says_which_part() -> None:
    assert render.rate(10.0) + _span_note("over 2m of 1h") == "10.0 (2m of 1h)"


def test_a_rate_over_the_whole_window_or_unknown_says_nothing_more() -> None:
    assert _span_note("over 1h") == ""
    assert _span_note("") == ""
