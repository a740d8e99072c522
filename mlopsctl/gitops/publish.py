"""Turning a :class:`~mlopsctl.gitops.operations.Change` into a commit, a push and a pull request.

Two ways, both built from ``HEAD`` and never from uncommitted edits:

* **branch** (default): the commit is made with plumbing on a new branch such as
  ``promote/churn-3-production`` (the working tree and the checked-out branch are not touched),
  pushed to ``git.remote``, and a pull request is opened when the provider is GitHub or GitLab and
  a token is set; otherwise the compare URL and the exact commands are returned as next steps.
  Where the token may go is checked before anything is committed (see :mod:`~mlopsctl.gitops.forge`).
* **direct** (``--direct``): the commit goes on the current branch (fast-forward of the working
  tree) and is pushed to the same branch on the remote.

Concurrency of direct pushes (many clones, one remote): a rejected push fetches the remote branch
and, when our commit is the only local one, computes the same operation again on the fetched tip:
policy is checked again and the file is edited again from the new content, so two promotions of
different models in one environment file both land even when their lines touch. If the fetched
tip changed what this operation is about (the same model's deployment in the same environment),
that is a real conflict: nothing is pushed, the local branch is put back, and a ConflictError names
the file. With other unpushed local commits, a plain ``git rebase`` is tried instead and aborted
cleanly on conflict. Retries are bounded and spaced with random jitter; nothing is ever forced, so
no commit on the remote can be lost.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlopsctl.errors import ConflictError, MlopsError, UsageError
from mlopsctl.gitops import forge, transitions
from mlopsctl.gitops.operations import Change, Operation
from mlopsctl.gitops.pr_evidence import LiveEvidence
from mlopsctl.gitops.snapshot import Snapshot
from mlopsctl.ports.git import Git, GitResult, git_error
from mlopsctl.spec.models import Environment, GitSettings
from mlopsctl.spec.userconfig import UserGit, load_user_config

MAX_PUSH_ATTEMPTS = 12
_NOUNS = {"promote": "promotion", "retire": "retirement"}
"""An action's name as a noun, in messages (rollback and archive are their own)."""
PlanProvider = Callable[[str, Environment], str]
"""Markdown plan of an environment's desired state after the change (env name, desired environment)."""

_REJECTED = (
    "[rejected]",
    "[remote rejected]",
    "non-fast-forward",
    "fetch first",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)


@dataclass
class Outcome:
    """What was done, for people (next steps) and for scripts (the JSON payload)."""

    change: Change
    commit: str
    branch: str
    direct: bool
    remote: str
    pushed: bool = False
    attempts: int = 0
    pull_request: forge.PullRequest | None = None
    compare_url: str | None = None
    next_steps: list[str] = field(default_factory=list)
    evidence: LiveEvidence | None = None
    """How the promoted version behaved live as a shadow or canary (what the pull request shows)."""

    def to_dict(self) -> dict[str, object]:
        """The JSON payload; ``evidence`` is there only when the promoted version ran live (a shadow or canary)."""
        evidence = {} if self.evidence is None else {"evidence": self.evidence.to_dict()}
        return self._payload() | evidence

    def _payload(self) -> dict[str, object]:
        change = self.change
        return {
            "action": change.action,
            "model": change.model,
            "version": change.version,
            "env": change.env,
            "strategy": change.strategy,
            "weight": change.weight,
            "previous": change.previous,
            "file": change.path,
            "commit": self.commit,
            "branch": self.branch,
            "direct": self.direct,
            "remote": self.remote,
            "pushed": self.pushed,
            "push_attempts": self.attempts,
            "pull_request": None
            if self.pull_request is None
            else {"url": self.pull_request.url, "number": self.pull_request.number},
            "compare_url": self.compare_url,
            "next_steps": self.next_steps,
        }


def publish(
    root: Path,
    settings: GitSettings,
    op: Operation,
    *,
    direct: bool = False,
    push: bool = True,
    plan: PlanProvider | None = None,
    git: Git | None = None,
) -> Outcome:
    git = git or Git(root)
    if direct:
        return _publish_direct(git, settings, op, push)
    return _publish_branch(git, settings, op, push, plan)


# --------------------------------------------------------------------------- branch + pull request


def _publish_branch(git: Git, settings: GitSettings, op: Operation, push: bool, plan: PlanProvider | None) -> Outcome:
    snap = Snapshot(git, "HEAD")
    change = op.prepare(snap)
    branch = change.branch
    if git.resolve(f"refs/heads/{branch}") is not None:
        raise ConflictError(
            f"a branch {branch} already exists in {git.root}",
            hint=f"this change is already prepared there; to start over: git branch -D {branch}",
        )
    user = load_user_config().git
    url = git.remote_url(settings.remote)
    remote = forge.resolve_remote(settings, url, user) if url else None
    if remote is not None and push:
        _check_token_destination(remote, user)
    commit = commit_change(git, snap.commit, change, with_extra_body=False)  # the extra body goes in the PR
    git.run("update-ref", f"refs/heads/{branch}", commit, "")
    outcome = Outcome(change=change, commit=commit, branch=branch, direct=False, remote=settings.remote)
    if remote is None or not push:
        outcome.next_steps = _unpushed_steps(settings, user, remote, branch, url is None)
        return outcome
    _push_branch(git, settings.remote, branch)
    outcome.pushed = True
    outcome.attempts = 1
    _pull_request(outcome, settings, user, remote, plan)
    return outcome


def _check_token_destination(remote: forge.RemoteRepo, user: UserGit) -> None:
    """Refuse an API the token must not go to before committing, so nothing is left half done."""
    if _token(remote, user) is not None:
        forge.check_api_url(remote)


def _token(remote: forge.RemoteRepo, user: UserGit) -> str | None:
    return forge.find_token(user, remote.provider) if remote.provider in ("github", "gitlab") else None


def _push_branch(git: Git, remote: str, branch: str) -> None:
    result = git.run("push", "-q", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False)
    if result.returncode == 0:
        return
    if _rejected(result):
        raise ConflictError(
            f"{remote} already has a branch {branch} that differs from this one: {result.stderr.strip()}",
            hint=f"someone prepared the same change; review it there, or delete the remote branch and push again: "
            f"git push {remote} {branch}:{branch}",
        )
    error = git_error(result)
    error.hint = f"the commit is on the local branch {branch}; push it later with: git push {remote} {branch}:{branch}"
    raise error


def _pull_request(
    outcome: Outcome, settings: GitSettings, user: UserGit, remote: forge.RemoteRepo, plan: PlanProvider | None
) -> None:
    change, branch, base = outcome.change, outcome.branch, settings.main_branch
    outcome.compare_url = forge.compare_url(remote, branch, base)
    token = _token(remote, user)
    if token is None:
        outcome.next_steps = _manual_pr_steps(settings, user, remote, branch)
        return
    body = pull_request_body(change, _plan_text(change, plan))
    try:
        outcome.pull_request = forge.open_pull_request(
            remote, token, head=branch, base=base, title=change.title, body=body
        )
    except MlopsError as exc:
        by_hand = outcome.compare_url or f"a pull request from {branch} into {base}"
        exc.message = f"{exc.message} (the branch {branch} is pushed)"
        exc.hint = f"{exc.hint}; or open it by hand: {by_hand}" if exc.hint else f"open it by hand: {by_hand}"
        raise
    outcome.next_steps = [f"Pull request #{outcome.pull_request.number}: {outcome.pull_request.url}"]


def _plan_text(change: Change, plan: PlanProvider | None) -> str | None:
    if plan is None or change.env is None or change.desired is None:
        return None
    return plan(change.env, change.desired)


def _manual_pr_steps(settings: GitSettings, user: UserGit, remote: forge.RemoteRepo, branch: str) -> list[str]:
    base = settings.main_branch
    compare = forge.compare_url(remote, branch, base)
    command = forge.pr_command(remote, branch, base)
    if compare is None and command is None:
        return [f"To open the pull request: open one from {branch} into {base} on your git host"]
    steps = [f"To open the pull request: {compare}" if compare else f"To open the pull request: {command}"]
    if compare and command:
        steps.append(f"  or: {command}")
    steps.append(f"  (set {forge.token_variable(user, remote.provider)} and mlopsctl opens it for you)")
    return steps


def _unpushed_steps(
    settings: GitSettings, user: UserGit, remote: forge.RemoteRepo | None, branch: str, no_remote: bool
) -> list[str]:
    push = forge.push_command(settings.remote, remote, branch, settings.main_branch)
    if no_remote:
        return [
            f"No remote '{settings.remote}': the commit stays on the local branch {branch}",
            f"To share it: git remote add {settings.remote} URL && {push}",
        ]
    steps = [f"To push it: {push}"]
    if remote is not None and remote.provider != "gitlab":
        steps += _manual_pr_steps(settings, user, remote, branch)[:2]
    return steps


def pull_request_body(change: Change, plan: str | None) -> str:
    """Markdown for the pull request: what changes, the version's gate results, the plan and the caller's extra body."""
    if change.action == "retire":
        return _retire_body(change)
    record = change.record
    rows = [("Model", f"`{change.model}`"), ("Version", str(change.version))]
    if change.env:
        rows += [
            ("Environment", change.env),
            ("Strategy", _strategy_words(change)),
            ("Before", change.previous or "none"),
        ]
    lines = [f"## {change.title}", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    lines += [f"### Gates of {record.ref} (`registry/{record.model}/v{record.version}.yaml`)", ""]
    if record.gates:
        lines += ["| Gate | Value | Result |", "|---|---|---|"]
        lines += [
            f"| `{g.gate}` | {_value(g.value)} | {'passed' if g.passed else '**failed**'} |" for g in record.gates
        ]
    else:
        lines.append("The spec declares no gates.")
    lines += ["", "All gates passed." if record.gates_passed else "**Gates failed.**", ""]
    if change.env:
        lines += [f"### Plan for {change.env}", ""]
        lines.append(plan.strip() if plan else f"CI posts `mlopsctl plan --env {change.env}` on this pull request.")
        lines.append("")
    if change.extra_body and change.extra_body.strip():
        lines += [change.extra_body.strip(), ""]
    if change.env:
        lines += ["---", f"Opened by mlopsctl. Merging applies it: CI runs `mlopsctl apply --env {change.env}`."]
    else:
        lines += ["---", "Opened by mlopsctl."]
    return "\n".join(lines) + "\n"


def _retire_body(change: Change) -> str:
    """Markdown for a retirement: where it stops running and what is archived, all in this one commit."""
    retired = "every version" if change.every_version else str(change.version)
    before = (change.previous or "").split("; ")
    envs = "<br>".join(
        f"{env}: was {was.removeprefix(env + ' ')}" for env, was in zip(change.envs, before, strict=False)
    )
    archived = ", ".join(map(str, change.archived)) or "already archived"
    rows = [
        ("Model", f"`{change.model}`"),
        ("Retired", retired),
        ("Out of", envs or "runs nowhere"),
        ("Archived", archived),
    ]
    lines = [f"## {change.title}", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    lines += ["The environment files and `registry/" + change.model + "/archived.yaml` change in this one commit.", ""]
    applies = ", ".join(f"`mlopsctl apply --env {env}`" for env in change.envs)
    lines += [
        "---",
        f"Opened by mlopsctl. Merging applies it: CI runs {applies}." if applies else "Opened by mlopsctl.",
    ]
    return "\n".join(lines) + "\n"


def _verdict(passed: bool) -> str:
    return "passed" if passed else "**failed**"


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _strategy_words(change: Change) -> str:
    if change.strategy == "canary":
        return f"canary, {change.weight}% of requests"
    if change.strategy == "shadow":
        return "shadow, sees every request, answers none"
    return change.strategy or "replace"


def _listed(paths: list[str]) -> str:
    return f"{paths[0]} has" if len(paths) == 1 else f"{', '.join(paths)} have"


def commit_change(git: Git, parent: str, change: Change, *, with_extra_body: bool = True) -> str:
    """A commit on ``parent`` holding the change's files; no branch moves, the work tree is left alone.

    ``with_extra_body=False`` leaves the caller's extra body out of the message (a pull request carries it).
    """
    message = change.message(with_extra_body=with_extra_body)
    if len(change.files) == 1 and not change.removed_files:
        return git.commit_file(parent, change.path, change.text, message)
    with tempfile.TemporaryDirectory(prefix="mlopsctl-index-") as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", parent, env=index)
        for path, text in change.files.items():
            blob = git.run("hash-object", "-w", "--stdin", "--path", path, input=text).stdout.strip()
            git.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        for path in change.removed_files:
            git.run("update-index", "--force-remove", "--", path, env=index)
        tree = git.run("write-tree", env=index).stdout.strip()
    result = git.run("commit-tree", tree, "-p", parent, "-F", "-", input=message, env=git.identity_env())
    return result.stdout.strip()


# --------------------------------------------------------------------------- direct


def _publish_direct(git: Git, settings: GitSettings, op: Operation, push: bool) -> Outcome:
    branch = git.branch()
    if branch == "HEAD":
        raise UsageError("HEAD is detached; --direct commits on the current branch", hint="check out a branch first")
    snap = Snapshot(git, "HEAD")
    change = op.prepare(snap)
    if git.is_dirty(list(change.files)):
        raise ConflictError(
            f"{_listed(list(change.files))} uncommitted changes in {git.root}",
            hint=f"commit or stash them first, so the {_NOUNS.get(change.action, change.action)} commit holds only "
            f"the {_NOUNS.get(change.action, change.action)}",
        )
    commit = commit_change(git, snap.commit, change)
    git.run("merge", "--ff-only", "-q", commit)
    outcome = Outcome(change=change, commit=commit, branch=branch, direct=True, remote=settings.remote)
    url = git.remote_url(settings.remote)
    if url is None or not push:
        remote = forge.resolve_remote(settings, url) if url else None
        outcome.next_steps = _direct_unpushed_steps(settings, remote, branch, url is None)
        return outcome
    outcome.change, outcome.commit, outcome.attempts = _push_with_retries(
        git, settings.remote, branch, op, change, snap.commit
    )
    outcome.pushed = True
    outcome.next_steps = [f"Pushed to {settings.remote} {branch}."]
    if change.env:
        outcome.next_steps.append(f"CI applies it from {settings.main_branch} (mlopsctl apply --env {change.env}).")
    return outcome


def _direct_unpushed_steps(
    settings: GitSettings, remote: forge.RemoteRepo | None, branch: str, no_remote: bool
) -> list[str]:
    if no_remote:
        return [f"No remote '{settings.remote}': committed on the local branch {branch} only"]
    return [f"To push it: git push {settings.remote} {branch}"]


def _push_with_retries(
    git: Git, remote: str, branch: str, op: Operation, change: Change, original: str
) -> tuple[Change, str, int]:
    for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
        result = git.run("push", "-q", remote, f"HEAD:refs/heads/{branch}", check=False)
        if result.returncode == 0:
            return change, git.out("rev-parse", "HEAD"), attempt
        if not _rejected(result):
            error = git_error(result)
            error.hint = f"the commit stays on {branch} here; push it later with: git push {remote} {branch}"
            raise error
        if attempt == MAX_PUSH_ATTEMPTS:
            break
        time.sleep(_jitter(attempt))
        try:
            change = _catch_up(git, remote, branch, op, change)
        except MlopsError:
            _put_back(git, original)
            raise
    _put_back(git, original)
    raise ConflictError(
        f"the push to {remote} {branch} was rejected {MAX_PUSH_ATTEMPTS} times: others kept pushing first; "
        "nothing was pushed and the local branch is as it was",
        hint="run the command again",
    )


def _catch_up(git: Git, remote: str, branch: str, op: Operation, change: Change) -> Change:
    """Bring the local commit on top of the remote branch's new tip (see the module docstring)."""
    fetched = git.run("fetch", "-q", remote, f"refs/heads/{branch}", check=False)
    if fetched.returncode != 0:
        raise git_error(fetched)
    upstream = git.out("rev-parse", "FETCH_HEAD")
    parent = git.out("rev-parse", "HEAD^")
    if not git.is_ancestor(parent, upstream):
        return _rebase(git, remote, branch, upstream, change)
    before, after = op.watched(Snapshot(git, parent)), op.watched(Snapshot(git, upstream))
    if before != after:
        where = f"{change.model} in {change.env}" if change.env else change.model
        raise ConflictError(
            f"{change.path} changed on {remote}/{branch} while this {change.action} was being pushed: "
            f"{where} is now {transitions.describe(after)} (was {transitions.describe(before)}); nothing was pushed",
            hint=f"look at the new state (git pull {remote} {branch}) and run the command again if it still applies",
        )
    change = op.prepare(Snapshot(git, upstream))
    commit = commit_change(git, upstream, change)
    git.run("reset", "-q", "--keep", commit)
    return change


def _rebase(git: Git, remote: str, branch: str, upstream: str, change: Change) -> Change:
    result = git.run("rebase", "-q", upstream, check=False, env=git.identity_env())
    if result.returncode == 0:
        return change
    conflicted = git.run("diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
    git.run("rebase", "--abort", check=False)
    files = ", ".join(conflicted) or change.path
    raise ConflictError(
        f"rebasing onto {remote}/{branch} conflicts in {files}; the rebase was aborted and nothing was pushed",
        hint=f"resolve it by hand: git pull --rebase {remote} {branch}, fix {files}, then git push {remote} {branch}",
    )


def _put_back(git: Git, original: str) -> None:
    """Move the local branch back to where it was before the command (our commit was not pushed)."""
    git.run("reset", "-q", "--keep", original, check=False)


def _rejected(result: GitResult) -> bool:
    text = result.stderr + result.stdout
    return any(word in text for word in _REJECTED)


def _jitter(attempt: int) -> float:
    return random.uniform(0.05, 0.2) * min(attempt, 5)
