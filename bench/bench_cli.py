"""Everyday command speed: `mlopsctl --help` and `mlopsctl validate` against bare `python -c pass`, same run.

Issue 13 items 14 and 15: `--help` under 0.15 s, `validate` under 0.3 s on a one-model repository
and under 1 s on 500 models (it runs in the pre-commit hook of every model repository). The anchor
is the interpreter itself: `python -c pass`, timed in the same run, interleaved with the commands
so drifting machine load hits all alike; each figure is the median of ``--repeat`` processes.

The repositories are the ones ``bench_gitops.py`` generates (the template's model spec, 10 version
records per model, three environment files deploying every model), with the spec's data file in
place so ``validate`` finds no problem. The estimator parameter cache lives in a scratch
``XDG_CACHE_HOME``, warmed by one untimed run (the cold run is printed on its own line). The YAML
parse cache (``.git/mlopsctl/yaml-parse``, kept by content) is warm in the timed rows, as it is for
every commit after the first; its cold cost (a fresh clone, or a new mlopsctl) is printed on its own
lines: the first validate of the 500-model repository after the cache folder is removed, median of
3, with the folder removed before each run.

``--before REV`` also times the same commands on another commit of this repository (``git
archive`` into a scratch folder, put first on ``PYTHONPATH``), in the same run:

    python3 bench/bench_cli.py                          # this tree, 500 models, median of 15
    python3 bench/bench_cli.py --before HEAD            # and the last commit, side by side
    python3 bench/bench_cli.py --models 50 --repeat 5   # a quick look
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gitops import build_mlopsctl_repo  # noqa: E402

DATA_HEADER = (
    "customer_id,signup_date,tenure_months,monthly_charges,contract,payment_method,support_calls,age,churned\n"
)


@dataclass(frozen=True)
class Case:
    """One command line, run in ``cwd`` with ``env``."""

    label: str
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]


def make_repository(root: Path, models: int, versions: int) -> Path:
    """A generated model repository (no promotion commits) whose specs' data file exists."""
    root.mkdir(parents=True)
    build_mlopsctl_repo(root, models, versions, commits=0)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "churn.csv").write_text(DATA_HEADER)
    return root


def export_tree(rev: str, into: Path) -> Path:
    """The ``mlopsctl`` package of commit ``rev``, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", rev, "mlopsctl"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def tree_env(tree: Path | None, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["XDG_CACHE_HOME"] = str(cache)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def cases_for(name: str, tree: Path | None, scratch: Path, repos: dict[str, Path]) -> list[Case]:
    cache = scratch / f"cache-{name}"
    cache.mkdir()
    env = tree_env(tree, cache)
    cli = (sys.executable, "-c", "import sys; from mlopsctl.cli.main import main; sys.argv[0] = 'mlopsctl'; main()")
    suffix = f" [{name}]"
    return [
        Case("mlopsctl --help" + suffix, (*cli, "--help"), scratch, env),
        *(Case(f"mlopsctl validate, {label}{suffix}", (*cli, "validate"), root, env) for label, root in repos.items()),
    ]


def run_once(case: Case) -> float:
    started = time.perf_counter()
    done = subprocess.run(case.argv, cwd=case.cwd, env=case.env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{case.label} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def without_parse_cache(case: Case, runs: int = 3) -> float:
    """Median of ``runs`` runs of ``case``, each after removing the repository's YAML parse cache."""
    times = []
    for _ in range(runs):
        shutil.rmtree(case.cwd / ".git" / "mlopsctl" / "yaml-parse", ignore_errors=True)
        times.append(run_once(case))
    return statistics.median(times)


def measure(cases: list[Case], repeat: int) -> dict[str, list[float]]:
    """Each case ``repeat`` times, round-robin (one process of each per round)."""
    samples: dict[str, list[float]] = {case.label: [] for case in cases}
    for _ in range(repeat):
        for case in cases:
            samples[case.label].append(run_once(case))
    return samples


def print_table(samples: dict[str, list[float]], anchor: str, cold: dict[str, float], repeat: int) -> None:
    base = statistics.median(samples[anchor])
    print(f"\n{'command':<66} {'median s':>9} {'min s':>7} {'max s':>7} {'/ python -c pass':>17}")
    for label, times in samples.items():
        median = statistics.median(times)
        print(f"{label:<66} {median:>9.3f} {min(times):>7.3f} {max(times):>7.3f} {median / base:>16.1f}x")
    for label, seconds in cold.items():
        print(f"{label:<66} {seconds:>9.3f} {'':>7} {'':>7} {seconds / base:>16.1f}x")
    load = os.getloadavg()
    print(
        f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} (1/5/15 min) at the end, median of {repeat} processes per row"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--before", metavar="REV", help="also time this commit's mlopsctl, in the same run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlopsctl-bench-cli-") as scratch_name:
        scratch = Path(scratch_name)
        repos = {
            "1 model": make_repository(scratch / "one", 1, args.versions),
            f"{args.models} models": make_repository(scratch / "many", args.models, args.versions),
        }
        anchor = Case("python -c pass (anchor)", (sys.executable, "-c", "pass"), scratch, tree_env(None, scratch))
        cases = [anchor, *cases_for("this tree", None, scratch, repos)]
        if args.before:
            cases += cases_for(args.before, export_tree(args.before, scratch / "before"), scratch, repos)
        cold = {
            f"{case.label}, cold cache (once)": run_once(case) for case in cases if "validate, 1 model" in case.label
        }
        samples = measure(cases, args.repeat)
        for case in cases:
            if f"validate, {args.models} models" in case.label:
                cold[f"{case.label}, cold parse cache"] = without_parse_cache(case)
        print_table(samples, anchor.label, cold, args.repeat)


if __name__ == "__main__":
    main()
