"""Registry speed: `registry list` on 1,000 models x 20 versions, and registering one version in a
repo that already holds 200 models x 10 versions, against GTO (git-tag registry) in the same run.

Repositories are generated directly (record files from one realistic template, one commit), so
building them is not what is measured. Usage:

    python3 bench/bench_registry.py                      # full sizes, with GTO when bench/.venv-gto exists
    python3 bench/bench_registry.py --models 100 --versions 5 --no-gto   # a quick look

GTO is installed with: python3 -m venv bench/.venv-gto && bench/.venv-gto/bin/pip install gto
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlopsctl.contract.records import (  # noqa: E402
    ArtifactRef,
    BinnedReference,
    DataFingerprint,
    GateResult,
    InputColumn,
    Reference,
    Signature,
    VersionRecord,
)
from mlopsctl.registry.index import INDEX_NAME  # noqa: E402
from mlopsctl.registry.store import VersionDraft, record_yaml, register_version  # noqa: E402
from mlopsctl.scaffold.init import init_repo  # noqa: E402
from mlopsctl.spec.loader import open_repo  # noqa: E402

GTO = ROOT / "bench" / ".venv-gto" / "bin" / "gto"
GTO_TIMEOUT = 300.0
FEATURES = [f"f{i}" for i in range(10)]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


# --------------------------------------------------------------------------- building repositories


def template_record() -> VersionRecord:
    """A record the size of a real one: 10 features, binned references, metrics, gates, environment."""
    edges = [round(-2.0 + 0.5 * i, 3) for i in range(9)]
    shares = [0.1] * 10
    return VersionRecord(
        model="zzmodel",
        version=999999,
        created_at="2026-01-01T00:00:00Z",
        run_id="zzrun",
        spec_commit="c" * 40,
        spec_sha256="d" * 64,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 200, "max_depth": 8, "min_samples_leaf": 2, "random_state": 42},
        metrics={"roc_auc": 0.91234, "accuracy": 0.8765, "f1": 0.8123, "log_loss": 0.3456},
        gates=[GateResult(gate="roc_auc >= 0.85", value=0.91234, passed=True)],
        gates_passed=True,
        data=DataFingerprint(uri="data/churn.csv", sha256="e" * 64, rows=100000, columns=11, schema_sha256="f" * 64),
        environment={
            "python": "3.11.9",
            "platform": "Linux-x86_64",
            "packages": {"scikit-learn": "1.5.2", "numpy": "2.1.0", "pandas": "2.2.3", "skops": "0.10.0"},
        },
        artifact=ArtifactRef(uri="sha256/zz/zzsha.skops", sha256="zzsha", size=123456),
        signature=Signature(
            inputs=[InputColumn(name=name, type="float") for name in FEATURES], task="classification", target="y"
        ),
        reference=Reference(
            features={
                name: BinnedReference(kind="numeric", edges=edges, shares=shares, count=80000) for name in FEATURES
            },
            prediction=BinnedReference(kind="numeric", edges=edges, shares=shares, count=20000),
        ),
    )


def write_records(root: Path, models: int, versions: int) -> None:
    template = record_yaml(template_record())
    spec = (root / "models" / "churn" / "model.yaml").read_text()
    for m in range(models):
        name = f"model-{m:04d}"
        spec_dir = root / "models" / name
        spec_dir.mkdir(parents=True, exist_ok=True)
        (spec_dir / "model.yaml").write_text(spec.replace("name: churn", f"name: {name}", 1))
        folder = root / "registry" / name
        folder.mkdir(parents=True, exist_ok=True)
        for v in range(1, versions + 1):
            digest = hashlib.sha256(f"{name}@{v}".encode()).hexdigest()
            text = (
                template.replace("zzmodel", name)
                .replace("999999", str(v))
                .replace("zzrun", f"run-{m}-{v}")
                .replace("zzsha", digest)
                .replace("/zz/", f"/{digest[:2]}/")
            )
            (folder / f"v{v}.yaml").write_text(text)
    staging = root / "environments" / "staging.yaml"
    deployments = "".join(f"  model-{m:04d}: {{version: {versions}}}\n" for m in range(0, models, 3))
    staging.write_text(staging.read_text().replace("deployments: {}\n", "deployments:\n" + deployments))


def build_repo(parent: Path, name: str, models: int, versions: int) -> Path:
    root = init_repo(parent / name, name).root
    write_records(root, models, versions)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"{models} models x {versions} versions")
    return root


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, text=True, check=True, env={**os.environ, **GIT_ENV}
    ).stdout


def add_gto_tags(root: Path, models: int, versions: int) -> None:
    """Annotated tags ``model-0001@v3.0.0`` as ``gto register`` makes them, in one fast-import."""
    head = git(root, "rev-parse", "HEAD").strip()
    stamp = int(time.time()) - 86400
    chunks = []
    for m in range(models):
        for v in range(1, versions + 1):
            message = f"Registering artifact model-{m:04d} version v{v}.0.0\n"
            chunks.append(
                f"tag model-{m:04d}@v{v}.0.0\nfrom {head}\ntagger bench <bench@localhost> {stamp + v} +0000\n"
                f"data {len(message.encode())}\n{message}\n"
            )
    git(root, "fast-import", "--quiet", stdin="".join(chunks))


# --------------------------------------------------------------------------- timing


Sample = tuple[float, float]
"""Wall seconds and CPU seconds (this process and its children: user + system)."""
Row = tuple[str, Sample | None, str]
"""Measurement name, its sample (None: timed out), and its kind: "" measured, "anchor", "floor"."""


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object], repeat: int) -> Sample:
    """Median wall and CPU time of ``repeat`` runs, in seconds.

    The machine is shared, so wall time swings with other work; CPU time shows the cost itself.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def cli_in_process(*args: str) -> Callable[[], object]:
    from mlopsctl.cli.main import run

    def call() -> object:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = run(list(args))
        assert code == 0, out.getvalue()[-500:]
        return code

    return call


def cli_process(*args: str) -> Callable[[], object]:
    def call() -> object:
        return subprocess.run([sys.executable, "-m", "mlopsctl", *args], capture_output=True, check=True)

    return call


def gto_call(root: Path, *args: str) -> Callable[[], object]:
    def call() -> object:
        return subprocess.run(
            [str(GTO), *args],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=GTO_TIMEOUT,
            env={**os.environ, **GIT_ENV},
        )

    return call


def timed_gto(action: Callable[[], object], repeat: int) -> Sample | None:
    try:
        return timed(action, repeat)
    except subprocess.TimeoutExpired:
        return None


def drop_index(root: Path) -> Callable[[], object]:
    path = root / ".mlops" / INDEX_NAME

    def call() -> object:
        path.unlink(missing_ok=True)
        return cli_in_process("registry", "list", "--all", "--repo", str(root))()

    return call


# --------------------------------------------------------------------------- the benchmark


def bench_list(parent: Path, models: int, versions: int, with_gto: bool) -> list[Row]:
    root = build_repo(parent, "list-repo", models, versions)
    repo = str(root)
    import mlopsctl.cli.main  # noqa: F401  imports are not what the in-process timings measure

    rows: list[Row] = [
        ("list --all, no index yet (first run)", timed(drop_index(root), 1), ""),
    ]
    cli_in_process("registry", "list", "--repo", repo)()  # the index now exists
    for name, args in [
        ("list (one row per model), in-process", ()),
        ("list --all (every version), in-process", ("--all",)),
        ("list --all -o json, in-process", ("--all", "-o", "json")),
        ("list MODEL, in-process", ("model-0007",)),
    ]:
        rows.append((name, timed(cli_in_process("registry", "list", *args, "--repo", repo), 3), ""))
    for name, args in [("list, subprocess", ()), ("list --all, subprocess", ("--all",))]:
        rows.append((name, timed(cli_process("registry", "list", *args, "--repo", repo), 3), ""))
    rows.append(("python -c 'import mlopsctl.cli.main' (startup floor)", timed(import_floor, 3), "floor"))
    if with_gto:
        add_gto_tags(root, models, versions)
        rows.append(("gto show (anchor), subprocess", timed_gto(gto_call(root, "show"), 1), "anchor"))
    shutil.rmtree(root, ignore_errors=True)
    return rows


def import_floor() -> object:
    return subprocess.run([sys.executable, "-c", "import mlopsctl.cli.main"], check=True)


def sample_draft(model: str) -> VersionDraft:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlopsctl.registry.artifacts import dump_pipeline

    x, y = load_breast_cancer(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    record = template_record()
    fields = {name: getattr(record, name) for name in VersionDraft.__dataclass_fields__ if name != "artifact"}
    return VersionDraft(**{**fields, "model": model, "artifact": dump_pipeline(pipeline)})


def bench_register(parent: Path, models: int, versions: int, with_gto: bool) -> list[Row]:
    root = build_repo(parent, "register-repo", models, versions)
    repo = open_repo(root)
    draft = sample_draft(f"model-{models // 2:04d}")
    register_version(repo, draft)  # warm caches: the artifact is stored once, later ones are deduplicated
    rows: list[Row] = [
        ("register_version (artifact + record + commit)", timed(lambda: register_version(repo, draft), 5), ""),
    ]
    if with_gto:
        add_gto_tags(root, models, versions)
        rows.append(("gto register (anchor)", time_gto_register(root, f"model-{models // 2:04d}", 3), "anchor"))
    shutil.rmtree(root, ignore_errors=True)
    return rows


def time_gto_register(root: Path, model: str, repeat: int) -> Sample | None:
    """``gto register`` refuses a second version on the same commit, so each run gets a new (untimed) commit."""
    register = gto_call(root, "register", model)
    walls, cpus = [], []
    for _ in range(repeat):
        git(root, "commit", "-q", "--allow-empty", "-m", "next change")
        try:
            wall, cpu = timed(register, 1)
        except subprocess.TimeoutExpired:
            return None
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def print_table(title: str, rows: list[Row], target: float) -> None:
    anchor = next((sample[0] for _, sample, kind in rows if kind == "anchor" and sample), None)
    print(f"\n{title}")
    print(f"| measurement | wall s | CPU s | wall vs target {target:g} s | anchor wall / this |")
    print("|---|---:|---:|---:|---:|")
    for name, sample, kind in rows:
        if sample is None:
            print(f"| {name} | >{GTO_TIMEOUT:g} (timed out) | | | |")
            continue
        wall, cpu = sample
        versus = f"{wall / target:.2f}x" if kind == "" else ""
        ratio = f"{anchor / wall:.1f}x" if anchor and kind == "" else ""
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {versus} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--register-models", type=int, default=200)
    parser.add_argument("--register-versions", type=int, default=10)
    parser.add_argument("--no-gto", action="store_true", help="Skip the GTO anchor.")
    args = parser.parse_args()
    with_gto = GTO.exists() and not args.no_gto
    os.environ.setdefault("COLUMNS", "200")
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as scratch:
        for name, value in GIT_ENV.items():
            os.environ.setdefault(name, value)
        parent = Path(scratch)
        listing = bench_list(parent, args.models, args.versions, with_gto)
        print_table(f"registry list: {args.models} models x {args.versions} versions", listing, 1.0)
        registering = bench_register(parent, args.register_models, args.register_versions, with_gto)
        print_table(
            f"register one version: repo with {args.register_models} models x {args.register_versions} versions",
            registering,
            0.5,
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load}, gto: {with_gto}")


if __name__ == "__main__":
    main()
