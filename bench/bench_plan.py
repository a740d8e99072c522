"""Plan speed: `plan` on 500 models, 3 environments and 5,000 promotion commits, against `gto show`
on the same number of models and versions registered the GTO way (annotated tags), in the same run.

The repository is the one ``bench_gitops.py`` generates (500 model specs, 500 x 10 version records,
three environment files of 500 deployments each, 5,000 promotion commits), plus one commit that
gives production its own port range. ``plan --env production`` is measured twice:

* **nothing runs**: 500 services to start, so every version named is checked (record read, gates,
  archive list) and the process table is scanned for strays;
* **all 500 run and are healthy** (steady state): the deploy state records 500 instances of a
  stand-in process that answers ``/health/ready`` on the 500 ports as each service would, so the
  plan checks 500 pids against /proc and sends 500 readiness requests.

Usage:

    python3 bench/bench_plan.py                         # full size, with GTO when bench/.venv-gto exists
    python3 bench/bench_plan.py --models 50 --commits 500 --no-gto   # a quick look
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gitops import (  # noqa: E402
    GTO,
    best,
    build_gto_repo,
    build_mlopsctl_repo,
    git,
    process,
    repository_arguments,
)
from mlopsctl.deploy.api import light_repo, plan_environment  # noqa: E402
from mlopsctl.deploy.desired import read_desired  # noqa: E402
from mlopsctl.deploy.model import Instance  # noqa: E402
from mlopsctl.deploy.processes import proc_stat  # noqa: E402
from mlopsctl.deploy.state import DeployState, now, write_state  # noqa: E402

ENV = "production"
STAND_IN = r"""
import asyncio, json, sys
answers = json.loads(sys.argv[1])

async def main():
    async def handle(reader, writer, body):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()
    for port, (model, version) in answers.items():
        body = json.dumps({"status": "ready", "ready": True, "model": model, "version": version}).encode()
        await asyncio.start_server(lambda r, w, b=body: handle(r, w, b), "127.0.0.1", int(port), backlog=64)
    print("listening", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def free_range(count: int, start: int = 20000) -> int:
    """The first port of ``count`` consecutive free ports at or above ``start``."""
    base = start
    while base + count < 65000:
        if all(_free(port) for port in range(base, base + count)):
            return base
        base += count
    raise SystemExit(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def own_port_range(root: Path, models: int) -> None:
    path = root / "environments" / f"{ENV}.yaml"
    text = path.read_text().replace("target: local\n", f"target: local\nbase_port: {free_range(models)}\n", 1)
    path.write_text(text)
    git(root, "commit", "-q", "-am", "Production on its own port range")


def start_stand_in(root: Path) -> subprocess.Popen[str]:
    """One process answering /health/ready on every production port; recorded as all 500 services."""
    repo = light_repo(root)
    specs = read_desired(repo, ENV).services
    answers = {spec.port: (spec.model, spec.version) for spec in specs}
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, json.dumps(answers)], stdout=subprocess.PIPE, text=True
    )
    assert stand_in.stdout is not None and stand_in.stdout.readline() == "listening\n"
    stat = proc_stat(stand_in.pid)
    assert stat is not None
    instances = [
        Instance(spec=spec, id=f"{i:08x}", env=ENV, pid=stand_in.pid, start_ticks=stat.start_ticks, started_at=now())
        for i, spec in enumerate(specs)
    ]
    write_state(repo, DeployState(ENV, instances, commit=None, applied_at=now()))
    return stand_in


def main() -> None:
    args = repository_arguments(__doc__.split("\n\n")[0]).parse_args()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mlopsctl-bench-plan-") as scratch:
        root = Path(scratch) / "repo"
        root.mkdir()
        started = time.perf_counter()
        build_mlopsctl_repo(root, args.models, args.versions, args.commits)
        own_port_range(root, args.models)
        print(f"built the repository in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        cold = plan_environment(light_repo(root), ENV)
        counts = cold.counts()
        assert counts["start"] == args.models, counts
        rows.append(
            (
                f"plan, nothing runs: {counts['start']} to start, {len(cold.problems)} refused (in process)",
                best(lambda: plan_environment(light_repo(root), ENV), args.repeat),
            )
        )
        stand_in = start_stand_in(root)
        try:
            steady = plan_environment(light_repo(root), ENV)
            assert not steady.changes and len(steady.in_sync) == args.models, steady.summary()
            rows.append(
                (
                    f"plan, {len(steady.in_sync)} services running and healthy: as many pids and probes (in process)",
                    best(lambda: plan_environment(light_repo(root), ENV), args.repeat),
                )
            )
            startup = process(root, sys.executable, "-c", "import mlopsctl.cli.main")
            rows.append(("`python -c 'import mlopsctl.cli.main'` (CLI start-up alone)", best(startup, args.repeat)))
            command = process(root, sys.executable, "-m", "mlopsctl", "plan", "--env", ENV, "-o", "json")
            rows.append(
                ("`mlopsctl plan --env production -o json`, steady state (new process)", best(command, args.repeat))
            )
        finally:
            stand_in.kill()
            stand_in.wait()
        if not args.no_gto and GTO.exists():
            gto_root = Path(scratch) / "gto"
            gto_root.mkdir()
            build_gto_repo(gto_root, args.models, args.versions)
            rows.append(
                (
                    f"`gto show`, {args.models} x {args.versions} tags (anchor, new process)",
                    best(process(gto_root, str(GTO), "show"), 1),
                )
            )
    report(rows, args)


def report(rows: list[tuple[str, float]], args: argparse.Namespace) -> None:
    anchor = rows[-1][1] if rows[-1][0].startswith("`gto show`") else None
    print(f"\n{args.models} models, 3 environments, {args.commits} promotion commits; best of {args.repeat}\n")
    print("| operation | seconds | " + ("gto show / this |" if anchor else "under 1 s |"))
    print("|---|---:|---:|")
    for name, seconds in rows:
        ratio = f"{anchor / seconds:.0f}x" if anchor and not name.startswith("`gto") else ""
        verdict = ratio if anchor else ("yes" if seconds < 1.0 else "no")
        print(f"| {name} | {seconds:.3f} | {verdict} |")


if __name__ == "__main__":
    main()
