"""A service that ``apply`` starts on the local target logs its answers like ``mlopsctl serve`` does, so a
request id a client got from a deployment can be explained, and labels can flow back to it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.conftest import run_cli_process
from tests.support.apply_repo import EXAMPLE, make_repo, stop_everything, write_env
from tests.support.services import free_port


def test_a_deployed_service_logs_its_answers_and_explain_finds_them(tmp_path: Path) -> None:
    root = make_repo(tmp_path, versions=1)
    port = free_port()
    write_env(root, "staging", {"churn": {"version": 1}}, base_port=port)
    try:
        applied = run_cli_process("--repo", str(root), "apply", "--env", "staging")
        assert applied.code == 0, applied.stdout + applied.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=json.dumps({"record": EXAMPLE}).encode(),
            headers={"Content-Type": "application/json", "X-Request-Id": "client-42"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["X-Request-Id"] == "client-42"
            answered = json.load(response)["predictions"]
        explained = explain_when_logged(root, "client-42")
        assert (explained["model"], explained["version"], explained["verdict"]) == ("churn", 1, "MATCH")
        assert explained["outputs"] == answered
    finally:
        stop_everything(root)


def explain_when_logged(root: Path, request_id: str) -> dict[str, object]:
    """The log is written by a background thread every 100 ms: ask until it is there (bounded)."""
    for _ in range(100):
        result = run_cli_process("--repo", str(root), "explain", request_id, "--env", "staging", "-o", "json")
        if result.code == 0:
            found: dict[str, object] = json.loads(result.stdout)
            return found
        assert "no request" in (result.stdout + result.stderr).lower() or "not found" in result.stderr.lower(), (
            result.stderr
        )
    raise AssertionError(f"{request_id} never reached the prediction log")
