"""Decommissioning: a model (every version) or one version out of every environment, and archived, in one commit.

``mlopsctl archive`` refuses a version that still runs somewhere, so retiring by hand meant editing
each environment file, getting that merged, then archiving. :class:`Retire` makes one change of
all of it: in every environment file that names the model, its deployment is removed (retiring
the whole model, or the version that runs alone) or its candidate is dropped (a canary or shadow of
the retired version), with the same surgical edits as a promotion; and each retired version not
yet archived is appended to ``registry/<model>/archived.yaml``. Both go in the same commit, so the
archive can never land before the environments stop naming the version, and a pull request of it
is reviewed and merged as one. Its trailers (``Action: retire``, one ``Env:`` per environment)
make it one line of ``mlopsctl history``.

A retired version that is the stable version beside a canary or shadow is refused: which of the
two should keep serving is a promotion's decision, not a retirement's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlopsctl.errors import CheckFailed, NotFound, PolicyRefused
from mlopsctl.gitops import envfile, transitions
from mlopsctl.gitops.operations import ARCHIVE_HEADER, Change, check_model_name, now
from mlopsctl.gitops.snapshot import Snapshot, archived_relpath, deployment_in
from mlopsctl.registry.records import is_version
from mlopsctl.spec.environments import env_path
from mlopsctl.spec.models import Environment


@dataclass(frozen=True)
class Placement:
    """What retiring does to one environment: its file's new text, and what ran there before."""

    env: str
    text: str
    before: str


@dataclass(frozen=True)
class Retire:
    model: str
    version: int | None
    """None: every registered version of the model."""
    by: str
    reason: str | None = None

    @property
    def ref(self) -> str:
        return self.model if self.version is None else f"{self.model}@{self.version}"

    def watched(self, snap: Snapshot) -> Any:
        envs = {
            env: deployment_in(envfile.load(snap.read(env_path(env)) or ""), self.model)
            for env in snap.environment_names()
        }
        return envs, snap.archived(self.model)

    def prepare(self, snap: Snapshot) -> Change:
        check_model_name(self.model)
        versions = self.versions(snap)
        placements = [p for env in snap.environment_names() if (p := self._placement(snap, env)) is not None]
        archived = snap.archived(self.model)
        to_archive = tuple(v for v in versions if v not in archived)
        if not placements and not to_archive:
            raise transitions.NothingToChange(
                f"{self.ref} runs in no environment and is already archived; nothing to retire"
            )
        files = [(env_path(p.env), p.text) for p in placements]
        if to_archive:
            files.append((archived_relpath(self.model), self._archive_text(snap, to_archive)))
        return Change(
            action="retire",
            model=self.model,
            version=self.version or versions[-1],
            env=None,
            path=files[0][0],
            text=files[0][1],
            title=self._title(placements, to_archive),
            record=snap.record(self.model, self.version or versions[-1]),
            previous="; ".join(f"{p.env} {p.before}" for p in placements) or None,
            reason=self.reason,
            more_files=tuple(files[1:]),
            envs=tuple(p.env for p in placements),
            archived=to_archive,
            every_version=self.version is None,
        )

    def versions(self, snap: Snapshot) -> list[int]:
        """The versions to retire, as registered at the snapshot."""
        registered = registered_versions(snap, self.model)
        if self.version is None:
            if not registered:
                raise NotFound(f"{self.model} has no registered versions at {snap.commit[:12]}")
            return registered
        if self.version not in registered:
            listing = ", ".join(map(str, registered)) or "none"
            raise NotFound(
                f"{self.ref} is not registered at {snap.commit[:12]} "
                f"(registry/{self.model}/v{self.version}.yaml is missing)",
                hint=f"registered versions of {self.model}: {listing}",
            )
        return [self.version]

    def _placement(self, snap: Snapshot, env: str) -> Placement | None:
        text = snap.read(env_path(env)) or ""
        current = deployment_in(envfile.load(text), self.model)
        if current is None:
            return None
        if self.version is None:
            return Placement(
                env, _checked(env, envfile.remove_deployment(text, self.model)), transitions.describe(current)
            )
        role = transitions.runs(current, self.version)
        if role is None:
            return None
        where = f"{self.model} in {env}"
        if role != "stable":
            kept = transitions.rollback(current, None, None, where)  # the candidate goes, the stable stays
            return Placement(
                env, _checked(env, envfile.set_deployment(text, self.model, kept)), transitions.describe(current)
            )
        if current.get("candidate") is not None:
            raise PolicyRefused(
                f"{self.ref} is the stable version in {env}, beside {transitions.describe(current)}; "
                "retiring it would leave the candidate serving alone",
                hint=f"finish or drop the {current.get('strategy', 'canary')} first: mlopsctl promote "
                f"{self.model}@{current['candidate']} --env {env}, or mlopsctl rollback {self.model} --env {env}",
            )
        return Placement(env, _checked(env, envfile.remove_deployment(text, self.model)), transitions.describe(current))

    def _archive_text(self, snap: Snapshot, versions: tuple[int, ...]) -> str:
        text = snap.read(archived_relpath(self.model)) or ARCHIVE_HEADER.format(model=self.model)
        for version in versions:
            entry: dict[str, Any] = {"version": version, "archived_at": now(), "by": self.by}
            entry["reason"] = self.reason or "retired"
            text = envfile.append_list_item(text, "archived", entry)
        return text

    def _title(self, placements: list[Placement], archived: tuple[int, ...]) -> str:
        envs = ", ".join(p.env for p in placements)
        out = f"out of {envs}" if envs else "running nowhere"
        kept = f", archive {_versions(archived)}" if archived else " (already archived)"
        return f"Retire {self.ref}: {out}{kept}"


def registered_versions(snap: Snapshot, model: str) -> list[int]:
    """Version numbers with a committed record ``registry/<model>/v<N>.yaml``, ascending."""
    listing = snap.git.run("ls-tree", "--name-only", snap.commit, f"registry/{model}/", check=False).stdout
    numbers = []
    for name in (line.rsplit("/", 1)[-1] for line in listing.splitlines()):
        digits = name[1 : -len(".yaml")] if name.startswith("v") and name.endswith(".yaml") else ""
        if digits.isascii() and digits.isdigit() and is_version(int(digits)):
            numbers.append(int(digits))
    return sorted(numbers)


def _versions(numbers: tuple[int, ...]) -> str:
    return ("version " if len(numbers) == 1 else "versions ") + ", ".join(map(str, numbers))


def _checked(env: str, text: str) -> str:
    """The edited file, which must still validate (a bug here must never reach a commit)."""
    try:
        Environment.model_validate(envfile.load(text))
    except ValueError as exc:
        raise CheckFailed(f"the edited {env_path(env)} would not validate: {exc}", title="Internal check") from exc
    return text
