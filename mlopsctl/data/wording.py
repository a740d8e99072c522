"""How numbers, shares, values, times and ages read in check results (short, exact, stable for tests)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

MAX_VALUE_CHARS = 40
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def number(value: float) -> str:
    """18.0 -> "18", 0.05 -> "0.05", 1234567.0 -> "1234567", nan -> "nan"."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    as_float = float(value)
    if math.isfinite(as_float) and as_float.is_integer() and abs(as_float) < 1e15:
        return str(int(as_float))
    return f"{as_float:.6g}"


def percent(share: float) -> str:
    """0.071 -> "7.1%", 0.05 -> "5%", 0.0004 -> "0.04%", 0 -> "0%"."""
    value = share * 100.0
    if value == 0.0 or value >= 0.1:
        return f"{value:.1f}".rstrip("0").rstrip(".") + "%"
    return f"{value:.2g}%"


def precise_percent(share: float) -> str:
    """Four significant digits, for when :func:`percent` would round a failing share onto its limit."""
    return f"{share * 100.0:.4g}%"


def rows(count: int) -> str:
    """1 -> "1 row", 3 -> "3 rows"."""
    return f"{count} row" if count == 1 else f"{count} rows"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def value(item: object) -> str:
    """A data value as it reads in a message: text quoted, numbers plain, timestamps ISO."""
    if isinstance(item, str):
        return f"'{text(item)}'"
    if isinstance(item, (bool, np.bool_)):
        return "true" if item else "false"
    if isinstance(item, (pd.Timestamp, datetime)):
        return timestamp(pd.Timestamp(item))
    if isinstance(item, (int, float, np.integer, np.floating)):
        return number(float(item)) if not isinstance(item, (int, np.integer)) else str(int(item))
    return str(item)


def text(item: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Text from a data file as it may be shown: control characters escaped, at most ``limit`` chars.

    Column names and values come from files anyone may have committed: a terminal escape sequence
    or a whole line of a file that is not data must never reach the screen as it is.
    """
    escaped = "".join(char if char.isprintable() else _escape(char) for char in item)
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _escape(char: str) -> str:
    """``\\n``, ``\\x1b``, ``\\u200b``: a character that does not print, as it is written in Python."""
    return _CONTROL.get(char) or char.encode("unicode_escape").decode("ascii")


def timestamp(when: pd.Timestamp) -> str:
    """2024-05-01 for midnight, 2024-05-01 13:45:00 otherwise."""
    if when == when.normalize():
        return when.strftime("%Y-%m-%d")
    return when.strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float) -> str:
    """A duration in the largest unit that reads well: 40 days, 3.5 days, 5 hours, 12 minutes, 30 seconds."""
    for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size:
            amount = round(seconds / size, 1)
            text = f"{amount:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}" if text == "1" else f"{text} {unit}s"
    return f"{round(seconds)} seconds" if round(seconds) != 1 else "1 second"
