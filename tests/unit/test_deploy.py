"""The reconciler's pure parts: specs, the port rule, the diff, plan text, the state file and the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlopsctl.deploy.desired import Desired, port_clashes, resolve
from mlopsctl.deploy.lock import deploy_locks, lock_path
from mlopsctl.deploy.model import PREFLIGHT, Health, Instance, ServiceSpec
from mlopsctl.deploy.plan import Plan, diff
from mlopsctl.deploy.state import DeployState, read_state, write_endpoints, write_state
from mlopsctl.errors import CheckFailed, ConflictError
from mlopsctl.monitor.targets import Endpoint, derived_endpoints
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Deployment, Environment, ProjectSettings

V1 = ServiceSpec("churn", 1, "local", 8100)
CANARY = ServiceSpec("churn", 1, "local", 8100, strategy="canary", candidate=2, weight=20)
HEALTHY = Health(alive=True, ready=True)


def instance(spec: ServiceSpec, health: Health = HEALTHY, **fields: object) -> Instance:
    found = Instance(spec=spec, id=str(fields.pop("id", "i1")), env="staging", pid=100, start_ticks=5, health=health)
    for name, value in fields.items():
        setattr(found, name, value)
    return found


def desired(*specs: ServiceSpec) -> Desired:
    return Desired(env="staging", commit="c" * 40, services=list(specs))


# --------------------------------------------------------------------------- specs and ports


def test_labels_and_differences_in_words() -> None:
    assert V1.label() == "v1"
    assert CANARY.label() == "v1 + v2 canary 20%"
    assert ServiceSpec("churn", 1, "docker", 8100, "shadow", 2).label() == "v1 + v2 shadow"
    assert V1.differences(CANARY) == ["strategy replace -> canary", "candidate none -> v2", "weight none -> 20%"]
    assert V1.differences(ServiceSpec("churn", 2, "docker", 8101)) == [
        "target local -> docker",
        "version v1 -> v2",
        "port :8100 -> :8101",
    ]


def test_ports_and_targets_follow_the_rule_monitoring_uses() -> None:
    env = Environment(
        name="staging",
        target="docker",
        base_port=9000,
        deployments={
            "churn": Deployment(version=1),
            "fraud": Deployment(version=2, port=9500, target="local"),
            "risk": Deployment(version=3, strategy="shadow", candidate=4),
            "ranker": Deployment(version=1, target="kubernetes"),
        },
    )
    found = resolve(env, "local")
    assert found.services == [
        ServiceSpec("churn", 1, "docker", 9000),
        ServiceSpec("fraud", 2, "local", 9500),
        ServiceSpec("risk", 3, "docker", 9002, strategy="shadow", candidate=4),
    ]
    assert [spec.model for spec in found.rendered] == ["ranker"]
    monitored = {(e.model, e.port) for e in derived_endpoints(env) if e.host == "127.0.0.1"}
    assert monitored == {(spec.model, spec.port) for spec in found.services}


def test_two_deployments_on_one_port_are_named() -> None:
    specs = [V1, ServiceSpec("fraud", 1, "local", 8100), ServiceSpec("risk", 1, "docker", 8101)]
    assert port_clashes(specs) == [
        "churn and fraud would all listen on port 8100: give them different ports in the environment file"
    ]


# --------------------------------------------------------------------------- the diff


def test_nothing_running_means_start() -> None:
    changes, in_sync = diff(desired(V1), [])
    assert [(c.action, c.after, c.reasons) for c in changes] == [("start", V1, ("not running",))]
    assert in_sync == []


def test_the_same_spec_healthy_is_in_sync_and_a_found_one_is_adopted() -> None:
    running = instance(V1, recorded=False)
    changes, in_sync = diff(desired(V1), [running])
    assert changes == [] and in_sync == [running]


def test_another_spec_is_an_update_with_what_changes() -> None:
    running = instance(V1)
    [change] = diff(desired(CANARY), [running])[0]
    assert (change.action, change.before, change.after, change.instances) == ("update", V1, CANARY, (running,))
    assert change.reasons == ("strategy replace -> canary", "candidate none -> v2", "weight none -> 20%")


def test_unhealthy_or_gone_is_a_restart() -> None:
    sick = instance(V1, Health(alive=True, problem="/health/ready says failed: boom"))
    [change] = diff(desired(V1), [sick])[0]
    assert (change.action, change.reasons, change.instances) == (
        "restart",
        ("/health/ready says failed: boom",),
        (sick,),
    )
    dead = instance(V1, Health(alive=False, problem="process 100 exited with code 1"))
    [change] = diff(desired(V1), [dead])[0]
    assert (change.action, change.reasons, change.instances) == ("restart", ("process 100 exited with code 1",), ())


def test_a_dead_instance_of_another_spec_is_a_start_that_says_what_ran() -> None:
    dead = instance(V1, Health(alive=False, problem="process 100 exited"))
    [change] = diff(desired(CANARY), [dead])[0]
    assert (change.action, change.reasons) == ("start", ("v1 ran before: process 100 exited",))


def test_what_git_no_longer_names_is_stopped_and_leftovers_too() -> None:
    gone_model = instance(ServiceSpec("fraud", 3, "local", 8101), id="f")
    preflight = instance(CANARY.on_port(40000), role=PREFLIGHT, id="p", recorded=False)
    kept = instance(V1, id="k")
    second = instance(V1, id="s", recorded=False, started_at="2024-01-01T00:00:00Z")
    changes, in_sync = diff(desired(V1), [gone_model, preflight, kept, second])
    assert in_sync == [kept]
    assert [(c.action, c.model, c.instances) for c in changes] == [
        ("stop", "churn", (preflight,)),
        ("stop", "churn", (second,)),
        ("stop", "fraud", (gone_model,)),
    ]
    assert changes[2].reasons == ("not in environments/staging.yaml",)
    assert changes[0].reasons == ("a preflight instance left by an interrupted apply (process 100)",)


def test_an_exited_container_is_removed_but_a_dead_process_needs_nothing() -> None:
    exited = instance(ServiceSpec("fraud", 3, "docker", 8101), Health(alive=False), container="abc")
    dead = instance(ServiceSpec("risk", 1, "local", 8102), Health(alive=False))
    changes, _ = diff(desired(), [exited, dead])
    assert [(c.action, c.model) for c in changes] == [("stop", "fraud")]


# --------------------------------------------------------------------------- plan text


def test_plan_text_lists_changes_then_services_in_sync() -> None:
    running = instance(V1)
    fraud = ServiceSpec("fraud", 2, "docker", 8101)
    changes, in_sync = diff(desired(CANARY, fraud), [running])
    plan = Plan(env="staging", commit="a" * 40, changes=changes, in_sync=in_sync, applied_commit="b" * 40)
    assert plan.to_text().splitlines() == [
        "Plan for staging (environments/staging.yaml at aaaaaaaaaaaa; last applied bbbbbbbbbbbb):",
        "  ~ update   churn            v1 -> v1 + v2 canary 20% on local :8100  "
        "(strategy replace -> canary; candidate none -> v2; weight none -> 20%)",
        "  + start    fraud            v2 on docker :8101  (not running)",
        "1 to start, 1 to update, 0 in sync.",
    ]
    in_sync_plan = Plan(env="staging", commit=None, changes=[], in_sync=[running])
    assert in_sync_plan.summary() == "No changes: staging matches Git (1 service in sync)."


# --------------------------------------------------------------------------- state and lock


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(root=tmp_path, settings=ProjectSettings(name="demo"))


def test_the_state_file_round_trips_and_the_endpoints_file_is_what_monitoring_reads(repo: Repo) -> None:
    log = str(repo.state_dir / "deploy" / "logs" / "staging" / "churn-i1.log")
    running = instance(CANARY, log=log, started_at="2024-06-11T10:00:00Z")
    write_state(repo, DeployState("staging", [running], commit="c" * 40, applied_at="2024-06-11T10:00:01Z"))
    again = read_state(repo, "staging")
    assert again.commit == "c" * 40
    [back] = again.instances
    assert (back.spec, back.pid, back.start_ticks, back.log, back.id) == (CANARY, 100, 5, log, "i1")
    write_endpoints(repo, "staging", [running], "c" * 40)
    from mlopsctl.monitor.targets import deployment_endpoints

    assert deployment_endpoints(repo, "staging") == [
        Endpoint("churn", 1, "stable", "127.0.0.1", 8100, "staging"),
        Endpoint("churn", 2, "canary", "127.0.0.1", 8100, "staging"),
    ]


def test_a_held_lock_names_its_holder(repo: Repo) -> None:
    with deploy_locks(repo, "staging", {"local", "docker"}):
        holder = json.loads(lock_path(repo, "local", "staging").read_text())
        with pytest.raises(ConflictError) as caught, deploy_locks(repo, "staging", {"local"}):
            pass
    path = lock_path(repo, "local", "staging")
    assert caught.value.message == (
        f"another apply or down of staging on the local target is running: pid {holder['pid']} "
        f"since {holder['since']} ({holder['command']})"
    )
    assert caught.value.hint == f"wait for it to finish, or queue behind it with --wait (lock file: {path})"
    with deploy_locks(repo, "staging", {"local"}):
        pass  # released when the holder left


@pytest.mark.parametrize(
    ("spec", "log", "why"),
    [
        (CANARY, "/etc/passwd", "the log '/etc/passwd' of instance 'i1' is not in {logs}"),
        (ServiceSpec("../../evil", 1, "local", 8100), None, "the model name '../../evil' is not a name"),
    ],
)
def test_a_state_file_that_names_files_outside_its_folder_is_refused(
    repo: Repo, spec: ServiceSpec, log: str | None, why: str
) -> None:
    """A committed (or planted) state file must not make apply read /etc/passwd as a service's log."""
    write_state(repo, DeployState("staging", [instance(spec, log=log)]))
    path = repo.state_dir / "deploy" / "staging.json"
    with pytest.raises(CheckFailed) as caught:
        read_state(repo, "staging")
    logs = repo.state_dir / "deploy" / "logs" / "staging"
    assert caught.value.message == f"the deploy state {path} is unreadable: {why.format(logs=logs)}"
