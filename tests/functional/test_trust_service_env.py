"""Issue 11, finding 6: a service that ``apply`` starts does not inherit the caller's secrets.

``mlopsctl apply`` runs as a real process with tokens and keys in its environment, as a CI job
would; the started ``python -m mlopsctl.serve`` process's environment is read from /proc.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import make_repo, marked_pids, stop_everything, write_env
from tests.support.services import free_port

pytestmark = pytest.mark.slow

SECRETS = {
    "GITHUB_TOKEN": "ghp_secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "MLOPS_GITLAB_TOKEN": "glpat-secret",  # a CI variable with our prefix is still not the service's
    "ANYTHING_ELSE": "unrelated",
}
ALLOWED = {
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONWARNINGS",
    "PYTHONUNBUFFERED",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "MLOPSCTL_SERVICE",
}


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=1)
    yield root
    stop_everything(root)


def environ_of(pid: int) -> dict[str, str]:
    raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    pairs = (item.decode().split("=", 1) for item in raw.split(b"\0") if item)
    return {name: value for name, value in pairs}


def test_a_started_service_gets_only_the_allow_listed_environment(repo: Path) -> None:
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port())
    env = {**SECRETS, "LC_ALL": "C.UTF-8", "TZ": "UTC", "OMP_NUM_THREADS": "1"}
    result = run_cli_process("apply", "--env", "staging", "--repo", str(repo), "--timeout", "90", env=env)
    assert result.code == 0, result.stderr
    [pid] = marked_pids(repo, "staging")
    seen = environ_of(pid)
    assert not set(SECRETS) & set(seen)
    assert "ghp_secret" not in "\0".join(seen.values())
    assert seen["PATH"] == os.environ["PATH"]
    assert (seen["LC_ALL"], seen["TZ"], seen["PYTHONUNBUFFERED"]) == ("C.UTF-8", "UTC", "1")
    assert seen["OMP_NUM_THREADS"] == "1"  # operators can still cap a service's threads
    assert json.loads(seen["MLOPSCTL_SERVICE"])["env"] == "staging"
    assert {name for name in seen if not name.startswith("LC_")} <= ALLOWED
