"""The template's CI files against the JSON Schemas their platforms publish.

``tests/fixtures/schemas`` holds SchemaStore's ``github-workflow.json`` and GitLab's own
``ci.json`` (``app/assets/javascripts/editor/schema/ci.json``), vendored unchanged; see the README
there for where they come from and how to refresh them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"
TEMPLATE = ROOT / "model-repo-template"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def _load(path: Path) -> Any:
    # YAML 1.1 reads a bare `on:` key as True; GitHub reads YAML 1.2 where it is the string "on"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and True in data:
        data["on"] = data.pop(True)
    return data


def _errors(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


GITHUB = TEMPLATE / ".github" / "workflows" / "mlops.yml"
GITLAB = TEMPLATE / ".gitlab-ci.yml"


def test_the_vendored_schemas_are_the_published_ones() -> None:
    assert _schema("github-workflow.json")["$id"] == "https://json.schemastore.org/github-workflow.json"
    assert _schema("gitlab-ci.json")["$id"] == "https://gitlab.com/.gitlab-ci.yml"


def test_github_workflow_matches_its_published_schema() -> None:
    assert _errors(_schema("github-workflow.json"), _load(GITHUB)) == []


def test_gitlab_ci_matches_its_published_schema() -> None:
    assert _errors(_schema("gitlab-ci.json"), _load(GITLAB)) == []


@pytest.mark.parametrize(
    ("schema", "broken"),
    [
        ("github-workflow.json", {"on": {"push": None}, "jobs": {"x": {"runs-on": "ubuntu-latest", "stepz": []}}}),
        ("gitlab-ci.json", {"job": {"script": ["true"], "rules": [{"iff": "$CI"}]}}),
    ],
)
def test_the_schemas_do_reject_mistakes(schema: str, broken: dict[str, Any]) -> None:
    assert _errors(_schema(schema), broken)


def test_github_runs_validate_and_plan_on_pull_requests_apply_on_main_and_status_on_schedule() -> None:
    workflow = _load(GITHUB)
    assert set(workflow["on"]) >= {"pull_request", "push", "schedule"}
    jobs = workflow["jobs"]
    assert "mlopsctl validate" in _commands(jobs["validate"])
    assert "github.event_name == 'pull_request'" in jobs["plan"]["if"]
    plan = _commands(jobs["plan"])
    assert 'mlopsctl plan --env "$env_name" --output markdown || refused=1' in plan
    assert "exit 1" in plan  # a refused plan is posted first, then fails the job
    assert 'gh pr comment "$PR_NUMBER" --body-file plan.md' in plan
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"
    for env in ("staging", "production"):
        job = jobs[f"apply-{env}"]
        assert f"mlopsctl apply --env {env}" in _commands(job)
        assert "refs/heads/main" in job["if"]
        assert job["concurrency"] == {"group": f"mlops-apply-{env}", "cancel-in-progress": False}
    assert jobs["apply-production"]["needs"] == "apply-staging"
    assert "mlopsctl status --output json" in _commands(jobs["status"])


def test_gitlab_runs_validate_and_plan_on_merge_requests_apply_on_main_and_status_on_schedule() -> None:
    pipeline = _load(GITLAB)
    assert "mlopsctl validate" in pipeline["validate"]["script"]
    assert pipeline["plan"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    plan = "\n".join(pipeline["plan"]["script"])
    assert 'mlopsctl plan --env "$env_name" --output markdown || refused=1' in plan
    assert "exit 1" in plan  # a refused plan is posted first, then fails the job
    assert "/merge_requests/{}/notes" in plan and "PRIVATE-TOKEN" in plan
    assert 'mlopsctl apply --env "$MLOPS_ENV"' in pipeline[".apply"]["script"]
    assert pipeline["apply-staging"]["variables"] == {"MLOPS_ENV": "staging"}
    assert pipeline["apply-production"]["resource_group"] == "mlops-production"
    assert pipeline["status"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]


def test_gitlab_note_poster_is_valid_python() -> None:
    script = "\n".join(_load(GITLAB)["plan"]["script"])
    match = re.search(r"<<'EOF'\n(.*?)\nEOF", script, re.S)
    assert match is not None
    compile(match[1], "plan-note", "exec")


def _commands(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job.get("steps", []))


def test_a_new_repository_pins_the_mlopsctl_that_created_it(tmp_path: Path) -> None:
    from mlopsctl import __version__
    from mlopsctl.scaffold.init import init_repo

    init_repo(tmp_path / "repo", "acme")
    workflow = _load(tmp_path / "repo" / ".github" / "workflows" / "mlops.yml")
    pipeline = _load(tmp_path / "repo" / ".gitlab-ci.yml")
    assert workflow["env"]["MLOPSCTL_VERSION"] == __version__
    assert pipeline["variables"]["MLOPSCTL_VERSION"] == __version__
    installs = [line for line in _commands_of_every_job(workflow) if "pip install" in line]
    assert installs and set(installs) == {'pip install "mlopsctl==${MLOPSCTL_VERSION}"'}
    assert pipeline["default"]["before_script"] == ['pip install "mlopsctl==${MLOPSCTL_VERSION}"']


def test_stores_and_their_credentials_come_from_ci_settings_never_from_the_workflow_file() -> None:
    env = _load(GITHUB)["env"]
    assert env["MLOPS_ARTIFACT_STORE"] == "${{ vars.MLOPS_ARTIFACT_STORE }}"
    assert env["MLOPS_METADATA_STORE"] == "${{ vars.MLOPS_METADATA_STORE }}"
    for secret in (
        "MLOPS_OCI_USERNAME",
        "MLOPS_OCI_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "PGPASSWORD",
    ):
        assert env[secret] == f"${{{{ secrets.{secret} }}}}"


def test_apply_builds_and_pushes_images_then_plans_then_applies_on_a_runner_that_reaches_the_target() -> None:
    jobs = _load(GITHUB)["jobs"]
    for env in ("staging", "production"):
        job = jobs[f"apply-{env}"]
        assert job["runs-on"] == ["self-hosted", "mlops"]
        steps = [str(step.get("run", "")) for step in job["steps"] if "run" in step]
        assert steps[-3:] == [
            f"mlopsctl build --env {env} --push",
            f"mlopsctl plan --env {env}",
            f"mlopsctl apply --env {env}",
        ]
    pipeline = _load(GITLAB)
    assert pipeline[".apply"]["tags"] == ["mlops"]
    assert pipeline[".apply"]["script"] == [
        'mlopsctl build --env "$MLOPS_ENV" --push',
        'mlopsctl plan --env "$MLOPS_ENV"',
        'mlopsctl apply --env "$MLOPS_ENV"',
    ]


def _commands_of_every_job(workflow: dict[str, Any]) -> list[str]:
    return [line for job in workflow["jobs"].values() for line in _commands(job).splitlines()]


def test_the_schedule_retrains_what_the_triggers_ask_for() -> None:
    job = _load(GITHUB)["jobs"]["retrain"]
    assert job["runs-on"] == ["self-hosted", "mlops"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    script = _commands(job)
    assert 'mlopsctl retrain "$model" --check || code=$?' in script
    assert 'if [ "$code" -eq 1 ]; then' in script and 'mlopsctl retrain "$model" || status=$?' in script
    gitlab = _load(GITLAB)["retrain"]
    assert gitlab["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert 'mlopsctl retrain "$model" --check || code=$?' in gitlab["script"][0]


def test_the_retrain_loop_is_valid_shell() -> None:
    script = _commands(_load(GITHUB)["jobs"]["retrain"])
    done = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_schedule_moves_each_canary_on_and_applies_what_rollout_committed() -> None:
    job = _load(GITHUB)["jobs"]["rollout"]
    assert job["runs-on"] == ["self-hosted", "mlops"]
    assert job["permissions"] == {"contents": "write"}
    assert job["steps"][0]["with"] == {"fetch-depth": 0}
    script = _commands(job)
    assert 'mlopsctl rollout --env "$env" || code=$?' in script
    assert 'mlopsctl apply --env "$env" || status=$?' in script
    gitlab = _load(GITLAB)["rollout"]
    assert gitlab["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert gitlab["variables"] == {"GIT_DEPTH": 0}
    assert 'mlopsctl rollout --env "$env" || code=$?' in gitlab["script"][-1]
    for loop in (script, gitlab["script"][-1]):
        done = subprocess.run(["bash", "-n", "-c", loop], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
