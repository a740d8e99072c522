"""The SQLite run store after it became one of two backends (issue 14), against the store as it was.

The anchor is ``mlopsctl/tracking/store.py`` at the commit before the split (``ANCHOR``), loaded
from git into this process beside today's code. Both do what ``train`` and ``runs list`` do per
run: open the store, insert a RUNNING run, update it twice (metrics, then FINISHED), list the
newest 50 and get one by prefix, on a fresh database per round, interleaved, in the same run.
The table shows the median per round and the ratio to the anchor (under 1.05 is "no regression").
With ``--postgres`` a third row does the same round against a PostgreSQL database on loopback
(a server started for the run by tests/support/postgres.py, password login; one database whose
schema exists, as a team's store does after its first use), for what a shared run store costs a ``train``.

Usage:

    python3 bench/bench_run_store.py                # 300 rounds
    python3 bench/bench_run_store.py --rounds 50    # a quick look
    python3 bench/bench_run_store.py --postgres     # and the shared store on PostgreSQL
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ANCHOR = "d945f9e"
"""The last commit with the single-backend SQLite store."""


def anchor_module() -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ANCHOR}:mlopsctl/tracking/store.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="bench-run-store-"))
    path = folder / "anchor_store.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("anchor_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["anchor_store"] = module
    spec.loader.exec_module(module)
    return module


def one_round(module: Any, location: Any, index: int) -> float:
    host, pid, token = module.this_process()
    started = time.perf_counter()
    with module.RunStore(location) as store:
        run = module.Run(
            id=f"{index:06d}r{index:05d}",
            model="churn",
            kind="train",
            status="RUNNING",
            started=module.now(),
            estimator="sklearn.linear_model.LogisticRegression",
            params={"C": 1.0, "max_iter": 200},
            git_dirty=False,
            environment={"python": "3.11", "packages": {"numpy": "1.26"}},
            host=host,
            pid=pid,
            pid_started=token,
        )
        store.start(run)
        store.update(run.id, metrics={"roc_auc": 0.91, "accuracy": 0.88})
        store.update(run.id, status="FINISHED", duration=1.5, version=1)
        store.list_runs(None, 50)
        store.get(run.id[:8])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--postgres", action="store_true", help="also time the round on PostgreSQL")
    args = parser.parse_args()
    timings: dict[str, list[float]] = {"anchor (single SQLite store)": [], "today (RunStore over SQLiteBackend)": []}
    with tempfile.TemporaryDirectory(prefix="bench-run-store-") as folder:
        sqlite_rounds(timings, Path(folder), args.rounds)
    if args.postgres:
        timings["today (RunStore over PostgresBackend)"] = postgres_rounds(args.rounds)
    report(timings, args.rounds)


def sqlite_rounds(timings: dict[str, list[float]], folder: Path, rounds: int) -> None:
    from mlopsctl.tracking import store as today

    anchor = anchor_module()
    for index in range(rounds):
        pairs = list(zip(timings, (anchor, today), strict=True))
        for name, module in pairs if index % 2 else reversed(pairs):  # alternate who goes first
            timings[name].append(one_round(module, folder / name[:5] / f"runs-{index}.db", index))


def postgres_rounds(rounds: int) -> list[float]:
    from mlopsctl.spec.database_uri import DatabaseURI
    from mlopsctl.tracking import store as today
    from tests.support.postgres import PASSWORD, start_postgres

    os.environ["PGPASSWORD"] = PASSWORD
    with start_postgres() as server:
        location = DatabaseURI(server.database().uri, chosen_by_runner=True)
        today.RunStore(location).close()  # the schema, once: a shared store is created by its first user
        return [one_round(today, location, index) for index in range(rounds)]


def report(timings: dict[str, list[float]], rounds: int) -> None:
    base = statistics.median(timings["anchor (single SQLite store)"])
    print(f"run store round (open, insert, 2 updates, list 50, get by prefix), {rounds} rounds")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"{'store':40} {'median ms':>10} {'ratio':>7}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1000:10.3f} {median / base:7.3f}")


if __name__ == "__main__":
    main()
