"""The prediction log's cost, and joining labels to it, each against its anchor in the same run.

1. Serving throughput with the prediction log on against off: ``python -m mlopsctl.serve`` on the
   50-tree forest of ``bench_serve.py``, single-row requests from its bounded load generator
   (keep-alive, concurrency 16). Off and on alternate for ``--rounds`` rounds (the 2 cores are
   shared: alternating spreads the noise over both); the medians and their ratio are printed.
   Target: on >= 0.9x off.
2. Joining 1M labels to 1M logged predictions: ``contract.predictionlog.labelled_rows`` against a
   plain pandas merge of the same files (``pd.read_json(lines=True)`` of every log file and the
   labels file, ``merge`` on the request id). Target: no slower. The files are written in the log's
   own format (one-row requests, 10 features, probabilities), labels for every request.

Usage::

    python3 bench/bench_predlog.py            # both parts
    python3 bench/bench_predlog.py --quick    # fewer requests, 200k rows
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench.bench_serve import Server, drive, fitted_models, free_port, split_body, write_ours  # noqa: E402
from mlopsctl.contract.predictionlog import LABELS_FILE, labelled_rows, log_files  # noqa: E402


def server(record: Path, artifact: Path, log_folder: Path | None) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mlopsctl.serve", "--record", str(record), "--artifact", str(artifact)]
    command += ["--port", str(port), "--log-level", "WARNING"]
    if log_folder is not None:
        command += ["--prediction-log", str(log_folder), "--log-max-bytes", str(16 * 2**20)]
    name = "log on" if log_folder is not None else "log off"
    return Server(name, command, "/health/ready", "/predict", port)


Rounds = dict[str, list[float]]


def throughput(rounds: int, requests: int) -> tuple[Rounds, Rounds, int]:
    """Requests/s and server CPU microseconds per request, per round, log off and on; lines logged."""
    frame, models = fitted_models()
    body = split_body(frame.iloc[:1])
    off: Rounds = {"rate": [], "cpu_us": []}
    on: Rounds = {"rate": [], "cpu_us": []}
    written = 0
    with tempfile.TemporaryDirectory(prefix="bench-predlog-") as scratch:
        folder = Path(scratch)
        record, artifact = write_ours(folder, "forest-50", models["forest-50"], frame)
        for index in range(rounds):
            for logged in (False, True):
                log_folder = folder / f"log-{index}" if logged else None
                running = server(record, artifact, log_folder)
                running.start()
                try:
                    drive(running, body, requests // 10, 16, 60.0)  # warm-up
                    load = drive(running, body, requests, 16, 120.0)
                finally:
                    running.stop()
                assert load.errors == 0, f"{running.name}: {load.errors} errors"
                cpu_us = load.cpu / load.requests * 1e6
                (on if logged else off)["rate"].append(load.rate)
                (on if logged else off)["cpu_us"].append(cpu_us)
                if log_folder is not None:
                    written = sum(len(p.read_bytes().splitlines()) for p in log_files(log_folder))
                shown = f"{load.rate:8.0f} req/s {cpu_us:6.0f} us CPU/req"
                print(f"  round {index + 1} {running.name:8} {shown}", flush=True)
    return off, on, written


def write_logs(folder: Path, rows: int, seed: int = 5) -> None:
    """``rows`` one-row answers in the log's format (16 MiB files) and a label for each, shuffled."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    features = [f"x{i}" for i in range(10)]
    ids = [f"{i:x}-bench" for i in range(rows)]
    handle, size, number = None, 0, 0
    for i, request_id in enumerate(ids):
        if handle is None or size > 16 * 2**20:
            if handle is not None:
                handle.close()
            number += 1
            handle = (folder / f"predictions-{number:020d}-1.jsonl").open("w")
            size = 0
        proba = rng.random()
        line = {
            "id": request_id,
            "time": 1.7e9 + i,
            "model": "forest-50",
            "version": "1",
            "role": "stable",
            "spec_commit": "0" * 40,
            "artifact_sha256": "0" * 64,
            "rows": 1,
            "inputs": {f: [round(rng.gauss(0, 1), 6)] for f in features},
            "outputs": [int(proba > 0.5)],
            "probabilities": [[1 - proba, proba]],
        }
        text = json.dumps(line, separators=(",", ":")) + "\n"
        handle.write(text)
        size += len(text)
    if handle is not None:
        handle.close()
    rng.shuffle(ids)
    with (folder / LABELS_FILE).open("w") as labels:
        for request_id in ids:
            entry = {"id": request_id, "row": 0, "label": rng.randint(0, 1), "time": 1.8e9}
            entry |= {"model": "forest-50", "version": "1", "role": "stable"}
            labels.write(json.dumps(entry, separators=(",", ":")) + "\n")


def pandas_merge(folder: Path) -> pd.DataFrame:
    logged = pd.concat([pd.read_json(path, lines=True) for path in log_files(folder)], ignore_index=True)
    labels = pd.read_json(folder / LABELS_FILE, lines=True)
    return logged.merge(labels[["id", "label"]], on="id")


def join(rows: int, repeats: int) -> tuple[list[float], list[float], int]:
    ours, anchor, joined = [], [], 0
    with tempfile.TemporaryDirectory(prefix="bench-join-") as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        write_logs(folder, rows)
        print(f"  wrote {rows} answers and labels in {time.perf_counter() - started:.1f} s", flush=True)
        for _ in range(repeats):
            began = time.perf_counter()
            result = labelled_rows(folder)
            ours.append(time.perf_counter() - began)
            joined = len(result)
            del result
            began = time.perf_counter()
            merged = pandas_merge(folder)
            anchor.append(time.perf_counter() - began)
            assert len(merged) == joined == rows, (len(merged), joined, rows)
            del merged
            print(f"  labelled_rows {ours[-1]:6.2f} s   pandas merge {anchor[-1]:6.2f} s", flush=True)
    return ours, anchor, joined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part", choices=["serve", "join", "both"], default="both")
    args = parser.parse_args()
    requests = 3000 if args.quick else 20_000
    rows = 200_000 if args.quick else 1_000_000
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.part in ("serve", "both"):
        print(f"serving, forest-50, single row, {requests} requests per round, concurrency 16:")
        off, on, written = throughput(args.rounds, requests)
        rate_off, rate_on = statistics.median(off["rate"]), statistics.median(on["rate"])
        cpu_off, cpu_on = statistics.median(off["cpu_us"]), statistics.median(on["cpu_us"])
        ratio = rate_on / rate_off
        print(f"  median: log off {rate_off:.0f} req/s ({cpu_off:.0f} us CPU/req)")
        print(f"          log on  {rate_on:.0f} req/s ({cpu_on:.0f} us CPU/req)")
        print(f"  throughput on/off: {ratio:.2f}x (target >= 0.90x) {'PASS' if ratio >= 0.9 else 'FAIL'}")
        print(f"  server CPU per request off/on: {cpu_off / cpu_on:.2f}x (less shaken by the shared cores)")
        print(f"  lines in the last log: {written}")
    if args.part in ("join", "both"):
        print(f"join, {rows} labels to {rows} logged one-row answers:")
        ours, anchor, _ = join(rows, 1 if args.quick else 2)
        best_ours, best_anchor = min(ours), min(anchor)
        speedup = best_anchor / best_ours
        print(f"  best: labelled_rows {best_ours:.2f} s, pandas read_json + merge {best_anchor:.2f} s")
        print(f"  pandas / ours: {speedup:.2f}x (target >= 1.0x: no slower) {'PASS' if speedup >= 1.0 else 'FAIL'}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
