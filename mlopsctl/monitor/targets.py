"""Where an environment's prediction services listen: one endpoint per (model, version, role).

``apply`` records what it actually started in ``<state_dir>/targets/<env>.json``; until an
environment has been applied, the endpoints are derived from ``environments/<env>.yaml``: a
deployment's ``port``, else the environment's ``base_port`` plus the deployment's position in
the file. A canary or shadow deployment is one service holding two versions, so it gives two
endpoints on the same port (roles ``stable`` and ``canary`` or ``shadow``).

State file format (a list, or ``{"endpoints": [...]}``)::

    [{"model": "churn", "version": 3, "role": "stable", "host": "127.0.0.1", "port": 8100}]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlopsctl.errors import CheckFailed
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Deployment, Environment

LOCAL_HOST = "127.0.0.1"
KUBERNETES_PORT = 80


@dataclass(frozen=True)
class Endpoint:
    """One version of a model answering (or shadowing) in an environment, and where to scrape it."""

    model: str
    version: int
    role: str
    host: str
    port: int
    env: str = ""

    @property
    def instance(self) -> str:
        """The ``host:port`` that Prometheus puts in the ``instance`` label."""
        return f"{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.instance}/metrics"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_file(repo: Repo, env: str) -> Path:
    return repo.state_dir / "targets" / f"{env}.json"


def deployment_endpoints(repo: Repo, env: str) -> list[Endpoint]:
    """The endpoints of ``env``: recorded by apply when it ran, else derived from the environment file."""
    recorded = state_file(repo, env)
    if recorded.is_file():
        return _read_state(recorded, env)
    return derived_endpoints(repo.environment(env), repo.settings.default_target)


def derived_endpoints(environment: Environment, default_target: str = "local") -> list[Endpoint]:
    endpoints: list[Endpoint] = []
    for index, (model, deployment) in enumerate(environment.deployments.items()):
        host, port = _address(environment, deployment, model, index, default_target)
        endpoints.extend(_roles(model, deployment, host, port, environment.name))
    return endpoints


def _address(environment: Environment, deployment: Deployment, model: str, index: int, default: str) -> tuple[str, int]:
    target = deployment.target or environment.target or default
    if target == "kubernetes":
        namespace = environment.namespace or f"mlops-{environment.name}"
        return f"{model}.{namespace}.svc", KUBERNETES_PORT
    return LOCAL_HOST, deployment.port or environment.base_port + index


@dataclass(frozen=True)
class Workload:
    """Where one deployment on the kubernetes target runs, named as ``mlopsctl render`` names it.

    The Deployment (and its HorizontalPodAutoscaler) is ``<model>-stable``, or ``<model>-candidate``
    for a candidate the Gateway API routes to; with in-process routing the candidate answers inside
    the stable pods. Its pods are ``<deployment>-<replicaset hash>-<suffix>``, container ``serve``.
    """

    namespace: str
    deployment: str

    @property
    def pod_pattern(self) -> str:
        """The pods of this Deployment (and not of one whose name merely starts the same)."""
        return f"{self.deployment}-[a-z0-9]+-[a-z0-9]+"


def kubernetes_workloads(repo: Repo, env: str) -> dict[tuple[str, str], Workload]:
    """(model, role) to its Workload, for each deployment of ``env`` on the kubernetes target."""
    environment = repo.environment(env)
    found: dict[tuple[str, str], Workload] = {}
    for model, deployment in environment.deployments.items():
        if (deployment.target or environment.target or repo.settings.default_target) != "kubernetes":
            continue
        namespace = environment.namespace or f"mlops-{environment.name}"
        found[(model, "stable")] = Workload(namespace, f"{model}-stable")
        if deployment.candidate is not None:
            role = "canary" if deployment.strategy == "canary" else "shadow"
            separate = environment.kubernetes.routing == "gateway-api"
            found[(model, role)] = Workload(namespace, f"{model}-{'candidate' if separate else 'stable'}")
    return found


def _roles(model: str, deployment: Deployment, host: str, port: int, env: str) -> list[Endpoint]:
    found = [Endpoint(model, deployment.version, "stable", host, port, env)]
    if deployment.candidate is not None:
        role = "canary" if deployment.strategy == "canary" else "shadow"
        found.append(Endpoint(model, deployment.candidate, role, host, port, env))
    return found


def _read_state(path: Path, env: str) -> list[Endpoint]:
    try:
        data = json.loads(path.read_text())
        rows = data["endpoints"] if isinstance(data, dict) else data
        return [_endpoint(row, env) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(
            f"the target state file {path} is unreadable: {exc}",
            title="Unreadable state",
            hint=f"run 'mlopsctl apply --env {env}' again to rewrite it, or delete it to use the environment file",
        ) from exc


def _endpoint(row: dict[str, Any], env: str) -> Endpoint:
    return Endpoint(
        model=str(row["model"]),
        version=int(row["version"]),
        role=str(row.get("role", "stable")),
        host=str(row.get("host", LOCAL_HOST)),
        port=int(row["port"]),
        env=env,
    )
