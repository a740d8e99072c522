"""A small port over the git command line for the model repository.

Everything that writes goes through here, so the dashboard's command log and the CLI's "what I
ran" lines see the same operations. A missing git identity never blocks a commit: mlopsctl falls
back to an explicit ``mlopsctl`` author and says so in the commit.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.errors import ConflictError, GitRemoteUnreachable, MlopsError

FALLBACK_NAME = "mlopsctl"
FALLBACK_EMAIL = "mlopsctl@localhost"
CommandLog = Callable[[str, bool], None]


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    stdout: str
    stderr: str
    returncode: int


class Git:
    """Runs git in one working tree."""

    def __init__(self, root: Path, log: CommandLog | None = None) -> None:
        self.root = root
        self.log = log

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> GitResult:
        merged = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, env=merged, check=False)
        result = GitResult(tuple(args), proc.stdout, proc.stderr, proc.returncode)
        if self.log is not None:
            self.log("git " + " ".join(args), proc.returncode == 0)
        if check and proc.returncode != 0:
            raise _git_error(result)
        return result

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def is_repo(self) -> bool:
        return self.run("rev-parse", "--git-dir", check=False).returncode == 0

    def head(self) -> str | None:
        result = self.run("rev-parse", "--verify", "-q", "HEAD", check=False)
        return result.stdout.strip() or None

    def branch(self) -> str:
        return self.out("rev-parse", "--abbrev-ref", "HEAD")

    def is_dirty(self, paths: Sequence[str] = ()) -> bool:
        return bool(self.out("status", "--porcelain", "--untracked-files=no", "--", *paths))

    def identity_env(self) -> dict[str, str]:
        """Author and committer to use when the user has no git identity configured."""
        name = self.run("config", "user.name", check=False).stdout.strip()
        email = self.run("config", "user.email", check=False).stdout.strip()
        if name and email:
            return {}
        return {
            "GIT_AUTHOR_NAME": name or FALLBACK_NAME,
            "GIT_AUTHOR_EMAIL": email or FALLBACK_EMAIL,
            "GIT_COMMITTER_NAME": name or FALLBACK_NAME,
            "GIT_COMMITTER_EMAIL": email or FALLBACK_EMAIL,
        }

    def commit(self, paths: Sequence[str], message: str) -> str:
        """Stage exactly ``paths`` and commit them; returns the new commit's hash."""
        self.run("add", "--", *paths)
        self.run("commit", "-q", "-m", message, "--", *paths, env=self.identity_env())
        return self.out("rev-parse", "HEAD")


def _git_error(result: GitResult) -> MlopsError:
    text = (result.stderr or result.stdout).strip()
    command = "git " + " ".join(result.args)
    remote_words = (
        "Could not read from remote",
        "unable to access",
        "does not appear to be a git repository",
        "Connection refused",
        "Could not resolve host",
    )
    if any(word in text for word in remote_words):
        return GitRemoteUnreachable(f"{command} failed: {text}", hint="check the remote URL and your network")
    if "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text:
        return ConflictError(f"{command} was rejected: {text}", hint="fetch, rebase and try again")
    return MlopsError(f"{command} failed: {text}", title="Git error")
