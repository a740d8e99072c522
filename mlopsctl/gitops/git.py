"""A small port over the git command line for the model repository.

Everything that writes goes through here, so the dashboard's command log and the CLI's "what I
ran" lines see the same operations. A missing git identity never blocks a commit: mlopsctl falls
back to an explicit ``mlopsctl`` author and says so in the commit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
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

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, input: str | None = None
    ) -> GitResult:
        merged = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
        proc = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, env=merged, check=False, input=input
        )
        result = GitResult(tuple(args), proc.stdout, proc.stderr, proc.returncode)
        if self.log is not None:
            self.log("git " + " ".join(args), proc.returncode == 0)
        if check and proc.returncode != 0:
            raise git_error(result)
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

    # ------------------------------------------------------------------ reading commits

    def resolve(self, ref: str) -> str | None:
        """The commit ``ref`` names, or None when it names none."""
        result = self.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        return result.stdout.strip() or None

    def show_file(self, commit: str, path: str) -> str | None:
        """Text of ``path`` as committed in ``commit``, or None when it is not there."""
        result = self.run("cat-file", "blob", f"{commit}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def read_blobs(self, names: Sequence[str]) -> list[str | None]:
        """Texts of many ``commit:path`` names through one ``git cat-file --batch`` process."""
        if not names:
            return []
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input="\n".join(names).encode() + b"\n",
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
        if self.log is not None:
            self.log(f"git cat-file --batch ({len(names)} objects)", proc.returncode == 0)
        return _split_batch(proc.stdout, len(names))

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.run("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0

    def remote_url(self, remote: str) -> str | None:
        result = self.run("remote", "get-url", remote, check=False)
        if result.returncode != 0:
            return None
        return result.stdout.strip() or None

    def user_identity(self) -> str:
        """``Name <email>`` of whoever commits here (the fallback identity when none is configured)."""
        fallback = self.identity_env()
        name = fallback.get("GIT_AUTHOR_NAME") or self.out("config", "user.name")
        email = fallback.get("GIT_AUTHOR_EMAIL") or self.out("config", "user.email")
        return f"{name} <{email}>"

    # ------------------------------------------------------------------ writing commits without the work tree

    def commit_file(self, parent: str, path: str, text: str, message: str) -> str:
        """A new commit on top of ``parent`` that changes only ``path`` to ``text``; no branch moves.

        The working tree and the real index are left alone (a scratch index is used), so a commit
        for a pull-request branch can be made whatever the user has checked out.
        """
        blob = self.run("hash-object", "-w", "--stdin", "--path", path, input=text).stdout.strip()
        with tempfile.TemporaryDirectory(prefix="mlopsctl-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self.run("read-tree", parent, env=index)
            self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
            tree = self.run("write-tree", env=index).stdout.strip()
        result = self.run("commit-tree", tree, "-p", parent, "-F", "-", input=message, env=self.identity_env())
        return result.stdout.strip()


def _split_batch(output: bytes, count: int) -> list[str | None]:
    """Parse ``git cat-file --batch`` output: ``<oid> <type> <size>\\n<content>\\n`` or ``<name> missing``."""
    texts: list[str | None] = []
    position = 0
    for _ in range(count):
        end = output.index(b"\n", position)
        header = output[position:end].split()
        position = end + 1
        if len(header) < 3 or header[-1] == b"missing":
            texts.append(None)
            continue
        size = int(header[2])
        texts.append(output[position : position + size].decode("utf-8", errors="replace"))
        position += size + 1
    return texts


def git_error(result: GitResult) -> MlopsError:
    """The user-facing error for a failed git command: unreachable remote (exit 3), rejected push, or plain."""
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
