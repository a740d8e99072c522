"""The git port: every git operation on the model repository; GitPython for the repository's objects.

Commands (``git log``, ``git commit``, ...) run as one ``git`` process each, always in the model
repository's root with ``GIT_TERMINAL_PROMPT=0``, ``LC_ALL=C`` and ``LANGUAGE=C`` (what GitPython's
``Git.execute`` did for them, without importing GitPython: ``history`` starts in half the time).
Reads of committed files go through the persistent ``git cat-file --batch`` process that GitPython
keeps open for its object database (``repo.odb``), so ``plan``, ``history`` and the dashboard do
not start one process per file; GitPython is imported when the first such read (or ``repo``) needs it.

Every call is recorded in :mod:`mlopsctl.oplog` (the dashboard's Log view), and also passed to
the optional ``log`` callback. A missing git identity never blocks a commit: mlopsctl falls
back to an explicit ``mlopsctl`` author and says so in the commit.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl import oplog
from mlopsctl.errors import ConflictError, GitRemoteUnreachable, MlopsError

if TYPE_CHECKING:
    import git as gitpython

FALLBACK_NAME = "mlopsctl"
FALLBACK_EMAIL = "mlopsctl@localhost"
BASE_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
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
        self._repo: gitpython.Repo | None = None
        self._reads = threading.Lock()

    # ------------------------------------------------------------------ GitPython objects

    @property
    def repo(self) -> gitpython.Repo:
        """The GitPython repository of the working tree (opened on first use, then kept)."""
        repo = self.open_repo()
        if repo is None:
            raise MlopsError(f"{self.root} is not in a git repository", title="Git error", hint="run: git init")
        return repo

    def open_repo(self) -> gitpython.Repo | None:
        """The repository ``root`` is in, or None when it is in none (yet)."""
        if self._repo is None:
            import git as gitpython  # only here: commands do not need it, and it takes 70 ms to import

            try:
                self._repo = gitpython.Repo(self.root, search_parent_directories=True)
            except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
                return None
        return self._repo

    def close(self) -> None:
        """Stop the persistent ``cat-file`` processes GitPython keeps for this repository."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    # ------------------------------------------------------------------ running commands

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, input: str | None = None
    ) -> GitResult:
        result = self._execute(args, env, input)
        self._record("git " + " ".join(args), result.returncode == 0, _failure_detail(result))
        if check and result.returncode != 0:
            raise git_error(result)
        return result

    def _execute(self, args: Sequence[str], env: dict[str, str] | None, input: str | None) -> GitResult:
        if not self.root.is_dir():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(self.root))
        status, stdout, stderr = _execute(self.root, args, {**BASE_ENV, **(env or {})}, input)
        return GitResult(tuple(args), _text(stdout), stderr, status)

    def _record(self, command: str, ok: bool, detail: str = "") -> None:
        oplog.record("git", command, ok, detail)
        if self.log is not None:
            self.log(command, ok)

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

    def tip(self, ref: str) -> tuple[Path, str] | None:
        """The git folder all worktrees share and the commit ``ref`` names; None when either is unknown.

        When GitPython is loaded already (the dashboard, a second read in one process) its reading
        of the ref files answers without a process; otherwise one ``git rev-parse``, which costs far
        less than importing GitPython for it (a new ``mlopsctl history``).
        """
        if _gitpython_loaded():
            return self._tip_from_ref_files(ref)
        result = self.run("rev-parse", "--git-common-dir", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        lines = result.stdout.split("\n")
        if result.returncode != 0 or len(lines) < 2 or not lines[0] or not lines[1]:
            return None  # an unborn branch, a ref that names no commit
        return self.root / lines[0], lines[1]

    def _tip_from_ref_files(self, ref: str) -> tuple[Path, str] | None:
        repo = self.open_repo()
        if repo is None:
            return None
        try:
            return Path(repo.common_dir), str(type(repo.head).dereference_recursive(repo, ref))
        except (ValueError, OSError):  # an unborn branch, a ref that is not a file
            return None

    def commit_of(self, ref: str) -> str | None:
        """:meth:`resolve` through the persistent ``cat-file --batch`` (no process of its own when one runs)."""
        if not _one_line(ref):
            return self.resolve(ref)
        found = self._header(f"{ref}^{{commit}}")
        self._record(f"git cat-file --batch {ref}^{{commit}}", found is not None)
        return None if found is None else found[0]

    def tree_names(self, commit: str, folder: str) -> list[str]:
        """``folder``'s entries at ``commit`` (as ``git ls-tree --name-only`` lists them), through cat-file."""
        name = f"{commit}:{folder}"
        data = self._read_objects([name], kind="tree")[0] if _one_line(name) else None
        self._record(f"git cat-file --batch {name}", data is not None)
        if data is None:
            return []
        from git.objects.fun import tree_entries_from_data  # with GitPython, which _read_objects imported

        return [f"{folder}/{entry_name}" for _, _, entry_name in tree_entries_from_data(data)]

    def _header(self, name: str) -> tuple[str, str] | None:
        """(object name, type) of ``name`` from the persistent ``cat-file --batch``, or None."""
        repo = self.open_repo()
        if repo is None:
            return None
        with self._reads:
            try:
                found, kind, _ = repo.git.get_object_header(name)
            except ValueError:
                return None
        return _str(found), _str(kind)

    def show_file(self, commit: str, path: str) -> str | None:
        """Text of ``path`` as committed in ``commit``, or None when it is not there."""
        data = self._read_objects([f"{commit}:{path}"])[0]
        self._record(f"git cat-file blob {commit}:{path}", data is not None)
        return None if data is None else _text(data)

    def show_bytes(self, commit: str, path: str) -> bytes | None:
        """Bytes of ``path`` as committed in ``commit``, or None when it is not there."""
        data = self._read_objects([f"{commit}:{path}"])[0]
        self._record(f"git cat-file blob {commit}:{path}", data is not None)
        return data

    def read_blobs(self, names: Sequence[str]) -> list[str | None]:
        """Texts of many ``commit:path`` names (None for a name that names nothing)."""
        if not names:
            return []
        texts = [_blob_text(data) for data in self._read_objects(names)]
        self._record(f"git cat-file --batch ({len(names)} objects)", self.open_repo() is not None)
        return texts

    def _read_objects(self, names: Sequence[str], kind: str | None = None) -> list[bytes | None]:
        """Contents of ``names`` through GitPython's persistent ``cat-file --batch`` (its object database's).

        With ``kind``, a name that is another kind of object (a file where a folder was asked for) reads as None.
        """
        repo = self.open_repo()
        if repo is None:
            return [None] * len(names)
        with self._reads:
            return [_object_data(repo.git, name, kind) for name in names]

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


def _execute(root: Path, args: Sequence[str], env: dict[str, str], input: str | None) -> tuple[int, bytes, str]:
    """``git *args`` in ``root``: exit status, raw standard output, standard error (as text)."""
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, "LANGUAGE": "C", **env},
        input=None if input is None else input.encode(),
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        check=False,
    )
    return done.returncode, done.stdout, _stderr_text(done.stderr)


def _stderr_text(stderr: bytes) -> str:
    """What git said, ending in one line feed (as callers read it through GitPython before)."""
    text = stderr.decode("utf-8", errors="replace").removesuffix("\n")
    return text + "\n" if text else ""


def _object_data(runner: gitpython.Git, name: str, kind: str | None = None) -> bytes | None:
    """One object's content from the persistent ``cat-file --batch``, or None when ``name`` names none."""
    try:
        _, found_kind, _, data = runner.get_object_data(name)
    except ValueError:  # "<name> missing", "ambiguous", or a name git cannot take on one line
        return None
    return data if kind is None or _str(found_kind) == kind else None


def _str(value: str | bytes) -> str:
    """GitPython's headers are bytes at run time though typed as text."""
    return value.decode() if isinstance(value, bytes) else value


def _gitpython_loaded() -> bool:
    return "git" in sys.modules and "git.repo" in sys.modules


def _one_line(name: str) -> bool:
    """Whether ``name`` can go to ``cat-file --batch`` as one request (a line feed would start a second)."""
    return "\n" not in name and "\r" not in name and bool(name.strip())


def _text(output: bytes) -> str:
    """Output as text mode read it before (UTF-8, universal newlines), without failing on bad bytes."""
    text = output.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _blob_text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _failure_detail(result: GitResult) -> str:
    """What git said when a command failed (its first line), for the operation log."""
    said = (result.stderr or result.stdout).strip() if result.returncode != 0 else ""
    return said.splitlines()[0] if said else ""


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
