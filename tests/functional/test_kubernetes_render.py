"""``mlopsctl render --env ENV``: deploy/<env>/ validates offline, builds with kustomize, is deterministic,
and bad specs (no pushed image digest, resources out of range) fail with file:line (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli_process
from tests.support.gitops_repo import add_model, write_record
from tests.support.kubernetes_repo import (
    REGISTRY,
    digest,
    kubernetes_env,
    kustomize,
    make_kube_repo,
    promtool_check_rules,
    rendered_objects,
    set_serving_kubernetes,
    validation_errors,
    write_images,
)

STAGING = "environments/staging.yaml"
CANARY = "  churn:\n    version: 1\n    strategy: canary\n    candidate: 2\n    weight: 20\n"
SHADOW = "  churn:\n    version: 1\n    strategy: shadow\n    candidate: 2\n"


def set_staging(root: Path, deployments: str, extra: str = "") -> None:
    (root / STAGING).write_text(kubernetes_env("staging", deployments, extra))


def render(cli: Any, root: Path, *args: str) -> Any:
    return cli("render", "--env", "staging", "--repo", str(root), *args)


def by_kind(folder: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for _name, obj in rendered_objects(folder):
        found.setdefault(obj["kind"], []).append(obj)
    return found


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("deployments", "extra"),
    [
        ("  churn:\n    version: 1\n", ""),
        (CANARY, "kubernetes:\n  hostname: models.example.com\n  gateway: {name: edge, namespace: gateway}\n"),
        (SHADOW, ""),
        (CANARY, "kubernetes:\n  routing: in-process\n"),
    ],
    ids=["replace", "canary-gateway", "shadow-gateway", "canary-in-process"],
)
def test_every_rendered_object_validates_and_kustomize_builds_it(
    cli: Any, tmp_path: Path, deployments: str, extra: str
) -> None:
    repo = make_kube_repo(tmp_path)
    set_staging(repo.root, deployments, extra)

    result = render(cli, repo.root)

    assert result.code == 0, result.stderr
    folder = repo.root / "deploy" / "staging"
    objects = rendered_objects(folder)
    assert objects
    problems = [f"{name}: {error}" for name, obj in objects for error in validation_errors(obj)]
    assert problems == []
    built = kustomize(folder)
    assert len(built) == len(objects)
    assert {obj["metadata"].get("namespace") for obj in built if obj["kind"] != "Namespace"} == {"mlops-staging"}
    rule = next(obj for _name, obj in objects if obj["kind"] == "PrometheusRule")
    checked = promtool_check_rules(rule, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_a_deployment_runs_by_digest_as_non_root_with_probes_and_resources(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    block = "min_replicas: 2\nmax_replicas: 6\nresources:\n  requests: {cpu: 500m, memory: 1Gi}\n"
    set_serving_kubernetes(repo.root, block + "  limits: {cpu: '2', memory: 2Gi}")

    assert render(cli, repo.root).code == 0

    kinds = by_kind(repo.root / "deploy" / "staging")
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == f"{REGISTRY}/demo/churn@{digest('churn', 1)}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert kinds["PodDisruptionBudget"][0]["spec"]["maxUnavailable"] == 1
    policy = kinds["NetworkPolicy"][0]["spec"]
    assert policy["egress"] == []
    assert policy["ingress"][0]["from"][1:] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_canary_and_shadow_keep_their_meaning(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    folder = repo.root / "deploy" / "staging"
    set_staging(repo.root, CANARY)
    assert render(cli, repo.root).code == 0
    route = by_kind(folder)["HTTPRoute"][0]["spec"]["rules"][0]
    assert route["backendRefs"] == [
        {"name": "churn", "port": 80, "weight": 80},
        {"name": "churn-candidate", "port": 80, "weight": 20},
    ]
    images = sorted(d["spec"]["template"]["spec"]["containers"][0]["image"] for d in by_kind(folder)["Deployment"])
    assert images == sorted(f"{REGISTRY}/demo/churn@{digest('churn', v)}" for v in (1, 2))

    set_staging(repo.root, SHADOW)
    assert render(cli, repo.root).code == 0
    route = by_kind(folder)["HTTPRoute"][0]["spec"]["rules"][0]
    assert route["backendRefs"] == [{"name": "churn", "port": 80, "weight": 100}]
    mirror = {"backendRef": {"name": "churn-candidate", "port": 80}}
    assert route["filters"] == [{"type": "RequestMirror", "requestMirror": mirror}]


def test_in_process_routing_gives_one_deployment_both_records(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    set_staging(repo.root, CANARY, "kubernetes:\n  routing: in-process\n")

    assert render(cli, repo.root).code == 0

    kinds = by_kind(repo.root / "deploy" / "staging")
    assert "HTTPRoute" not in kinds
    [deployment] = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["image"] == f"{REGISTRY}/demo/churn@{digest('churn', 2)}"
    assert pod["initContainers"][0]["command"] == ["cp", "/model/record.yaml", "/model/model.skops", "/candidate/"]
    assert pod["containers"][0]["args"][-8:] == [
        "--candidate-record",
        "/candidate/record.yaml",
        "--candidate-artifact",
        "/candidate/model.skops",
        "--strategy",
        "canary",
        "--weight",
        "20",
    ]


def test_rendering_twice_is_byte_identical(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    set_staging(repo.root, CANARY)
    folder = repo.root / "deploy" / "staging"

    assert render(cli, repo.root).code == 0
    first = folder_bytes(folder)
    again = render(cli, repo.root)

    assert again.code == 0
    assert folder_bytes(folder) == first
    assert "deploy/staging/ already matches environments/staging.yaml: nothing written" in again.stdout
    assert not [p for p in (repo.root / "deploy").iterdir() if p.name.startswith(".")]


def test_render_lists_what_it_wrote_as_json(tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)

    result = run_cli_process("render", "--env", "staging", "-o", "json", cwd=repo.root)

    assert result.code == 0, result.stderr
    payload = yaml.safe_load(result.stdout)
    assert payload["folder"] == "deploy/staging"
    assert payload["files"] == [
        "kustomization.yaml",
        "namespace.yaml",
        "prometheus-rules.yaml",
        "churn-deployment-stable.yaml",
        "churn-service.yaml",
        "churn-hpa-stable.yaml",
        "churn-pdb-stable.yaml",
        "churn-networkpolicy.yaml",
        "churn-podmonitor.yaml",
        "churn-httproute.yaml",
    ]
    assert payload["added"] == payload["files"]


def test_a_version_without_a_pushed_digest_is_refused_at_its_line(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path, images=(1,))
    set_staging(repo.root, CANARY)

    result = render(cli, repo.root)

    assert result.code == 1
    assert result.stderr == (
        "error: Cannot render: deploy/staging/ cannot be rendered, nothing was written:\n"
        "  environments/staging.yaml:9:16: deployments.churn.candidate: churn@2 has no pushed image digest in "
        "registry/churn/images.yaml; push it: mlopsctl build churn@2 --push (and commit registry/churn/images.yaml)\n"
        "hint: fix what each line names ('mlopsctl validate' shows every problem), then render again\n"
    )
    assert not (repo.root / "deploy" / "staging").exists()


def test_a_version_that_failed_its_gates_is_refused(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path, images=(1, 4))
    set_staging(repo.root, "  churn:\n    version: 4\n")

    result = render(cli, repo.root)

    assert result.code == 1
    assert "environments/staging.yaml:7:14: deployments.churn.version: churn@4 failed its gates" in result.stderr


@pytest.mark.parametrize(
    ("resources", "where", "message"),
    [
        (
            "requests: {cpu: 250m, memory: 512Mi}\n  limits: {cpu: '1000', memory: 1Gi}",
            "{line2}:21: serving.kubernetes.resources.limits.cpu",
            "cpu 1000 is out of range: between 1m and 64 cores (e.g. 250m or 2)",
        ),
        (
            "requests: {cpu: 250m, memory: 512}\n  limits: {cpu: '1', memory: 1Gi}",
            "{line1}:37: serving.kubernetes.resources.requests.memory",
            "memory 512 is out of range: between 16Mi and 512Gi (e.g. 512Mi or 2Gi)",
        ),
        (
            "requests: {cpu: '2', memory: 512Mi}\n  limits: {cpu: '1', memory: 1Gi}",
            "{line0}:5: serving.kubernetes.resources",
            "requests.cpu 2 is more than limits.cpu 1",
        ),
    ],
    ids=["cpu-limit", "memory-request", "requests-over-limits"],
)
def test_resources_out_of_range_fail_validate_with_file_and_line(
    cli: Any, tmp_path: Path, resources: str, where: str, message: str
) -> None:
    repo = make_kube_repo(tmp_path)
    first = set_serving_kubernetes(repo.root, "resources:\n  " + resources)
    lines = {"line0": first, "line1": first + 1, "line2": first + 2}
    expected = f"models/churn/model.yaml:{where.format(**lines)}: {message}\n\n1 problem in {repo.root}\n"

    result = cli("validate", "--repo", str(repo.root))

    assert (result.code, result.stdout) == (1, expected)


def test_render_refuses_an_environment_without_the_kubernetes_target(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)

    result = cli("render", "--env", "production", "--repo", str(repo.root))

    assert result.code == 1
    assert result.stderr == (
        "error: Not a kubernetes environment: environments/production.yaml runs nothing on the kubernetes target: "
        "there is nothing to render\n"
        "hint: set target: kubernetes in environments/production.yaml (or on one deployment) to render it for a cluster\n"
    )


def test_render_never_writes_through_a_linked_deploy_folder(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo.root / "deploy" / "staging").symlink_to(outside, target_is_directory=True)

    result = render(cli, repo.root)

    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        "error: Unsafe state folder: deploy/staging is a symbolic link: mlopsctl writes its state only into real "
        "folders inside the repository"
    )
    assert list(outside.iterdir()) == []


def test_a_render_killed_between_its_renames_is_finished_by_the_next(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    assert render(cli, repo.root).code == 0
    deploy = repo.root / "deploy"
    first = folder_bytes(deploy / "staging")
    # what a kill leaves between "old folder aside" and "new folder in place": no deploy/staging
    (deploy / "staging").rename(deploy / ".render-staging.old")
    (deploy / ".render-staging.k1ll3d").mkdir()
    (deploy / ".render-staging.k1ll3d" / "namespace.yaml").write_text("half written")

    again = render(cli, repo.root)

    assert again.code == 0
    assert sorted(p.name for p in deploy.iterdir() if "staging" in p.name) == ["staging"]
    assert folder_bytes(deploy / "staging") == first
    assert "already matches" in again.stdout


def test_two_models_render_side_by_side_and_clashing_names_are_refused(cli: Any, tmp_path: Path) -> None:
    repo = make_kube_repo(tmp_path)
    add_model(repo.root, "churn-eu")
    write_record(repo.root, "churn-eu", 1)
    write_images(repo.root, "churn-eu", [1])
    set_staging(repo.root, CANARY + "  churn-eu:\n    version: 1\n")

    result = render(cli, repo.root)

    assert result.code == 0, result.stderr
    folder = repo.root / "deploy" / "staging"
    names = sorted(obj["metadata"]["name"] for _n, obj in rendered_objects(folder) if obj["kind"] == "Deployment")
    assert names == ["churn-candidate", "churn-eu-stable", "churn-stable"]
    assert len(kustomize(folder)) == len(rendered_objects(folder))

    add_model(repo.root, "churn-candidate")
    write_record(repo.root, "churn-candidate", 1)
    write_images(repo.root, "churn-candidate", [1])
    set_staging(repo.root, CANARY + "  churn-candidate:\n    version: 1\n")

    clash = render(cli, repo.root)

    assert clash.code == 1
    assert (
        "  environments/staging.yaml:11:3: deployments.churn-candidate: 'churn-candidate' would share Kubernetes "
        "object names with 'churn': rename one\n" in clash.stderr
    )


def test_an_in_process_candidate_gets_its_tolerance_and_the_agreement_alert(cli: Any, tmp_path: Path) -> None:
    """In one pod the service compares the candidate with stable: the spec's tolerance reaches it, and the
    PrometheusRule watches the agreement; behind the Gateway API nothing compares, so no such alert."""
    repo = make_kube_repo(tmp_path)
    spec_file = repo.root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec.setdefault("monitoring", {})["shadow"] = {"tolerance": 0.25}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))

    def alerts() -> set[str]:
        [rule] = by_kind(repo.root / "deploy" / "staging")["PrometheusRule"]
        return {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}

    set_staging(repo.root, CANARY)
    assert render(cli, repo.root).code == 0
    assert "MlopsCandidateAgreement" not in alerts()

    set_staging(repo.root, CANARY, "kubernetes:\n  routing: in-process\n")
    assert render(cli, repo.root).code == 0
    assert "MlopsCandidateAgreement" in alerts()
    [deployment] = by_kind(repo.root / "deploy" / "staging")["Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--shadow-tolerance", "0.25"]
