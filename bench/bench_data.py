"""Data loading and quality checks against plain pandas, in the same run.

Generates a CSV of ROWS rows (default 1,000,000): 16 float and 4 integer features, 3 categorical
columns, a timestamp and a binary label, and a spec declaring all of them with ranges, allowed
values, missing-value limits, no duplicate rows and a freshness limit. Then, in interleaved rounds
(the order rotates each round), it times:

- ``pd.read_csv(path)``: the anchor, what a plain scikit-learn script does;
- ``pd.read_csv(path, engine="pyarrow")``: for reference, pandas' own multi-threaded parser;
- ``load_dataset``: one read of the bytes, sha256 in a background thread, pyarrow parsing with the
  spec's column types, datetime and boolean typing, the fingerprint;
- ``load_dataset`` + ``run_quality_checks``: everything ``mlopsctl train`` does before fitting.

Usage::

    python3 bench/bench_data.py [--rows 1000000] [--rounds 5] [--data-dir DIR]

It prints the median wall time of each and its ratio to the anchor (and the best-of-rounds ratio),
then the time of the checks by dimension.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from mlopsctl.data import checks
from mlopsctl.data.load import load_dataset
from mlopsctl.data.quality import run_quality_checks
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec, ProjectSettings

CATEGORIES = {
    "region": ["north", "south", "east", "west"],
    "plan": ["basic", "plus", "pro"],
    "channel": ["web", "store", "phone", "partner", "agent"],
}
NEWEST = datetime(2025, 1, 1)


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write the benchmark CSV with pyarrow (fast), a few missing values in every float column."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(16):
        values = np.round(rng.normal(size=rows), 4)
        values[rng.random(rows) < 0.001] = np.nan
        columns[f"x{i}"] = values
    for i in range(4):
        columns[f"n{i}"] = rng.integers(0, 1000, size=rows)
    for name, values in CATEGORIES.items():
        columns[name] = np.asarray(values)[rng.integers(0, len(values), size=rows)]
    seconds = rng.integers(0, 86400 * 365, size=rows)
    columns["event_time"] = pa.array(np.datetime64(NEWEST) - seconds.astype("timedelta64[s]"), pa.timestamp("s"))
    columns["label"] = rng.integers(0, 2, size=rows)
    arrays = {name: values if isinstance(values, pa.Array) else pa.array(values) for name, values in columns.items()}
    table = pa.table(arrays)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_header="none"))


def bench_spec(source: str) -> ModelSpec:
    columns = {f"x{i}": "float" for i in range(16)}
    columns |= {f"n{i}": "integer" for i in range(4)}
    columns |= {name: "category" for name in CATEGORIES}
    columns |= {"event_time": "datetime", "label": "integer"}
    ranges = {f"x{i}": {"min": -10, "max": 10} for i in range(16)} | {f"n{i}": {"min": 0, "max": 999} for i in range(4)}
    allowed: dict[str, list[Any]] = {name: list(values) for name, values in CATEGORIES.items()}
    allowed["label"] = [0, 1]
    return ModelSpec.model_validate(
        {
            "name": "bench",
            "data": {"source": source, "target": "label", "time_column": "event_time", "columns": columns},
            "quality": {
                "min_rows": 1000,
                "accuracy": {"ranges": ranges, "allowed": allowed},
                "completeness": {"default_max_missing": 0.01},
                "consistency": {"no_duplicate_rows": True},
                "timeliness": {"max_age": "3650d"},
            },
            "features": [{"name": f"x{i}", "kind": "numeric"} for i in range(16)],
            "training": {"task": "classification", "estimator": "sklearn.linear_model.LogisticRegression"},
            "evaluation": {"metrics": ["roc_auc"]},
        }
    )


def timed(run: Callable[[], object]) -> float:
    return measured(run)[0]


def measured(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every thread of this process)."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    del result
    return elapsed, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None, help="Reuse (or create) the CSV here.")
    args = parser.parse_args()
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="mlopsctl-bench-data-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s")
    repo = Repo(root=folder, settings=ProjectSettings(name="bench"))
    spec = bench_spec(path.name)
    now = datetime.now(UTC)

    contenders: dict[str, Callable[[], object]] = {
        "pd.read_csv (anchor)": lambda: pd.read_csv(path),
        "pd.read_csv(engine='pyarrow')": lambda: pd.read_csv(path, engine="pyarrow"),
        "load_dataset": lambda: load_dataset(repo, spec),
        "load_dataset + run_quality_checks": lambda: run_quality_checks(spec, load_dataset(repo, spec).frame, now=now),
    }
    names = list(contenders)
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    timed(contenders[names[0]])  # warm the page cache and imports
    for round_number in range(args.rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = measured(contenders[name])
            walls[name].append(wall)
            cpus[name].append(cpu)

    size = path.stat().st_size / 1e6
    print(f"\nrows={args.rows}  columns=25  file={size:.0f} MB  rounds={args.rounds}  load average={_load()}\n")
    header = f"{'contender':<36} {'wall median':>11} {'wall best':>9} {'ratio':>7} {'ratio best':>10}"
    print(f"{header} {'CPU median':>10} {'CPU ratio':>9}")
    for name in names:
        wall, best, cpu = statistics.median(walls[name]), min(walls[name]), statistics.median(cpus[name])
        ratio, ratio_best = wall / statistics.median(walls[names[0]]), best / min(walls[names[0]])
        cpu_ratio = cpu / statistics.median(cpus[names[0]])
        line = f"{name:<36} {wall:>10.3f}s {best:>8.3f}s {ratio:>6.2f}x {ratio_best:>9.2f}x"
        print(f"{line} {cpu:>9.3f}s {cpu_ratio:>8.2f}x")

    frame = load_dataset(repo, spec).frame
    report = run_quality_checks(spec, frame, now=now)
    table = checks.Table.build(spec, frame, now.replace(tzinfo=None))
    print(f"\nchecks: {len(report.results)} results, passed={report.passed}")
    for dimension in ("accuracy", "completeness", "consistency", "timeliness"):
        run = getattr(checks, dimension)
        best = min(timed(lambda run=run: run(table)) for _ in range(3))
        print(f"  {dimension:<13} {best:.3f}s")
    duplicates = min(timed(lambda: checks._duplicate_rows(frame)) for _ in range(3))
    print(f"  {'(of which duplicate rows)':<13} {duplicates:.3f}s")


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
