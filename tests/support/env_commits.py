"""Commits of environment files made by hand in tests: at a set date, by a set author, with any message.

What ``mlopsctl rollout`` and people commit is written here as git would record it, so ``history``
(and ``history --at``) read real commits whose dates and trailers the test chose.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

HEADER = "apiVersion: mlopsctl/v1\nkind: Environment\nname: {env}\ntarget: local\nbase_port: 8100\n"


def env_text(env: str, deployments: dict[str, dict[str, object]]) -> str:
    """An environment file naming ``deployments`` (model -> fields), as promote writes it."""
    body = yaml.safe_dump({"deployments": deployments}, sort_keys=False) if deployments else "deployments: {}\n"
    return HEADER.format(env=env) + body


def commit_env(
    root: Path,
    env: str,
    text: str | None,
    message: str,
    *,
    date: str | None = None,
    author: str | None = None,
) -> str:
    """Write (or with ``text`` None, delete) ``environments/ENV.yaml`` and commit it; the new commit.

    ``date`` (ISO 8601) is both the author and the committer date; ``author`` is ``Name <email>``.
    """
    path = root / "environments" / f"{env}.yaml"
    if text is None:
        git_at(root, date, "rm", "-q", str(path.relative_to(root)))
    else:
        path.write_text(text)
        git_at(root, date, "add", str(path.relative_to(root)))
    args = ["commit", "-q", "-F", "-"] + (["--author", author] if author else [])
    git_at(root, date, *args, stdin=message)
    return git_at(root, date, "rev-parse", "HEAD")


def git_at(root: Path, date: str | None, *args: str, stdin: str | None = None) -> str:
    """``git ARGS`` with both dates set to ``date`` (when given)."""
    env = dict(os.environ)
    if date is not None:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def trailers(**values: str) -> str:
    """Trailer lines from keywords: ``Rollout_Step="2/4"`` is ``Rollout-Step: 2/4``."""
    return "\n".join(f"{key.replace('_', '-')}: {value}" for key, value in values.items())
