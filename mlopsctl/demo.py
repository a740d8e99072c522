"""``mlopsctl demo``: the lifecycle on a fresh repository, one visible step at a time.

Each step calls the same domain APIs as the CLI commands and prints the command a user would
type to do it by hand, so the demo doubles as a tour. The demo is a face of its own: it never
imports the CLI; what it prints goes through the ``say`` of the options its caller hands in.

It ends with the closed loop once: the outcomes of answers the service logged arrive as labels
(written by the demo, which plays the business that learns who really churned), live accuracy
falls, ``retrain --check`` names the triggers and ``retrain`` registers and proposes version 3.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.markup import escape

from mlopsctl.errors import CheckFailed, ExitCode
from mlopsctl.project.api import validate
from mlopsctl.scaffold.api import init_repo
from mlopsctl.spec.api import open_repo

if TYPE_CHECKING:
    from mlopsctl.gitops.api import Outcome


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
    labelled_id: str | None = None
    """One request id the demo sent a label for (for the explain hint)."""
    proposal_branch: str | None = None
    """The branch retrain committed its proposal on."""


@dataclass(frozen=True)
class Step:
    title: str
    command: str
    run: Callable[[DemoState, Options], None]


LIVE_ACCURACY = {"metric": "accuracy", "warn_below": 0.75, "crit_below": 0.65}
"""The demo's ``monitoring.performance``: v1 and v2 score about 0.8 on their test rows, so both start OK."""


def _step_init(state: DemoState, opts: Options) -> None:
    result = init_repo(state.root, "demo")
    opts.say(f"  created {escape(str(result.root))} at commit {result.commit[:12]} ({len(result.files)} files)")
    commit = _declare_live_accuracy(state.root)
    if commit is not None:
        opts.say(
            f"  the demo judges churn's live accuracy: monitoring.performance WARN below "
            f"{LIVE_ACCURACY['warn_below']}, CRIT below {LIVE_ACCURACY['crit_below']} (commit {commit[:12]})"
        )


def _declare_live_accuracy(root: Path) -> str | None:
    """Add :data:`LIVE_ACCURACY` to churn's ``monitoring`` block as a commit; None when the spec has one already.

    The template leaves ``monitoring.performance`` out (a new user has no labels yet); the loop the
    demo shows needs it. A text edit keeps the file's comments and schema line.
    """
    from mlopsctl.gitops.api import model_spec

    if model_spec(open_repo(root), "churn").monitoring.performance is not None:
        return None
    path = root / "models" / "churn" / "model.yaml"
    block = "  performance: {" + ", ".join(f"{key}: {value}" for key, value in LIVE_ACCURACY.items()) + "}\n"
    text = path.read_text(encoding="utf-8")
    if "\nmonitoring:\n" not in text:
        raise CheckFailed(f"{path} has no monitoring: block", title="The demo's template changed")
    path.write_text(text.replace("\nmonitoring:\n", "\nmonitoring:\n" + block, 1), encoding="utf-8")
    from mlopsctl.gitops.api import commit_files

    return commit_files(root, ["models/churn/model.yaml"], "Demo: judge live accuracy (monitoring.performance)")


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
    from mlopsctl.deploy.api import apply_environment

    # The scanned repository: its specs are loaded already (with deploy's light one, apply reads them again).
    repo = open_repo(state.root)
    result = apply_environment(repo, "staging", progress=lambda line: opts.say(f"  {escape(line)}"))
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


LABELLED_CUSTOMERS = 1000
"""Customers whose outcome arrives: the replay's first seconds, enough to judge v1's live accuracy."""
CHURN_ABOVE = 120.0
"""The changed concept: now every customer paying more than this a month cancels (the replay adds 60 to each)."""
LABELS_FILE = "demo-labels.csv"
LOG_WAIT_SECONDS = 60.0

Label = tuple[str, int, int]
"""(request id, row in the request, label): one line of the labels file."""


def _step_labels(state: DemoState, opts: Options) -> None:
    """Outcomes of the first logged answers arrive with the changed concept; live accuracy before and after."""
    for line in _live_accuracy(state.root):
        opts.say(f"  before: {line}")
    folder = _prediction_log(state.root)
    labels = _wait_for_outcomes(folder, LABELLED_CUSTOMERS)
    state.labelled_id = labels[0][0]
    opts.say(f"  staging logged every answer with its request id in {escape(_shown(state, folder))}/")
    path = _write_labels(_state_dir(state.root) / LABELS_FILE, labels)
    cancelled = sum(label for _, _, label in labels)
    opts.say(
        f"  the demo writes the outcomes of {len(labels)} answered customers to {escape(_shown(state, path))} "
        f"(id,row,label): {cancelled} cancelled"
    )
    opts.say(
        f"  since the shift everyone paying over {CHURN_ABOVE:g} a month cancels (the concept changed); "
        "the others did as the model said"
    )
    _send_labels(state, opts, path)
    for line in _live_accuracy(state.root):
        opts.say(f"  after:  {line}")


def _send_labels(state: DemoState, opts: Options, path: Path) -> None:
    """``mlopsctl feedback FILE --env staging``: every label must be accepted, or the loop shows nothing."""
    from mlopsctl.monitor.api import send_labels

    summary = send_labels(state.root, path, env="staging")
    if summary.rejected:
        first = summary.rejected[0]
        raise CheckFailed(
            f"{len(summary.rejected)} of {summary.sent} labels in {path} refused; line {first.line}: {first.reason}",
            title="The demo's labels were refused",
        )
    opts.say(f"  {summary.accepted} of {summary.sent} labels accepted by {escape(summary.url)}")


def _state_dir(root: Path) -> Path:
    return open_repo(root).state_dir


def _prediction_log(root: Path) -> Path:
    """Where the local target logs staging's churn answers (README: request ids, feedback and live performance)."""
    return _state_dir(root) / "predictions" / "env" / "staging" / "churn"


def _shown(state: DemoState, path: Path) -> str:
    """``path`` relative to the repository, as a user inside it would type it."""
    return str(path.relative_to(state.root)) if path.is_relative_to(state.root) else str(path)


def _wait_for_outcomes(folder: Path, customers: int) -> list[Label]:
    """Labels for the first ``customers`` answered, waiting (bounded) while the replay fills the log."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    labels = _outcomes(folder, customers)
    while len(labels) < customers:
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"only {len(labels)} of {customers} customers' answers were logged in {folder} "
                f"after {LOG_WAIT_SECONDS:g} s",
                title="The demo's traffic was not logged",
                hint="see .mlops/demo-traffic.log for the replay's errors",
            )
        time.sleep(0.5)
        labels = _outcomes(folder, customers)
    return labels


def _outcomes(folder: Path, customers: int) -> list[Label]:
    """The outcome of each of the first ``customers`` distinct rows logged, at the first answer given for it.

    The replay sends the sample's rows again and again; a customer cancels once, so one label per
    customer (labelled twice, the fresh data would hold duplicate rows that its quality check refuses).
    """
    seen: set[str] = set()
    labels: list[Label] = []
    for answer in _logged_answers(folder):
        inputs = answer["inputs"]
        for row, answered in enumerate(answer["outputs"]):
            customer = json.dumps([values[row] for values in inputs.values()])
            if customer in seen:
                continue
            seen.add(customer)
            labels.append((str(answer["id"]), row, _truth(inputs["monthly_charges"][row], answered)))
            if len(labels) == customers:
                return labels
    return labels


def _truth(monthly_charges: float | None, answered: int) -> int:
    """Everyone now paying over :data:`CHURN_ABOVE` cancels; the others did as the model said."""
    return 1 if monthly_charges is not None and monthly_charges > CHURN_ABOVE else int(answered)


def _logged_answers(folder: Path) -> Iterator[dict[str, Any]]:
    """Logged answers, oldest first; complete lines only (the service is still writing)."""
    for path in sorted(folder.glob("predictions-*.jsonl")):  # names sort by start time
        data = path.read_bytes()
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            yield json.loads(line)


def _write_labels(path: Path, labels: list[Label]) -> Path:
    """The labels as CSV ``id,row,label``, written whole or not at all (a temp file renamed into place)."""
    text = "id,row,label\n" + "".join(f"{request_id},{row},{label}\n" for request_id, row, label in labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _live_accuracy(root: Path) -> list[str]:
    """Each staging deployment's live performance check, worded as ``mlopsctl status`` words it."""
    from mlopsctl.monitor.api import status

    lines = []
    for deployment in status(root, "staging").deployments:
        for check in (c for c in deployment.checks if c.name == "performance"):
            lines.append(
                f"{_coloured(str(check.state))} churn v{deployment.version} {deployment.role}: {escape(check.reason)}"
            )
    return lines


def _coloured(state: str) -> str:
    colour = {"OK": "green", "WARN": "yellow", "CRIT": "bold red"}.get(state, "magenta")
    return f"[{colour}]{state}[/]"


def _step_retrain_check(state: DemoState, opts: Options) -> None:
    from mlopsctl.retrain.api import check

    found = check(state.root, "churn")
    baseline = found.baseline
    verdict = f"retraining needed ({', '.join(t.name for t in found.fired)})" if found.needed else "not needed"
    opts.say(f"  churn v{baseline.version} in {escape(baseline.env)}: {escape(verdict)}")
    for trigger in found.triggers:
        fired = "fired" if trigger.fired else "no" if trigger.enabled else "off"
        opts.say(f"    {trigger.name:<17} {fired:<6} {escape(trigger.reason)}")
    if not found.needed:
        raise CheckFailed("no retraining trigger fired", title="The demo's loop did not close")


def _step_retrain(state: DemoState, opts: Options) -> None:
    from mlopsctl.retrain.api import retrain

    outcome = retrain(state.root, "churn")
    fresh, candidate = outcome.fresh, outcome.candidate
    if fresh is None or candidate is None or candidate.version is None:
        why = outcome.already_trained or (candidate.not_registered if candidate else None) or "no trigger fired"
        raise CheckFailed(why, title="The demo's retraining registered nothing")
    opts.say(
        f"  fresh data: {fresh.rows} rows ({fresh.source_rows} from data/churn.csv, "
        f"{fresh.labelled_rows} labelled answers of staging)"
    )
    opts.say(f"  registered [bold]{candidate.ref}[/] (run {candidate.run_id}), commit {(candidate.commit or '')[:12]}")
    if outcome.gate is not None:
        opts.say(f"  comparison: {escape(outcome.gate.summary)}")
    if outcome.proposal is None:
        raise CheckFailed(outcome.not_proposed or "not proposed", title="The demo's retrained version was not proposed")
    _say_proposal(state, opts, candidate.ref or "", outcome.proposal)


def _say_proposal(state: DemoState, opts: Options, ref: str, proposal: Outcome) -> None:
    """Where the proposal is and what a user does next: without a remote, merge the branch and apply."""
    branch = escape(proposal.branch)
    state.proposal_branch = proposal.branch
    if proposal.pushed:  # a remote of the user's own: retrain's next steps (the pull request, or how to open one)
        opts.say(f"  proposed {ref} for staging: commit {proposal.commit[:12]} on branch {branch}")
        for step in proposal.next_steps:
            opts.say(f"  {escape(step)}")
        return
    opts.say(
        f"  proposed {ref} for staging: commit {proposal.commit[:12]} on branch {branch} "
        "(no remote here, so no pull request)"
    )
    opts.say(f"  staging still serves v1 + v2 canary; to take v3: git merge {branch} && mlopsctl apply --env staging")


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
    Step(
        "Labels arrive: the customers' real outcomes, and who churns has changed",
        f"mlopsctl feedback .mlops/{LABELS_FILE} --env staging",
        _step_labels,
    ),
    Step("Ask whether to retrain", "mlopsctl retrain churn --check", _step_retrain_check),
    Step("Retrain on the labelled traffic and propose version 3", "mlopsctl retrain churn", _step_retrain),
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
    if state.labelled_id is not None:
        opts.say(f"  mlopsctl explain {escape(state.labelled_id)}   # which version answered it, re-run")
    opts.say("  mlopsctl retrain churn --check    # the retraining triggers, judged while staging serves")
    if state.proposal_branch is not None:
        opts.say(f"  git show {escape(state.proposal_branch)}   # the promotion retrain proposes")
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
