"""Training overhead: `mlopsctl train` against a plain scikit-learn script and MLflow autologging,
doing the same fit on the same 1,000,000-row, 20-feature data, in the same run.

All three run as subprocesses, interleaved, several times; the table shows the median wall time
and the ratio to the plain script. The plain script is what a careful user writes by hand:
``pd.read_csv`` (pyarrow engine, the parser mlopsctl uses too), a stratified split, the same
imputation, scaling and estimator, predictions and ROC AUC on the held-out rows. mlopsctl does
that plus: the spec and ``--set`` checks, the data fingerprint and quality checks, the run in
SQLite, signature and drift reference, single-row latency through the serving fast path, the skops
artifact, the version record and its git commit. MLflow autologs the same fit into a SQLite
tracking store (its training metrics, params, model, signature).

Usage:

    python3 bench/bench_train.py                       # 1,000,000 x 20, LogisticRegression, 3 repeats
    python3 bench/bench_train.py --estimator hgb       # a small HistGradientBoostingClassifier instead
    python3 bench/bench_train.py --rows 100000 --repeats 1 --no-mlflow   # a quick look
    python3 bench/bench_train.py --profile             # where mlopsctl's own time goes (cProfile)

MLflow lives in its own virtualenv so it cannot disturb mlopsctl's dependencies:
    python3 -m venv bench/.venv-mlflow && bench/.venv-mlflow/bin/pip install mlflow scikit-learn pandas pyarrow
(pin scikit-learn, pandas and pyarrow to the versions mlopsctl runs with, so the fit is the same code).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "train"
MLFLOW_PYTHON = ROOT / "bench" / ".venv-mlflow" / "bin" / "python"
RESULTS = ROOT / "bench" / "RESULTS.md"
SEED = 42
ESTIMATORS = {
    "logreg": ("sklearn.linear_model.LogisticRegression", {"max_iter": 200}),
    "hgb": ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 50, "random_state": SEED}),
}

# --------------------------------------------------------------------------- data and repository


def data_file(rows: int, features: int) -> Path:
    """A seeded binary-classification CSV (written once, reused by later runs)."""
    path = OUT / f"data-{rows}x{features}.csv"
    if path.is_file():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = np.round(rng.normal(size=(rows, features)), 5)
    weights = rng.normal(size=features)
    y = (x @ weights + rng.normal(scale=2.0, size=rows) > 0).astype(np.int64)
    columns = {f"f{i}": x[:, i] for i in range(features)}
    columns["label"] = y
    partial = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(columns), partial)
    partial.replace(path)
    return path


def make_repo(data: Path, features: int, estimator: str) -> Path:
    sys.path.insert(0, str(ROOT))
    from mlopsctl.scaffold.init import init_repo

    root = OUT / "repo"
    shutil.rmtree(root, ignore_errors=True)
    init_repo(root, "bench")
    path, params = ESTIMATORS[estimator]
    names = [f"f{i}" for i in range(features)]
    spec = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Model",
        "name": "bench",
        "data": {
            "source": f"file://{data}",
            "target": "label",
            "columns": {**dict.fromkeys(names, "float"), "label": "integer"},
        },
        "features": [{"name": name, "kind": "numeric", "impute": "median", "scale": "standard"} for name in names],
        "training": {
            "task": "classification",
            "estimator": path,
            "params": params,
            "split": {"method": "stratified", "test_size": 0.2, "seed": SEED},
        },
        "evaluation": {"metrics": ["roc_auc", "accuracy"], "gates": ["roc_auc >= 0.5"]},
    }
    (root / "models" / "bench").mkdir(parents=True)
    (root / "models" / "bench" / "model.yaml").write_text(json.dumps(spec, indent=2))
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench model"], check=True)
    return root


PLAIN = """\
import sys
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from {module} import {cls}
{mlflow_setup}
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
features = [c for c in frame.columns if c != "label"]
x_train, x_test, y_train, y_test = train_test_split(
    frame[features], frame["label"], test_size=0.2, random_state={seed}, stratify=frame["label"]
)
pipeline = Pipeline([
    ("features", ColumnTransformer(
        [("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), features)]
    )),
    ("model", {cls}(**{params})),
])
{run_start}pipeline.fit(x_train, y_train)
auc = roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])
{log_metric}print(f"roc_auc={{auc:.6f}}")
"""

MLFLOW_SETUP = """
import mlflow
mlflow.set_tracking_uri("sqlite:///{db}")
mlflow.set_experiment("bench")
mlflow.sklearn.autolog()
"""


def write_scripts(estimator: str) -> tuple[Path, Path]:
    path, params = ESTIMATORS[estimator]
    module, cls = path.rsplit(".", 1)
    common = {"module": module, "cls": cls, "seed": SEED, "params": repr(params)}
    plain = OUT / "plain.py"
    plain.write_text(PLAIN.format(**common, mlflow_setup="", run_start="", log_metric=""))
    with_mlflow = OUT / "with_mlflow.py"
    with_mlflow.write_text(
        PLAIN.format(
            **common,
            mlflow_setup=MLFLOW_SETUP.format(db=OUT / "mlflow.db"),
            run_start="run = mlflow.start_run()\n",
            log_metric='mlflow.log_metric("roc_auc", auc)\nmlflow.end_run()\n',
        )
    )
    return plain, with_mlflow


# --------------------------------------------------------------------------- timing


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of one subprocess run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def commands(repo: Path, data: Path, plain: Path, with_mlflow: Path, mlflow: bool) -> dict[str, list[str]]:
    found = {
        "plain scikit-learn": [sys.executable, str(plain), str(data)],
        "mlopsctl train": [sys.executable, "-m", "mlopsctl", "--repo", str(repo), "train", "bench", "-o", "json"],
    }
    if mlflow:
        found["MLflow autolog"] = [str(MLFLOW_PYTHON), str(with_mlflow), str(data)]
    return found


def measure(runs: dict[str, list[str]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            wall, cpu = timed(runs[name], ROOT)
            times[name].append((wall, cpu))
            print(f"  repeat {repeat + 1}: {name:<20} wall {wall:7.2f} s  cpu {cpu:7.2f} s", file=sys.stderr)
    return times


def table(times: dict[str, list[tuple[float, float]]], header: str) -> str:
    """Median wall and CPU seconds per run, and their ratios to the plain script."""
    base_wall = statistics.median(wall for wall, _ in times["plain scikit-learn"])
    base_cpu = statistics.median(cpu for _, cpu in times["plain scikit-learn"])
    plain = times["plain scikit-learn"]
    lines = [
        header,
        "",
        "| run | median wall s | min wall s | wall ratio to plain | paired wall ratio | median CPU s "
        "| CPU ratio to plain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        # each repeat runs every command back to back: the ratio within a repeat shares its machine load
        paired = statistics.median(w / p for (w, _), (p, _) in zip(values, plain, strict=True))
        lines.append(
            f"| {name} | {wall:.2f} | {min(w for w, _ in values):.2f} | {wall / base_wall:.3f} | {paired:.3f} "
            f"| {cpu:.2f} | {cpu / base_cpu:.3f} |"
        )
    return "\n".join(lines)


def profile(repo: Path) -> None:
    """mlopsctl train in-process under cProfile: mlopsctl's own functions by cumulative time."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from mlopsctl.cli.main import run

    profiler = cProfile.Profile()
    profiler.enable()
    code = run(["--repo", str(repo), "train", "bench", "-o", "json"])
    profiler.disable()
    print(f"exit {code}", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
    stats.print_stats(r"mlopsctl|skops|_column_transformer|_univariate|_logistic|gradient_boosting|read_csv", 45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--estimator", choices=sorted(ESTIMATORS), default="logreg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-mlflow", action="store_true", help="Leave MLflow out (or when it is not installed).")
    parser.add_argument("--profile", action="store_true", help="Profile one mlopsctl train run instead.")
    args = parser.parse_args()

    data = data_file(args.rows, args.features)
    repo = make_repo(data, args.features, args.estimator)
    if args.profile:
        profile(repo)
        return
    plain, with_mlflow = write_scripts(args.estimator)
    mlflow = not args.no_mlflow and MLFLOW_PYTHON.is_file()
    if not mlflow and not args.no_mlflow:
        print(f"MLflow left out: no {MLFLOW_PYTHON} (see the module docstring)", file=sys.stderr)
    (OUT / "mlflow.db").unlink(missing_ok=True)
    runs = commands(repo, data, plain, with_mlflow, mlflow)
    times = measure(runs, args.repeats)
    header = (
        f"{args.rows:,} rows x {args.features} features, {ESTIMATORS[args.estimator][0].rsplit('.', 1)[1]}, "
        f"{args.repeats} repeats, {os.cpu_count()} cores"
    )
    print(table(times, header))


if __name__ == "__main__":
    main()
