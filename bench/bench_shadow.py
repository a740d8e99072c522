"""The per-request cost of a shadow and its comparison, against the same service without one, same run.

``python -m mlopsctl.serve`` serves the 50-tree forest of ``bench_serve.py``; the anchor is that
service alone, the subject the same service with a second 50-tree forest (another seed, so some
answers differ) as a shadow: it predicts every request after the answer is sent and its answer is
compared with the stable one (``mlops_compared_rows_total`` ...). Single-row requests from
``bench_serve``'s bounded load generator (keep-alive, concurrency 16); without and with alternate
for ``--rounds`` rounds (the 2 cores are shared: alternating spreads the noise over both); the
medians of throughput and of the server's CPU per request are printed with their ratios.
Target: throughput with a shadow >= 0.8x without.

Usage::

    python3 bench/bench_shadow.py            # 3 rounds of 20,000 requests
    python3 bench/bench_shadow.py --quick    # 3,000 requests per round
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sklearn.base import clone  # noqa: E402

from bench.bench_serve import Server, drive, fitted_models, free_port, split_body, write_ours  # noqa: E402

TARGET = 0.8
Rounds = dict[str, list[float]]


def server(stable: tuple[Path, Path], shadow: tuple[Path, Path] | None) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mlopsctl.serve", "--record", str(stable[0]), "--artifact", str(stable[1])]
    command += ["--port", str(port), "--log-level", "WARNING"]
    if shadow is not None:
        command += ["--candidate-record", str(shadow[0]), "--candidate-artifact", str(shadow[1])]
        command += ["--strategy", "shadow"]
    return Server("shadow" if shadow is not None else "alone", command, "/health/ready", "/predict", port)


def shadow_version(folder: Path) -> tuple[Path, Path]:
    """A second forest (another seed) written as version 2 of the same model."""
    frame, models = fitted_models()
    target = models["forest-50"].predict(frame)  # any labels do: the shadow only needs to be a forest
    other = clone(models["forest-50"]).set_params(model__random_state=1).fit(frame, target)
    record, artifact = write_ours(folder / "shadow", "forest-50", other, frame)
    document = yaml.safe_load(record.read_text())
    document["version"] = 2
    record.write_text(yaml.safe_dump(document, sort_keys=False))
    return record, artifact


def compared_rows(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    lines = [line for line in text.splitlines() if line.startswith("mlops_compared_rows_total{")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def throughput(rounds: int, requests: int) -> tuple[Rounds, Rounds, float]:
    """Requests/s and server CPU microseconds per request, per round, alone and with a shadow."""
    frame, models = fitted_models()
    body = split_body(frame.iloc[:1])
    alone: Rounds = {"rate": [], "cpu_us": []}
    shadowed: Rounds = {"rate": [], "cpu_us": []}
    compared = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as scratch:
        folder = Path(scratch)
        (folder / "shadow").mkdir()
        stable = write_ours(folder, "forest-50", models["forest-50"], frame)
        shadow = shadow_version(folder)
        for index in range(rounds):
            for with_shadow in (False, True):
                running = server(stable, shadow if with_shadow else None)
                running.start()
                try:
                    drive(running, body, requests // 10, 16, 60.0)  # warm-up
                    load = drive(running, body, requests, 16, 120.0)
                    if with_shadow:
                        compared = compared_rows(f"http://127.0.0.1:{running.port}")
                finally:
                    running.stop()
                assert load.errors == 0, f"{running.name}: {load.errors} errors"
                cpu_us = load.cpu / load.requests * 1e6
                found = shadowed if with_shadow else alone
                found["rate"].append(load.rate)
                found["cpu_us"].append(cpu_us)
                print(
                    f"  round {index + 1} {running.name:7} {load.rate:8.0f} req/s {cpu_us:6.0f} us CPU/req", flush=True
                )
    return alone, shadowed, compared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requests = 3000 if args.quick else 20_000
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"serving, forest-50, single row, {requests} requests per round, concurrency 16:")
    alone, shadowed, compared = throughput(args.rounds, requests)
    rate_alone, rate_shadow = statistics.median(alone["rate"]), statistics.median(shadowed["rate"])
    cpu_alone, cpu_shadow = statistics.median(alone["cpu_us"]), statistics.median(shadowed["cpu_us"])
    ratio = rate_shadow / rate_alone
    print(f"  median: alone       {rate_alone:.0f} req/s ({cpu_alone:.0f} us CPU/req)")
    print(f"          with shadow {rate_shadow:.0f} req/s ({cpu_shadow:.0f} us CPU/req)")
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"  throughput with/without shadow: {ratio:.2f}x (target >= {TARGET:.2f}x) {verdict}")
    print(f"  server CPU per request alone/with shadow: {cpu_alone / cpu_shadow:.2f}x")
    print(f"  rows compared in the last round (warm-up included): {compared:.0f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
