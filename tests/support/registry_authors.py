"""Helpers for the registry's "who registered it" tests (no tests here): commit as someone else.

The isolated HOME's .gitconfig names "Test User"; a repository-local identity makes the next
commits (and the registrations mlopsctl commits) come from another person, as in a team repository.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_as(root: Path, name: str, email: str) -> None:
    """From now on, commits in ``root`` are authored (and committed) by ``name <email>``."""
    git(root, "config", "user.name", name)
    git(root, "config", "user.email", email)


def addition(root: Path, path: str) -> tuple[str, str]:
    """The commit that first added ``path`` and its author date (ISO 8601), as git itself reports them."""
    lines = git(root, "log", "--diff-filter=A", "--format=%H %aI", "--", path).splitlines()
    commit, date = lines[-1].split()
    return commit, date
