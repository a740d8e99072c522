"""What storing the training data costs `mlopsctl train` (issue 14), against train without it, in the same run.

The data file is stored (content-addressed, deduplicated) while the model fits, and the upload is
confirmed before the version is registered. Measured on the same N x 20 CSV and estimator as
bench_train.py, every variant as a subprocess of the installed entry point, interleaved, median wall time:

* ``no snapshot``      data_snapshot_max_bytes: 0 with the local store: the anchor (train before issue 14)
* ``local, new``       the local store, snapshot folder emptied first: a copy of the file, hashed while copied
* ``local, same data`` the local store already holding the file: nothing copied (dedupe)
* ``oci, no snapshot`` a distribution registry on loopback, artifact uploaded, data not stored
* ``oci, new``         the same registry, a fresh namespace: artifact and data uploaded and confirmed
* ``oci, same data``   the same namespace again: the data is not uploaded (dedupe)

Then ``data pull`` from the registry against ``cp`` of the same file. Needs Debian's docker-registry.

    .venv/bin/python bench/bench_data_snapshots.py                      # 1,000,000 x 20, 3 repeats
    .venv/bin/python bench/bench_data_snapshots.py --rows 200000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out" / "data_snapshots"
SEED = 42


def data_file(rows: int, features: int) -> Path:
    path = OUT / f"data-{rows}x{features}.csv"
    if path.is_file():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = np.round(rng.normal(size=(rows, features)), 5)
    y = (x @ rng.normal(size=features) + rng.normal(scale=2.0, size=rows) > 0).astype(np.int64)
    columns = {f"f{i}": x[:, i] for i in range(features)}
    columns["label"] = y
    partial = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(columns), partial)
    partial.replace(path)
    return path


def make_repo(data: Path, features: int) -> Path:
    from mlopsctl.scaffold.init import init_repo

    root = OUT / "repo"
    shutil.rmtree(root, ignore_errors=True)
    init_repo(root, "bench")
    (root / "data").mkdir(exist_ok=True)
    shutil.copyfile(data, root / "data" / "bench.csv")  # inside the repository, as a team keeps it
    names = [f"f{i}" for i in range(features)]
    spec = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Model",
        "name": "bench",
        "data": {
            "source": "data/bench.csv",
            "target": "label",
            "columns": {**dict.fromkeys(names, "float"), "label": "integer"},
        },
        "features": [{"name": name, "kind": "numeric", "impute": "median", "scale": "standard"} for name in names],
        "training": {
            "task": "classification",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 200},
            "split": {"method": "stratified", "test_size": 0.2, "seed": SEED},
        },
        "evaluation": {"metrics": ["roc_auc", "accuracy"], "gates": ["roc_auc >= 0.5"]},
    }
    (root / "models" / "bench").mkdir(parents=True)
    (root / "models" / "bench" / "model.yaml").write_text(json.dumps(spec, indent=2))
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "data/bench.csv\n")
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench model"], check=True)
    return root


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")
    return elapsed


def train(root: Path, env: dict[str, str]) -> float:
    return timed([sys.executable, "-m", "mlopsctl", "--repo", str(root), "train", "bench", "-o", "json"], env)


def run(rows: int, repeats: int) -> None:
    from tests.support.stores import oci_registry

    data = data_file(rows, 20)
    root = make_repo(data, 20)
    snapshots = root / ".mlops" / "artifacts" / "data"
    times: dict[str, list[float]] = {}
    pulls: dict[str, list[float]] = {"data pull (oci)": [], "cp": []}
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as folder, oci_registry(Path(folder)) as registry:
        for repeat in range(repeats):
            off = {"MLOPS_DATA_SNAPSHOT_MAX_BYTES": "0"}
            oci = {"MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/bench{repeat}/models"}
            oci_off = {"MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/off{repeat}/models", **off}
            shutil.rmtree(snapshots, ignore_errors=True)
            variants = [
                ("no snapshot", off),
                ("local, new", {}),
                ("local, same data", {}),
                ("oci, no snapshot", oci_off),
            ]
            for name, env in variants:
                times.setdefault(name, []).append(train(root, env))
            shutil.rmtree(snapshots, ignore_errors=True)  # the registry's cache too: a first upload
            times.setdefault("oci, new", []).append(train(root, oci))
            times.setdefault("oci, same data", []).append(train(root, oci))
            target = Path(folder) / "pulled.csv"
            shutil.rmtree(snapshots, ignore_errors=True)
            command = ["--repo", str(root), "data", "pull", "bench@latest", "--to", str(target)]
            pulls["data pull (oci)"].append(timed([sys.executable, "-m", "mlopsctl", *command], oci))
            target.unlink()
            pulls["cp"].append(timed(["cp", str(data), str(target)], {}))
            target.unlink()
    report(rows, repeats, times, pulls, data.stat().st_size)


def report(rows: int, repeats: int, times: dict[str, list[float]], pulls: dict[str, list[float]], size: int) -> None:
    anchor = statistics.median(times["no snapshot"])
    print(f"train on {rows:,} x 20 ({size / 1e6:.0f} MB CSV), median of {repeats}; load {os.getloadavg()}")
    print(f"{'variant':<20}{'median s':>10}{'ratio':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20}{median:>10.2f}{median / anchor:>7.2f}x")
    oci_off = statistics.median(times["oci, no snapshot"])
    print(f"oci, new against oci, no snapshot: {statistics.median(times['oci, new']) / oci_off:.2f}x")
    cp = statistics.median(pulls["cp"])
    pulled = statistics.median(pulls["data pull (oci)"])
    print(f"data pull (oci) {pulled:.2f} s, cp {cp:.2f} s: {pulled / cp:.1f}x (includes the CLI's start-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run(args.rows, args.repeats)


if __name__ == "__main__":
    main()
