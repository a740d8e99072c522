"""Who registered each version: the author of the commit that first added its record file.

One ``git log --diff-filter=A --name-only`` over ``registry/`` answers for every record at once
(renames count as additions, so a moved record names whoever put it at its path). The answer is
kept in the registry index (:mod:`mlopsctl.registry.index`) with the commit it was read at: a
listing at the same ``HEAD`` reads the table only, and a ``HEAD`` that descends from it reads only
the new commits. Another history (a rebase, a checkout of an older branch) is read again whole.

A record in the working tree that no commit added yet has no registrar: listings say
"(not committed)". In a shallow clone the oldest commit present appears to add everything it
holds, so its author is named for all of those records; a full clone names the real authors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.errors import MlopsError
from mlopsctl.ports.git import Git
from mlopsctl.registry.index import QUERY_CHUNK, open_index
from mlopsctl.registry.paths import MODEL_FOLDER, RECORD_NAME

NOT_COMMITTED = "(not committed)"
"""What listings show for a record no commit has added yet."""
NUL = "\x00"
"""NUL starts a commit's line and separates its fields: no name, email or path holds one (Python's
``splitlines`` and ``strip`` would treat the ASCII record and unit separators as line ends and blanks)."""
LOG_FORMAT = "--format=%x00%H%x00%an%x00%ae%x00%aI"
PREFIX = "registry/"


@dataclass(frozen=True, slots=True)
class Registrar:
    """The author of the commit that added a version's record, and when they wrote it."""

    name: str
    email: str
    date: str
    """The author date, ISO 8601 with the author's own offset."""
    commit: str

    def label(self) -> str:
        """``Ada Lovelace <ada@example.com>``, or the name alone when the commit has no email."""
        return f"{self.name} <{self.email}>" if self.email else self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "date": self.date, "commit": self.commit}


Registrars = dict[str, Registrar]
"""Record key (``churn/v3.yaml``, as in the index) to who registered it."""


def registrars(root: Path, state_dir: Path, keys: Sequence[str] | None = None) -> Registrars:
    """Who added each record file (of ``keys``, or all) in ``HEAD``'s history; empty before the first commit."""
    git = Git(root)
    try:
        return registrars_at(git, git.head(), state_dir, keys)
    finally:
        git.close()


def registrars_at(git: Git, head: str | None, state_dir: Path, keys: Sequence[str] | None = None) -> Registrars:
    """:func:`registrars` with the repository's git and ``HEAD`` already at hand (None: no commit yet)."""
    if head is None:
        return {}
    try:
        with open_index(git.root, state_dir) as index:
            if index is not None and _bring_up_to(git, index, head):
                return _read(index, keys)
        return _only(added_records(git, head), keys)  # no usable index: read the history every time
    except MlopsError:
        return {}  # git failed: the listing still shows everything else


def _bring_up_to(git: Git, index: sqlite3.Connection, head: str) -> bool:
    """The cached answer at ``head``: as it is, extended by the new commits, or read whole. False: not stored."""
    cached_head = _cached_head(index)
    if cached_head == head:
        return True
    if cached_head is not None and git.is_ancestor(cached_head, head):
        return _store(index, head, added_records(git, f"{cached_head}..{head}"), replace=False)
    return _store(index, head, added_records(git, head), replace=True)


def _only(found: Registrars, keys: Sequence[str] | None) -> Registrars:
    return found if keys is None else {key: found[key] for key in keys if key in found}


def added_records(git: Git, revisions: str) -> Registrars:
    """Record files added in ``revisions``, each with the author of the oldest commit that added it."""
    output = git.out("log", "--diff-filter=A", "--no-renames", "--name-only", LOG_FORMAT, revisions, "--", PREFIX)
    found: Registrars = {}
    author: Registrar | None = None
    for line in output.split("\n"):
        if line.startswith(NUL):
            author = _author(line[1:])
        elif author is not None and (key := _key_of_path(line)) is not None:
            found[key] = author  # git log lists newest first: the oldest addition is written last
    return found


def _key_of_path(path: str) -> str | None:
    """``churn/v3.yaml`` for ``registry/churn/v3.yaml``; None for any other path."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != "registry":
        return None
    if MODEL_FOLDER.fullmatch(parts[1]) is None or RECORD_NAME.match(parts[2]) is None:
        return None
    return f"{parts[1]}/{parts[2]}"


def _author(line: str) -> Registrar | None:
    fields = line.split(NUL)
    if len(fields) != 4:
        return None  # a separator inside an author's name: unreadable, so named by no one
    commit, name, email, date = fields
    return Registrar(name=name, email=email, date=date, commit=commit)


# --------------------------------------------------------------------------- the cache in the index


def _cached_head(index: sqlite3.Connection) -> str | None:
    try:
        row = index.execute("SELECT head FROM authors_head").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _read(index: sqlite3.Connection, keys: Sequence[str] | None) -> Registrars:
    """The cached registrars; one object per commit, shared by every record it added."""
    query = "SELECT a.key, c.commit_sha, c.name, c.email, c.date FROM authors a JOIN commits c USING (commit_sha)"
    try:
        if keys is None:
            rows = index.execute(query).fetchall()
        else:
            rows = []
            for start in range(0, len(keys), QUERY_CHUNK):
                chunk = list(keys[start : start + QUERY_CHUNK])
                marks = ",".join("?" * len(chunk))
                rows += index.execute(f"{query} WHERE a.key IN ({marks})", chunk).fetchall()
    except sqlite3.Error:
        return {}
    found: Registrars = {}
    by_commit: dict[str, Registrar] = {}
    for key, commit, name, email, date in rows:
        who = by_commit.get(commit)
        if who is None:
            who = by_commit[commit] = Registrar(name=name, email=email, date=date, commit=commit)
        found[key] = who
    return found


def _store(index: sqlite3.Connection, head: str, found: Registrars, *, replace: bool) -> bool:
    """Record ``found`` as the answer at ``head``; an addition already known keeps its older author.

    Best effort, like the summaries: a locked or read-only index only makes listings slower.
    """
    commits = {(who.commit, who.name, who.email, who.date) for who in found.values()}
    try:
        with index:
            if replace:
                index.execute("DELETE FROM authors")
                index.execute("DELETE FROM commits")
            index.executemany("INSERT OR IGNORE INTO commits VALUES (?, ?, ?, ?)", sorted(commits))
            index.executemany("INSERT OR IGNORE INTO authors VALUES (?, ?)", [(k, w.commit) for k, w in found.items()])
            index.execute("DELETE FROM authors_head")
            index.execute("INSERT INTO authors_head (head) VALUES (?)", (head,))
    except sqlite3.Error:
        return False
    return True
