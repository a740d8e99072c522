"""Replay rows of a data file against a prediction service, optionally shifting features.

Used by the demo to make live traffic (and, with a shift, a drift alarm), and by users to
smoke-test a deployment with realistic rows. Loads are always bounded in requests and seconds,
and only loopback addresses are accepted, so a typo cannot turn it into a load test on someone
else's service::

    python -m mlopsctl.traffic --url http://127.0.0.1:8100 --data data/churn.csv \\
        --shift monthly_charges=+60 --rate 10 --batch 20 --seconds 600
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import math
import random
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_SECONDS = 3600.0
MAX_REQUESTS = 1_000_000


@dataclass
class ReplayStats:
    requests: int = 0
    rows: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def loopback_address(url: str) -> tuple[str, int]:
    """Host and port of ``url``, refusing anything but a loopback address."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// URL")
    host = parts.hostname
    address = socket.gethostbyname(host)
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"{url!r} is not on this machine (loopback only): {address}")
    return host, parts.port or 80


def parse_shift(items: Sequence[str]) -> dict[str, tuple[str, float]]:
    """``["age=+10", "income=*1.5"]`` -> ``{"age": ("+", 10.0), "income": ("*", 1.5)}``."""
    shifts: dict[str, tuple[str, float]] = {}
    for item in items:
        column, sep, value = (part.strip() for part in item.partition("="))
        try:
            shifts[column] = ("*", float(value[1:])) if value.startswith("*") else ("+", float(value))
        except ValueError:
            column = ""
        if not sep or not column:
            raise ValueError(f"--shift {item!r}: write COLUMN=+N, COLUMN=-N or COLUMN=*FACTOR")
    return shifts


def load_rows(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The service's input columns from a CSV or Parquet file, as JSON-ready records."""
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no column(s) {', '.join(missing)} that the service needs")
    records = frame[list(columns)].to_dict(orient="records")
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in records]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def shifted(row: dict[str, Any], shifts: dict[str, tuple[str, float]]) -> dict[str, Any]:
    out = dict(row)
    for column, (op, amount) in shifts.items():
        value = out.get(column)
        if isinstance(value, int | float) and not isinstance(value, bool):
            moved = value * amount if op == "*" else value + amount
            out[column] = round(moved) if isinstance(value, int) else moved
    return out


def input_columns(host: str, port: int) -> list[str]:
    body = _request(http.client.HTTPConnection(host, port, timeout=5), "GET", "/metadata", None)[1]
    metadata = json.loads(body)
    inputs = metadata.get("inputs") or metadata.get("signature", {}).get("inputs") or []
    return [item["name"] for item in inputs]


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def replay(
    url: str,
    rows: Sequence[dict[str, Any]],
    *,
    shifts: dict[str, tuple[str, float]] | None = None,
    rate: float = 10.0,
    batch: int = 20,
    seconds: float = 60.0,
    requests: int = 10_000,
    seed: int = 0,
) -> ReplayStats:
    """Send ``batch`` random rows ``rate`` times a second until ``seconds`` or ``requests`` run out."""
    host, port = loopback_address(url)
    seconds, requests = min(seconds, MAX_SECONDS), min(requests, MAX_REQUESTS)
    rng = random.Random(seed)
    stats = ReplayStats()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    deadline = time.monotonic() + seconds
    interval = 1.0 / rate if rate > 0 else 0.0
    while time.monotonic() < deadline and stats.requests < requests:
        started = time.monotonic()
        chosen = [shifted(rng.choice(rows), shifts or {}) for _ in range(batch)]
        _send(conn, host, port, chosen, stats)
        pause = interval - (time.monotonic() - started)
        if pause > 0:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
    conn.close()
    return stats


def _send(
    conn: http.client.HTTPConnection, host: str, port: int, chosen: list[dict[str, Any]], stats: ReplayStats
) -> None:
    body = json.dumps({"records": chosen}).encode()
    try:
        status, _ = _request(conn, "POST", "/predict", body)
    except (OSError, http.client.HTTPException):
        conn.close()
        conn.__init__(host, port, timeout=10)  # type: ignore[misc]  # reconnect in place
        stats.errors += 1
        time.sleep(0.5)
        return
    stats.requests += 1
    stats.rows += len(chosen)
    stats.statuses[status] = stats.statuses.get(status, 0) + 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlopsctl.traffic", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="service base URL on this machine, e.g. http://127.0.0.1:8100")
    parser.add_argument("--data", required=True, type=Path, help="CSV or Parquet file with the service's input columns")
    parser.add_argument("--shift", action="append", default=[], help="COLUMN=+N, COLUMN=-N or COLUMN=*FACTOR")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (default 10)")
    parser.add_argument("--batch", type=int, default=20, help="rows per request (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help=f"stop after this long (at most {MAX_SECONDS:g})")
    parser.add_argument("--requests", type=int, default=10_000, help="stop after this many requests")
    args = parser.parse_args(argv)
    try:
        host, port = loopback_address(args.url)
        rows = load_rows(args.data, input_columns(host, port))
        stats = replay(
            args.url,
            rows,
            shifts=parse_shift(args.shift),
            rate=args.rate,
            batch=args.batch,
            seconds=args.seconds,
            requests=args.requests,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps({"requests": stats.requests, "rows": stats.rows, "errors": stats.errors, "statuses": stats.statuses})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
