"""The trailer keys that make the git log an audit log (written by operations, read by history).

Kept in a module of its own so that reading history imports nothing heavy.

Trailers are written by whoever made the commit, so reading them never trusts them: a number
is only ASCII digits, and never more than fits a version (:data:`MAX_NUMBER_DIGITS`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlopsctl.textsafe import terminal_safe

TRAILER_KEYS = (
    "Action",
    "Model",
    "Version",
    "Env",
    "Strategy",
    "Weight",
    "Previous",
    "Rollout-Step",
    "Rollout-Decision",
)
"""``Rollout-Step: 2/4`` (the step a ``mlopsctl rollout`` commit moves to, of how many) and
``Rollout-Decision: advance|promote|rollback`` are written by rollout commits only."""

ACTION_KEYS = ("Action", "Model", "Version", "Env", "Strategy", "Weight", "Previous")
"""The trailers every action writes itself; a caller's extra trailers may not repeat them."""

MAX_VALUE_CHARS = 200
"""An extra trailer's value is cut to this many characters: a trailer is a label, not a report."""

MAX_NUMBER_DIGITS = 9
"""Digits of a ``Version:``, ``Weight:`` or ``Previous:`` number (versions are below 10**9)."""


def trailer_number(value: str | None) -> int | None:
    """The number a trailer holds, or None when it holds none (absent, not digits, far too long)."""
    if not value or not (value.isascii() and value.isdigit()) or len(value) > MAX_NUMBER_DIGITS:
        return None
    return int(value)


def unreadable_numbers(trailers: dict[str, str | None], keys: tuple[str, ...]) -> list[str]:
    """The ``keys`` whose trailer is present but is not a number we accept."""
    return [key for key in keys if trailers.get(key) and trailer_number(trailers[key]) is None]


def extra_trailers(trailers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """A caller's trailers checked and made one safe line each, in the order given.

    Only keys of :data:`TRAILER_KEYS` that the action does not write itself are accepted (history
    reads nothing else, and a second ``Model:`` would change what it reads): others raise ValueError.
    A value's control characters go and its lines are joined, so it can never start another trailer.
    """
    checked = []
    for key, value in (trailers or {}).items():
        if key not in TRAILER_KEYS or key in ACTION_KEYS:
            allowed = ", ".join(k for k in TRAILER_KEYS if k not in ACTION_KEYS)
            raise ValueError(f"trailer key {key!r} is not one mlopsctl writes for callers (allowed: {allowed})")
        line = one_line(value)
        if not line:
            raise ValueError(f"trailer {key} has an empty value")
        checked.append((key, line))
    return tuple(checked)


def one_line(text: str) -> str:
    """``text`` as one terminal-safe line of at most :data:`MAX_VALUE_CHARS` characters."""
    line = " ".join(terminal_safe(text).split())
    return line if len(line) <= MAX_VALUE_CHARS else line[: MAX_VALUE_CHARS - 1] + "…"
