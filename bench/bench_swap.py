"""Swaps under load: what a steady load sees while ``apply`` replaces v1 by v2 on the same port.

The anchor is the swap every target had before the takeover: prove the new version on a scratch
port, stop the old instance, start the new one on the port (the local target still does this for
an instance started before handovers existed, and the docker target does it today). The same
run measures both on the same machine: a v1 service made to look pre-handover (its handover socket
removed) is replaced the old way, then v1 is replaced again by a takeover. During each ``apply``
two clients (one keep-alive, one new connection per request) send predictions back to back.

Printed per swap: requests answered, refused connections, other connection errors, 5xx, and
the wall time of ``apply``; then the error ratio (takeover over stop-then-start). With ``--target
docker`` the same run happens with containers on the local engine (versions from the real
trainer so their images build from the local base image; the first apply builds them). Usage:

    python3 bench/bench_swap.py            # 3 swaps of each kind
    python3 bench/bench_swap.py --rounds 1
    python3 bench/bench_swap.py --target docker
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.apply_repo import make_repo, stop_everything, write_env  # noqa: E402
from tests.support.handover import started_before_handovers  # noqa: E402
from tests.support.services import free_port, image_test_repo, remove_project_images  # noqa: E402
from tests.support.steady_load import SteadyLoad  # noqa: E402

DOCKER_PROJECT = "bench-swap-docker"


@dataclass
class Swap:
    kind: str
    answered: int
    refused: int
    other_errors: int
    server_errors: int
    seconds: float

    @property
    def failed(self) -> int:
        return self.refused + self.other_errors + self.server_errors


def apply(root: Path) -> float:
    command = [sys.executable, "-m", "mlopsctl", "apply", "--env", "staging", "--repo", str(root), "--timeout", "300"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if done.returncode != 0:
        raise SystemExit(f"apply failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def swap(root: Path, port: int, kind: str, version: int, target: str) -> Swap:
    if kind == "stop-then-start":
        started_before_handovers(root, "staging")
    write_env(root, "staging", {"churn": {"version": version}}, base_port=port, target=target)
    with SteadyLoad(port) as load:
        load.wait_for(lambda: len(load.fresh.versions) >= 5)
        seconds = apply(root)
        load.wait_for(load.answered(version, 5))
    errors = load.errors
    refused = errors.get("ConnectionRefusedError", 0)
    server_errors = sum(count for status, count in load.statuses.items() if status >= 500)
    answered = sum(load.statuses.values())
    return Swap(kind, answered, refused, sum(errors.values()) - refused, server_errors, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    swaps: list[Swap] = []
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as folder:
        root = _docker_repo(Path(folder)) if args.target == "docker" else make_repo(Path(folder), versions=2)
        port = free_port()
        try:
            write_env(root, "staging", {"churn": {"version": 1}}, base_port=port, target=args.target)
            apply(root)
            for _ in range(args.rounds):
                for kind in ("stop-then-start", "takeover"):
                    version = 2 if len(swaps) % 2 == 0 else 1  # v1 -> v2, then back, and so on
                    swaps.append(swap(root, port, kind, version, args.target))
                    print(_row(swaps[-1]), flush=True)
        finally:
            stop_everything(root)
            if args.target == "docker":
                remove_project_images(DOCKER_PROJECT)
    print(f"target: {args.target}")
    _summary(swaps)
    return 0


def _docker_repo(folder: Path) -> Path:
    """Two versions from the real trainer (their images build offline from the local base image)."""
    from mlopsctl.spec.loader import open_repo
    from mlopsctl.train.api import train_model

    for name, value in (("NAME", "bench"), ("EMAIL", "bench@example.invalid")):
        os.environ.setdefault(f"GIT_AUTHOR_{name}", value)
        os.environ.setdefault(f"GIT_COMMITTER_{name}", value)
    root = image_test_repo(folder / "repo", DOCKER_PROJECT, "bench: swaps on the docker target")
    for depth in (8, 4):
        train_model(open_repo(root), "churn", overrides=[f"training.params.max_depth={depth}"])
    return root


def _row(swap: Swap) -> str:
    return (
        f"{swap.kind:<16} answered={swap.answered:>6}  refused={swap.refused:>4}  other errors={swap.other_errors:>3}"
        f"  5xx={swap.server_errors:>3}  apply={swap.seconds:5.1f} s"
    )


def _summary(swaps: list[Swap]) -> None:
    old = [s for s in swaps if s.kind == "stop-then-start"]
    new = [s for s in swaps if s.kind == "takeover"]
    failed_old, failed_new = sum(s.failed for s in old), sum(s.failed for s in new)
    seconds_old, seconds_new = sum(s.seconds for s in old) / len(old), sum(s.seconds for s in new) / len(new)
    print(
        f"failed requests per swap: stop-then-start {failed_old / len(old):.1f}, takeover {failed_new / len(new):.1f}"
    )
    print(
        f"apply wall time: stop-then-start {seconds_old:.1f} s, takeover {seconds_new:.1f} s "
        f"(ratio {seconds_new / seconds_old:.2f}x)"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
