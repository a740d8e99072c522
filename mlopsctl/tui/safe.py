"""Where repository text enters the dashboard: table cells and static panels, shown as typed.

Model names, run ids, commit subjects and authors, feature names and error messages come from the
model repository; :func:`mlopsctl.spec.api.terminal_safe` drops the control characters in them, and
plain strings become :class:`~rich.text.Text` so a ``[`` is text, not Textual markup. The views put
every table row through :func:`safe_cell` and every panel through :class:`SafeStatic`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Span, Text
from textual.visual import VisualType
from textual.widgets import Static

from mlopsctl.spec.api import UNSAFE, terminal_safe


def safe_text(text: Text) -> Text:
    """``text`` without control characters, its styles kept on the characters that remain."""
    if UNSAFE.search(text.plain) is None:
        return text
    cuts = sorted({offset for span in text.spans for offset in (span.start, span.end)})
    # Cut at every span edge, each piece is styled whole, so its spans survive the shortening.
    pieces = [_safe_piece(piece) for piece in text.divide(cuts)]
    safe = Text.assemble(*pieces, style=text.style, justify=text.justify, no_wrap=text.no_wrap, end=text.end)
    safe.overflow = text.overflow
    return safe


def _safe_piece(piece: Text) -> Text:
    plain = terminal_safe(piece.plain)
    return Text(plain, style=piece.style, spans=[Span(0, len(plain), span.style) for span in piece.spans])


def safe_cell(cell: Any) -> Any:
    """A table cell: strings stay strings unless they hold markup or control characters."""
    if isinstance(cell, str):
        if "[" not in cell and UNSAFE.search(cell) is None:  # the common case, kept cheap for refreshes
            return cell
        return Text(terminal_safe(cell))
    if isinstance(cell, Text):
        return safe_text(cell)
    return cell


class SafeStatic(Static):
    """A Static whose rich Text and plain strings never carry control characters."""

    def __init__(self, content: VisualType = "", **kwargs: Any) -> None:
        super().__init__(_safe_content(content), **kwargs)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(_safe_content(content), layout=layout)


def _safe_content(content: VisualType) -> VisualType:
    if isinstance(content, str | Text):
        return safe_cell(content)  # type: ignore[no-any-return]
    return content
