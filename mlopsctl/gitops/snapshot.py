"""The repository's files as committed at one commit, and what ran where in the past.

Promotions are computed from a commit, never from the working tree: the pull-request branch is
built on ``HEAD``, and when a direct push is rejected the same promotion is computed again on the
fetched tip. The history questions ("did this version run in staging?", "what ran before?") are
answered from every committed revision of ``environments/<env>.yaml``, read through one
``git log`` and batched ``git cat-file`` processes, so hand edits count as much as promotions.

Committed records and archive lists are untrusted input: they are read by the bounded YAML
parser, and one that does not fit is a :class:`CheckFailed` naming file:line:column, as
``mlopsctl registry show`` says it for the same files in the working tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import NotFound
from mlopsctl.gitops import envfile
from mlopsctl.gitops.envfile import deployment_in as deployment_in  # re-exported
from mlopsctl.ports.git import Git
from mlopsctl.registry.records import archived_from_doc, is_version, record_from_doc
from mlopsctl.spec.environments import check_environment_name, env_path, parse_environment
from mlopsctl.spec.models import Environment
from mlopsctl.spec.yamlpos import parse_yaml

HISTORY_BATCH = 200


def record_relpath(model: str, version: int) -> str:
    return f"registry/{model}/v{version}.yaml"


def archived_relpath(model: str) -> str:
    return f"registry/{model}/archived.yaml"


class Snapshot:
    """Read-only view of the files in one commit."""

    def __init__(self, git: Git, ref: str = "HEAD") -> None:
        commit = git.resolve(ref)
        if commit is None:
            raise NotFound(f"no commit '{ref}' in {git.root}", hint="make a first commit (mlopsctl init does)")
        self.git = git
        self.commit = commit
        self._cache: dict[str, str | None] = {}

    def read(self, path: str) -> str | None:
        if path not in self._cache:
            self._cache[path] = self.git.show_file(self.commit, path)
        return self._cache[path]

    def environment_text(self, env: str) -> str:
        text = self.read(env_path(env))
        if text is None:
            known = ", ".join(self.environment_names()) or "none"
            raise NotFound(
                f"no environment '{env}' in environments/ at {self.commit[:12]}", hint=f"environments here: {known}"
            )
        return text

    def environment(self, env: str) -> tuple[str, Environment]:
        """The file's text and its validated model; a file that does not validate stops the action."""
        check_environment_name(env)
        text = self.environment_text(env)
        return text, parse_environment(env, text)

    def environment_names(self) -> list[str]:
        listing = self.git.run("ls-tree", "--name-only", self.commit, "environments/", check=False).stdout
        names = (line.rsplit("/", 1)[-1] for line in listing.splitlines())
        return sorted(name[: -len(".yaml")] for name in names if name.endswith(".yaml"))

    def record(self, model: str, version: int) -> VersionRecord:
        path = record_relpath(model, version)
        text = self.read(path)
        if text is None:
            local = (self.git.root / path).is_file()
            raise NotFound(
                f"{model}@{version} is not registered at {self.commit[:12]} ({path} is "
                + ("not committed)" if local else "missing)"),
                hint=f"commit {path} first" if local else f"see the versions with: mlopsctl registry list {model}",
            )
        return record_from_doc(parse_yaml(text, Path(path)), restore=_who_changed(path))

    def archived(self, model: str) -> set[int]:
        """Version numbers in the committed ``registry/<model>/archived.yaml``; a malformed list stops the action."""
        path = archived_relpath(model)
        text = self.read(path)
        if text is None:
            return set()
        return archived_from_doc(parse_yaml(text, Path(path)), restore=_who_changed(path))


def _who_changed(path: str) -> str:
    # The bad file is committed, so the way back is an earlier commit, not the working tree.
    return f"see who changed it with: git log -p -- {path}"


@dataclass(frozen=True)
class Revision:
    """One committed revision of an environment file: the commit, its time and the model's deployment there."""

    commit: str
    time: float
    deployment: dict[str, Any] | None
    """None when the file did not name the model, or did not parse (the bounded loader refused it)."""


def deployment_revisions(snap: Snapshot, env: str, model: str, limit: int | None = None) -> Iterator[Revision]:
    """``model``'s deployment in the committed revisions of the env file (the newest ``limit``), newest first.

    The files are read in batches of :data:`HISTORY_BATCH` blobs, so a caller that stops early reads no more.
    """
    path = env_path(env)
    bound = [f"-n{limit}"] if limit is not None else []
    listed = snap.git.run("log", *bound, "--format=%H %ct", snap.commit, "--", path).stdout.splitlines()
    commits = [line.split() for line in listed if line.strip()]
    for start in range(0, len(commits), HISTORY_BATCH):
        batch = commits[start : start + HISTORY_BATCH]
        texts = snap.git.read_blobs([f"{commit}:{path}" for commit, _ in batch])
        for (commit, stamp), text in zip(batch, texts, strict=True):
            yield Revision(commit, float(stamp), envfile.deployment_in_text(text, model))


def deployment_history(snap: Snapshot, env: str, model: str) -> Iterator[dict[str, Any] | None]:
    """``model``'s deployment in every committed revision of the env file, newest first."""
    return (revision.deployment for revision in deployment_revisions(snap, env, model))


def ran_in(snap: Snapshot, env: str, model: str, version: int) -> bool:
    """Whether ``version`` ran in ``env`` in any role at any committed time up to ``snap``."""
    return any(_plays(fields, version) for fields in deployment_history(snap, env, model))


def previous_stable(snap: Snapshot, env: str, model: str, current: int) -> int | None:
    """The stable version that ran in ``env`` before ``current``, from the file's history."""
    for fields in deployment_history(snap, env, model):
        version = fields.get("version") if fields else None
        if is_version(version) and version != current:  # a hand-edited past revision may hold anything
            return version
    return None


def _plays(fields: dict[str, Any] | None, version: int) -> bool:
    return bool(fields) and version in (fields.get("version"), fields.get("candidate"))  # type: ignore[union-attr]
