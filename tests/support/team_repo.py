"""A small team repository for the store tests (issue 14): the template's churn model with a small
forest and no grid (quick to train), pushed to a bare remote that clones start from."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlopsctl.scaffold.init import init_repo
from tests.support.apply_repo import git
from tests.support.services import free_port


def team_repo(base: Path, *, estimators: int = 10) -> Path:
    """Machine A's repository, pushed to ``base/remote.git``."""
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    root = init_repo(base / "a", "team").root
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = estimators
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env_file = root / "environments" / "staging.yaml"
    env = yaml.safe_load(env_file.read_text())
    env["base_port"] = free_port()
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    git(root, "commit", "-qam", "A small forest, a free port")
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "HEAD:main")
    return root


def clone(base: Path, name: str) -> Path:
    """Another machine's clone of the team remote (no state folder: nothing trained here)."""
    target = base / name
    git(base, "clone", "-q", str(base / "remote.git"), str(target))
    return target


def name_store_in_repo(root: Path, uri: str) -> None:
    """``artifact_store: URI`` in mlops.yaml, committed: what anyone who can commit may write."""
    settings_file = root / "mlops.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["artifact_store"] = uri
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    git(root, "commit", "-qam", f"artifact_store: {uri}")


def record_files(root: Path, model: str = "churn") -> list[str]:
    folder = root / "registry" / model
    return sorted(path.name for path in folder.glob("v*.yaml")) if folder.is_dir() else []


def register_commits(root: Path) -> list[str]:
    return [line for line in git(root, "log", "--format=%s").splitlines() if line.startswith("Register ")]
