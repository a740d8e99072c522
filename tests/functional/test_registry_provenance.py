"""``registry list`` and ``registry show`` name who registered each version and, per environment,
what Git wants against what runs (issue 13, item 10).

A real repository with versions registered by two people, one environment applied on the local
target (a real service process) and then promoted without an apply, one never applied, and a
record not committed yet; every command runs through the real ``mlopsctl`` entry point.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import make_repo, register, stop_everything, write_env
from tests.support.registry_authors import addition, commit_as, git
from tests.support.services import free_port

pytestmark = pytest.mark.slow

PRODUCTION = "production: wants v2, running v1"
STAGING = "staging: wants v1 + v2 (canary 20%), running -"


@pytest.fixture
def team_repo(tmp_path: Path) -> Iterator[Path]:
    """churn@1 by Test User, churn@2 by Ada; production applied at v1 then promoted to v2 (not applied);
    staging wants a 20% canary of v2 and was never applied here; churn@3 registered but not committed."""
    root = make_repo(tmp_path, versions=1)
    try:
        commit_as(root, "Ada Lovelace", "ada@example.com")
        register(root, 2)
        port = free_port()
        write_env(root, "production", {"churn": {"version": 1}}, base_port=port)
        applied = run_cli_process("apply", "--env", "production", cwd=root)
        assert applied.code == 0, applied.stderr
        write_env(root, "production", {"churn": {"version": 2}}, base_port=port)
        canary = {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20}}
        write_env(root, "staging", canary, base_port=free_port())
        register(root, 3)
        git(root, "reset", "-q", "--soft", "HEAD~1")  # registered, staged, not committed yet
        yield root
    finally:
        stop_everything(root)


def test_list_names_the_registrar_and_wanted_against_running(team_repo: Path) -> None:
    result = run_cli_process("registry", "list", cwd=team_repo, env={"COLUMNS": "250"})
    assert (result.code, result.stderr) == (0, "")
    header, row, footer = result.stdout.splitlines()
    assert header.split() == [
        "model", "latest", "versions", "created", "registered", "by",
        "metrics", "gates", "artifact", "environments",
    ]  # fmt: skip
    assert row.split()[:3] == ["churn", "v3", "3"]
    assert "(not committed)" in row
    assert row.endswith(f"{PRODUCTION}; {STAGING}")
    assert footer == "1 model; versions of one: mlopsctl registry list MODEL; all: --all"


def test_list_of_a_model_shows_who_registered_each_version_and_where_it_is_wanted_and_runs(team_repo: Path) -> None:
    result = run_cli_process("registry", "list", "churn", cwd=team_repo, env={"COLUMNS": "250"})
    assert (result.code, result.stderr) == (0, "")
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "model", "version", "created", "registered", "by", "metrics", "gates", "rows", "artifact", "wanted", "running",
    ]  # fmt: skip
    by_version = {row.split()[1]: row.split() for row in rows}
    # model, version, created (date time), registered by, metrics, gates, rows, artifact, wanted, running
    assert by_version["v1"][4:6] == ["Test", "User"]
    assert by_version["v1"][-2:] == ["staging", "production"]
    assert by_version["v2"][4:6] == ["Ada", "Lovelace"]
    assert by_version["v2"][-5:] == ["production,", "staging", "(canary", "20%)", "-"]
    assert by_version["v3"][4:6] == ["(not", "committed)"]
    assert by_version["v3"][-2:] == ["-", "-"]


def test_list_json_carries_registrar_wanted_and_running_apart(team_repo: Path) -> None:
    result = run_cli_process("registry", "list", "--all", "-o", "json", cwd=team_repo)
    assert (result.code, result.stderr) == (0, "")
    versions = {v["ref"]: v for v in json.loads(result.stdout)["versions"]}
    commit, date = addition(team_repo, "registry/churn/v2.yaml")
    assert versions["churn@2"]["registered_by"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "date": date,
        "commit": commit,
    }
    assert versions["churn@1"]["registered_by"]["name"] == "Test User"
    assert versions["churn@3"]["registered_by"] is None
    assert (versions["churn@1"]["stages"], versions["churn@1"]["running"]) == (["staging"], ["production"])
    assert (versions["churn@2"]["stages"], versions["churn@2"]["running"]) == (
        ["production", "staging (canary 20%)"],
        [],
    )
    models = json.loads(run_cli_process("registry", "list", "-o", "json", cwd=team_repo).stdout)["models"]
    environments = models[0]["environments"]
    assert environments["production"]["wants"] == {"version": 2}
    assert environments["production"]["running"] == [{"version": 1, "role": "stable"}]
    assert environments["production"]["in_sync"] is False
    assert environments["staging"] == {
        "wants": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20},
        "running": None,
        "applied_commit": None,
        "in_sync": None,
    }


def test_show_names_the_registrar_and_each_environment(team_repo: Path) -> None:
    result = run_cli_process("registry", "show", "churn@2", cwd=team_repo, env={"COLUMNS": "200"})
    assert (result.code, result.stderr) == (0, "")
    lines = [line.strip() for line in result.stdout.splitlines()]
    commit, date = addition(team_repo, "registry/churn/v2.yaml")
    assert f"registered by  Ada Lovelace <ada@example.com>, {date}, commit {commit[:12]}" in lines
    section = lines.index("Environments")
    assert lines[section + 1 : section + 3] == [
        "production  wants v2, running v1",
        "staging     wants v1 + v2 (canary 20%), running -",
    ]
    uncommitted = run_cli_process("registry", "show", "churn@3", cwd=team_repo, env={"COLUMNS": "200"})
    assert uncommitted.code == 0, uncommitted.stderr
    assert "registered by  (not committed)" in [line.strip() for line in uncommitted.stdout.splitlines()]


def test_a_later_commit_names_its_author_and_an_apply_brings_running_in_line(team_repo: Path) -> None:
    assert run_cli_process("registry", "list", cwd=team_repo).code == 0  # the authors are now cached at HEAD
    commit_as(team_repo, "Grace Hopper", "grace@example.com")
    git(team_repo, "commit", "-q", "-m", "Register churn@3")
    applied = run_cli_process("apply", "--env", "production", cwd=team_repo)
    assert applied.code == 0, applied.stderr
    result = run_cli_process("registry", "list", "--all", "-o", "json", cwd=team_repo)
    versions = {v["ref"]: v for v in json.loads(result.stdout)["versions"]}
    assert versions["churn@3"]["registered_by"]["name"] == "Grace Hopper"
    assert versions["churn@2"]["registered_by"]["name"] == "Ada Lovelace"
    table = run_cli_process("registry", "list", cwd=team_repo, env={"COLUMNS": "250"}).stdout
    assert "production: wants v2, running v2;" in table
