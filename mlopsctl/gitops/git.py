"""The git port under its old name: :mod:`mlopsctl.ports.git` is where git is reached now."""

from __future__ import annotations

from mlopsctl.ports.git import FALLBACK_EMAIL, FALLBACK_NAME, CommandLog, Git, GitResult, git_error

__all__ = ["FALLBACK_EMAIL", "FALLBACK_NAME", "CommandLog", "Git", "GitResult", "git_error"]
