"""A parser for the Prometheus text exposition format (what a service's ``/metrics`` returns).

Only what the direct-scrape source needs: sample lines with their labels and values; comments,
``# HELP`` and ``# TYPE`` lines and timestamps are skipped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_VALUES = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str:
        return dict(self.labels).get(key, "")


class ParseError(ValueError):
    """A line that is not in the text exposition format."""


def parse(text: str) -> list[Sample]:
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            try:
                samples.append(parse_line(stripped))
            except ParseError as exc:
                raise ParseError(f"line {number}: {exc}") from None
    return samples


def parse_line(line: str) -> Sample:
    match = _NAME.match(line)
    if match is None:
        raise ParseError(f"no metric name in {line[:80]!r}")
    name, rest = match.group(0), line[match.end() :]
    labels: Labels = ()
    if rest.startswith("{"):
        labels, rest = _labels(rest)
    fields = rest.split()
    if not fields:
        raise ParseError(f"no value in {line[:80]!r}")
    return Sample(name, labels, _value(fields[0]))


def _labels(text: str) -> tuple[Labels, str]:
    position, found = 1, list[tuple[str, str]]()
    while True:
        if text[position:].lstrip().startswith("}"):
            end = text.index("}", position)
            return tuple(sorted(found)), text[end + 1 :]
        match = _LABEL.match(text, position)
        if match is None:
            raise ParseError(f"bad label set in {text[:80]!r}")
        found.append((match.group(1), _unescape(match.group(2))))
        position = match.end()


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], value)


def _value(text: str) -> float:
    if text in _VALUES:
        return _VALUES[text]
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"not a number: {text!r}") from None
