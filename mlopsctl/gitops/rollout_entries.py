"""What a ``mlopsctl rollout`` commit did, in the audit log's words.

A rollout commit is a promotion or a rollback with two more trailers: ``Rollout-Step: 2/4`` (the
step it moved to, of how many) and ``Rollout-Decision: advance|promote|rollback``. ``history``
shows them as ``rollout step 2/4: canary 25%``, ``rollout promoted`` or ``rollout rolled back:
REASON``, the reason being the first line of the commit message's body (a rollback's message
starts its body with why). Trailers and messages are someone's commit: a step that is not
``N/M`` or an unknown decision is listed with a note, never trusted and never fatal.
"""

from __future__ import annotations

import re
from dataclasses import replace

from mlopsctl.gitops.entries import HistoryEntry
from mlopsctl.gitops.trailers import TRAILER_KEYS
from mlopsctl.ports.git import Git

DECISIONS = ("advance", "promote", "rollback")
STEP = re.compile(r"([1-9][0-9]{0,2})/([1-9][0-9]{0,2})")
"""``2/4``: at most three digits each side (a rollout has a handful of steps)."""
REASON_CHARS = 100
"""A reason longer than this is cut (the commit message keeps it whole)."""
_TRAILER_LINE = re.compile(rf"({'|'.join(map(re.escape, TRAILER_KEYS))}):\s")


def with_rollout(entry: HistoryEntry, trailers: dict[str, str | None]) -> HistoryEntry:
    """``entry`` with its rollout step, decision and words, when its commit was a rollout's."""
    step, decision = trailers.get("Rollout-Step"), trailers.get("Rollout-Decision")
    if step is None and decision is None:
        return entry
    step_read = step is not None and _readable_step(step)
    unreadable = [f"Rollout-Step: {step[:20]!r}"] if step is not None and not step_read else []
    if decision is not None and decision not in DECISIONS:
        unreadable.append(f"Rollout-Decision: {decision[:20]!r}")
    found = replace(
        entry,
        rollout_step=step if step_read else None,
        rollout_decision=decision if decision in DECISIONS else None,
        note=_with_note(entry.note, unreadable),
    )
    return replace(found, rollout=words(found))


def _readable_step(step: str) -> bool:
    match = STEP.fullmatch(step)
    return match is not None and int(match[1]) <= int(match[2])


def _with_note(note: str | None, unreadable: list[str]) -> str | None:
    if not unreadable:
        return note
    added = "unreadable " + ", ".join(unreadable)
    return f"{note}; {added}" if note else added


def words(entry: HistoryEntry, reason: str | None = None) -> str:
    """``rollout step 2/4: canary 25%``, ``rollout promoted``, ``rollout rolled back: REASON``."""
    if entry.rollout_decision == "promote":
        return "rollout promoted"
    if entry.rollout_decision == "rollback":
        return f"rollout rolled back: {reason}" if reason else "rollout rolled back"
    step = f"rollout step {entry.rollout_step}" if entry.rollout_step else "rollout step"
    return f"{step}: canary {entry.weight}%" if entry.weight is not None else step


def with_reasons(git: Git, entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Rolled-back rollouts with the first line of their reason (their commit objects read in one batch)."""
    commits = sorted({entry.commit for entry in entries if entry.rollout_decision == "rollback"})
    if not commits:
        return entries
    reasons = dict(zip(commits, (first_reason(text) for text in git.read_blobs(commits)), strict=True))
    return [
        replace(entry, rollout=words(entry, reasons[entry.commit])) if entry.commit in reasons else entry
        for entry in entries
    ]


def first_reason(commit_object: str | None) -> str | None:
    """The first line of a commit message's body that is not a trailer, cut to :data:`REASON_CHARS`."""
    if not commit_object or not commit_object.startswith("tree "):
        return None  # GitPython is not there, or the name is not a commit
    message = commit_object.partition("\n\n")[2]
    body = message.partition("\n\n")[2]
    for line in body.splitlines():
        line = " ".join(line.split())
        if line and _TRAILER_LINE.match(line) is None:
            return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."
    return None
