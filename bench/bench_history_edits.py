"""`history` before and after it reads commits without trailers (issue 13, item 4), in the same run.

The repository is bench_gitops.py's: 500 models, 10 versions each, 3 environments, 5,000 promotion
commits (with trailers). The anchor is `read_history` as it was before item 4 (trailers only),
loaded from git (`git show BASE:mlopsctl/gitops/history.py`); it and today's `read_history` are
timed alternately (each first in every other turn), so both see the same load. Today's is timed
twice: "cold" right after deleting the kept walk (.git/mlopsctl/), "warm" with it. Usage:

    python3 bench/bench_history_edits.py                 # full size
    python3 bench/bench_history_edits.py --models 50 --commits 500 --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gitops import build_mlopsctl_repo, model_name  # noqa: E402
from mlopsctl.gitops.history import read_history  # noqa: E402

BASE = "c507b5d"
"""The last commit before item 4: history read from trailers only."""


def baseline() -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BASE}:mlopsctl/gitops/history.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("baseline_history", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_history"] = module  # dataclasses look their module up there
    exec(compile(source, "baseline_history.py", "exec"), module.__dict__)  # our own file at BASE
    return module


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    before = baseline().read_history
    with tempfile.TemporaryDirectory(prefix="bench-history-edits-") as scratch:
        repo = Path(scratch)
        build_mlopsctl_repo(repo, args.models, 10, args.commits)
        kept = repo / ".git" / "mlopsctl"
        cases: list[tuple[str, dict[str, object]]] = [
            ("newest 50", {}),
            ("all entries", {"limit": None}),
            ("one model, one env", {"model": model_name(7), "env": "staging"}),
        ]
        print(f"{args.models} models, {args.commits} promotion commits; best of {args.repeat}, alternating")
        heads = ("before (s)", "cold (s)", "warm (s)", "cold/before", "warm/before")
        print(f"{'history':<22}" + "".join(f" {head:>12}" for head in heads))
        for name, kwargs in cases:
            old: Callable[[], object] = partial(before, repo, **kwargs)
            new: Callable[[], object] = partial(read_history, repo, **kwargs)
            assert len(new()) == len(old())  # type: ignore[arg-type]
            runs: dict[str, list[float]] = {"before": [], "cold": [], "warm": []}
            for turn in range(args.repeat):
                shutil.rmtree(kept, ignore_errors=True)
                runs["cold"].append(timed(new))
                pair = [("before", old), ("warm", new)]
                for key, action in pair if turn % 2 else reversed(pair):  # neither always runs first
                    runs[key].append(timed(action))
            b, c, w = (min(runs[key]) for key in ("before", "cold", "warm"))
            print(f"{name:<22} {b:>12.4f} {c:>12.4f} {w:>12.4f} {c / b:>11.2f}x {w / b:>11.2f}x")
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
