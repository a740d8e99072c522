"""Offline drift: mlopsctl against Evidently's DataDriftPreset on the same data, in the same run.

    python bench/bench_drift.py                       # 100,000 and 1,000,000 rows
    python bench/bench_drift.py --sizes 100000        # one size
    python bench/bench_drift.py --evidently-python PATH

Data: 20 numeric and 5 categorical columns, a reference and a current Parquet file per size
(bench/out/, generated once, seeded). Some columns drift on purpose (strong, mild, none).

Each side runs in its own subprocess, which loads both files, resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``), runs the drift computation and reports: seconds, RSS after loading,
and peak RSS during the computation ("memory above the loaded data" is the difference).
Evidently 0.7.23 does not import with pandas 3, so it runs from its own virtual environment
(default bench/.venv-evidently, made with: python -m venv bench/.venv-evidently &&
bench/.venv-evidently/bin/pip install evidently==0.7.23 "pandas<3" pyarrow).

Targets: mlopsctl at least 20x faster than Evidently at both sizes, and its memory above the
loaded data at most a fifth of Evidently's. Per-feature verdicts are compared and every
disagreement is listed with both numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DEFAULT_EVIDENTLY = HERE / ".venv-evidently" / "bin" / "python"
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]


# --------------------------------------------------------------------------- data


def generate(rows: int, folder: Path) -> None:
    import numpy as np
    import pandas as pd

    if (folder / "current.parquet").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, seed, drift in (("reference", 1, False), ("current", 2, True)):
        rng = np.random.default_rng(seed)
        frame = pd.DataFrame({column: _numeric(rng, rows, i, drift) for i, column in enumerate(NUMERIC)})
        for i, column in enumerate(CATEGORICAL):
            frame[column] = _categorical(rng, rows, i, drift)
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def _numeric(rng: Any, rows: int, i: int, drift: bool) -> Any:
    import numpy as np

    kind = i % 4
    if kind == 0:
        values = rng.normal(50, 10, rows)
    elif kind == 1:
        values = rng.lognormal(3, 0.6, rows)
    elif kind == 2:
        values = rng.uniform(0, 100, rows)
    else:
        values = rng.poisson(4, rows).astype(float)
    if drift:
        # strong shift, scale change, mild shift, tiny shift; the other 16 columns do not drift
        values = {0: values + 8.0, 1: values * 1.6, 2: values + 6.0, 4: values + 1.0}.get(i, values)
    if i % 5 == 3:
        values[rng.random(rows) < 0.02] = np.nan
    return values


def _categorical(rng: Any, rows: int, i: int, drift: bool) -> Any:
    import numpy as np

    levels = [3, 5, 8, 12, 30][i]
    weights = np.linspace(1, 3, levels)
    if drift and i == 0:
        weights = weights[::-1]  # strong
    if drift and i == 1:
        weights = weights * np.linspace(1, 1.25, levels)  # mild
    return rng.choice([f"{chr(97 + i)}{k}" for k in range(levels)], rows, p=weights / weights.sum())


# --------------------------------------------------------------------------- workers


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def worker_ours(folder: Path) -> dict[str, Any]:
    import pandas as pd

    from mlopsctl.monitor.offline import offline_drift
    from mlopsctl.spec.models import FeatureSpec, MonitoringSpec

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    features = [FeatureSpec(name=c, kind="numeric") for c in NUMERIC]
    features += [FeatureSpec(name=c, kind="categorical") for c in CATEGORICAL]
    offline_drift("bench", features[:1], reference.head(1000), current.head(1000), MonitoringSpec())  # warm imports
    loaded = _rss_kb("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    report = offline_drift("bench", features, reference, current, MonitoringSpec())
    seconds = time.perf_counter() - started
    verdicts = {
        f.feature: {"drift": f.state.name in ("WARN", "CRIT"), "value": f.psi, "method": "PSI", "ks_p": f.ks_pvalue}
        for f in report.features
    }
    return {"seconds": seconds, "loaded_kb": loaded, "peak_kb": _rss_kb("VmHWM"), "verdicts": verdicts}


def worker_evidently(folder: Path) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    loaded = _rss_kb("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(reference_data=reference, current_data=current)
    result = snapshot.dict()
    seconds = time.perf_counter() - started
    verdicts = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold, method = float(metric["value"]), float(config["threshold"]), config["method"]
            drift = value < threshold if "p_value" in method or "test" in method.lower() else value >= threshold
            verdicts[config["column"]] = {"drift": drift, "value": value, "method": method, "threshold": threshold}
    return {"seconds": seconds, "loaded_kb": loaded, "peak_kb": _rss_kb("VmHWM"), "verdicts": verdicts}


# --------------------------------------------------------------------------- harness


def run_worker(python: str, which: str, folder: Path, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    command = [python, str(Path(__file__).resolve()), "--worker", which, "--dir", str(folder)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{which} worker failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def compare(size: int, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    speed = theirs["seconds"] / ours["seconds"]
    ours_mem = max(ours["peak_kb"] - ours["loaded_kb"], 1) / 1024
    theirs_mem = max(theirs["peak_kb"] - theirs["loaded_kb"], 1) / 1024
    lines = [
        f"| {size:,} | {ours['seconds']:.2f} s | {theirs['seconds']:.2f} s | {speed:.0f}x | "
        f"{ours_mem:.0f} MB | {theirs_mem:.0f} MB | {theirs_mem / ours_mem:.1f}x |"
    ]
    return lines


def disagreements(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    rows = []
    for column, mine in ours["verdicts"].items():
        other = theirs["verdicts"].get(column)
        if other is None or other["drift"] == mine["drift"]:
            continue
        rows.append(
            f"| {column} | {'drift' if mine['drift'] else 'no drift'} (PSI {mine['value']:.3f}) | "
            f"{'drift' if other['drift'] else 'no drift'} ({other['method']} {other['value']:.3f}, "
            f"threshold {other['threshold']:g}) |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--evidently-python", default=str(DEFAULT_EVIDENTLY))
    parser.add_argument("--worker", choices=["ours", "evidently"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument(
        "--reuse-evidently",
        action="store_true",
        help="reuse Evidently's result saved by an earlier run (bench/out/drift-N/evidently.json); the table says so",
    )
    args = parser.parse_args()
    if args.worker:
        work = worker_ours if args.worker == "ours" else worker_evidently
        print(json.dumps(work(args.dir), default=float))
        return
    table = [
        "| rows | mlopsctl | Evidently | speed-up | mlopsctl memory above data | Evidently memory above data | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    verdict_rows: dict[int, list[str]] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        folder = OUT / f"drift-{size}"
        generate(size, folder)
        ours = run_worker(sys.executable, "ours", folder, timeout=600)
        saved = folder / "evidently.json"
        if args.reuse_evidently and saved.is_file():
            theirs = json.loads(saved.read_text())
            print(f"{size:,} rows: Evidently's result reused from {saved}", file=sys.stderr)
        else:
            theirs = run_worker(args.evidently_python, "evidently", folder, timeout=1800)
            saved.write_text(json.dumps(theirs))
        table.extend(compare(size, ours, theirs))
        verdict_rows[size] = disagreements(ours, theirs)
        agree = sum(1 for c in ours["verdicts"] if ours["verdicts"][c]["drift"] == theirs["verdicts"][c]["drift"])
        print(f"{size:,} rows: verdicts agree on {agree}/{len(ours['verdicts'])} features", file=sys.stderr)
    print("\n".join(table))
    for size, rows in verdict_rows.items():
        print(f"\nDisagreements at {size:,} rows (mlopsctl drift = PSI >= warn 0.1):")
        print("| feature | mlopsctl | Evidently |\n|---|---|---|")
        print("\n".join(rows) if rows else "| (none) | | |")


if __name__ == "__main__":
    main()
