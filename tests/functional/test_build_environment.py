"""``mlopsctl build --env ENV``: CI's step before apply, on environments that need no engine to judge.

The image-building paths (built, pushed, already pushed) run against the real engine and registry in
tests/integration/test_two_machines.py, where machine A pushes and machine B finds it already pushed.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mlopsctl.scaffold.init import init_repo
from tests.conftest import run_cli_process


def _repo(tmp_path: Path, deployments: dict[str, object], target: str = "local") -> Path:
    root = init_repo(tmp_path / "repo", "acme").root
    env_file = root / "environments" / "staging.yaml"
    env = yaml.safe_load(env_file.read_text())
    env.update(target=target, deployments=deployments)
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    return root


def test_an_environment_on_the_local_target_needs_no_image(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"churn": {"version": 1}})
    result = run_cli_process("--repo", str(root), "build", "--env", "staging")
    assert result.code == 0, result.stderr
    assert "churn: runs on the local target as a process, no image needed" in result.stdout
    data = json.loads(run_cli_process("--repo", str(root), "build", "--env", "staging", "-o", "json").stdout)
    assert data == {"env": "staging", "images": [], "without_image": ["churn"]}


def test_an_environment_that_runs_nothing_says_so(tmp_path: Path) -> None:
    root = _repo(tmp_path, {})
    result = run_cli_process("--repo", str(root), "build", "--env", "staging", "--push")
    assert result.code == 0, result.stderr
    assert "staging runs nothing: no image to build" in result.stdout


def test_one_version_or_one_environment_never_both_nor_neither(tmp_path: Path) -> None:
    root = _repo(tmp_path, {})
    neither = run_cli_process("--repo", str(root), "build")
    assert neither.code == 2
    assert "give MODEL@VERSION or --env ENV" in neither.stderr
    both = run_cli_process("--repo", str(root), "build", "churn@1", "--env", "staging")
    assert both.code == 2
    assert "give MODEL@VERSION or --env ENV, not both" in both.stderr
    tagged = run_cli_process("--repo", str(root), "build", "--env", "staging", "--tag", "latest")
    assert tagged.code == 2
    assert "--tag and --context name one image" in tagged.stderr


def test_pushing_an_environment_needs_a_registry(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"churn": {"version": 1}}, target="docker")
    result = run_cli_process("--repo", str(root), "build", "--env", "staging", "--push")
    assert result.code == 2
    assert "--push needs image.registry" in result.stderr


def test_an_unknown_environment_is_named(tmp_path: Path) -> None:
    root = _repo(tmp_path, {})
    result = run_cli_process("--repo", str(root), "build", "--env", "stagin")
    assert result.code == 1
    assert "no environment 'stagin'" in result.stderr
    assert "did you mean 'staging'?" in result.stderr
