"""The audit log: promotions, rollbacks and archives read back from commit trailers.

Every commit mlopsctl makes for an action ends with trailers (``Action:``, ``Model:``,
``Version:``, ``Env:``, ``Strategy:``, ``Weight:``, ``Previous:``). One ``git log`` process reads
them all with ``%(trailers:key=...)`` placeholders; git itself filters by model and environment
(``--grep`` on the trailer lines) and stops at the limit, so the cost follows the number of
entries shown, not the size of the history. Gate results come from the versions' registry records,
each read once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.errors import MlopsError
from mlopsctl.gitops.trailers import TRAILER_KEYS, trailer_number, unreadable_numbers
from mlopsctl.ports.git import Git
from mlopsctl.registry.paths import MODEL_FOLDER, record_path
from mlopsctl.spec.yamlpos import safe_load

ACTIONS = ("promote", "rollback", "archive")
_FIELD, _RECORD = "\x1f", "\x1e"
_FORMAT = (
    _FIELD.join(["%H", "%an", "%ae", "%aI", "%s"])
    + "".join(f"%x1f%(trailers:key={key},valueonly,separator=%x2C)" for key in TRAILER_KEYS)
    + "%x1e"
)


@dataclass(frozen=True)
class Gate:
    gate: str
    value: float | None
    passed: bool


@dataclass(frozen=True)
class HistoryEntry:
    commit: str
    author: str
    email: str
    date: str
    subject: str
    action: str
    model: str
    version: int | None
    env: str | None
    strategy: str | None
    weight: int | None
    previous: str | None
    gates_passed: bool | None = None
    gates: tuple[Gate, ...] = ()
    note: str | None = None
    """Set when a trailer could not be read (a ``Version:`` that is not a number): shown, never fatal."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gates"] = [asdict(gate) for gate in self.gates]
        return data


def read_history(
    root: Path,
    *,
    env: str | None = None,
    model: str | None = None,
    limit: int | None = 50,
    ref: str = "HEAD",
    gates: bool = True,
) -> list[HistoryEntry]:
    """Newest first: the actions recorded in the history of ``ref``, filtered by environment and model."""
    git = Git(root)
    if git.resolve(ref) is None:
        return []
    args = ["log", f"--format={_FORMAT}", "-E", "--all-match", f"--grep=^Action: ({'|'.join(ACTIONS)})$"]
    if model:
        args.append(f"--grep=^Model: {re.escape(model)}$")
    if env:
        args.append(f"--grep=^Env: {re.escape(env)}$")
    if limit:
        args.append(f"--max-count={limit}")
    # not git.out(): str.strip() counts the \x1e and \x1f separators as white space
    output = git.run(*args, ref).stdout
    entries = [entry for entry in map(_parse, output.split(_RECORD)) if entry is not None]
    entries = [e for e in entries if (model is None or e.model == model) and (env is None or e.env == env)]
    return _with_gates(root, entries) if gates else entries


def _parse(chunk: str) -> HistoryEntry | None:
    parts = chunk.lstrip("\n").split(_FIELD)
    if len(parts) != 5 + len(TRAILER_KEYS):
        return None
    commit, author, email, date, subject = parts[:5]
    trailers = dict(zip(TRAILER_KEYS, (_last(value) for value in parts[5:]), strict=True))
    if trailers["Action"] not in ACTIONS or not trailers["Model"]:
        return None
    return HistoryEntry(
        commit=commit,
        author=author,
        email=email,
        date=date,
        subject=subject,
        action=trailers["Action"] or "",
        model=trailers["Model"] or "",
        version=trailer_number(trailers["Version"]),
        env=trailers["Env"],
        strategy=trailers["Strategy"],
        weight=trailer_number(trailers["Weight"]),
        previous=trailers["Previous"],
        note=_note(trailers),
    )


def _note(trailers: dict[str, str | None]) -> str | None:
    """Why part of a commit's trailers could not be read (the entry is still listed, without them)."""
    bad = unreadable_numbers(trailers, ("Version", "Weight"))
    if not bad:
        return None
    return "unreadable " + ", ".join(f"{key}: trailer {_shown(trailers[key] or '')}" for key in bad)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 20 else value[:20] + "...")


def _last(value: str) -> str | None:
    """A trailer given twice keeps its last value (as ``git interpret-trailers`` reads it)."""
    value = value.strip()
    return value.rsplit(",", 1)[-1].strip() or None if value else None


def _with_gates(root: Path, entries: list[HistoryEntry]) -> list[HistoryEntry]:
    cache: dict[tuple[str, int], tuple[bool | None, tuple[Gate, ...]]] = {}
    out = []
    for entry in entries:
        if entry.version is None:
            out.append(entry)
            continue
        key = (entry.model, entry.version)
        if key not in cache:
            cache[key] = _read_gates(root, *key)
        passed, gates = cache[key]
        out.append(replace(entry, gates_passed=passed, gates=gates))
    return out


def _read_gates(root: Path, model: str, version: int) -> tuple[bool | None, tuple[Gate, ...]]:
    """Only the gate fields of a record (records can be large: drift references)."""
    if not MODEL_FOLDER.fullmatch(model):
        return None, ()  # a Model: trailer is someone's text: never a path out of registry/
    try:
        path = record_path(root, model, version)
        text = path.read_text(encoding="utf-8")
        data = safe_load(_top_level(text, ("gates", "gates_passed")), path)
        if not isinstance(data, dict) or "gates_passed" not in data:
            data = safe_load(text, path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, MlopsError):
        return None, ()
    if not isinstance(data, dict):
        return None, ()
    listed = data.get("gates")
    gates = tuple(
        Gate(str(g.get("gate", "")), _number(g.get("value")), g.get("passed") is True)
        for g in (listed if isinstance(listed, list) else [])
        if isinstance(g, dict)
    )
    passed = data.get("gates_passed")
    return (passed if isinstance(passed, bool) else None), gates


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _top_level(text: str, keys: tuple[str, ...]) -> str:
    """Only the top-level ``keys`` of a block-style YAML mapping, each with its indented body.

    A record's bulk is its drift reference; parsing just the gate lines keeps ``history`` fast.
    The caller falls back to the whole document when the slice does not hold what it needs.
    """
    kept: list[str] = []
    keeping = False
    for line in text.splitlines(keepends=True):
        if line[:1] not in (" ", "-", "#", "\n", "\r", "\t", ""):
            keeping = line.split(":", 1)[0] in keys
        if keeping:
            kept.append(line)
    return "".join(kept)
