"""``mlopsctl demo``: the lifecycle on a fresh repository, one visible step at a time.

Each step calls the same domain APIs as the CLI commands and prints the command a user would
type to do it by hand, so the demo doubles as a tour. The demo is a face of its own: it never
imports the CLI; what it prints goes through the ``say`` of the options its caller hands in.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.markup import escape

from mlopsctl.errors import CheckFailed, ExitCode
from mlopsctl.project.api import validate
from mlopsctl.scaffold.api import init_repo
from mlopsctl.spec.api import open_repo


class Options(Protocol):
    """What a step needs from its caller: a way to say what it did (the CLI's options are one)."""

    def say(self, text: str) -> None:
        """Print one line for people (rich markup)."""


@dataclass
class DemoState:
    root: Path
    notes: list[str] = field(default_factory=list)
    serving: list[str] = field(default_factory=list)
    """How to try the services the demo left running (from apply's next steps)."""
    applied: list[str] = field(default_factory=list)
    """The environments whose services the demo started."""
    replay_pid: int | None = None
    """The traffic replay the demo started, while it may still run."""


@dataclass(frozen=True)
class Step:
    title: str
    command: str
    run: Callable[[DemoState, Options], None]


def _step_init(state: DemoState, opts: Options) -> None:
    result = init_repo(state.root, "demo")
    opts.say(f"  created {escape(str(result.root))} at commit {result.commit[:12]} ({len(result.files)} files)")


def _step_validate(state: DemoState, opts: Options) -> None:
    repo, problems = validate(state.root)
    if problems:
        raise CheckFailed("\n".join(str(p) for p in problems), title="The demo repository does not validate")
    opts.say(f"  ok: {len(repo.models)} model, {len(repo.environments)} environments, no problems")


def _step_data_check(state: DemoState, opts: Options) -> None:
    from mlopsctl.data.api import check_model_data  # pandas: only once the demo reaches this step

    checked = check_model_data(state.root, "churn")
    if not checked.report.passed:
        raise CheckFailed(
            "\n".join(r.summary() for r in checked.report.failures()), title="The demo data fails its checks"
        )
    fingerprint = checked.dataset.fingerprint
    opts.say(
        f"  {len(checked.report.results)} checks passed on {escape(fingerprint.uri)}: "
        f"{fingerprint.rows} rows, sha256 {fingerprint.sha256[:12]}"
    )


def _train_step(overrides: list[str]) -> Callable[[DemoState, Options], None]:
    def run(state: DemoState, opts: Options) -> None:
        from mlopsctl.train.api import train_model  # scikit-learn: only once the demo reaches this step

        result = train_model(open_repo(state.root), "churn", overrides=overrides)
        quality = "  ".join(f"{name}={value:.3f}" for name, value in result.metrics.items() if "latency" not in name)
        p95 = result.metrics.get("p95_latency_ms", float("nan"))
        opts.say(f"  run {result.run_id}: {escape(quality)}  p95 latency {p95:.1f} ms")
        if result.version is None:
            failed = ", ".join(gate.gate for gate in result.gates if not gate.passed)
            why = result.refused or f"gates failed: {failed}"
            raise CheckFailed(why, title="The demo model was not registered")
        commit = (result.commit or "")[:12]
        opts.say(f"  registered [bold]churn@{result.version}[/] (all gates passed), commit {commit}")

    return run


def _promote_step(ref: str, weight: int | None = None, *, first: bool = False) -> Callable[[DemoState, Options], None]:
    def run(state: DemoState, opts: Options) -> None:
        from mlopsctl.gitops.api import promote

        if first:
            _free_staging_port(state, opts)
        outcome = promote(state.root, ref, "staging", weight=weight, direct=True)
        opts.say(f"  {escape(outcome.change.title)}: commit {outcome.commit[:12]} on {escape(outcome.branch)}")

    return run


def _free_staging_port(state: DemoState, opts: Options) -> None:
    """Staging listens on base_port 8100; on a machine where it is taken, move staging (a visible commit)."""
    import socket

    from mlopsctl.gitops.api import commit_files

    environment = open_repo(state.root).environment("staging")
    port = environment.base_port
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    path = state.root / "environments" / "staging.yaml"
    path.write_text(path.read_text().replace(f"base_port: {port}", f"base_port: {free}"))
    commit_files(state.root, ["environments/staging.yaml"], f"Demo: staging on port {free} ({port} is in use here)")
    opts.say(f"  port {port} is in use on this machine: staging moves to port {free} (committed)")


def _step_apply(state: DemoState, opts: Options) -> None:
    from mlopsctl.deploy.api import apply_environment, light_repo

    result = apply_environment(light_repo(state.root), "staging", progress=lambda line: opts.say(f"  {escape(line)}"))
    for action in result.actions:
        opts.say(f"  [green]{escape(action)}[/]")
    state.serving = [f"  {escape(step)}" for step in result.next_steps[1:]]
    if "staging" not in state.applied:
        state.applied.append("staging")


def _step_plan_canary(state: DemoState, opts: Options) -> None:
    from mlopsctl.deploy.api import light_repo, plan_environment

    _promote_step("churn@2", weight=20)(state, opts)
    plan = plan_environment(light_repo(state.root), "staging")
    for line in plan.to_text().splitlines():
        opts.say(f"  {escape(line)}")


TRAFFIC_SECONDS = 900
SHIFT = "monthly_charges=+60"


def _step_traffic(state: DemoState, opts: Options) -> None:
    """Replay the sample rows against staging, with one feature shifted, in the background (bounded)."""
    from mlopsctl.monitor.api import TrafficLoad, start_traffic_replay

    load = TrafficLoad(state.root / "data" / "churn.csv", SHIFT, rate=10, batch=20, seconds=TRAFFIC_SECONDS)
    replay = start_traffic_replay(state.root, "staging", load, name="demo-traffic")
    state.replay_pid = replay.pid
    state.notes.append(
        f"  traffic replays for {TRAFFIC_SECONDS // 60} min (pid {replay.pid}; stop it: kill {replay.pid})"
    )
    opts.say(f"  200 rows/s to {escape(replay.url)}/predict with {SHIFT}, for {TRAFFIC_SECONDS // 60} min")


def _step_drift_alarm(state: DemoState, opts: Options) -> None:
    """Watch health until the shifted feature is CRIT (bounded), as `mlopsctl status` would show it."""
    import time

    from mlopsctl.monitor.api import health_probe

    judge = health_probe(state.root, "staging")
    deadline = time.monotonic() + 60
    report = judge()
    while time.monotonic() < deadline and not any("PSI" in r for d in report.deployments for r in d.reasons):
        time.sleep(1.0)
        report = judge()
    for deployment in report.deployments:
        colour = {"OK": "green", "WARN": "yellow", "CRIT": "bold red"}.get(str(deployment.state), "magenta")
        summary = escape(deployment.summary())
        opts.say(f"  [{colour}]{deployment.state}[/] churn v{deployment.version} {deployment.role}: {summary}")


STEPS: list[Step] = [
    Step("Create a model repository", "mlopsctl init {root}", _step_init),
    Step("Validate every spec", "mlopsctl validate", _step_validate),
    Step("Check the data", "mlopsctl data check churn", _step_data_check),
    Step("Train and register version 1", "mlopsctl train churn", _train_step([])),
    Step(
        "Train again with different params -> version 2",
        "mlopsctl train churn --set training.params.max_depth=12",
        _train_step(["training.params.max_depth=12"]),
    ),
    Step(
        "Promote version 1 to staging",
        "mlopsctl promote churn@1 --env staging --direct",
        _promote_step("churn@1", first=True),
    ),
    Step("Apply staging: start what Git says, as a local process", "mlopsctl apply --env staging", _step_apply),
    Step(
        "Promote version 2 as a 20% canary and see the plan",
        "mlopsctl promote churn@2 --env staging --weight 20 --direct && mlopsctl plan --env staging",
        _step_plan_canary,
    ),
    Step("Apply the canary: proven on a scratch port, then switched", "mlopsctl apply --env staging", _step_apply),
    Step(
        "Send live traffic with one feature shifted",
        f"python -m mlopsctl.traffic --url ... --data data/churn.csv --shift {SHIFT}",
        _step_traffic,
    ),
    Step("Watch health until the drift alarm fires", "mlopsctl status --env staging", _step_drift_alarm),
]


def run_demo(opts: Options, path: Path | None, *, open_ui: bool, keep: bool = False) -> int:
    """Walk the steps, then open the dashboard; quitting it stops what the demo started unless ``keep``."""
    root = (path or Path(tempfile.mkdtemp(prefix="mlopsctl-demo-")) / "repo").resolve()
    state = DemoState(root=root)
    for number, step in enumerate(STEPS, start=1):
        opts.say(f"\n[bold cyan]{number}. {escape(step.title)}[/]  [dim]$ {escape(step.command.format(root=root))}[/]")
        step.run(state, opts)
    dashboard = open_ui and sys.stdin.isatty() and sys.stdout.isatty()
    _say_try_it(state, opts, stops_on_quit=dashboard and not keep)
    if not dashboard:
        opts.say(f"\nOpen the dashboard: cd {escape(str(root))} && mlopsctl")
        return int(ExitCode.OK)
    opts.say("\nOpening the dashboard (q quits, ? shows every key)…")
    from mlopsctl.tui.app import run_dashboard

    try:
        return run_dashboard(root)
    finally:
        if keep:
            _say_left_running(state, opts)
        else:
            stop_demo(state, opts)


def _say_try_it(state: DemoState, opts: Options, *, stops_on_quit: bool) -> None:
    opts.say("\n[bold green]Demo repository ready.[/] Try it yourself:")
    hint = path_hint()
    if hint:
        opts.say(f"  [dim]{escape(hint)}[/]")
    opts.say(f"  cd {escape(str(state.root))}")
    opts.say("  mlopsctl validate")
    opts.say("  mlopsctl runs list churn          # the tracked training runs")
    opts.say("  mlopsctl registry list churn      # the registered versions")
    opts.say("  mlopsctl reproduce churn@1        # train v1 again and compare")
    opts.say("  mlopsctl schema model > /tmp/model.schema.json   # the JSON Schema editors use")
    for note in state.notes:
        opts.say(note)
    if state.serving and stops_on_quit:
        opts.say("\nStaging serves the canary until you quit the dashboard (mlopsctl demo --keep leaves it running):")
    elif state.serving:
        opts.say("\nStaging serves the canary (it keeps running; stop it with: mlopsctl down --env staging):")
    for line in state.serving:
        opts.say(line)


def stop_demo(state: DemoState, opts: Options) -> None:
    """Stop the traffic replay and the services the demo started, saying each one it stops."""
    from mlopsctl.deploy.api import down_environment, light_repo, stop_started_process

    if state.replay_pid is None and not state.applied:
        return
    opts.say("\nStopping what the demo started (mlopsctl demo --keep leaves it running):")
    if state.replay_pid is not None:
        pid, state.replay_pid = state.replay_pid, None
        if stop_started_process(pid, "the demo's traffic replay"):
            opts.say(f"  stopped the traffic replay (process {pid})")
    for env in state.applied:
        for instance in down_environment(light_repo(state.root), env).stopped:
            opts.say(f"  stopped {escape(instance.spec.describe())} ({instance.where})")
    state.applied = []
    opts.say(f"The repository stays in {escape(str(state.root))}; to serve again: mlopsctl apply --env staging")


def _say_left_running(state: DemoState, opts: Options) -> None:
    stops = [f"kill {state.replay_pid}"] if state.replay_pid is not None else []
    stops += [f"mlopsctl down --env {env}" for env in state.applied]
    if stops:
        opts.say(f"\nLeft running (--keep). To stop it: cd {escape(str(state.root))} && {' && '.join(stops)}")


def path_hint() -> str | None:
    """How to reach this ``mlopsctl`` when the shell's ``mlopsctl`` is another one, or none at all.

    ``scripts/demo.sh`` installs into ``.venv``: without this, the commands printed below would
    fail with "command not found" (or run a different install) in the user's own shell.
    """
    here = Path(sys.executable).parent / "mlopsctl"
    if not here.exists():
        return None
    found = shutil.which("mlopsctl")
    if found is not None and Path(found).resolve() == here.resolve():
        return None
    activate = here.parent / "activate"
    how = f"source {activate}" if activate.exists() else f"export PATH={here.parent}:$PATH"
    return f"mlopsctl is {here}; first run: {how}"
