"""A registered version served by mlopsctl serve in its own process, and its first JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import DataFingerprint
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.registry.store import VersionDraft, register_version
from mlopsctl.spec.loader import scan_repo
from tests.support.serving import Fitted


def register(repo_root: Path, fit: Fitted) -> int:
    record = fit.record
    draft = VersionDraft(
        model="churn",
        run_id=record.run_id,
        spec_commit=record.spec_commit,
        spec_dirty=False,
        spec_sha256=record.spec_sha256,
        task=record.task,
        estimator=record.estimator,
        params={},
        metrics={"roc_auc": 0.8},
        gates=[],
        gates_passed=True,
        data=DataFingerprint(uri="data/churn.csv", sha256="ab" * 32, rows=1200, columns=9, schema_sha256="cd" * 32),
        environment={},
        signature=record.signature,
        reference=record.reference,
        artifact=dump_pipeline(fit.pipeline),
    )
    return register_version(scan_repo(repo_root), draft).version


def start_serve(repo: Path, ref: str, port: int) -> subprocess.Popen[str]:
    """``mlopsctl serve REF --port PORT -o json`` in ``repo``, as a user runs it; read it with read_json_object."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "serve", ref, "--port", str(port), "-o", "json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def read_json_object(process: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    """The first complete JSON object the process prints (``-o json`` pretty-prints it)."""
    deadline = time.monotonic() + timeout
    text = ""
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"serve exited: {process.stderr.read() if process.stderr else ''}")
        text += line
        try:
            found: dict[str, Any] = json.loads(text)
            return found
        except json.JSONDecodeError:
            continue
    raise TimeoutError("no JSON from mlopsctl serve")
