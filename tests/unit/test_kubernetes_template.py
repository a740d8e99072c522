"""The template's Argo CD Application and Flux Kustomization point at the folders render writes (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def template_envs(root: Path) -> list[str]:
    return sorted(path.stem for path in (root / "environments").glob("*.yaml"))


def test_an_argo_cd_application_syncs_each_environments_folder(model_repo: Path) -> None:
    apps = documents(model_repo / "deploy" / "argocd-application.yaml")

    assert [(a["apiVersion"], a["kind"]) for a in apps] == [("argoproj.io/v1alpha1", "Application")] * 2
    assert sorted(a["spec"]["source"]["path"] for a in apps) == [f"deploy/{env}" for env in template_envs(model_repo)]
    assert sorted(a["metadata"]["name"] for a in apps) == ["demo-production", "demo-staging"]
    for app in apps:
        env = app["spec"]["source"]["path"].split("/")[1]
        assert app["spec"]["destination"]["namespace"] == f"mlops-{env}"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_a_flux_kustomization_applies_each_environments_folder(model_repo: Path) -> None:
    source, *kustomizations = documents(model_repo / "deploy" / "flux-kustomization.yaml")

    assert (source["kind"], source["metadata"]["name"]) == ("GitRepository", "demo")
    assert [k["kind"] for k in kustomizations] == ["Kustomization", "Kustomization"]
    assert sorted(k["spec"]["path"] for k in kustomizations) == [f"./deploy/{env}" for env in template_envs(model_repo)]
    assert {k["spec"]["sourceRef"]["name"] for k in kustomizations} == {"demo"}
    assert all(k["spec"]["prune"] is True for k in kustomizations)
