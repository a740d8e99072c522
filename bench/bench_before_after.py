"""Before and after: run the speed benches of two commits side by side, in the same session.

Issue 12 (one API, many faces) moved code between packages and put git, HTTP and processes
behind ports; it must not make any everyday figure worse by more than 10%. This script checks out
the commit before that work (``--before``, default ``dcbae7f``) and the commit to judge (``--after``,
default ``HEAD``; committed code only, so work in progress in the tree never leaks in) with
``git archive`` into temporary folders and runs each tree's *own* bench scripts (so each side measures its own code,
through its own API), alternating the order round by round so drifting machine load hits both
alike. The rows both sides print under the same label are matched; per label the best of the
rounds is kept and the ratio after/before is printed (for throughput rows, where more is better,
before/after), with ``worse`` when it exceeds 1.10.

    python3 bench/bench_before_after.py                       # every bench, 3 rounds
    python3 bench/bench_before_after.py --only gitops plan    # some of them
    python3 bench/bench_before_after.py --rounds 1 --small    # a quick look at small sizes

The serving bench needs MLflow in ``bench/.venv-mlflow`` (see bench_serve.py); without it the
serving rows are skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FULL: dict[str, list[str]] = {
    "gitops": ["bench_gitops.py", "--no-gto"],
    "plan": ["bench_plan.py", "--no-gto"],
    "status": ["bench_status.py"],
    "registry": ["bench_registry.py", "--no-gto"],
    "tui": ["bench_tui.py"],
    "serve": ["bench_serve.py", "--quick"],
}
SMALL: dict[str, list[str]] = {
    "gitops": ["bench_gitops.py", "--no-gto", "--models", "50", "--commits", "500"],
    "plan": ["bench_plan.py", "--no-gto", "--models", "50", "--commits", "500"],
    "status": ["bench_status.py", "--deployments", "20", "--repeat", "3"],
    "registry": ["bench_registry.py", "--no-gto", "--models", "100", "--versions", "5"],
    "tui": ["bench_tui.py", "--models", "20", "--versions", "3"],
    "serve": ["bench_serve.py", "--quick", "--starts", "1"],
}
# Rows where a larger number is better (requests per second).
HIGHER_IS_BETTER = re.compile(r"req/s|throughput|rows/s", re.IGNORECASE)
NUMBER = re.compile(r"^-?\d+(?:\.\d+)?")
PLAIN_ROW = re.compile(r"^(?P<label>\S.*?)\s{2,}(?P<value>\d+\.\d+)\b")


@dataclass
class Side:
    """One tree's figures: label -> the values seen over the rounds."""

    name: str
    tree: Path
    values: dict[str, list[float]] = field(default_factory=dict)


def markdown_rows(line: str) -> tuple[str, list[str]] | None:
    """(label, cells) of a markdown table row, None for other lines and separators."""
    if not line.startswith("|") or set(line) <= set("|-: "):
        return None
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return (cells[0], cells[1:]) if cells else None


def parse(output: str, bench: str) -> dict[str, float]:
    """label -> first number of each row a bench printed (markdown tables and aligned text)."""
    found: dict[str, float] = {}
    header: list[str] = []
    for line in output.splitlines():
        row = markdown_rows(line)
        if row is not None:
            label, cells = row
            numbers = [NUMBER.match(cell) for cell in cells]
            if not any(numbers):
                header = [label, *cells]
                continue
            if bench == "serve":
                found.update(serve_row(label, cells, header))
            elif NUMBER.match(label):
                found.update(by_column(label, cells, header))
            else:
                found.update(first_number(label, cells))
            continue
        plain = PLAIN_ROW.match(line)
        if plain:
            found[f"{bench}: {plain['label'].strip()}"] = float(plain["value"])
    return {key if key.startswith(f"{bench}:") else f"{bench}: {key}": value for key, value in found.items()}


def first_number(label: str, cells: list[str]) -> dict[str, float]:
    """The row's first numeric cell, under its label."""
    for cell in cells:
        match = NUMBER.match(cell)
        if match:
            return {label: float(match.group())}
    return {}


def by_column(label: str, cells: list[str], header: list[str]) -> dict[str, float]:
    """A row led by a number (status: the count of deployments): each timed column under its header."""
    columns = dict(zip(header[1:], cells, strict=False))
    return {
        f"{header[0]} {label}, {name}": float(value.removesuffix(" s"))
        for name, value in columns.items()
        if value.endswith(" s") and NUMBER.match(value)
    }


def serve_row(label: str, cells: list[str], header: list[str]) -> dict[str, float]:
    """Serving rows name the model, the rows per request and the server: keep mlopsctl's figures."""
    columns = dict(zip(header[1:], cells, strict=False))
    if columns.get("server") == "mlopsctl":
        rows = columns.get("rows/request", "?")
        return {
            f"{label} x{rows} {name}": float(columns[name])
            for name in ("req/s", "p99 ms", "server CPU ms/request")
            if name in columns and NUMBER.match(columns[name])
        }
    if "cold start mlopsctl s" in columns:
        return {f"{label} cold start s": float(columns["cold start mlopsctl s"])}
    return {}


def run(side: Side, bench: str, command: list[str], python: str) -> None:
    """Run one bench script of one tree and keep what it printed."""
    env = {**os.environ, "PYTHONPATH": str(side.tree)}
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(side.tree / "bench" / command[0]), *command[1:]],
        cwd=side.tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        print(f"  {side.name} {bench}: exit {done.returncode} after {took:.0f} s", file=sys.stderr)
        print(done.stderr[-2000:], file=sys.stderr)
        return
    figures = parse(done.stdout, bench)
    print(f"  {side.name} {bench}: {len(figures)} figures in {took:.0f} s", file=sys.stderr)
    for label, value in figures.items():
        side.values.setdefault(label, []).append(value)


def checkout(ref: str, into: Path) -> Path:
    """The tree of REF (files only, no .git) in a fresh folder, with the venv links the benches use."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    for venv in (ROOT / "bench").glob(".venv-*"):
        (into / "bench" / venv.name).symlink_to(venv.resolve())
    return into


def report(before: Side, after: Side, benches: list[str]) -> int:
    """Print the matched rows with their ratio; the count of rows more than 10% worse."""
    print(f"\n| bench row | before ({before.name}) | after ({after.name}) | ratio | |")
    print("|---|---:|---:|---:|---|")
    worse = 0
    for label in after.values:
        if label not in before.values or label.split(":")[0] not in benches:
            continue
        old, new = best(label, before.values[label]), best(label, after.values[label])
        higher = bool(HIGHER_IS_BETTER.search(label))
        ratio = (old / new if higher else new / old) if old and new else float("nan")
        verdict = "worse" if ratio > 1.10 else ""
        worse += verdict == "worse"
        print(f"| {label} | {old:g} | {new:g} | {ratio:.2f} | {verdict} |")
    print("\nratio: after/before for times, before/after for throughput; above 1.10 is worse by more than 10%.")
    return worse


def best(label: str, values: list[float]) -> float:
    """Best of the rounds: the largest throughput, the smallest time."""
    return max(values) if HIGHER_IS_BETTER.search(label) else min(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="dcbae7f", help="the commit to compare with (default dcbae7f)")
    parser.add_argument("--after", default="HEAD", help="the commit to judge (default HEAD)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(FULL), help="benches to run (default all)")
    parser.add_argument("--small", action="store_true", help="small sizes, for a quick look")
    args = parser.parse_args()
    commands = SMALL if args.small else FULL
    benches = args.only or list(commands)
    if "serve" in benches and not (ROOT / "bench" / ".venv-mlflow" / "bin" / "mlflow").exists():
        print("skipping serve: bench/.venv-mlflow is missing (see bench/bench_serve.py)", file=sys.stderr)
        benches.remove("serve")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="mlopsctl-bench-") as folder:
        before = Side(args.before, checkout(args.before, Path(folder) / "before"))
        after = Side(args.after, checkout(args.after, Path(folder) / "after"))
        for round_ in range(args.rounds):
            for bench in benches:
                order = (before, after) if (round_ + benches.index(bench)) % 2 == 0 else (after, before)
                for side in order:
                    run(side, bench, commands[bench], python)
        load = os.getloadavg()
        worse = report(before, after, benches)
    loads = " ".join(f"{value:.1f}" for value in load)
    print(f"{os.cpu_count()} cores, load average {loads}, best of {args.rounds} rounds")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
