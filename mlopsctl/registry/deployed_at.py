"""What an environment's file said was deployed at a moment in the past, and what each version was made from.

``mlopsctl history --at TIME --env ENV`` answers an auditor's "what answered on that day?". The
truth is the environment file as committed on the main branch: the last commit of its
first-parent chain (what was merged, not what sat on a branch) whose committer date is at or
before TIME, whatever made it (a promotion, a ``git revert``, a hand edit). For each model the
commit that set its placement is the oldest of the file's changes, walking back from there,
after which the placement stayed the same; its ``Action:`` trailer says which mlopsctl action
made it, and a commit without one is a hand edit (or a revert). The versions' facts (artifact
and data digests, spec commit) come from their registry records as committed at that moment.

Every file here is someone's commit: read through the git port, parsed by the bounded YAML
loader and validated; an older file that does not validate counts as a different placement.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import CheckFailed, MlopsError, NotFound, UsageError
from mlopsctl.ports.git import Git
from mlopsctl.registry.paths import MODEL_FOLDER
from mlopsctl.registry.records import record_from_doc
from mlopsctl.spec.environments import check_environment_name, env_path, parse_environment
from mlopsctl.spec.models import Deployment
from mlopsctl.spec.yamlpos import parse_yaml, safe_load

PAGE = 100
"""Changes of the environment file read per ``git log`` (and per batch of blob reads)."""
MAX_CHANGES = 2000
"""How far back the commit that set a placement is looked for (a file changed more often says so)."""
TIME_FORMATS = "an ISO 8601 date or time (2026-05-01, 2026-05-01T14:30, 2026-05-01T14:30+02:00) or an age (2h ago, 3d)"
_AGE = re.compile(r"(\d{1,6})\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)(\s+ago)?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FIELD, _RECORD = "\x1f", "\x1e"
_LOG_FORMAT = _FIELD.join(
    ["%H", "%P", "%an", "%ae", "%aI", "%cI", "%s", "%(trailers:key=Action,valueonly,separator=%x2C)"]
)
"""``Action:`` is the trailer every mlopsctl action writes (mlopsctl.gitops.trailers); the subject last but one."""


@dataclass(frozen=True)
class Moment:
    """The moment asked about, in UTC, and whether a zone had to be assumed."""

    at: datetime
    asked: str
    assumed_utc: bool


@dataclass(frozen=True)
class SetBy:
    """The commit that put a placement in place."""

    commit: str
    author: str
    email: str
    date: str
    """Author date, ISO 8601."""
    subject: str
    how: str
    """The mlopsctl action (``promote``, ``rollback``, ...), ``revert`` or ``hand edit``."""
    merged_in: str | None = None
    """The merge commit that brought it to the main branch (a pull request merged with a merge commit);
    None when it was committed on the main branch itself."""
    merged_at: str | None = None
    """That merge's committer date, ISO 8601: when the placement took effect on the main branch."""

    @property
    def hand_edit(self) -> bool:
        return self.how == "hand edit"


@dataclass(frozen=True)
class RecordFacts:
    """What an auditor asks of a version: its artifact, its data and the spec it was trained from."""

    version: int
    artifact_sha256: str
    artifact_uri: str
    data_sha256: str
    data_uri: str
    data_rows: int
    schema_sha256: str
    spec_commit: str
    created_at: str
    run_id: str
    gates_passed: bool

    @classmethod
    def of(cls, record: VersionRecord) -> RecordFacts:
        data, artifact = record.data, record.artifact
        return cls(
            record.version, artifact.sha256, artifact.uri, data.sha256, data.uri, data.rows, data.schema_sha256,
            record.spec_commit, record.created_at, record.run_id, record.gates_passed,
        )  # fmt: skip


@dataclass(frozen=True)
class DeployedModel:
    """One model's placement at the moment, who set it, and its versions' records (None: not readable then)."""

    model: str
    version: int
    strategy: str
    candidate: int | None
    weight: int | None
    set_by: SetBy | None
    """None: set longer ago than :data:`MAX_CHANGES` changes of the file (a note says so)."""
    records: list[RecordFacts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["set_by"] = None if self.set_by is None else asdict(self.set_by) | {"hand_edit": self.set_by.hand_edit}
        return data


@dataclass(frozen=True)
class DeployedAt:
    """An environment as its committed file stood at a moment: the commit read and every model in it."""

    env: str
    at: str
    """The moment, ISO 8601 in UTC."""
    asked: str
    assumed_utc: bool
    branch: str
    commit: str
    commit_date: str
    """Committer date of :attr:`commit`, ISO 8601."""
    models: list[DeployedModel]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = [model.to_dict() for model in self.models]
        return data


def parse_moment(text: str, now: datetime) -> Moment:
    """``text`` as a moment: ISO 8601 (no zone: UTC) or an age before ``now``; exit 2 when unreadable or future."""
    asked = text.strip()
    at, assumed = _parsed(asked, now)
    if at > now:
        raise UsageError(
            f"--at {asked}: {at.isoformat()} is in the future, nothing was deployed then yet",
            hint="give a time in the past",
        )
    return Moment(at, asked, assumed)


def _parsed(text: str, now: datetime) -> tuple[datetime, bool]:
    age = _AGE.fullmatch(text.lower())
    if age is not None:
        return now - timedelta(seconds=int(age[1]) * _UNIT_SECONDS[age[2][0]]), False
    try:
        at = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise UsageError(f"--at {text!r} is not a time", hint=f"give {TIME_FORMATS}") from None
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC), True
    return at.astimezone(UTC), False


def deployed_at(git: Git, branch: str, env: str, moment: Moment, model: str | None = None) -> DeployedAt:
    """What ``environments/ENV.yaml`` on ``branch`` said at ``moment`` (only ``model`` when given)."""
    check_environment_name(env)
    commit, commit_date = _commit_at(git, branch, env, moment)
    path = env_path(env)
    (text,) = git.read_blobs([f"{commit}:{path}"])
    if text is None:
        raise _did_not_exist(env, moment, f"{path} is not in {branch} at {commit[:10]} ({commit_date})")
    try:
        environment = parse_environment(env, text)
    except CheckFailed as exc:
        raise CheckFailed(f"{path} at {commit[:10]} does not validate: {exc.message}", title=exc.title) from None
    deployments = environment.deployments
    if model is not None and model not in deployments:
        raise NotFound(
            f"{model} was not deployed in {env} at {moment.asked} ({path} at {commit[:10]})",
            hint=f"deployed then: {', '.join(sorted(deployments)) or 'nothing'}",
        )
    chosen = {name: d for name, d in sorted(deployments.items()) if model is None or name == model}
    setters = _setters(git, commit, path, chosen)
    models = [_deployed(git, commit, name, d, setters.get(name)) for name, d in chosen.items()]
    return DeployedAt(env, moment.at.isoformat(), moment.asked, moment.assumed_utc, branch, commit, commit_date, models)


def _commit_at(git: Git, branch: str, env: str, moment: Moment) -> tuple[str, str]:
    """The last commit of ``branch``'s first-parent chain committed at or before the moment, and its date."""
    if git.resolve(branch) is None:
        raise NotFound(
            f"the main branch {branch} does not exist in {git.root}", hint="check git.main_branch in mlops.yaml"
        )
    before = f"--before={moment.at.strftime('%Y-%m-%dT%H:%M:%S+00:00')}"
    found = git.out("log", "-1", "--first-parent", before, "--format=%H%x1f%cI", branch, "--")
    if not found:
        raise _did_not_exist(env, moment, f"the first commit on {branch} is later")
    commit, date = found.split(_FIELD)
    return commit, date


def _did_not_exist(env: str, moment: Moment, why: str) -> NotFound:
    return NotFound(f"{env} did not exist at {moment.asked} ({moment.at.isoformat()})", hint=why)


def _deployed(git: Git, commit: str, model: str, deployment: Deployment, set_by: SetBy | None) -> DeployedModel:
    versions = [deployment.version] + ([deployment.candidate] if deployment.candidate is not None else [])
    records, notes = _records(git, commit, model, versions)
    if set_by is None:
        notes.append(f"set more than {MAX_CHANGES} changes of the file before: not looked for further back")
    return DeployedModel(
        model, deployment.version, deployment.strategy, deployment.candidate, deployment.weight, set_by, records, notes
    )


# --------------------------------------------------------------------------- who set each placement


@dataclass
class _Change:
    """One commit that changed the environment file, as ``git log`` lists it."""

    commit: str
    parents: list[str]
    committed: str
    set_by: SetBy


def _setters(git: Git, commit: str, path: str, chosen: dict[str, Deployment]) -> dict[str, SetBy | None]:
    """For each model, the commit that wrote its placement ``chosen[model]`` (see :func:`_authored`)."""
    changes = _first_changes(git, commit, path, chosen)
    return {model: _authored(git, path, changes.get(model), model, chosen[model]) for model in chosen}


def _first_changes(git: Git, commit: str, path: str, chosen: dict[str, Deployment]) -> dict[str, _Change]:
    """For each model, the oldest change of ``path`` on the main branch since which its placement is ``chosen``.

    Walks the file's changes newest first, a page at a time, until every model's placement differs
    from an older change (then the change after that one set it) or the file's history ends.
    """
    settled: dict[str, _Change] = {}
    same_since: dict[str, _Change] = {}
    for skip in range(0, MAX_CHANGES, PAGE):
        changes = _changes(git, commit, path, skip)
        texts = git.read_blobs([f"{change.commit}:{path}" for change in changes])
        for change, text in zip(changes, texts, strict=True):
            for model in [m for m in chosen if m not in settled]:
                if _placement(text, model) == chosen[model]:
                    same_since[model] = change
                elif model in same_since:
                    settled[model] = same_since[model]
        if len(settled) == len(chosen):
            return settled
        if len(changes) < PAGE:  # the file's first change set what is still there
            return same_since | settled
    return settled


def _authored(git: Git, path: str, change: _Change | None, model: str, placement: Deployment) -> SetBy | None:
    """Who wrote the placement: ``change`` itself, or when it is a merge (a pull request merged with a merge
    commit), the newest commit it brought in whose file already held the placement (the promotion's)."""
    if change is None or len(change.parents) < 2:
        return None if change is None else change.set_by
    merged = _changes(git, f"{change.parents[0]}..{change.commit}", path, 0, first_parent=False)
    brought = [c for c in merged if c.commit != change.commit]
    texts = git.read_blobs([f"{c.commit}:{path}" for c in brought])
    for candidate, text in zip(brought, texts, strict=True):
        if _placement(text, model) == placement:
            return replace(candidate.set_by, merged_in=change.commit, merged_at=change.committed)
    return change.set_by


def _changes(git: Git, revisions: str, path: str, skip: int, *, first_parent: bool = True) -> list[_Change]:
    """A page of the commits in ``revisions`` that changed ``path``, newest first."""
    args = ["log", *(["--first-parent"] if first_parent else []), f"--format={_LOG_FORMAT}%x1e"]
    output = git.out(*args, f"--max-count={PAGE}", f"--skip={skip}", revisions, "--", path)
    found = []
    for chunk in output.split(_RECORD):
        parts = chunk.strip("\n").split(_FIELD)
        if len(parts) == 8:
            sha, parents, author, email, date, committed, subject, action = parts
            set_by = SetBy(sha, author, email, date, subject, _how(action, subject))
            found.append(_Change(sha, parents.split(), committed, set_by))
    return found


def _how(action: str, subject: str) -> str:
    """The action an mlopsctl commit names in its trailer; else a revert (git's subject) or a hand edit."""
    named = action.rsplit(",", 1)[-1].strip()
    if named:
        return named[:20]
    return "revert" if subject.startswith('Revert "') else "hand edit"


def _placement(text: str | None, model: str) -> Deployment | None:
    """``model``'s deployment in one version of the file; None when absent or unreadable (then it differs)."""
    if text is None:
        return None
    try:
        data = safe_load(text)
        deployments = data.get("deployments") if isinstance(data, dict) else None
        fields = deployments.get(model) if isinstance(deployments, dict) else None
        return Deployment.model_validate(fields) if isinstance(fields, dict) else None
    except (yaml.YAMLError, ValueError, MlopsError):  # pydantic's ValidationError is a ValueError
        return None


# --------------------------------------------------------------------------- the versions' records then


def _records(git: Git, commit: str, model: str, versions: list[int]) -> tuple[list[RecordFacts], list[str]]:
    """The versions' records as committed at ``commit``; a note for each that is not there or does not read."""
    if MODEL_FOLDER.fullmatch(model) is None:
        return [], [f"{model!r} cannot name a registry folder"]
    paths = [f"registry/{model}/v{version}.yaml" for version in versions]
    facts, notes = [], []
    for path, text in zip(paths, git.read_blobs([f"{commit}:{path}" for path in paths]), strict=True):
        if text is None:
            notes.append(f"{path} is not in {commit[:10]}")
            continue
        try:
            facts.append(RecordFacts.of(record_from_doc(parse_yaml(text, Path(path)), restore="")))
        except (CheckFailed, ValidationError) as exc:
            notes.append(f"{path} at {commit[:10]} does not read: {getattr(exc, 'message', exc)}")
    return facts, notes
