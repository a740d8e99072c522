"""Errors a user can see, and the exit codes they map to.

Every error that reaches a user derives from :class:`MlopsError`; it carries a one-line title,
a message that says what is wrong and where, and an optional hint that says what to do. The CLI
prints it to stderr and exits with its ``exit_code``; the dashboard shows it in a modal.

Exception tree::

    MlopsError                      exit 1  something the user asked for cannot be done
    ├── CheckFailed                 exit 1  a check ran and found problems (validate, data check, gates)
    ├── NotFound                    exit 1  a repo, model, version or run does not exist
    ├── PolicyRefused               exit 1  a promotion or rollback breaks a rule in the spec
    ├── ConflictError               exit 1  someone else changed the same thing first (lock, push race)
    ├── UsageError                  exit 2  the command line itself is wrong
    └── UnreachableError            exit 3  an outside system did not answer
        ├── DockerUnreachable
        ├── PrometheusUnreachable
        └── GitRemoteUnreachable

Exit codes are the same for every command and documented in the README.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    PROBLEMS = 1
    USAGE = 2
    UNREACHABLE = 3


class MlopsError(Exception):
    """Base of every error meant for a user: a title, a message and an optional hint."""

    exit_code: ExitCode = ExitCode.PROBLEMS
    title: str = "Error"

    def __init__(self, message: str, *, title: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CheckFailed(MlopsError):
    """A check ran to the end and found problems."""

    title = "Check failed"


class NotFound(MlopsError):
    """A repository, model, version, run or file that does not exist."""

    title = "Not found"


class PolicyRefused(MlopsError):
    """A change that the spec's rules do not allow."""

    title = "Refused by policy"


class ConflictError(MlopsError):
    """Another writer got there first: a held lock, a rejected push, a taken version number."""

    title = "Conflict"


class UsageError(MlopsError):
    """The command line is wrong: a bad argument, option or reference."""

    exit_code = ExitCode.USAGE
    title = "Usage error"


class UnreachableError(MlopsError):
    """An outside system (Docker engine, Prometheus, git remote) did not answer."""

    exit_code = ExitCode.UNREACHABLE
    title = "Unreachable"


class DockerUnreachable(UnreachableError):
    title = "Docker engine unreachable"


class PrometheusUnreachable(UnreachableError):
    title = "Prometheus unreachable"


class GitRemoteUnreachable(UnreachableError):
    title = "Git remote unreachable"


class StoreUnreachable(UnreachableError):
    title = "Store unreachable"
