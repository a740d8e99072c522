"""Helpers for the YAML parse cache's tests: a bare git repository, and what a fresh parse gives."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mlopsctl.spec import parse_cache
from mlopsctl.spec.yamlpos import MAX_ALIAS_NODES, MAX_DEPTH, LocatedDoc, parse_yaml


def git_repository(root: Path) -> Path:
    """``root`` as a new, empty git repository (``git init``)."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def cache_of(file: Path) -> parse_cache.ParseCache:
    cache = parse_cache.cache_for(file, MAX_DEPTH, MAX_ALIAS_NODES)
    assert cache is not None, f"{file} is not in a git repository with a .git folder"
    return cache


def entry_path(file: Path) -> Path:
    """Where the cache keeps the parse of ``file``'s current content."""
    cache = cache_of(file)
    key = cache.key(file.read_bytes())
    assert key is not None
    return cache.folder / key[:2] / key[2:]


def entries(repo: Path) -> list[Path]:
    folder = repo / ".git" / "mlopsctl" / "yaml-parse"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def as_fresh(doc: LocatedDoc) -> tuple[str, dict[Any, Any], list[Any]]:
    """What a document says, comparable (``repr`` tells 1 from True and -0.0 from 0.0, and NaN equals itself)."""
    return repr(doc.data), dict(doc.positions), list(doc.problems)


def fresh(file: Path) -> tuple[str, dict[Any, Any], list[Any]]:
    """The parse of ``file`` without any cache."""
    return as_fresh(parse_yaml(file.read_text(encoding="utf-8"), file))
