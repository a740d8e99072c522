"""The audit log's entries: what ``mlopsctl history`` lists, for the CLI, the dashboard and scripts.

Kept apart from :mod:`mlopsctl.gitops.history` (which reads them from ``git log``) so the cache of
entries read from diffs (:mod:`mlopsctl.gitops.edit_cache`) can write and read them too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Gate:
    gate: str
    value: float | None
    passed: bool


@dataclass(frozen=True)
class HistoryEntry:
    commit: str
    author: str
    email: str
    date: str
    subject: str
    action: str
    model: str
    version: int | None
    env: str | None
    strategy: str | None
    weight: int | None
    previous: str | None
    gates_passed: bool | None = None
    gates: tuple[Gate, ...] = ()
    note: str | None = None
    """Set when a trailer could not be read (a ``Version:`` that is not a number): shown, never fatal."""
    origin: str = "trailers"
    """``trailers`` (an mlopsctl action) or ``diff`` (a commit without trailers, read from what it changed)."""
    change: str | None = None
    """For ``diff`` entries: added, removed, version, role, weight, settings, or file (no placement moved)."""
    reverts: str | None = None
    """The commit a ``git revert`` names (``This reverts commit X``)."""
    reverted: str | None = None
    """That commit's subject, when it is in this repository (e.g. ``Promote churn@2 to staging``)."""
    rollout_step: str | None = None
    """``2/4``: the step a ``mlopsctl rollout`` commit moved to (its ``Rollout-Step:`` trailer)."""
    rollout_decision: str | None = None
    """``advance``, ``promote`` or ``rollback``: what that rollout commit decided (``Rollout-Decision:``)."""
    rollout: str | None = None
    """The rollout commit in words: ``rollout step 2/4: canary 25%``, ``rollout promoted``,
    ``rollout rolled back: REASON`` (the first line of the reason the commit message gives)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gates"] = [asdict(gate) for gate in self.gates]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        """The entry :meth:`to_dict` gave; raises TypeError, KeyError or ValueError on anything else."""
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["gates"] = tuple(Gate(**gate) for gate in values.get("gates", ()))
        return cls(**values)


@dataclass
class Listed:
    """A commit's entries, with what is needed to merge the two logs newest first."""

    time: int
    commit: str
    parents: tuple[str, ...]
    entries: list[HistoryEntry]

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "commit": self.commit,
            "parents": list(self.parents),
            "entries": [entry.to_dict() for entry in self.entries],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listed:
        entries = [HistoryEntry.from_dict(entry) for entry in data["entries"]]
        parents = tuple(str(parent) for parent in data["parents"])
        return cls(int(data["time"]), str(data["commit"]), parents, entries)
