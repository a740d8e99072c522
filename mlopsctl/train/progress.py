"""How training reports progress: a callback of (step label, steps done, total or None).

The core only calls the callback; the CLI draws rich progress bars from it and the dashboard can
post messages from it. A step is reported once with ``done=0`` when it starts and again each time
it advances; ``total`` is None for a step that cannot count its work (a single ``fit``).
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int | None], None]


def no_progress(_label: str, _done: int, _total: int | None) -> None:
    """The default: report nothing."""
