"""Issue 11: a client that half-closes after its request still gets the answer from a real service.

Batches over ``OFFLOAD_ROWS`` are predicted on a worker thread, so the client's end-of-file arrives
while the answer is still being computed; the service must answer, then close.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from mlopsctl.serve.app import OFFLOAD_ROWS
from tests.support.serving import ServiceProcess, churn_fitted, records_of, write_version

pytestmark = pytest.mark.slow

ROWS = 2500


def read_until_closed(sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)


def test_a_half_closed_client_gets_all_predictions_of_a_large_batch(tmp_path: Path) -> None:
    fit = churn_fitted()
    record_file, artifact_file, _ = write_version(tmp_path, fit)
    frame = fit.frame.sample(ROWS, replace=True, random_state=3)
    body = json.dumps({"records": records_of(frame)}).encode()
    assert ROWS > OFFLOAD_ROWS
    command = ["--record", str(record_file), "--artifact", str(artifact_file), "--max-body-bytes", "2000000"]
    with ServiceProcess(*command) as service, socket.create_connection(("127.0.0.1", service.port), 30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        sock.shutdown(socket.SHUT_WR)
        head, _, answer = read_until_closed(sock).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert json.loads(answer)["predictions"] == fit.pipeline.predict(frame).tolist()
