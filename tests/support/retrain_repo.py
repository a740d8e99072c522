"""A repository for ``mlopsctl retrain``: churn v1 trained for real (a tiny forest), served by
``mlopsctl serve`` on loopback with its prediction log, staging pointing at it and committed, and
a bare remote behind a GitHub-looking URL for the loopback forge."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.support.gitops_repo import git
from tests.support.predlog import post_json
from tests.support.serve_process import read_json_object, start_serve
from tests.support.services import free_port
from tests.support.status_repo import set_environment

GITHUB_URL = "https://github.com/acme/churn-models.git"
TOKEN = "ghp_retrain_0123456789"
PERFORMANCE = {"metric": "accuracy", "warn_below": 0.9, "crit_below": 0.75}
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age", "contract", "payment_method"]


@dataclass
class Served:
    root: Path
    url: str
    remote: Path


def tiny_churn(root: Path) -> None:
    """A tiny forest, live accuracy judged from 20 labels over 10m, no latency gate (shared cores)."""
    path = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["training"]["params"].update({"n_estimators": 10, "max_depth": 4})
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec["monitoring"].update({"window": "10m", "min_observations": 20, "performance": PERFORMANCE})
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def with_github_remote(root: Path, base: Path) -> Path:
    """origin looks like GitHub; pushes go to a bare repository under ``base``."""
    remote = base / "acme" / "churn-models.git"
    remote.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(root, "remote", "add", "origin", GITHUB_URL)
    git(root, "config", f"url.{remote}.pushInsteadOf", GITHUB_URL)
    git(root, "push", "-q", "origin", "HEAD")
    return remote


@contextmanager
def served_v1(cli: Any, root: Path, base: Path) -> Iterator[Served]:
    """churn@1 trained, served on a free loopback port, staging (committed) pointing at it."""
    tiny_churn(root)
    commit_all(root, "tiny churn")
    trained = cli("train", "churn", "--repo", str(root))
    assert trained.code == 0, trained.stderr
    port = free_port()
    process = start_serve(root, "churn@1", port)
    try:
        info = read_json_object(process)
        set_environment(root, "staging", {"churn": {"version": 1, "port": port}})
        commit_all(root, "staging runs churn@1")
        remote = with_github_remote(root, base)
        yield Served(root, str(info["url"]), remote)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def source_rows(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data" / "churn.csv")


def ask(served: Served, rows: pd.DataFrame, prefix: str) -> list[tuple[str, int]]:
    """One /predict per row with request id ``<prefix>-<n>``: (id, answer)."""
    answers = []
    for index, row in enumerate(rows[FEATURES].to_dict("records")):
        record = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        status, headers, body = post_json(
            served.url, "/predict", {"record": record}, {"X-Request-Id": f"{prefix}-{index}"}
        )
        assert status == 200, body
        answers.append((headers["x-request-id"], int(body["predictions"][0])))
    return answers


def send_labels(served: Served, labels: list[tuple[str, int]]) -> None:
    document = {"labels": [{"id": request_id, "label": label} for request_id, label in labels]}
    status, _, body = post_json(served.url, "/feedback", document)
    assert status == 200, body
