"""Helpers for shadow and canary comparison tests: candidates that agree or disagree, the service
holding them, and the comparison series read back from ``/metrics``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mlopsctl.contract import metrics as mc
from mlopsctl.monitor import promtext
from mlopsctl.serve.runner import ServerThread, make_app
from mlopsctl.serve.service import LoadedVersion, build_service
from tests.support.serving import Fitted, churn_data, churn_fitted


def flipped_fitted(version: int) -> Fitted:
    """The churn classifier refitted on the opposite labels: it disagrees with ``churn_fitted()`` on most rows."""
    fit = churn_fitted(version=version)
    frame = churn_data()
    fit.pipeline.fit(fit.frame, 1 - frame["churned"])
    return fit


def candidate_service(
    stable: Fitted, candidate: Fitted, strategy: str, *, weight: float = 0.0, tolerance: float = 0.0
) -> ServerThread:
    """A started ServerThread: ``stable`` answering, ``candidate`` as shadow or canary."""
    service = build_service(
        LoadedVersion(stable.record, stable.pipeline),
        LoadedVersion(candidate.record, candidate.pipeline),
        strategy=strategy,  # type: ignore[arg-type]
        weight=weight,
        seed=5,
        tolerance=tolerance,
    )
    return ServerThread(make_app(service)).start()


def comparison_lines(metrics_text: str) -> list[str]:
    """The comparison counters of a /metrics page, as exported (histogram buckets left out)."""
    names = (mc.COMPARED_ROWS_TOTAL, mc.AGREED_ROWS_TOTAL, f"{mc.ANSWER_DIFFERENCE}_count")
    return [line for line in metrics_text.splitlines() if line.startswith(names)]


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a /metrics page (None when absent)."""
    wanted = tuple(sorted(labels.items()))
    for found in promtext.parse(metrics_text):
        if found.name == name and tuple(sorted(dict(found.labels).items())) == wanted:
            return float(found.value)
    return None


def expected_buckets(differences: np.ndarray[Any, Any]) -> dict[str, int]:
    """Cumulative rows at or under each bound of mlops_answer_difference, as Prometheus counts them."""
    found = {repr(float(bound)): int(np.count_nonzero(differences <= bound)) for bound in mc.DIFFERENCE_BUCKETS}
    found["+Inf"] = int(differences.size)
    return found


def start_candidate_serve(
    repo: Path, port: int, candidate: int, strategy: str, weight: int = 50
) -> subprocess.Popen[str]:
    """``mlopsctl serve churn@1 --candidate N --strategy S`` in ``repo`` (read it with read_json_object);
    a canary takes ``weight`` percent of requests, drawn with a fixed seed."""
    command = [sys.executable, "-m", "mlopsctl", "serve", "churn@1", "--port", str(port), "-o", "json"]
    command += ["--candidate", str(candidate), "--strategy", strategy, "--weight", str(weight), "--seed", "3"]
    return subprocess.Popen(
        command,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


@contextlib.contextmanager
def flipped_shadow_served(
    root: Path, env: str, window: str = "2m", strategy: str = "shadow"
) -> Iterator[tuple[str, Fitted, Fitted]]:
    """churn@1 with a v2 trained on flipped labels as shadow (or canary taking half the requests), registered
    in ``root``, deployed in ``env`` (the environment file) and served by ``mlopsctl serve``; yields its
    URL and both fits, stops it after."""
    from tests.support.serve_process import read_json_object, register
    from tests.support.services import free_port
    from tests.support.status_repo import set_environment, set_monitoring

    stable, shadow = churn_fitted(), flipped_fitted(version=2)
    register(root, stable)
    register(root, shadow)
    set_monitoring(root, window=window, min_observations=20, shadow={"warn_below": 0.95, "crit_below": 0.9})
    port = free_port()
    deployment = {"version": 1, "candidate": 2, "strategy": strategy, "port": port}
    set_environment(root, env, {"churn": deployment | ({"weight": 50} if strategy == "canary" else {})})
    process = start_candidate_serve(root, port, 2, strategy)
    try:
        yield read_json_object(process)["url"], stable, shadow
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
