"""Finding the commits without trailers that changed environment files, once per commit.

A ``git log -- environments/`` walk costs as much as the whole history is long, and the answer
for a commit never changes. So a complete walk is kept in the repository's git directory
(``.git/mlopsctl/history-edits-<env|all>.json``, like ``gitk.cache``: never committed, deleted
at will), keyed by the commit it was made at. The next ``history`` reads it when ``HEAD`` has not
moved (``Git.tip``: the ref files, or one ``git rev-parse``), or walks only the new commits
(``TIP..HEAD``) when it has moved forward; otherwise (no cache yet, a rewritten history) it walks
everything once and keeps it. Only when the tip cannot be resolved (an unborn branch) is nothing
kept: then the walk is bounded by ``--max-age`` when the trailer log already filled the limit.

The cache is only ever a shortcut: one that cannot be read or written is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlopsctl.fsio import atomic_write_text
from mlopsctl.gitops import edit_history
from mlopsctl.gitops.edit_history import Edit, Revert
from mlopsctl.gitops.entries import HistoryEntry, Listed
from mlopsctl.gitops.transitions import describe
from mlopsctl.ports.git import Git

CACHE_FORMAT = 1


class EditScan:
    """The entries of commits without trailers in the history of ``ref`` that touch ``pathspec``."""

    def __init__(self, git: Git, ref: str, pathspec: str, action_grep: str) -> None:
        self.git, self.ref, self.pathspec, self.action_grep = git, ref, pathspec, action_grep

    def listed(self, since: int | None) -> list[Listed]:
        """Newest first; ``since`` (a commit time) bounds the walk when nothing can be kept (no tip)."""
        where = self._where()
        if where is None:
            return self._walk(self.ref, since)
        path, tip = where
        cached = self._load(path)
        if cached is not None and cached[0] == tip:
            return cached[1]
        if cached is not None and self.git.is_ancestor(cached[0], tip):
            listed = self._walk(f"{cached[0]}..{tip}", None) + cached[1]
        else:
            listed = self._walk(tip, None)
        self._store(path, tip, listed)
        return listed

    def _walk(self, revisions: str, since: int | None) -> list[Listed]:
        args = ["log", *edit_history.log_arguments(), "-E", "--invert-grep", self.action_grep]
        if since is not None:
            args.append(f"--max-age={since}")
        output = self.git.run(*args, revisions, "--", self.pathspec).stdout
        commits = edit_history.parse_log(output)
        if not commits:
            return []
        found, reverts = edit_history.edits(self.git, commits)
        listed = [
            Listed(commit.time, commit.commit, tuple(commit.parents), entries)
            for commit in commits
            if (entries := [edit_entry(edit, reverts.get(commit.commit)) for edit in found[commit.commit]])
        ]
        return listed

    # ------------------------------------------------------------------ the cache file

    def _where(self) -> tuple[Path, str] | None:
        """The cache file and the commit ``ref`` names; None when the tip is unknown (no cache then)."""
        found = self.git.tip(self.ref)
        if found is None:
            return None
        common_dir, tip = found
        name = self.pathspec.removeprefix("environments/").removesuffix(".yaml").strip("/") or "all"
        return common_dir / "mlopsctl" / f"history-edits-{name}.json", tip

    def _load(self, path: Path) -> tuple[str, list[Listed]] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
                return None
            return str(data["tip"]), [Listed.from_dict(item) for item in data["commits"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def _store(self, path: Path, tip: str, listed: list[Listed]) -> None:
        data = {"format": CACHE_FORMAT, "tip": tip, "commits": [commit.to_dict() for commit in listed]}
        try:
            path.parent.mkdir(exist_ok=True)
            atomic_write_text(path, json.dumps(data))
        except OSError:
            pass  # a read-only repository: the next run walks again


def edit_entry(edit: Edit, revert: Revert | None) -> HistoryEntry:
    """One model's placement change as a history entry (``revert`` or ``edit``)."""
    commit, after = edit.commit, edit.after or {}
    weight = after.get("weight")
    return HistoryEntry(
        commit=commit.commit,
        author=commit.author,
        email=commit.email,
        date=commit.date,
        subject=commit.subject,
        action="revert" if revert else "edit",
        model=edit.model,
        version=edit_history.version_of(edit),
        env=edit.env,
        strategy=str(after.get("strategy", "replace"))[:20] if edit.after else None,
        weight=weight if isinstance(weight, int) and not isinstance(weight, bool) and 0 <= weight <= 100 else None,
        previous=_described(edit.before) if edit.model else None,
        note=edit.note,
        origin="diff",
        change=edit.change,
        reverts=revert.commit if revert else None,
        reverted=revert.subject if revert else None,
    )


def _described(fields: dict[str, Any] | None) -> str:
    """The placement before, in ``describe``'s words; a hand-written one may lack a version."""
    if fields is not None and "version" not in fields:
        return "no version"
    text = describe(fields)
    return text if len(text) <= 40 else text[:40] + "..."
