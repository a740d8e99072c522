"""Promote, roll back and archive, computed as a :class:`Change` from one commit.

An operation reads only committed files (a :class:`~mlopsctl.gitops.snapshot.Snapshot`), checks the
policy, and returns the one file it changes, the new text and a structured commit message. It
writes nothing, so :mod:`mlopsctl.gitops.publish` can compute it again on a newer commit when a
push is rejected. Commit messages end with trailers that make ``git log`` the audit log::

    Promote churn@3 to production as a 20% canary

    Action: promote
    Model: churn
    Version: 3
    Env: production
    Strategy: canary
    Weight: 20
    Previous: 2
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import CheckFailed, NotFound, PolicyRefused, UsageError
from mlopsctl.gitops import envfile, policy, transitions
from mlopsctl.gitops.snapshot import (
    Snapshot,
    archived_relpath,
    deployment_in,
    previous_stable,
    ran_in,
)
from mlopsctl.spec.environments import env_path
from mlopsctl.spec.loader import load_settings
from mlopsctl.spec.locations import shown
from mlopsctl.spec.models import NAME_PATTERN, Environment, ModelSpec

ARCHIVE_HEADER = (
    "# Archived versions of {model}: kept for lineage and reproduction, never deployed again.\n"
    "# Written by `mlopsctl archive`; the version records beside this file are never edited.\n"
)


@dataclass(frozen=True)
class Change:
    """One file changed by one action, with everything needed to commit it and describe it."""

    action: str
    model: str
    version: int
    env: str | None
    path: str
    text: str
    title: str
    record: VersionRecord
    strategy: str | None = None
    weight: int | None = None
    previous: str | None = None
    reason: str | None = None
    desired: Environment | None = None
    """The environment as it will read after the change (for a plan of it)."""
    more_files: tuple[tuple[str, str], ...] = ()
    """Other files the same commit changes (path, new text): a retirement edits every environment."""
    envs: tuple[str, ...] = ()
    """Every environment a retirement changes (one ``Env:`` trailer each, so ``history --env`` finds it)."""
    archived: tuple[int, ...] = ()
    """The versions a retirement archives."""
    every_version: bool = False
    """A retirement of the whole model (no ``Version:`` trailer), not of one version."""
    removed_files: tuple[str, ...] = ()
    """Files the same commit deletes: rendered manifests a kubernetes environment no longer has."""
    extra_body: str | None = None
    """The caller's text after the reason: in the pull request's body, or in a direct commit's message."""
    extra_trailers: tuple[tuple[str, str], ...] = ()
    """The caller's trailers (checked by :func:`~mlopsctl.gitops.trailers.extra_trailers`), after the standard ones."""

    @property
    def branch(self) -> str:
        if self.action == "archive":
            return f"archive/{self.model}-{self.version}"
        if self.action == "retire":
            return f"retire/{self.model}" + ("" if self.every_version else f"-{self.version}")
        return f"{self.action}/{self.model}-{self.version}-{self.env}"

    @property
    def files(self) -> dict[str, str]:
        """Every file the commit changes, path to new text."""
        return {self.path: self.text, **dict(self.more_files)}

    def trailers(self) -> dict[str, str]:
        values: dict[str, Any] = {
            "Action": self.action,
            "Model": self.model,
            "Version": self.version,
            "Env": self.env,
            "Strategy": self.strategy,
            "Weight": self.weight,
            "Previous": self.previous,
        }
        if self.every_version:
            values["Version"] = None
        return {key: str(value) for key, value in values.items() if value is not None}

    def trailer_lines(self) -> list[str]:
        """``Key: value`` lines; a retirement gives one ``Env:`` line per environment it changes."""
        lines = [f"{key}: {value}" for key, value in self.trailers().items()]
        if self.envs:
            at = next((i for i, line in enumerate(lines) if line.startswith("Strategy:")), len(lines))
            at = next((i for i, line in enumerate(lines) if line.startswith("Previous:")), at)
            lines[at:at] = [f"Env: {env}" for env in self.envs]
        return lines + [f"{key}: {value}" for key, value in self.extra_trailers]

    def message(self, *, with_extra_body: bool = True) -> str:
        """Title, reason, the caller's extra body (unless it goes in a pull request instead) and trailers."""
        extra = self.extra_body if with_extra_body else None
        paragraphs = [text.strip() for text in (self.reason, extra) if text and text.strip()]
        body = "".join(f"\n\n{text}" for text in paragraphs)
        trailers = "\n".join(self.trailer_lines())
        return f"{self.title}{body}\n\n{trailers}\n"


class Operation(Protocol):
    """What publish needs: compute the change at a commit, and the state a concurrent writer must not touch."""

    def prepare(self, snap: Snapshot) -> Change: ...

    def watched(self, snap: Snapshot) -> Any: ...


@dataclass(frozen=True)
class Promote:
    spec: ModelSpec
    version: int
    env: str
    strategy: str = "replace"
    weight: int | None = None
    reason: str | None = None
    extra_body: str | None = None
    extra_trailers: tuple[tuple[str, str], ...] = ()

    @property
    def model(self) -> str:
        return self.spec.name

    def watched(self, snap: Snapshot) -> Any:
        return _watched_deployment(snap, self.env, self.model)

    def prepare(self, snap: Snapshot) -> Change:
        record = snap.record(self.model, self.version)
        policy.check_deployable(record, snap.archived(self.model))
        if self.strategy == "canary":
            policy.check_weight(self.spec, self.weight or 0)
        policy.check_requires(snap, self.spec, self.version, self.env)
        text, _ = snap.environment(self.env)
        current = deployment_in(envfile.load(text), self.model)
        where = f"{self.model} in {self.env}"
        new = transitions.promote(current, self.version, self.strategy, self.weight, where)
        return _env_change(self, snap, text, new, current, record, self._title())

    def _title(self) -> str:
        ref = f"{self.model}@{self.version}"
        if self.strategy == "canary":
            return f"Promote {ref} to {self.env} as a {self.weight}% canary"
        if self.strategy == "shadow":
            return f"Promote {ref} to {self.env} as a shadow"
        return f"Promote {ref} to {self.env}"


@dataclass(frozen=True)
class Rollback:
    model: str
    env: str
    to: int | None = None
    reason: str | None = None
    extra_body: str | None = None
    extra_trailers: tuple[tuple[str, str], ...] = ()

    def watched(self, snap: Snapshot) -> Any:
        return _watched_deployment(snap, self.env, self.model)

    def prepare(self, snap: Snapshot) -> Change:
        check_model_name(self.model)
        text, _ = snap.environment(self.env)
        current = deployment_in(envfile.load(text), self.model)
        if current is None:
            raise NotFound(f"nothing runs for {self.model} in {self.env}", hint="there is nothing to roll back")
        if self.to is not None and not ran_in(snap, self.env, self.model, self.to):
            raise PolicyRefused(
                f"{self.model}@{self.to} never ran in {self.env}; a rollback returns only to a version that ran there",
                hint=f"to deploy a new version there: mlopsctl promote {self.model}@{self.to} --env {self.env}",
            )
        earlier = None
        if self.to is None and current.get("strategy", "replace") == "replace":
            earlier = previous_stable(snap, self.env, self.model, int(current["version"]))
        new = transitions.rollback(current, earlier, self.to, f"{self.model} in {self.env}")
        record = snap.record(self.model, int(new["version"]))
        policy.check_deployable(record, snap.archived(self.model))
        title = f"Roll back {self.model} in {self.env} to version {new['version']}"
        return _env_change(self, snap, text, new, current, record, title)


@dataclass(frozen=True)
class Archive:
    model: str
    version: int
    by: str
    reason: str | None = None

    def watched(self, snap: Snapshot) -> Any:
        return None  # archived.yaml only grows: appending again on the new tip is always right

    def prepare(self, snap: Snapshot) -> Change:
        check_model_name(self.model)
        record = snap.record(self.model, self.version)
        ref = f"{self.model}@{self.version}"
        if self.version in snap.archived(self.model):
            raise transitions.NothingToChange(f"{ref} is already archived")
        for env in snap.environment_names():
            role = transitions.runs(
                deployment_in(envfile.load(snap.read(env_path(env)) or ""), self.model), self.version
            )
            if role is not None:
                raise PolicyRefused(
                    f"{ref} still runs in {env} (as the {role} version); an archived version must run nowhere",
                    hint=f"move {env} to another version first (mlopsctl promote or mlopsctl rollback)",
                )
        path = archived_relpath(self.model)
        existing = snap.read(path)
        entry: dict[str, Any] = {"version": self.version, "archived_at": now(), "by": self.by}
        if self.reason:
            entry["reason"] = self.reason
        text = envfile.append_list_item(existing or ARCHIVE_HEADER.format(model=self.model), "archived", entry)
        return Change(
            action="archive",
            model=self.model,
            version=self.version,
            env=None,
            path=path,
            text=text,
            title=f"Archive {ref}",
            record=record,
            reason=self.reason,
        )


def check_model_name(model: str) -> None:
    """A model name names folders, files and branches: refuse one that does not match the name pattern."""
    if re.fullmatch(NAME_PATTERN, model) is None:
        raise UsageError(
            f"the model name {shown(model)} must be lower-case letters, digits and dashes, starting with a letter",
            hint="name a model as its folder under models/ is named",
        )


def _env_change(
    op: Promote | Rollback,
    snap: Snapshot,
    text: str,
    new: dict[str, Any],
    current: dict[str, Any] | None,
    record: VersionRecord,
    title: str,
) -> Change:
    new_text = envfile.set_deployment(text, op.model, new)
    try:
        desired = Environment.model_validate(envfile.load(new_text))
    except ValueError as exc:  # a bug here must never reach a commit
        raise CheckFailed(f"the edited {env_path(op.env)} would not validate: {exc}", title="Internal check") from exc
    rendered, removed = _rendered_manifests(snap, op.env, new_text)
    return Change(
        action="promote" if isinstance(op, Promote) else "rollback",
        model=op.model,
        version=int(record.version),
        env=op.env,
        path=env_path(op.env),
        text=new_text,
        title=title,
        record=record,
        strategy=str(new.get("strategy", "replace")),
        weight=new.get("weight"),
        previous=transitions.describe(current),
        reason=op.reason,
        desired=desired,
        more_files=rendered,
        removed_files=removed,
        extra_body=op.extra_body,
        extra_trailers=op.extra_trailers,
    )


def _rendered_manifests(snap: Snapshot, env: str, text: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A kubernetes environment's ``deploy/<env>/`` rendered for the new file, in the same commit, so the
    pull request shows the manifest diff Argo CD or Flux will sync (issue 17); nothing for other targets."""
    from mlopsctl.kubernetes.api import promotion_files  # renders only when a promotion is prepared

    root = snap.git.root
    if not _may_be_rendered(text):
        return (), ()  # it names its target and no deployment is on kubernetes: mlops.yaml is not needed
    written, removed = promotion_files(root, load_settings(root), snap.commit, env, text)
    return tuple(sorted(written.items())), tuple(removed)


def _may_be_rendered(text: str) -> bool:
    """Whether the environment file could put a deployment on the kubernetes target: when it names no
    target, mlops.yaml's default_target decides (and mlops.yaml must then be valid)."""
    environment = envfile.load(text)
    if not isinstance(environment, dict):
        return True
    deployments = environment.get("deployments")
    targets = (
        [d.get("target") for d in deployments.values() if isinstance(d, dict)] if isinstance(deployments, dict) else []
    )
    return environment.get("target") in (None, "kubernetes") or "kubernetes" in targets


def _watched_deployment(snap: Snapshot, env: str, model: str) -> Any:
    text = snap.read(env_path(env))
    return deployment_in(envfile.load(text), model) if text is not None else None


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
