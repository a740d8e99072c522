"""The docker target's prediction log: a container logs its answers where ``explain`` looks.

The container's service writes into the model's log folder of this machine's state folder
(bind-mounted at ``/var/lib/mlopsctl/predictions``), with the spec's sampling and rotation, as
the user who ran apply. A request id a client got from the container is then explained: the
archived artifact, re-run on the logged inputs, gives the same answer.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import EXAMPLE, write_env
from tests.support.docker_deploy import ENV, apply_process, trained_repo
from tests.support.services import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from trained_repo(tmp_path_factory, "docker-predlog", (6,))


def predict(port: int, request_id: str) -> list[object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"record": EXAMPLE}).encode(),
        headers={"Content-Type": "application/json", "X-Request-Id": request_id},
    )
    with _OPENER.open(request, timeout=10) as response:
        assert response.headers["X-Request-Id"] == request_id
        answered: list[object] = json.load(response)["predictions"]
        return answered


def explain_when_logged(root: Path, request_id: str) -> dict[str, object]:
    """The service writes its log every 100 ms from a background thread: ask until it is there (bounded)."""
    result = None
    for _ in range(100):
        result = run_cli_process("--repo", str(root), "explain", request_id, "--env", ENV, "-o", "json")
        if result.code == 0:
            found: dict[str, object] = json.loads(result.stdout)
            return found
        assert result.code == 1, result.stderr
        assert f"error: Not found: no logged answer has request id '{request_id}'" in result.stderr, result.stderr
    raise AssertionError(f"{request_id} never reached the prediction log: {result}")


def test_a_container_logs_its_answers_and_explain_reruns_one(root: Path) -> None:
    port = free_port()
    write_env(root, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
    applied = apply_process(root)
    assert applied.code == 0, applied.stdout + applied.stderr
    answered = predict(port, "docker-42")
    explained = explain_when_logged(root, "docker-42")
    folder = root / ".mlops" / "predictions" / "env" / ENV / "churn"
    assert (explained["model"], explained["version"], explained["role"]) == ("churn", 1, "stable")
    assert (explained["verdict"], explained["log_folder"]) == ("MATCH", str(folder))
    assert explained["outputs"] == explained["rerun_outputs"] == answered
    [logged] = [p for p in folder.iterdir() if p.suffix == ".jsonl"]
    assert logged.stat().st_uid == (os.getuid() or 10001)  # the apply user's files; root's go to the image's user
    text = run_cli_process("--repo", str(root), "explain", "docker-42", "--env", ENV)
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines()[-1] == "MATCH: the archived artifact gives the same answer"
    labels = folder.parent / "labels-for-docker.csv"
    labels.write_text(f"id,label\ndocker-42,{answered[0]}\n")
    sent = run_cli_process("--repo", str(root), "feedback", str(labels), "--env", ENV)
    assert (sent.code, sent.stdout) == (0, f"1 of 1 labels accepted by http://127.0.0.1:{port}\n"), sent.stderr
    [joined] = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]
    assert (joined["id"], joined["label"]) == ("docker-42", answered[0])  # the container wrote it to this folder
