"""A team, not one laptop (issue 14), end to end: machine A trains and ships; machine B is the CI runner.

Machine A (its own HOME and state folder) trains with the team's stores configured: the artifact and
the data go to an OCI registry, the run to PostgreSQL; it builds the image and pushes it by digest to
the same registry, then promotes through a pull request on a loopback forge, which is merged.
Machine B (a fresh HOME, an empty state folder, only the Git remote and the stores' settings and
credentials, as CI variables and secrets give them) runs the template workflow's own steps, read
from the repository's ``.github/workflows/mlops.yml``: ``validate``, then the ``apply-staging`` job
(install the pinned mlopsctl, build and push what is missing, plan, apply). Its Docker target pulls
A's image by digest (A's copy is removed from the engine first: both machines share one engine),
and the service answers what A's pipeline answers. ``runs list`` in B shows A's run; ``reproduce``
in B fetches the data snapshot and gives identical metrics and artifact bytes.

Real pieces: bare Git remote, Debian's distribution registry, PostgreSQL, the Docker engine, the
installed ``mlopsctl`` entry point, a loopback forge that checks requests as GitHub does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.scaffold.init import init_repo
from tests.conftest import GITCONFIG, run_cli_process
from tests.support.apply_repo import git, stop_everything
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.image_registry import remove_every_tag, set_image_registry
from tests.support.postgres import PASSWORD, PostgresDatabase, pg_database, postgres_server
from tests.support.serve_process import read_json_object, start_serve
from tests.support.services import (
    BASE_IMAGE,
    docker_client,
    free_port,
    remove_project_images,
    require_base_image,
    require_docker,
)
from tests.support.stores import Endpoint, oci_registry

__all__ = ["pg_database", "postgres_server"]  # the fixtures this module uses
pytestmark = [pytest.mark.slow, pytest.mark.docker]
TOKEN = "ghp_team_token"
GITHUB_URL = "https://github.com/acme/churn-models.git"
ROWS = [
    {"tenure_months": 3, "monthly_charges": 95.0, "contract": "month-to-month", "payment_method": "card"}
    | {"support_calls": 4, "age": 23},
    {"tenure_months": 60, "monthly_charges": 20.0, "contract": "two-year", "payment_method": "bank-transfer"}
    | {"support_calls": 0, "age": 61},
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Endpoint]:
    require_docker()
    require_base_image()
    with oci_registry(tmp_path / "registry") as endpoint:
        yield endpoint


def home(base: Path) -> dict[str, str]:
    """A machine of its own: HOME and git config, nothing of the other machine's."""
    base.mkdir(parents=True)
    (base / ".gitconfig").write_text(GITCONFIG)
    return {"HOME": str(base), "GIT_CONFIG_GLOBAL": str(base / ".gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"}


def team_settings(registry: Endpoint, database: PostgresDatabase) -> dict[str, str]:
    """What the team sets as CI variables and secrets (and a teammate in their shell): stores, not code."""
    return {
        "MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/team/models",
        "MLOPS_METADATA_STORE": database.uri,
        "PGPASSWORD": PASSWORD,
        "MLOPS_IMAGE_REGISTRY": f"{registry.url}/team",
    }


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "acme" / "churn-models.git"
    bare.parent.mkdir()
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    return bare


def machine_a(tmp_path: Path, remote: Path, registry: Endpoint) -> Path:
    """The template, a small forest, staging on the docker target on a free port; pushed to the remote."""
    root = init_repo(tmp_path / "a", "team").root
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 10
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env_file = root / "environments" / "staging.yaml"
    env = yaml.safe_load(env_file.read_text())
    env.update(target="docker", base_port=free_port())
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    settings_file = root / "mlops.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["image"]["base"] = BASE_IMAGE  # built locally: no image registry on the internet is reachable
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    git(root, "commit", "-qam", "A small forest on the docker target, on a free port")
    set_image_registry(root, f"{registry.url}/team")
    git(root, "remote", "add", "origin", GITHUB_URL)
    git(root, "config", f"url.{remote}.pushInsteadOf", GITHUB_URL)
    git(root, "push", "-q", "origin", "HEAD:main")
    return root


def cli(root: Path, env: dict[str, str], *args: str) -> Any:
    result = run_cli_process("--repo", str(root), *args, env=env)
    return result


def ok(root: Path, env: dict[str, str], *args: str) -> str:
    result = cli(root, env, *args)
    assert result.code == 0, f"mlopsctl {' '.join(args)}: {result.stdout}{result.stderr}"
    return str(result.stdout)


def merge(tmp_path: Path, remote: Path, branch: str) -> None:
    """What the reviewer's merge button does: the pull request's branch merged into main on the remote."""
    scratch = tmp_path / "merge"
    git(tmp_path, "clone", "-q", str(remote), str(scratch))
    git(scratch, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
    git(scratch, "push", "-q", "origin", "HEAD:main")


def workflow_steps(root: Path, job: str) -> list[str]:
    """The ``run:`` steps of one job of the repository's own GitHub workflow, verbatim."""
    workflow = yaml.safe_load((root / ".github" / "workflows" / "mlops.yml").read_text())
    return [str(step["run"]) for step in workflow["jobs"][job]["steps"] if "run" in step]


def workflow_env(root: Path) -> dict[str, str]:
    """The workflow's plain env values (the ${{ vars }} and ${{ secrets }} ones come from CI settings)."""
    workflow = yaml.safe_load((root / ".github" / "workflows" / "mlops.yml").read_text())
    return {name: str(value) for name, value in workflow["env"].items() if "${{" not in str(value)}


def pinned_pip(folder: Path) -> Path:
    """``pip`` for the runner: checks that the pinned mlopsctl is the one installed (no index here)."""
    folder.mkdir()
    script = folder / "pip"
    script.write_text(
        "#!/bin/sh\n"
        f'want="$(printf %s "$2" | sed -n "s/^mlopsctl==//p")"\n'
        f'have="$({sys.executable} -c "import mlopsctl; print(mlopsctl.__version__)")"\n'
        '[ "$1" = install ] && [ -n "$want" ] && [ "$want" = "$have" ] || '
        '{ echo "pip: asked for $*, have mlopsctl $have" >&2; exit 1; }\n'
    )
    script.chmod(0o755)
    return folder


def run_step(root: Path, step: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"step {step!r} failed ({done.returncode}): {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def predictions(port: int) -> list[Any]:
    body = json.dumps({"records": ROWS}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: list[Any] = json.load(response)["predictions"]
    return answer


def test_ci_applies_from_a_fresh_clone_what_a_teammate_trained_pushed_and_merged(
    tmp_path: Path, remote: Path, registry: Endpoint, pg_database: PostgresDatabase
) -> None:
    team = team_settings(registry, pg_database)
    root_a = machine_a(tmp_path, remote, registry)
    env_a = {**home(tmp_path / "home-a"), **team}
    with serve(Forge(TOKEN, remote)) as forge:
        env_a |= {**api_environment(forge.url), "GITHUB_TOKEN": TOKEN}
        ok(root_a, env_a, "train", "churn")
        built = ok(root_a, env_a, "build", "churn@1", "--push")
        assert "pushed" in built
        git(root_a, "push", "-q", "origin", "HEAD:main")  # images.yaml: the digest, committed
        promoted = json.loads(ok(root_a, env_a, "promote", "churn@1", "--env", "staging", "-o", "json"))
        assert forge.opened, forge.requests
    merge(tmp_path, remote, promoted["branch"])
    git(root_a, "checkout", "-q", "main")
    git(root_a, "pull", "-q", "--ff-only", str(remote), "main")  # A's main has the merged promotion too
    runs_a = json.loads(ok(root_a, env_a, "runs", "list", "-o", "json"))
    image_a = json.loads(ok(root_a, env_a, "build", "--env", "staging", "--push", "-o", "json"))["images"][0]
    assert image_a["outcome"] == "already pushed"
    expected = served_by_a(root_a, env_a)
    remove_every_tag(image_id(f"{image_a['reference']}@{image_a['digest']}"))

    root_b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(root_b))
    assert not (root_b / ".mlops").exists()
    runner = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("MLOPS_", "PG", "HOME", "GIT_"))},
        **home(tmp_path / "home-b"),
        **workflow_env(root_b),
        **team,
        "PATH": f"{pinned_pip(tmp_path / 'runner-bin')}:{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    try:
        for step in workflow_steps(root_b, "validate"):
            run_step(root_b, step, runner)
        said = "".join(run_step(root_b, step, runner) for step in workflow_steps(root_b, "apply-staging"))
        assert "already pushed" in said
        assert f"pulling image {image_a['reference']}@{image_a['digest']}" in said
        assert "building image" not in said
        assert predictions(_port(root_b)) == expected
        runs_b = json.loads(ok(root_b, runner, "runs", "list", "-o", "json"))
        assert [run["id"] for run in runs_b["runs"]] == [run["id"] for run in runs_a["runs"]] != []
        data_b = root_b / "data" / "churn.csv"
        data_b.unlink()  # data is rarely in Git: B has only what the store holds
        reproduced = json.loads(ok(root_b, runner, "reproduce", "churn@1", "-o", "json"))
        assert (reproduced["metrics_match"], reproduced["artifact"]["matches"]) == (True, True), reproduced
        assert "used the snapshot" in reproduced["data_note"], reproduced
        ok(root_b, runner, "data", "pull", "churn@1")
        assert data_b.read_bytes() == (root_a / "data" / "churn.csv").read_bytes()
    finally:
        stop_everything(root_b)
        shutil.rmtree(root_b / ".mlops", ignore_errors=True)
        remove_project_images("team")


def served_by_a(root: Path, env: dict[str, str]) -> list[Any]:
    """What A's own pipeline answers, served by ``mlopsctl serve`` on A (a process, not the image)."""
    port = free_port()
    process = start_serve(root, "churn@1", port)
    try:
        read_json_object(process)
        return predictions(port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def image_id(reference: str) -> str:
    client = docker_client()
    try:
        return str(client.images.get(reference).id)
    finally:
        client.close()


def _port(root: Path) -> int:
    env = yaml.safe_load((root / "environments" / "staging.yaml").read_text())
    return int(env["base_port"])
