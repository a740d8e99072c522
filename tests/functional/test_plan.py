"""``mlopsctl plan`` (and the refusals ``apply`` shares with it) on real repositories.

None of these start a prediction service: the plan of an environment where nothing runs, the
three output forms, every refusal, and what the plan says about processes recorded in the state
file that are gone, or whose pid now belongs to someone else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.deploy.api import light_repo, markdown_plan, plan_environment
from mlopsctl.deploy.processes import proc_stat
from mlopsctl.spec.models import Deployment, Environment
from tests.support.apply_repo import git, make_repo, marked_pids, register, stop_everything, write_env
from tests.support.services import free_port


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=2)
    yield root
    stop_everything(root)


def plan(cli: Any, root: Path, *args: str) -> Any:
    return cli("plan", "--env", "staging", "--repo", str(root), *args)


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")[:12]


def test_plan_of_an_environment_where_nothing_runs(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    result = plan(cli, repo)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Plan for staging (environments/staging.yaml at {head(repo)}):",
        f"  + start    churn            v1 on local :{port}  (not running)",
        "1 to start, 0 in sync.",
    ]
    assert plan(cli, repo, "--exit-code").code == 1


def test_plan_as_json_and_as_markdown(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(
        repo, "staging", {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20}}, base_port=port
    )
    result = plan(cli, repo, "--output", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["env"], data["commit"], data["ok"], data["problems"]) == (
        "staging",
        git(repo, "rev-parse", "HEAD"),
        True,
        [],
    )
    [change] = data["changes"]
    assert change["action"] == "start"
    assert change["after"] == {
        "model": "churn",
        "version": 1,
        "target": "local",
        "port": port,
        "strategy": "canary",
        "candidate": 2,
        "weight": 20,
    }
    assert data["counts"] == {"start": 1, "update": 0, "restart": 0, "stop": 0, "in_sync": 0}
    markdown = plan(cli, repo, "-o", "markdown")
    assert markdown.code == 0
    host = data["host"]
    assert markdown.stdout == (
        "### Plan for `staging`\n\n"
        f"Desired: `environments/staging.yaml` at `{head(repo)}`. Observed on `{host}`.\n\n"
        "| Change | Model | Now | After | Target | Why |\n"
        "|---|---|---|---|---|---|\n"
        f"| + start | `churn` | - | v1 + v2 canary 20% | local :{port} | not running |\n\n"
        "**1 to start, 0 in sync.**\n"
    )


def test_an_empty_environment_is_in_sync(cli: Any, repo: Path) -> None:
    write_env(repo, "staging", {}, base_port=free_port())
    result = plan(cli, repo, "--exit-code")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "No changes: staging matches Git (0 services in sync)."


def test_a_version_that_failed_its_gates_is_refused_by_plan_and_apply(cli: Any, repo: Path) -> None:
    register(repo, 3, passed=False)
    write_env(repo, "staging", {"churn": {"version": 3}}, base_port=free_port())
    result = plan(cli, repo)
    assert result.code == 1
    assert result.stdout.splitlines()[-2:] == [
        "Refused: apply would stop before touching anything:",
        "  churn@3 failed its gates (roc_auc >= 0.75) and cannot be deployed",
    ]
    applied = cli("apply", "--env", "staging", "--repo", str(repo))
    assert applied.code == 1
    assert applied.stderr.splitlines() == [
        "error: Refused: apply of staging refused, nothing was touched:",
        "  churn@3 failed its gates (roc_auc >= 0.75) and cannot be deployed",
        "hint: fix environments/staging.yaml ('mlopsctl validate' shows where), or promote a version that passed its "
        "gates",
    ]
    assert marked_pids(repo) == []


def test_unregistered_and_archived_versions_are_refused(cli: Any, repo: Path) -> None:
    (repo / "registry" / "churn" / "archived.yaml").write_text("archived:\n  - {version: 2}\n")
    write_env(repo, "staging", {"churn": {"version": 9, "strategy": "shadow", "candidate": 2}}, base_port=free_port())
    result = plan(cli, repo)
    assert result.code == 1
    assert result.stdout.splitlines()[-2:] == [
        "  churn@9 is not registered (no registry/churn/v9.yaml)",
        "  churn@2 is archived and cannot be deployed",
    ]


def test_the_kubernetes_target_is_rendered_not_run_and_a_version_without_an_image_digest_is_refused(
    cli: Any, repo: Path
) -> None:
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port(), target="kubernetes")
    result = plan(cli, repo)
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "No changes: staging matches Git (0 services in sync). deploy/staging/ cannot be rendered."
    assert lines[-1].endswith(
        "deployments.churn.version: churn@1 has no pushed image digest in registry/churn/images.yaml; push it: "
        "mlopsctl build churn@1 --push (and commit registry/churn/images.yaml)"
    )
    validated = cli("validate", "--repo", str(repo))
    assert validated.code == 1
    assert "churn@1 has no pushed image digest in registry/churn/images.yaml" in validated.stdout + validated.stderr


def test_plan_reads_the_committed_file_and_says_when_the_working_tree_differs(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port, commit=False)
    result = plan(cli, repo)
    assert result.code == 0
    assert result.stdout.splitlines()[1:] == [
        f"  + start    churn            v1 on local :{port}  (not running)",
        "1 to start, 0 in sync.",
        "Note: environments/staging.yaml has uncommitted changes: plan and apply use the committed file",
    ]


def test_an_unknown_environment_is_named_with_those_that_exist(cli: Any, repo: Path) -> None:
    result = cli("plan", "--env", "stagin", "--repo", str(repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Not found: no environment stagin in environments/ at {head(repo)}",
        "hint: environments there: production, staging",
    ]


def test_a_recorded_process_that_is_gone_or_whose_pid_was_reused_is_restarted(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        stat = proc_stat(stranger.pid)
        assert stat is not None
        entry = {"model": "churn", "version": 1, "target": "local", "port": port, "id": "abcd1234", "role": "service"}
        reused = {**entry, "pid": stranger.pid, "start_ticks": stat.start_ticks - 1}
        state = repo / ".mlops" / "deploy" / "staging.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"format": 1, "env": "staging", "instances": [reused]}))
        result = plan(cli, repo)
        assert result.stdout.splitlines()[1] == (
            f"  ! restart  churn            v1 on local :{port}  "
            f"(process {stranger.pid} is gone (the pid now belongs to another process))"
        )
        down = cli("down", "--env", "staging", "--repo", str(repo))
        assert down.code == 0, down.stderr
        assert down.stdout == "staging: stopped 0 instance(s); to start again: mlopsctl apply --env staging\n"
        assert stranger.poll() is None, "down signalled a process that is not ours"
        assert not state.exists()
    finally:
        stranger.kill()
        stranger.wait()
    exited = {**entry, "pid": stranger.pid, "start_ticks": stat.start_ticks}
    state.write_text(json.dumps({"format": 1, "env": "staging", "instances": [exited]}))
    assert f"(process {stranger.pid} exited)" in plan(cli, repo).stdout.splitlines()[1]


def test_an_unreadable_state_file_is_named_with_the_way_out(cli: Any, repo: Path) -> None:
    write_env(repo, "staging", {}, base_port=free_port())
    state = repo / ".mlops" / "deploy" / "staging.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{not json")
    result = plan(cli, repo)
    assert result.code == 1
    assert result.stderr.splitlines()[0].startswith(
        f"error: Unreadable state: the deploy state {state} is unreadable: "
    )
    assert result.stderr.splitlines()[1] == (
        "hint: stop what runs with 'mlopsctl down --env staging' (it also finds services by their markers), "
        f"or delete {state}"
    )


def test_the_plan_for_a_pull_request_body_has_no_heading_of_its_own(repo: Path) -> None:
    port = free_port()
    environment = Environment(name="staging", base_port=port, deployments={"churn": Deployment(version=2)})
    text = markdown_plan(repo)("staging", environment)
    assert text.startswith("Desired: the proposed change. Observed on `")
    assert f"| + start | `churn` | - | v2 | local :{port} | not running |" in text
    assert plan_environment(light_repo(repo), "staging").changes == []


def test_an_unreachable_docker_engine_is_exit_3_naming_docker_host(
    cli: Any, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port(), target="docker")
    result = plan(cli, repo)
    assert result.code == 3
    assert result.stderr.splitlines()[0] == (
        f"error: Docker engine unreachable: no Docker engine answers at unix://{tmp_path}/no-engine.sock (DOCKER_HOST): "
        "no such file or directory"
    )
