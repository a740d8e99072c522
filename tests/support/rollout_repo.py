"""Helpers for the rollout tests (no tests here): the spec's rollout block, a canary committed by hand,
and a version that fails inside the model on rows with a missing number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.gitops_repo import git

MODEL_FILE = "models/churn/model.yaml"


def set_rollout(root: Path, commit: bool = True, **values: Any) -> None:
    """Set the churn spec's ``rollout`` block (e.g. a short ``min_interval``) and commit it."""
    path = root / MODEL_FILE
    spec = yaml.safe_load(path.read_text())
    spec["rollout"] = {**spec.get("rollout", {}), **values}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    if commit:
        git(root, "add", MODEL_FILE)
        git(root, "commit", "-q", "-m", "Rollout settings")


def set_promotion(root: Path, **values: Any) -> None:
    path = root / MODEL_FILE
    spec = yaml.safe_load(path.read_text())
    spec["promotion"] = {**spec.get("promotion", {}), **values}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    git(root, "add", MODEL_FILE)
    git(root, "commit", "-q", "-m", "Promotion settings")


def commit_canary(root: Path, env: str, stable: int, candidate: int, weight: int, port: int | None = None) -> None:
    """environments/<env>.yaml with churn's canary, committed by hand (as a reviewer would merge it)."""
    deployment: dict[str, Any] = {"version": stable, "strategy": "canary", "candidate": candidate, "weight": weight}
    if port is not None:
        deployment["port"] = port
    document = {"apiVersion": "mlopsctl/v1", "kind": "Environment", "name": env, "target": "local"}
    document["deployments"] = {"churn": deployment}
    path = root / "environments" / f"{env}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    git(root, "add", str(path))
    git(root, "commit", "-q", "-m", f"Canary in {env}")


def trailers(root: Path, key: str, count: int) -> list[str]:
    """The ``key`` trailer of the last ``count`` commits, newest first."""
    out = git(root, "log", f"-n{count}", f"--format=%(trailers:key={key},valueonly)%x00")
    return [part.strip() for part in out.split("\x00") if part.strip()]
