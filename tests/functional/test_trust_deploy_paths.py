"""Issue 11: names from environment files and links in the state folder never carry plan or apply outside.

A hostile commit names a deployment ``../../evil`` (a record planted outside the repository), names
an environment file ``...yaml`` (the environment ``..``), or commits ``.mlops`` as a symbolic link.
plan and apply must refuse each with one line naming the file and field, start nothing and write
nothing: every test compares the whole temporary folder before and after.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apply_repo import git, make_repo, marked_pids, stop_everything, write_env
from tests.support.services import free_port

NAME_RULE = "must be lower-case letters, digits and dashes, starting with a letter"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=1)
    yield root
    stop_everything(root)


def tree(base: Path) -> dict[str, bytes | str]:
    """Every file and link under ``base`` with its content (or its target), to prove nothing was written."""
    found: dict[str, bytes | str] = {}
    for path in sorted(base.rglob("*")):
        key = str(path.relative_to(base))
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


def run(cli: Any, command: str, root: Path, env: str = "staging") -> Any:
    return cli(command, "--env", env, "--repo", str(root))


def plant_record(repo: Path) -> None:
    """A valid record of churn@1 where ``registry/../../evil/v1.yaml`` points: outside the repository."""
    evil = repo.parent / "evil"
    evil.mkdir()
    shutil.copy(repo / "registry" / "churn" / "v1.yaml", evil / "v1.yaml")


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_deployment_key_that_is_a_path_is_refused_naming_file_line_and_key(
    cli: Any, repo: Path, tmp_path: Path, command: str
) -> None:
    plant_record(repo)
    write_env(repo, "staging", {"../../evil": {"version": 1}}, base_port=free_port())
    before = tree(tmp_path)
    result = run(cli, command, repo)
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Invalid environment: environments/staging.yaml:7:3: deployments.../../evil: {NAME_RULE} "
        "(got '../../evil')",
        "hint: fix the file and commit it; 'mlopsctl validate' checks every file",
    ]
    assert marked_pids(repo) == []
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(("file", "env"), [("...yaml", ".."), ("Bad Name.yaml", "Bad Name")])
def test_an_environment_file_named_with_odd_characters_is_refused(
    cli: Any, repo: Path, tmp_path: Path, command: str, file: str, env: str
) -> None:
    document: dict[str, Any] = {"apiVersion": "mlopsctl/v1", "kind": "Environment", "name": "staging"}
    document |= {"target": "local", "base_port": free_port(), "deployments": {"churn": {"version": 1}}}
    (repo / "environments" / file).write_text(yaml.safe_dump(document, sort_keys=False))
    git(repo, "add", "environments")
    git(repo, "commit", "-q", "-m", "An odd file name")
    before = tree(tmp_path)
    result = run(cli, command, repo, env)
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Invalid environment: 'environments/{file}': the environment name '{env}' (the file name) {NAME_RULE}",
        "hint: rename the file, e.g. environments/staging.yaml",
    ]
    assert marked_pids(repo) == []
    assert tree(tmp_path) == before


def test_a_state_folder_that_is_a_symbolic_link_is_refused_before_anything_is_written(
    cli: Any, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-state"
    (repo / ".mlops").rename(outside)
    (repo / ".mlops").symlink_to(outside)
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port())
    before = tree(tmp_path)
    for command in ("plan", "apply"):
        result = run(cli, command, repo)
        assert result.code == 1
        assert result.stderr.splitlines() == [
            "error: Unsafe state folder: .mlops is a symbolic link: mlopsctl writes its state only into real folders "
            "inside the repository",
            "hint: remove the link (rm .mlops) and run again; mlopsctl creates the folder itself",
        ]
    assert marked_pids(repo) == []
    assert tree(tmp_path) == before


def test_a_logs_folder_that_is_a_symbolic_link_is_refused_before_anything_is_written(
    cli: Any, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-logs"
    outside.mkdir()
    (repo / ".mlops" / "deploy").mkdir(parents=True, exist_ok=True)
    (repo / ".mlops" / "deploy" / "logs").symlink_to(outside)
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port())
    before = tree(tmp_path)
    result = run(cli, "apply", repo)
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Unsafe state folder: .mlops/deploy/logs is a symbolic link: mlopsctl writes its state only into "
        "real folders inside the repository",
        "hint: remove the link (rm .mlops/deploy/logs) and run again; mlopsctl creates the folder itself",
    ]
    assert marked_pids(repo) == []
    assert tree(tmp_path) == before


def test_a_lock_file_that_is_a_symbolic_link_never_truncates_its_target(cli: Any, repo: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    locks = repo / ".mlops" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "deploy-local-staging.lock").symlink_to(victim)
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=free_port())
    before = tree(tmp_path)
    result = run(cli, "apply", repo)
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Unsafe state folder: .mlops/locks/deploy-local-staging.lock is a symbolic link: mlopsctl writes its "
        "state only into real folders inside the repository",
        "hint: remove the link (rm .mlops/locks/deploy-local-staging.lock) and run again; mlopsctl creates the "
        "folder itself",
    ]
    assert victim.read_text() == "precious\n"
    assert tree(tmp_path) == before


@pytest.mark.parametrize("state_dir", ["/tmp/x", "../x", "ok/../../x", ".", ".git/mlops"])
def test_a_state_dir_outside_the_repository_is_a_validate_problem(cli: Any, model_repo: Path, state_dir: str) -> None:
    settings = model_repo / "mlops.yaml"
    text = settings.read_text()
    settings.write_text(text.replace("state_dir: .mlops", f"state_dir: {state_dir}"))
    line = next(i for i, row in enumerate(settings.read_text().splitlines(), 1) if row.startswith("state_dir:"))
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert (
        f"mlops.yaml:{line}:12: state_dir: state_dir '{state_dir}' must be a relative path inside the repository, "
        "without '..' (and not the root or .git), e.g. .mlops"
    ) in result.stdout.splitlines()
