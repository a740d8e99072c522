"""``python -m mlopsctl.serve --take-over``: one service process hands its port to the next.

Real processes on one loopback port: v1 listens with ``--handover``; v2 starts with ``--take-over``
v1's socket, loads, takes the listening socket, and v1 drains and exits 0 by itself (an idle
keep-alive connection to it is closed cleanly, never reset). A successor that cannot load exits
before touching anything, and v1 keeps serving and can still be taken over.
"""

from __future__ import annotations

import http.client
import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from tests.support.apply_repo import EXAMPLE
from tests.support.serving import churn_fitted, free_port, write_version

pytestmark = pytest.mark.slow
Files = dict[int, tuple[Path, Path]]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("versions")
    fits = (churn_fitted(version=1), churn_fitted(LogisticRegression(max_iter=1000), version=2))
    return {fit.record.version: write_version(folder, fit)[:2] for fit in fits}


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(30)


def serve(
    started: list[subprocess.Popen[str]], record: Path, artifact: Path, port: int, *extra: str
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "mlopsctl.serve", "--record", str(record), "--artifact", str(artifact)]
    process = subprocess.Popen(
        [*command, "--port", str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    started.append(process)
    return process


def predict(connection: http.client.HTTPConnection) -> tuple[int, str | None]:
    """(the version that answered, its Connection header) over ``connection``."""
    connection.request(
        "POST", "/predict", body=json.dumps({"record": EXAMPLE}), headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    return int(json.loads(response.read())["version"]), response.getheader("Connection")


def wait_for_version(port: int, version: int, process: subprocess.Popen[str]) -> None:
    """Poll /health/ready until ``version`` answers it (at most 2,400 polls of 50 ms)."""
    for _ in range(2400):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        if ready_version(port) == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"v{version} never answered on :{port}")


def ready_version(port: int) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health/ready")
        response = connection.getresponse()
        body = json.loads(response.read())
        return int(body["version"]) if response.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def stderr_of(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    return process.stderr.read()


def test_the_successor_takes_the_port_and_the_old_one_drains_and_exits(
    files: Files, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, first, second = free_port(), tmp_path / "handover" / "a.sock", tmp_path / "handover" / "b.sock"
    old = serve(processes, *files[1], port, "--handover", str(first))
    wait_for_version(port, 1, old)
    assert stat.S_ISSOCK(first.stat().st_mode) and stat.S_IMODE(first.stat().st_mode) == 0o600
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    assert predict(kept) == (1, None)  # a keep-alive connection, idle from now on
    new = serve(processes, *files[2], port, "--take-over", str(first), "--handover", str(second))
    assert old.wait(120) == 0  # it exits by itself once drained
    assert "handed the port over to the next instance; draining" in stderr_of(old)
    assert kept.sock is not None and kept.sock.recv(1) == b""  # closed cleanly (a reset would raise)
    assert not first.exists() and stat.S_ISSOCK(second.stat().st_mode)
    assert ready_version(port) == 2
    assert predict(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) == (2, None)
    assert new.poll() is None


def test_a_successor_that_cannot_load_leaves_the_old_one_serving(
    files: Files, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, first = free_port(), tmp_path / "a.sock"
    old = serve(processes, *files[1], port, "--handover", str(first))
    wait_for_version(port, 1, old)
    swapped = tmp_path / "swapped.skops"
    swapped.write_bytes(files[1][1].read_bytes())
    broken = serve(processes, files[2][0], swapped, port, "--take-over", str(first))
    assert broken.wait(120) == 1
    assert "error: Artifact refused: artifact digest mismatch for artifact: expected sha256:" in stderr_of(broken)
    assert old.poll() is None and stat.S_ISSOCK(first.stat().st_mode)
    assert predict(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) == (1, None)
    good = serve(processes, *files[2], port, "--take-over", str(first))
    assert old.wait(120) == 0
    wait_for_version(port, 2, good)


def test_taking_over_from_a_socket_nobody_listens_at_binds_the_port(
    files: Files, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, stale = free_port(), tmp_path / "gone.sock"
    with socket.socket(socket.AF_UNIX) as left:
        left.bind(str(stale))  # what a killed instance leaves: a socket file nobody listens at
    process = serve(processes, *files[2], port, "--take-over", str(stale))
    wait_for_version(port, 2, process)
