"""plan, apply and promote for a kubernetes environment: the manifest diff is what is planned, committed
and reviewed; nothing is started on this machine (issue 17)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.deploy.api import apply_environment, light_repo
from mlopsctl.errors import UsageError
from mlopsctl.kubernetes.api import validation_problems
from mlopsctl.spec.loader import scan_repo
from tests.conftest import run_cli_process
from tests.support.gitops_repo import GitopsRepo, git
from tests.support.kubernetes_repo import (
    DATA,
    STAGING_EXTRA,
    kubernetes_env,
    kustomize,
    make_kube_repo,
    rendered_objects,
    validation_errors,
)

GOLDEN = DATA / "golden"
STAGING = "environments/staging.yaml"


def commit_staging(repo: GitopsRepo, deployments: str, message: str = "edit staging") -> None:
    (repo.root / STAGING).write_text(kubernetes_env("staging", deployments, STAGING_EXTRA))
    git(repo.root, "commit", "-q", "-am", message)


def applied(cli: Any, repo: GitopsRepo) -> GitopsRepo:
    """staging's manifests rendered and committed by apply, then pushed."""
    result = cli("apply", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    git(repo.root, "push", "-q", "origin", "main")
    return repo


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def last_commit_diff(root: Path) -> str:
    return git(root, "diff", "--no-color", "HEAD~1", "HEAD", "--", "deploy/staging") + "\n"


def changed_paths(root: Path) -> list[str]:
    return git(root, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()


# --------------------------------------------------------------------------- apply


def test_apply_renders_and_commits_the_folder_and_starts_nothing(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    before = git(repo.root, "rev-parse", "HEAD")

    result = cli("apply", "--env", "staging", "--repo", str(repo.root))

    assert result.code == 0, result.stderr
    commit = git(repo.root, "rev-parse", "HEAD")
    assert result.stdout == (
        f"rendered deploy/staging/ (10 file(s) changed), committed {commit[:12]}\n"
        "staging: 1 deployment(s) on the kubernetes target; nothing was started here\n"
        "Argo CD or Flux syncs deploy/staging/ once it is pushed: git push\n"
    )
    assert (
        git(repo.root, "log", "-1", "--format=%s")
        == f"Render deploy/staging/ from environments/staging.yaml at {before[:12]}"
    )
    assert changed_paths(repo.root) == sorted(
        f"deploy/staging/{p.name}" for p in (repo.root / "deploy" / "staging").iterdir()
    )
    assert git(repo.root, "status", "--porcelain") == ""
    assert not (repo.root / ".mlops" / "envs").exists() or not list((repo.root / ".mlops" / "envs").rglob("*.json"))

    again = cli("apply", "--env", "staging", "--repo", str(repo.root))

    assert again.code == 0
    assert (
        again.stdout.splitlines()[0] == "deploy/staging/ already matches environments/staging.yaml: nothing to commit"
    )
    assert git(repo.root, "rev-parse", "HEAD") == commit


def test_apply_kubectl_refuses_without_a_kubeconfig_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_kube_repo(tmp_path)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    head = git(repo.root, "rev-parse", "HEAD")

    through_cli = run_cli_process("--repo", str(repo.root), "apply", "--env", "staging", "--kubectl")
    assert through_cli.code == 2
    assert through_cli.stderr.startswith(
        "error: No kubeconfig: apply --kubectl needs a kubeconfig: KUBECONFIG is not set"
    )
    with pytest.raises(UsageError) as refused:
        apply_environment(light_repo(repo.root), "staging", kubectl=True)

    home = Path(os.environ["HOME"])
    assert refused.value.message == (
        f"apply --kubectl needs a kubeconfig: KUBECONFIG is not set and there is no {home / '.kube' / 'config'}"
    )
    assert refused.value.hint == (
        "set KUBECONFIG to your cluster's kubeconfig (kubectl config view shows it), or leave out --kubectl "
        "and let Argo CD or Flux sync the committed folder"
    )
    assert refused.value.exit_code == 2
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert not (repo.root / "deploy" / "staging").exists()


# --------------------------------------------------------------------------- plan


def test_plan_shows_the_manifest_diff_instead_of_processes(cli: Any, tmp_path: Path) -> None:
    repo = applied(cli, make_kube_repo(tmp_path))
    commit_staging(repo, "  churn:\n    version: 1\n    strategy: canary\n    candidate: 2\n    weight: 20\n")

    result = cli("plan", "--env", "staging", "--exit-code", "--repo", str(repo.root))

    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[1] == (
        "  ~ update   churn            v1 + v2 canary 20% on kubernetes :8100  (deploy/staging/: "
        "churn-deployment-candidate.yaml, churn-service-candidate.yaml, churn-hpa-candidate.yaml, "
        "churn-pdb-candidate.yaml, churn-httproute.yaml)"
    )
    assert lines[2] == "1 to update, 0 in sync. deploy/staging/: 4 file(s) to add, 2 file(s) to change."
    assert lines[3] == "Manifests (deploy/staging/ as committed -> as rendered):"
    assert "  +++ b/deploy/staging/churn-httproute.yaml" in lines
    assert "  -          weight: 100" in lines
    assert "  +          weight: 80" in lines
    assert "  +          weight: 20" in lines

    as_json = json.loads(cli("plan", "--env", "staging", "-o", "json", "--repo", str(repo.root)).stdout)
    assert (
        as_json["manifests"]["added"]
        == [
            "churn-deployment-candidate.yaml",
            "churn-service-candidate.yaml",
            "churn-hpa-candidate.yaml",
            "churn-pdb-candidate.yaml",
            "churn-httproute.yaml",
        ][:4]
    )
    assert as_json["manifests"]["changed"] == ["kustomization.yaml", "churn-httproute.yaml"]
    markdown = cli("plan", "--env", "staging", "-o", "markdown", "--repo", str(repo.root)).stdout
    assert "```diff\n" in markdown
    assert "+          weight: 20\n" in markdown


def test_plan_refuses_a_version_without_a_pushed_image_digest_at_its_line(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path, images=(1, 2))
    commit_staging(repo, "  churn:\n    version: 3\n")

    result = cli("plan", "--env", "staging", "--repo", str(repo.root))

    assert result.code == 1
    assert result.stdout.splitlines()[-2:] == [
        "Refused: apply would stop before touching anything:",
        "  environments/staging.yaml:9:14: deployments.churn.version: churn@3 has no pushed image digest in "
        "registry/churn/images.yaml; push it: mlopsctl build churn@3 --push (and commit registry/churn/images.yaml)",
    ]


# --------------------------------------------------------------------------- promote


def test_a_promotion_commits_the_manifest_diff_with_the_environment_file(cli: Any, tmp_path: Path) -> None:
    repo = applied(cli, make_kube_repo(tmp_path))

    canary = cli(
        "promote", "churn@2", "--env", "staging", "--weight", "20", "--direct", "--no-push", "--repo", str(repo.root)
    )

    assert canary.code == 0, canary.stderr
    assert changed_paths(repo.root) == [
        "deploy/staging/churn-deployment-candidate.yaml",
        "deploy/staging/churn-hpa-candidate.yaml",
        "deploy/staging/churn-httproute.yaml",
        "deploy/staging/churn-pdb-candidate.yaml",
        "deploy/staging/churn-service-candidate.yaml",
        "deploy/staging/kustomization.yaml",
        STAGING,
    ]
    assert_golden("promote-canary.diff", last_commit_diff(repo.root))

    full = cli("promote", "churn@2", "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root))

    assert full.code == 0, full.stderr
    assert_golden("promote-full.diff", last_commit_diff(repo.root))
    assert not (repo.root / "deploy" / "staging" / "churn-deployment-candidate.yaml").exists()
    assert git(repo.root, "status", "--porcelain") == ""
    rendered = cli("render", "--env", "staging", "--repo", str(repo.root))
    assert "already matches" in rendered.stdout
    folder = repo.root / "deploy" / "staging"
    assert [e for _n, obj in rendered_objects(folder) for e in validation_errors(obj)] == []
    assert len(kustomize(folder)) == 9


def test_a_promotion_branch_holds_the_manifests_and_the_plan_is_in_sync(cli: Any, tmp_path: Path) -> None:
    repo = applied(cli, make_kube_repo(tmp_path))

    result = cli("promote", "churn@2", "--env", "staging", "--strategy", "shadow", "--repo", str(repo.root))

    assert result.code == 0, result.stderr
    branch = "promote/churn-2-staging"
    listing = git(repo.root, "diff", "--name-only", "main", branch).splitlines()
    assert "deploy/staging/churn-httproute.yaml" in listing
    assert STAGING in listing
    assert "RequestMirror" in git(repo.root, "show", f"{branch}:deploy/staging/churn-httproute.yaml")
    plan = cli("plan", "--env", "staging", "--ref", branch, "--exit-code", "--repo", str(repo.root))
    assert plan.code == 0, plan.stdout
    assert "deploy/staging/ matches the rendering." in plan.stdout


def test_a_promotion_of_a_version_without_a_pushed_digest_is_refused(cli: Any, tmp_path: Path) -> None:
    repo = applied(cli, make_kube_repo(tmp_path, images=(1, 2)))
    head = git(repo.root, "rev-parse", "HEAD")

    result = cli("promote", "churn@3", "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root))

    assert result.code == 1
    assert (
        "environments/staging.yaml:9:14: deployments.churn.version: churn@3 has no pushed image digest in "
        "registry/churn/images.yaml; push it: mlopsctl build churn@3 --push" in result.stderr
    )
    assert git(repo.root, "rev-parse", "HEAD") == head


# --------------------------------------------------------------------------- validate


def test_validation_names_each_version_without_a_digest(tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path, images=(1,))
    (repo.root / STAGING).write_text(
        kubernetes_env("staging", "  churn:\n    version: 2\n    strategy: shadow\n    candidate: 3\n")
    )
    scanned = scan_repo(repo.root)

    problems = validation_problems(repo.root, scanned.environments, scanned.settings)

    assert [str(p) for p in problems] == [
        "environments/staging.yaml:7:14: deployments.churn.version: churn@2 has no pushed image digest in "
        "registry/churn/images.yaml; push it: mlopsctl build churn@2 --push (and commit registry/churn/images.yaml)",
        "environments/staging.yaml:9:16: deployments.churn.candidate: churn@3 has no pushed image digest in "
        "registry/churn/images.yaml; push it: mlopsctl build churn@3 --push (and commit registry/churn/images.yaml)",
    ]
