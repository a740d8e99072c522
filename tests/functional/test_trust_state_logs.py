"""A deploy state naming a log outside its environment's log folder is refused, however it gets there.

Issue 11 refuses a committed or planted state file whose instance logs lie outside
``<state_dir>/deploy/logs/<env>``; issue 12 (plan's speed) resolves each log's folder once per state
file instead of every path component of every log. These keep the refusal what it was: through
``..``, through a link as the log itself, through a linked folder inside the log folder, and an
absolute path elsewhere; a log in the folder is read as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ENV = "staging"


def _write_state(repo: Path, logs: list[str]) -> Path:
    instances = [
        {
            "model": "churn",
            "version": 1,
            "target": "local",
            "port": 18_500 + i,
            "strategy": "replace",
            "id": f"{i:08x}",
            "role": "service",
            "pid": 999_999_999,
            "start_ticks": 1,
            "log": log,
            "started_at": "",
        }
        for i, log in enumerate(logs)
    ]
    path = repo / ".mlops" / "deploy" / f"{ENV}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "env": ENV, "commit": None, "instances": instances}))
    return path


def _logs(repo: Path) -> Path:
    folder = repo / ".mlops" / "deploy" / "logs" / ENV
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize(
    "planted",
    ["dotdot", "absolute", "linked file", "linked folder"],
)
def test_a_log_outside_the_log_folder_makes_the_state_unreadable(
    cli: Any, model_repo: Path, tmp_path: Path, planted: str
) -> None:
    logs = _logs(model_repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.log").write_text("secret")
    (logs / "linked.log").symlink_to(outside / "x.log")
    (logs / "sub").symlink_to(outside)
    log = {
        "dotdot": f"{logs}/../../../../outside-x.log",
        "absolute": str(outside / "x.log"),
        "linked file": f"{logs}/linked.log",
        "linked folder": f"{logs}/sub/x.log",
    }[planted]
    state = _write_state(model_repo, [f"{logs}/churn-00000000.log", log])
    result = cli("plan", "--env", ENV, "--repo", str(model_repo))
    assert result.code == 1, result.stdout
    real_logs = logs.resolve()
    assert result.stderr.splitlines()[0] == (
        f"error: Unreadable state: the deploy state {state} is unreadable: the log {log!r} of instance "
        f"'00000001' is not in {real_logs}"
    )


def test_logs_in_the_log_folder_are_read(cli: Any, model_repo: Path) -> None:
    logs = _logs(model_repo)
    _write_state(model_repo, [f"{logs}/churn-{i:08x}.log" for i in range(3)] + [f"{logs}/./a/../b.log"])
    result = cli("plan", "--env", ENV, "--repo", str(model_repo))
    assert "Unreadable state" not in result.stderr, result.stderr
