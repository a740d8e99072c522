"""The audit log: promotions, rollbacks, archives and retirements from commit trailers, and every
other change of ``environments/`` (a ``git revert``, a hand edit) from its diff.

Every commit mlopsctl makes for an action ends with trailers (``Action:``, ``Model:``,
``Version:``, ``Env:``, ``Strategy:``, ``Weight:``, ``Previous:``). One ``git log`` process reads
them all with ``%(trailers:key=...)`` placeholders; git itself filters by model and environment
(``--grep`` on the trailer lines) and stops at the limit, so the cost follows the number of
entries shown, not the size of the history. Gate results come from the versions' registry records,
each read once. A commit ``mlopsctl rollout`` made also carries ``Rollout-Step:`` and
``Rollout-Decision:``; :mod:`mlopsctl.gitops.rollout_entries` says what it did in words.

Commits without those trailers that change an environment file (a revert, a hand edit) are found
by a second ``git log`` limited to ``environments/``, made once per commit and kept in the git
directory (:mod:`mlopsctl.gitops.edit_cache`); :mod:`mlopsctl.gitops.edit_history` says what each
did. Both lists are merged newest first by commit time (commits of the same second in
topological order).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.errors import MlopsError
from mlopsctl.gitops import edit_history, rollout_entries
from mlopsctl.gitops.edit_cache import EditScan
from mlopsctl.gitops.entries import Gate, HistoryEntry, Listed
from mlopsctl.gitops.trailers import TRAILER_KEYS, trailer_number, unreadable_numbers
from mlopsctl.ports.git import Git, git_error
from mlopsctl.registry.paths import MODEL_FOLDER, record_path
from mlopsctl.spec.names import NAME_PATTERN
from mlopsctl.spec.yamlpos import safe_load

ACTIONS = ("promote", "rollback", "archive", "retire")
"""Actions read from trailers; entries read from a diff are ``edit`` or ``revert``."""
_ACTION_GREP = f"--grep=^Action: ({'|'.join(ACTIONS)})$"
_HEADER = ["%H", "%ct", "%P", "%an", "%ae", "%aI", "%s"]
_FIELD, _RECORD = "\x1f", "\x1e"
_FORMAT = (
    _FIELD.join(_HEADER)
    + "".join(f"%x1f%(trailers:key={key},valueonly,separator=%x2C)" for key in TRAILER_KEYS)
    + "%x1e"
)


def read_history(
    root: Path,
    *,
    env: str | None = None,
    model: str | None = None,
    limit: int | None = 50,
    ref: str = "HEAD",
    gates: bool = True,
) -> list[HistoryEntry]:
    """Newest first: what changed in the history of ``ref``, filtered by environment and model."""
    git = Git(root)
    actions = _actions(git, ref, env, model, limit)
    if actions is None:
        return []
    listed, oldest = actions
    edits = _edits(git, ref, env, model, oldest)
    if edits:  # a history made by mlopsctl alone has none: git's order stands
        listed = newest_first(git, ref, listed + edits)
    found = [entry for commit in listed for entry in commit.entries]
    found = found[:limit] if limit else found
    found = rollout_entries.with_reasons(git, found)
    return _with_gates(root, found) if gates else found


def newest_first(git: Git, ref: str, listed: list[Listed]) -> list[Listed]:
    """By commit time, newest first, each log in git's order; commits of one second from both logs (scripts
    commit faster than clocks tick) in ``git rev-list --topo-order``'s order, a child before its parent."""
    ordered = sorted(listed, key=lambda commit: -commit.time)  # stable
    mixed = _mixed_seconds(ordered)
    if not mixed:
        return ordered
    walked = git.run("rev-list", "--topo-order", f"--max-age={min(mixed)}", ref).stdout.split()
    position = {commit: index for index, commit in enumerate(walked)}
    return sorted(ordered, key=lambda commit: (-commit.time, position.get(commit.commit, len(position))))


def _mixed_seconds(listed: list[Listed]) -> set[int]:
    """The commit times shared by a commit with trailers and one without."""
    origins: dict[int, set[str]] = {}
    for commit in listed:
        origins.setdefault(commit.time, set()).add(commit.entries[0].origin)
    return {time for time, seen in origins.items() if len(seen) > 1}


def _actions(
    git: Git, ref: str, env: str | None, model: str | None, limit: int | None
) -> tuple[list[Listed], int | None] | None:
    """The trailer entries, and the oldest commit time when git stopped at the limit; None when ``ref`` names
    no commit."""
    args = ["log", f"--format={_FORMAT}", "-E", "--all-match", _ACTION_GREP]
    if model:
        args.append(f"--grep=^Model: {re.escape(model)}$")
    if env:
        args.append(f"--grep=^Env: {re.escape(env)}$")
    if limit:
        args.append(f"--max-count={limit}")
    result = git.run(*args, ref, check=False)
    if result.returncode != 0:
        if git.resolve(ref) is None:
            return None  # no commit yet: an empty history, not an error
        raise git_error(result)
    # not str.strip(): it counts the \x1e and \x1f separators as white space
    chunks = [chunk.lstrip("\n").split(_FIELD) for chunk in result.stdout.split(_RECORD)]
    records = [parts for parts in chunks if len(parts) == len(_HEADER) + len(TRAILER_KEYS) and parts[1].isdigit()]
    listed = [
        Listed(int(parts[1]), entry.commit, tuple(parts[2].split()), [entry])
        for parts in records
        if (entry := _parse(parts)) is not None and (model is None or entry.model == model) and _in_env(entry, env)
    ]
    filled = bool(limit) and len(records) == limit
    return listed, min(int(parts[1]) for parts in records) if filled else None


def _in_env(entry: HistoryEntry, env: str | None) -> bool:
    return env is None or env in (entry.env or "").split(", ")


def _edits(git: Git, ref: str, env: str | None, model: str | None, since: int | None) -> list[Listed]:
    """Entries of the commits without trailers that changed environment files (of ``env``), about ``model``."""
    if env is not None and re.fullmatch(NAME_PATTERN, env) is None:
        return []  # no file can be named so: nothing changed it
    listed = EditScan(git, ref, edit_history.pathspec(env), _ACTION_GREP).listed(since)
    if model is None:
        return listed
    about = [Listed(c.time, c.commit, c.parents, [e for e in c.entries if e.model == model]) for c in listed]
    return [commit for commit in about if commit.entries]


def _parse(parts: list[str]) -> HistoryEntry | None:
    commit, _time, _parents, author, email, date, subject = parts[: len(_HEADER)]
    values = dict(zip(TRAILER_KEYS, parts[len(_HEADER) :], strict=True))
    trailers = {key: _last(value) for key, value in values.items()}
    if trailers["Action"] not in ACTIONS or not trailers["Model"]:
        return None
    entry = HistoryEntry(
        commit=commit,
        author=author,
        email=email,
        date=date,
        subject=subject,
        action=trailers["Action"] or "",
        model=trailers["Model"] or "",
        version=trailer_number(trailers["Version"]),
        env=_all(values["Env"]) if trailers["Action"] == "retire" else trailers["Env"],
        strategy=trailers["Strategy"],
        weight=trailer_number(trailers["Weight"]),
        previous=trailers["Previous"],
        note=_note(trailers),
    )
    return rollout_entries.with_rollout(entry, trailers)


def _all(value: str) -> str | None:
    """Every value of a trailer given once per environment (a retirement), in order, once each."""
    values = [part.strip() for part in value.split(",") if part.strip()]
    return ", ".join(dict.fromkeys(values)) or None


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
