"""A content-keyed cache of located YAML parses, kept in the repository's git directory.

``validate`` reads every spec and every deployed version record with positions (so a problem can
name file:line:column), and building those positions is most of its time on a large repository
(about 1 ms a file). The answer for a given file content never changes, so it is kept:

- **Where**: ``.git/mlopsctl/yaml-parse/<2 hex>/<38 hex>`` of the repository the file is in (like
  ``gitk.cache``: never committed, deleted at will). A file outside a git repository, or in one
  whose ``.git`` is not a plain folder (a worktree, a submodule), is parsed every time: a ``.git``
  *file* names a folder elsewhere, and a model repository's content must not choose where we write.
- **Key**: BLAKE2b of the file's bytes, salted with the parser's own source (``yamlpos.py``), the
  PyYAML and libyaml versions, the Python and ``marshal`` format versions. Any change to the parser
  invalidates every entry; two files with the same content share one.
- **Value**: the built tree and its problems, serialised with :mod:`marshal` (plain
  data only; never pickle, nothing in an entry can name code to run). A tree holding anything but
  plain data (a ``!!timestamp`` value) is not cached.
- **Trust**: an entry is a shortcut for a parse we would redo, nothing more. One that cannot be read,
  is not in the format, was written for another key (a file copied or renamed) or holds anything but
  what the parser builds (types, nesting beyond ``MAX_DEPTH``) is ignored and replaced.
- **Writes** go to a temporary file renamed into place, so a reader or a process killed mid-way sees
  a whole entry or none; no fsync (a torn entry after a power cut is refused as corrupt).
- **Bounded**: each of the 256 shards keeps at most :data:`MAX_SHARD_ENTRIES` entries and
  :data:`MAX_SHARD_BYTES` bytes (32,768 entries and 256 MiB in all), the oldest written go first; an
  entry larger than :data:`MAX_ENTRY_BYTES` is not kept.

Any error of the cache itself (a read-only repository, a full disk) only costs the parse.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

CACHE_FORMAT = 1
"""Bumped when the entry layout changes (the parser's own changes are caught by its source hash)."""
FOLDER = ("mlopsctl", "yaml-parse")
MAX_SHARD_ENTRIES = 128
MAX_SHARD_BYTES = 1 << 20
MAX_ENTRY_BYTES = 1 << 18
_PLAIN = (str, int, float, bool, bytes, type(None))
_PLAIN_KEYS = (str, int, float, bool)
_CONTAINERS = (dict, list)

Entry = tuple[Any, list[tuple[int, int, str, str, str]]]
"""The parse as kept: data, and each problem as (line, column, field, message, severity).

Positions are not kept: only a problem needs them, and recomputing them for the few files that
have one costs less than reading them back for every file (they are three quarters of a parse).
"""


class ParseCache:
    """The cache folder of one repository; every method swallows the cache's own failures."""

    def __init__(self, folder: Path, max_depth: int, max_alias_nodes: int) -> None:
        self.folder = folder
        self.max_depth = max_depth
        self.max_alias_nodes = max_alias_nodes
        self._shard_sizes: dict[str, list[tuple[float, int, str]]] = {}

    def key(self, raw: bytes) -> str | None:
        salt = _salt()
        if salt is None:
            return None
        return hashlib.blake2b(raw, digest_size=20, key=salt).hexdigest()

    def get(self, key: str) -> Entry | None:
        """The entry kept for ``key``, or None when there is none or it cannot be trusted as one."""
        try:
            with open(self.folder / key[:2] / key[2:], "rb") as handle:
                blob = handle.read(MAX_ENTRY_BYTES + 1)
            if len(blob) > MAX_ENTRY_BYTES:
                return None
            kept = marshal.loads(blob)
        except (OSError, ValueError, EOFError, TypeError):
            return None
        # Shared values (aliases) are walked once per reference: bounded as the parser bounds expansion.
        return _checked(kept, key, self.max_depth, len(blob) + self.max_alias_nodes)

    def put(self, key: str, entry: Entry) -> None:
        """Keep ``entry`` for ``key`` (unless it is too large, or holds a date marshal cannot write)."""
        try:
            blob = marshal.dumps((CACHE_FORMAT, key, *entry))
        except ValueError:  # a !!timestamp value: not cached (the parser builds nothing else marshal refuses)
            return
        if len(blob) > MAX_ENTRY_BYTES:
            return
        with contextlib.suppress(OSError):  # a read-only or full repository: the next run parses again
            self._write(key, blob)

    def _write(self, key: str, blob: bytes) -> None:
        shard = self.folder / key[:2]
        if shard.name not in self._shard_sizes:
            for folder in (self.folder.parent, self.folder, shard):
                folder.mkdir(exist_ok=True)  # never the git folder itself: a removed .git stays removed
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=shard)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, shard / key[2:])
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._account(shard, key[2:], len(blob))

    def _account(self, shard: Path, name: str, size: int) -> None:
        """Record the new entry and evict the shard's oldest while it is over its bounds."""
        entries = self._shard_sizes.get(shard.name)
        if entries is None:
            entries = self._shard_sizes[shard.name] = shard_entries(shard)
        else:
            entries[:] = [e for e in entries if e[2] != name]
            entries.append((float("inf"), size, name))
        prune(shard, entries, MAX_SHARD_ENTRIES, MAX_SHARD_BYTES)


def shard_entries(shard: Path) -> list[tuple[float, int, str]]:
    """(modification time, size, name) of every file in ``shard``, oldest first."""
    found: list[tuple[float, int, str]] = []
    with os.scandir(shard) as listing:
        for item in listing:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((info.st_mtime, info.st_size, item.name))
    found.sort()
    return found


def prune(shard: Path, entries: list[tuple[float, int, str]], max_entries: int, max_bytes: int) -> None:
    """Delete the oldest of ``entries`` (oldest first, updated in place) until both bounds hold."""
    total = sum(size for _, size, _ in entries)
    while entries and (len(entries) > max_entries or total > max_bytes):
        _, size, name = entries.pop(0)
        total -= size
        with contextlib.suppress(OSError):  # another process pruned it first
            (shard / name).unlink()


def cache_for(file: Path, max_depth: int, max_alias_nodes: int) -> ParseCache | None:
    """The cache of the git repository ``file`` lies in, or None (no repository, not a plain ``.git``)."""
    git_dir = _git_dir(file.absolute().parent)
    if git_dir is None:
        return None
    cache = _caches.get(git_dir)
    if cache is None or (cache.max_depth, cache.max_alias_nodes) != (max_depth, max_alias_nodes):
        cache = _caches[git_dir] = ParseCache(git_dir.joinpath(*FOLDER), max_depth, max_alias_nodes)
    return cache


_caches: dict[Path, ParseCache] = {}
"""One per repository and process, so that a shard is listed once however many entries go into it."""


_known_git_dirs: dict[Path, Path] = {}


def _git_dir(folder: Path) -> Path | None:
    """The nearest ``.git`` folder (a real one, not a link or file) at or above ``folder``."""
    visited: list[Path] = []
    for candidate in (folder, *folder.parents):
        known = _known_git_dirs.get(candidate)
        if known is not None:
            return _remember(visited, known)
        visited.append(candidate)
        try:
            mode = os.lstat(candidate / ".git").st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            return None  # a worktree's or submodule's .git file, or a link: not ours to follow
        return _remember(visited, candidate / ".git")
    return None


def _remember(folders: list[Path], git_dir: Path) -> Path:
    """Remember the git folder of each folder walked (found ones only: a later ``git init`` counts)."""
    for folder in folders:
        _known_git_dirs[folder] = git_dir
    return git_dir


@functools.cache
def _salt() -> bytes | None:
    """What makes one parser's entries differ from another's (at most 64 bytes, BLAKE2b's key size)."""
    try:
        source = (Path(__file__).parent / "yamlpos.py").read_bytes()
    except OSError:
        return None  # the parser's source is not on disk (a frozen build): no cache rather than a stale one
    libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "none")()
    versions = f"{CACHE_FORMAT}|{yaml.__version__}|{libyaml}|{sys.version_info[:2]}|{marshal.version}".encode()
    return hashlib.blake2b(source + b"\0" + versions, digest_size=32).digest()


def _checked(kept: Any, key: str, max_depth: int, max_nodes: int) -> Entry | None:
    """``kept`` as an entry when it is one for ``key``, holding only what the parser builds."""
    if type(kept) is not tuple or len(kept) != 4 or kept[0] != CACHE_FORMAT or kept[1] != key:
        return None
    _, _, data, problems = kept
    if not (_plain_tree(data, max_depth, max_nodes) and _problems(problems)):
        return None
    return data, problems


def _plain_tree(data: Any, max_depth: int, max_nodes: int) -> bool:
    """Whether ``data`` is dicts (plain keys), lists and plain scalars, at most ``max_depth`` deep.

    ``max_nodes`` bounds the containers walked, so that shared values cannot make the walk explode.
    """
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        max_nodes -= 1
        if max_nodes < 0:
            return False
        value, depth = pending.pop()
        kind = type(value)
        if kind is dict:
            if any(type(k) not in _PLAIN_KEYS for k in value):
                return False
            children = value.values()
        elif kind is list:
            children = value
        elif kind in _PLAIN:
            continue
        else:
            return False
        if depth >= max_depth:
            return False
        for child in children:
            if type(child) in _CONTAINERS:
                pending.append((child, depth + 1))
            elif type(child) not in _PLAIN:
                return False
    return True


def _problems(problems: Any) -> bool:
    return type(problems) is list and all(
        type(p) is tuple
        and len(p) == 5
        and type(p[0]) is int
        and type(p[1]) is int
        and all(type(text) is str for text in p[2:])
        for p in problems
    )
