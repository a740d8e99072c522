"""The whole GitOps flow, end to end, as issue 5 states it: Git is the desired state, CI applies it.

A bare repository stands for the Git host; a developer's clone trains and promotes (``--direct``,
pushed), and a second clone stands for CI, which pulls and runs ``plan`` and ``apply``. Both
share an artifact store that each of them names (``MLOPS_ARTIFACT_STORE``: a store outside the
repository is the runner's choice, never the repository's), as a team and its CI would.

Register two versions (the real trainer, with a small forest), promote v1 to staging and
production, apply, promote v2 to production as a 20% canary, plan shows it, apply, traffic splits
about 20/80, rollback, apply, v1 alone again. Once with processes (the local target) and once with
containers (the docker target, with the real engine).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.deploy.api import down_environment, light_repo
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import open_repo
from mlopsctl.train.api import train_model
from tests.support.apply_repo import ask, git, marked_pids, metadata, stop_everything
from tests.support.services import BASE_IMAGE, docker_client, free_port, remove_project_images, require_base_image

REQUESTS = 500


@dataclass
class Project:
    dev: Path
    ci: Path
    remote: Path
    port: int


def make_project(base: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A developer clone with v1 and v2 of churn registered and pushed, and a CI clone of the same remote."""
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    dev = init_repo(base / "dev", f"e2e-{target}").root
    monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(base / "shared-artifacts"))
    settings = yaml.safe_load((dev / "mlops.yaml").read_text())
    settings["image"] = {"base": BASE_IMAGE, "registry": None}
    (dev / "mlops.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    ports = {"staging": free_port(), "production": free_port()}
    for env, port in ports.items():
        path = dev / "environments" / f"{env}.yaml"
        document = yaml.safe_load(path.read_text())
        document.update(target=target, base_port=port)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec_file = dev / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 20
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]  # no latency gate: this machine is shared and busy
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    git(dev, "commit", "-qam", "Test ports, a small forest")
    git(dev, "remote", "add", "origin", str(remote))
    repo = open_repo(dev)
    assert train_model(repo, "churn").version == 1
    assert train_model(repo, "churn", overrides=["training.params.max_depth=4"]).version == 2
    git(dev, "push", "-q", "origin", "main")
    git(base, "clone", "-q", str(remote), str(base / "ci"))
    return Project(dev=dev, ci=base / "ci", remote=remote, port=ports["production"])


def run_flow(cli: Any, project: Project, target: str) -> None:
    dev, ci, port = project.dev, project.ci, project.port

    def developer(*args: str) -> None:
        result = cli(*args, "--direct", "--repo", str(dev))
        assert result.code == 0, result.stderr

    def ci_runs(*args: str) -> Any:
        git(ci, "pull", "-q", "--ff-only", "origin", "main")
        return cli(*args, "--env", "production", "--repo", str(ci))

    developer("promote", "churn@1", "--env", "staging")
    developer("promote", "churn@1", "--env", "production")
    applied = ci_runs("apply", "--timeout", "180")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert f"started churn v1 on {target} :{port}" in applied.stdout.splitlines()
    assert ask(port, 5) == {1: 5}

    developer("promote", "churn@2", "--env", "staging")
    developer("promote", "churn@2", "--env", "production", "--weight", "20")
    planned = ci_runs("plan", "--exit-code")
    assert planned.code == 1
    assert planned.stdout.splitlines()[1:3] == [
        f"  ~ update   churn            v1 -> v1 + v2 canary 20% on {target} :{port}  "
        "(strategy replace -> canary; candidate none -> v2; weight none -> 20%)",
        "1 to update, 0 in sync.",
    ]
    markdown = cli("plan", "--env", "production", "--repo", str(ci), "-o", "markdown")
    assert f"| ~ update | `churn` | v1 | v1 + v2 canary 20% | {target} :{port} |" in markdown.stdout
    applied = ci_runs("apply", "--timeout", "180")
    assert applied.code == 0, applied.stdout + applied.stderr
    answers = ask(port, REQUESTS)
    assert set(answers) == {1, 2}
    # Binomial(500, 0.2): mean 100, sd 8.9; 60..140 is 4.5 sd either side.
    assert 60 <= answers[2] <= 140, answers
    served = metadata(port)
    assert (served["candidate"]["version"], served["weight"]) == (2, 20)

    developer("rollback", "churn", "--env", "production")
    assert (
        ci_runs("plan")
        .stdout.splitlines()[1]
        .startswith(f"  ~ update   churn            v1 + v2 canary 20% -> v1 on {target} :{port}")
    )
    applied = ci_runs("apply", "--timeout", "180")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert ask(port, 50) == {1: 50}
    assert metadata(port)["candidate"] is None
    assert ci_runs("plan", "--exit-code").code == 0

    history = json.loads(cli("history", "--env", "production", "--repo", str(ci), "-o", "json").stdout)
    assert [(e["action"], e["version"]) for e in history["entries"]][:3] == [
        ("rollback", 1),
        ("promote", 2),
        ("promote", 1),
    ]


@pytest.mark.slow
def test_gitops_flow_with_processes(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path, "local", monkeypatch)
    try:
        run_flow(cli, project, "local")
        assert len(marked_pids(project.ci, "production")) == 1
    finally:
        stop_everything(project.ci)
    assert marked_pids(project.ci) == []


@pytest.fixture
def docker_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    require_base_image()
    project = make_project(tmp_path, "docker", monkeypatch)
    yield project
    down_environment(light_repo(project.ci), "production")
    remove_project_images("e2e-docker")


@pytest.mark.docker
@pytest.mark.slow
def test_gitops_flow_with_containers(cli: Any, docker_project: Project) -> None:
    run_flow(cli, docker_project, "docker")
    client = docker_client()
    try:
        label = f"dev.mlopsctl.repo={docker_project.ci}"
        running = client.api.containers(all=True, filters={"label": [label]})
        assert [
            (c["State"], c["Labels"]["dev.mlopsctl.version"], c["Labels"]["dev.mlopsctl.candidate"]) for c in running
        ] == [("running", "1", "")]
        down_environment(light_repo(docker_project.ci), "production")
        assert client.api.containers(all=True, filters={"label": [label]}) == []
    finally:
        client.close()
