import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlopsctl.traffic import loopback_address, parse_shift, replay, shifted


def test_only_loopback_targets_are_accepted() -> None:
    assert loopback_address("http://127.0.0.1:8100") == ("127.0.0.1", 8100)
    assert loopback_address("http://localhost:9") == ("localhost", 9)
    with pytest.raises(ValueError, match="is not on this machine"):
        loopback_address("http://10.0.0.1:8100")
    with pytest.raises(ValueError, match="is not an http:// URL"):
        loopback_address("ftp://127.0.0.1")


def test_shifts_add_or_multiply_numbers_and_keep_integer_types() -> None:
    shifts = parse_shift(["age=+10", "income=*1.5", "calls=-1"])
    row = shifted({"age": 30, "income": 100.0, "calls": 2, "city": "x"}, shifts)
    assert row == {"age": 40, "income": 150.0, "calls": 1, "city": "x"}
    assert isinstance(row["age"], int)
    with pytest.raises(ValueError, match="write COLUMN=\\+N"):
        parse_shift(["age"])


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Recorder.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_replay_is_bounded_and_sends_shifted_batches(recorder: str) -> None:
    rows = [{"age": 20}, {"age": 30}]
    stats = replay(recorder, rows, shifts={"age": ("+", 100.0)}, rate=0, batch=3, seconds=30, requests=5)
    assert stats.requests == 5 and stats.rows == 15 and stats.statuses == {200: 5}
    assert len(_Recorder.bodies) == 5
    assert all(record["age"] in (120, 130) for body in _Recorder.bodies for record in body["records"])
