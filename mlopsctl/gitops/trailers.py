"""The trailer keys that make the git log an audit log (written by operations, read by history).

Kept in a module of its own so that reading history imports nothing heavy.

Trailers are written by whoever made the commit, so reading them never trusts them: a number
is only ASCII digits, and never more than fits a version (:data:`MAX_NUMBER_DIGITS`).
"""

from __future__ import annotations

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
