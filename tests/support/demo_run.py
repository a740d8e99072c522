"""What the demo's tests read back from the repository it made, and how they stop what it left running.

The demo labels the answers its staging service logged (``.mlops/demo-labels.csv``, id,row,label);
:func:`live_accuracy` computes the accuracy the service must report from those two files alone,
so a test can check the printed figure against what really went over the wire.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_cli_process

LABELS = Path(".mlops") / "demo-labels.csv"
STAGING_LOG = Path(".mlops") / "predictions" / "env" / "staging" / "churn"


@dataclass(frozen=True)
class LiveAccuracy:
    """The share of one role's labelled rows it answered right, and how many there were."""

    value: float
    labels: int


def staging_port(root: Path) -> int:
    """The port apply left staging's service on (the demo moves it when 8100 is taken)."""
    instances = json.loads((root / ".mlops" / "deploy" / "staging.json").read_text())["instances"]
    return int(instances[0]["port"])


def live_accuracy(root: Path, role: str) -> LiveAccuracy:
    """Accuracy of ``role``'s answers against the demo's labels, from the log and the labels file."""
    with (root / LABELS).open(newline="") as rows:
        labels = {(row["id"], int(row["row"])): int(row["label"]) for row in csv.DictReader(rows)}
    right = total = 0
    for path in sorted((root / STAGING_LOG).glob("predictions-*.jsonl")):
        for line in path.read_text().splitlines():
            answer = json.loads(line)
            for index, output in enumerate(answer["outputs"]):
                label = labels.get((answer["id"], index))
                if answer["role"] == role and label is not None:
                    total += 1
                    right += int(output == label)
    return LiveAccuracy(right / total if total else float("nan"), total)


def stop_demo_leftovers(root: Path) -> None:
    """Stop what the demo leaves running: its traffic replay and the staging services."""
    pid_file = root / ".mlops" / "demo-traffic.pid"
    if pid_file.is_file():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    if (root / "mlops.yaml").is_file():
        run_cli_process("down", "--env", "staging", "--repo", str(root))
