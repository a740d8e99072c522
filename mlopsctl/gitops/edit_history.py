"""History entries for commits that change ``environments/`` without mlopsctl's trailers.

A plain ``git revert`` of a promotion (GitHub's "Revert" button), a hand edit, or a merge that
resolves one, changes what runs as much as ``mlopsctl promote`` does, but carries no trailers.
What such a commit did is read from its diff: one ``git log -- environments/ --raw`` lists the
commits and the blobs of the environment files before and after, the blobs (and the commit
messages, for ``This reverts commit X``) come through the git port's batched object reads, and
each model whose placement changed becomes one entry: ``added``, ``removed``, ``version``,
``weight``, ``role`` (canary, shadow or a new candidate) or ``settings`` (port, replicas,
target). An edit of a file that moved no placement (a comment, the target) is one ``file``
entry; creating or deleting a file without deployments is none.

Every file and message here is someone's commit: it is parsed by the bounded YAML loader and a
file that does not parse is listed with a note, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlopsctl.contract.versions import is_version
from mlopsctl.gitops import envfile
from mlopsctl.gitops.envfile import deployment_in
from mlopsctl.ports.git import Git
from mlopsctl.spec.names import NAME_PATTERN

FIELD, RECORD = "\x1f", "\x1e"
LOG_FORMAT = RECORD + FIELD.join(["%H", "%P", "%ct", "%an", "%ae", "%aI", "%s"])
"""One header line per commit (the ``--raw`` lines follow it): the subject last, as it may hold anything."""
NO_OBJECT = "0" * 40
REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
_ENV_FILE = re.compile(rf"environments/({NAME_PATTERN.strip('^$')})\.yaml")
_SUBJECT_CHARS = 120


@dataclass(frozen=True)
class FileChange:
    """One environment file in one commit: its blobs before and after (None: absent)."""

    env: str
    path: str
    before: str | None
    after: str | None


@dataclass
class EditCommit:
    """A commit without trailers that changed environment files, as ``git log --raw`` lists it."""

    commit: str
    parents: list[str]
    time: int
    author: str
    email: str
    date: str
    subject: str
    files: list[FileChange] = field(default_factory=list)


@dataclass(frozen=True)
class Edit:
    """One model's placement changed by one commit (``model`` is empty for a ``file`` change)."""

    commit: EditCommit
    env: str
    model: str
    change: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None = None


@dataclass(frozen=True)
class Revert:
    """What ``This reverts commit X`` in a message names: the commit and its subject when it is here."""

    commit: str
    subject: str | None


def log_arguments() -> list[str]:
    """``git log`` arguments (before the revision) listing commits with their environment files' blobs."""
    return [f"--format={LOG_FORMAT}", "--raw", "--no-abbrev", "--no-renames", "--diff-merges=first-parent"]


def pathspec(env: str | None) -> str:
    return f"environments/{env}.yaml" if env else "environments/"


def parse_log(output: str) -> list[EditCommit]:
    """The commits in ``git log`` output made with :func:`log_arguments` (unreadable chunks are skipped)."""
    commits = []
    for chunk in output.split(RECORD):
        header, _, raw = chunk.partition("\n")
        parts = header.split(FIELD, 6)
        if len(parts) != 7 or not parts[2].isdigit():
            continue
        commit, parents, when, author, email, date, subject = parts
        if not parents:
            continue  # the repository's first commit: the state history starts from, not a change of it
        found = EditCommit(commit, parents.split(), int(when), author, email, date, subject)
        found.files = [change for line in raw.splitlines() if (change := _file_change(line)) is not None]
        commits.append(found)
    return commits


def _file_change(line: str) -> FileChange | None:
    """``:100644 100644 OLD NEW M<TAB>environments/x.yaml`` as a :class:`FileChange` (None: another file)."""
    if not line.startswith(":") or "\t" not in line:
        return None
    info, path = line.split("\t", 1)
    fields = info.split()
    match = _ENV_FILE.fullmatch(path)
    if match is None or len(fields) < 5:
        return None
    before, after = fields[2], fields[3]
    return FileChange(match[1], path, None if before == NO_OBJECT else before, None if after == NO_OBJECT else after)


def edits(git: Git, commits: list[EditCommit]) -> tuple[dict[str, list[Edit]], dict[str, Revert]]:
    """Each commit's placement changes, and the commit each revert names."""
    texts = _read(git, commits)
    found = {c.commit: _commit_edits(git, c, texts) for c in commits}
    return found, _reverts(git, commits, texts)


def _read(git: Git, commits: list[EditCommit]) -> dict[str, str | None]:
    """Blobs and commit objects in one batch: the files before and after, and the messages."""
    names = sorted({name for c in commits for f in c.files for name in (f.before, f.after) if name is not None})
    names += [c.commit for c in commits]
    return dict(zip(names, git.read_blobs(names), strict=True))


def _commit_edits(git: Git, commit: EditCommit, texts: dict[str, str | None]) -> list[Edit]:
    found: list[Edit] = []
    for change in commit.files:
        found += _file_edits(commit, change, texts)
    if len(commit.parents) > 1:
        found = _merge_own(git, commit, found)
    return found


def _file_edits(commit: EditCommit, change: FileChange, texts: dict[str, str | None]) -> list[Edit]:
    before, after = _placements(texts, change.before), _placements(texts, change.after)
    if before is None or after is None:
        note = f"{change.path} does not parse as YAML {'before' if before is None else 'after'} this commit"
        return [Edit(commit, change.env, "", "file", None, None, note)]
    moved = [
        Edit(commit, change.env, model, classify(old, new), old, new)
        for model in sorted(set(before) | set(after))
        if (old := before.get(model)) != (new := after.get(model))
    ]
    if moved or change.before is None or change.after is None:
        return moved  # a file created or deleted empty moved nothing: not worth a line
    return [Edit(commit, change.env, "", "file", None, None)]


def _placements(texts: dict[str, str | None], blob: str | None) -> dict[str, dict[str, Any]] | None:
    """Every model's deployment in an environment file's blob; {} when absent, None when it does not parse."""
    if blob is None:
        return {}
    text = texts.get(blob)
    if text is None:
        return None
    try:
        data = envfile.load(text)
    except yaml.YAMLError:
        return None
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, dict):
        return {}
    return {str(m): fields for m in deployments if (fields := deployment_in(data, m)) is not None}


def classify(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """``added``, ``removed``, ``version``, ``role``, ``weight`` or ``settings``: what moved, most telling first."""
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if before.get("version") != after.get("version"):
        return "version"
    if (before.get("strategy"), before.get("candidate")) != (after.get("strategy"), after.get("candidate")):
        return "role"
    if before.get("weight") != after.get("weight"):
        return "weight"
    return "settings"


def _merge_own(git: Git, commit: EditCommit, found: list[Edit]) -> list[Edit]:
    """A merge's changes against its first parent, less those another parent already made (listed there)."""
    others = commit.parents[1:]
    names = [f"{parent}:environments/{edit.env}.yaml" for edit in found for parent in others]
    blobs = dict(zip(names, git.read_blobs(names), strict=True))
    own = []
    for edit in found:
        theirs = [
            envfile.deployment_in_text(blobs.get(f"{p}:environments/{edit.env}.yaml"), edit.model) for p in others
        ]
        if edit.model == "" or all(placement != edit.after for placement in theirs):
            own.append(edit)
    return own


def _reverts(git: Git, commits: list[EditCommit], texts: dict[str, str | None]) -> dict[str, Revert]:
    named = {c.commit: match[1] for c in commits if (match := REVERTS.search(_message(texts.get(c.commit))))}
    targets = sorted(set(named.values()))
    subjects = dict(zip(targets, (_subject(text) for text in git.read_blobs(targets)), strict=True))
    return {commit: Revert(target, subjects[target]) for commit, target in named.items()}


def _message(commit_object: str | None) -> str:
    """The message of a raw commit object (headers, a blank line, the message)."""
    return (commit_object or "").partition("\n\n")[2]


def _subject(commit_object: str | None) -> str | None:
    if not commit_object or not commit_object.startswith("tree "):
        return None  # not a commit here (a shallow clone, or the hash names something else)
    subject = _message(commit_object).split("\n\n", 1)[0].replace("\n", " ").strip()
    return subject if len(subject) <= _SUBJECT_CHARS else subject[:_SUBJECT_CHARS] + "..."


def version_of(edit: Edit) -> int | None:
    """The version the edit put in place: the candidate for a role or weight change, else the stable one."""
    after = edit.after or {}
    candidate = edit.change in ("role", "weight") and "candidate" in after
    value = after.get("candidate") if candidate else after.get("version")
    return value if is_version(value) else None
