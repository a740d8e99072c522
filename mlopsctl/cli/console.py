"""The console everything the CLI prints to people goes through (imported on first print, not at start-up)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from mlopsctl.spec.api import terminal_safe


class SafeConsole(Console):
    """A rich Console that writes no control character but its own styles and cursor moves.

    Cleaning the rendered segments, not the strings handed to ``print``, covers every table, cell,
    progress bar and error message at one place. It runs after layout, and rich measures control
    characters as zero cells wide, so columns stay aligned. Control segments are rich's own.
    """

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None:
                text = terminal_safe(segment.text)
                if text is not segment.text:
                    segment = Segment(text, segment.style)
            yield segment
