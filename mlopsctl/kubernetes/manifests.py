"""The Kubernetes objects of one environment, built as plain dictionaries from checked inputs.

Pure functions: no file, no git, no clock. Names are stable across promotions (a Deployment is
named by its role, ``<model>-stable`` or ``<model>-candidate``, never by its version), so that a
promotion changes only the lines it must: an image digest, a version label, a weight.

Per model: a Deployment per running version, a Service (the stable pods), a HorizontalPodAutoscaler
and a PodDisruptionBudget per Deployment, a NetworkPolicy, a PodMonitor and, with Gateway API
routing, a candidate Service and an HTTPRoute (canary weights, shadow mirror). Per environment: the
Namespace and a PrometheusRule holding the rules ``mlopsctl monitoring render`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlopsctl.spec.kubernetes import KubernetesEnvironment, KubernetesServing
from mlopsctl.spec.models import Deployment, ServingSpec

PORT = 8080
"""The port the image's service listens on ($PORT; build/context.py's DEFAULT_PORT)."""
SERVICE_PORT = 80
RUN_AS = 10001
"""The image's numeric non-root user (build/context.py's USER)."""
MODEL_DIR = "/model"
CANDIDATE_DIR = "/candidate"
SHUTDOWN_SECONDS = 30
"""What the service may take to finish its requests after SIGTERM, on top of the preStop drain."""
STABLE, CANDIDATE = "stable", "candidate"
MANAGED_BY = "mlopsctl"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_ENV = "mlopsctl.dev/env"
LABEL_ROLE = "mlopsctl.dev/role"
LABEL_VERSION = "mlopsctl.dev/version"

Obj = dict[str, Any]
FILE_KINDS = (
    "deployment-stable",
    "deployment-candidate",
    "service",
    "service-candidate",
    "hpa-stable",
    "hpa-candidate",
    "pdb-stable",
    "pdb-candidate",
    "networkpolicy",
    "podmonitor",
    "httproute",
)
"""A model's files are ``<model>-<kind>.yaml``, kind one of these (model names may hold dashes)."""


def model_of(file_name: str) -> str | None:
    """The model a rendered file belongs to, or None for the environment's own files."""
    stem = file_name.removesuffix(".yaml")
    for kind in sorted(FILE_KINDS, key=len, reverse=True):
        if stem.endswith(f"-{kind}"):
            return stem[: -len(kind) - 1]
    return None


@dataclass(frozen=True)
class ModelInput:
    """One deployment of the environment file, with what rendering it needs."""

    model: str
    deployment: Deployment
    serving: ServingSpec
    images: dict[int, str]
    """Version to its image by digest (``registry/repo@sha256:...``)."""
    shadow_tolerance: float = 0.0
    """monitoring.shadow.tolerance, passed to a service holding a candidate."""


@dataclass(frozen=True)
class EnvInput:
    """Everything one environment's manifests are made of."""

    env: str
    project: str
    namespace: str
    kubernetes: KubernetesEnvironment
    models: list[ModelInput]
    rules: Obj
    """The Prometheus rules document (``{"groups": [...]}``) of ``monitoring render``."""


def environment_objects(given: EnvInput) -> dict[str, Obj]:
    """File name (without ``.yaml``) to object, in the order the kustomization lists them."""
    objects: dict[str, Obj] = {"namespace": namespace(given), "prometheus-rules": prometheus_rule(given)}
    for item in sorted(given.models, key=lambda m: m.model):
        objects.update(model_objects(given, item))
    return objects


def model_objects(given: EnvInput, item: ModelInput) -> dict[str, Obj]:
    name = item.model
    gateway = given.kubernetes.routing == "gateway-api"
    split = gateway and item.deployment.candidate is not None
    roles = [STABLE, CANDIDATE] if split else [STABLE]
    found: dict[str, Obj] = {}
    for role in roles:
        found[f"{name}-deployment-{role}"] = deployment(given, item, role, in_process=not gateway)
    found[f"{name}-service"] = service(given, item, name, STABLE)
    if split:
        found[f"{name}-service-{CANDIDATE}"] = service(given, item, f"{name}-{CANDIDATE}", CANDIDATE)
    for role in roles:
        found[f"{name}-hpa-{role}"] = autoscaler(given, item, role)
    for role in roles:
        found[f"{name}-pdb-{role}"] = disruption_budget(given, item, role)
    found[f"{name}-networkpolicy"] = network_policy(given, item)
    found[f"{name}-podmonitor"] = pod_monitor(given, item)
    if gateway:
        found[f"{name}-httproute"] = http_route(given, item)
    return found


# --------------------------------------------------------------------------- metadata


def labels(given: EnvInput, model: str | None = None, role: str | None = None) -> dict[str, str]:
    found = {LABEL_PART_OF: given.project, LABEL_MANAGED_BY: MANAGED_BY, LABEL_ENV: given.env}
    if model is not None:
        found = {LABEL_NAME: model, **found}
    if role is not None:
        found[LABEL_ROLE] = role
    return found


def selector(model: str, role: str | None = None) -> dict[str, str]:
    """What selects a model's pods (of one role): labels that never change for a Deployment."""
    found = {LABEL_NAME: model, LABEL_MANAGED_BY: MANAGED_BY}
    return {**found, LABEL_ROLE: role} if role else found


def metadata(given: EnvInput, name: str, model: str | None = None, role: str | None = None) -> Obj:
    return {"name": name, "labels": labels(given, model, role)}


def object_name(model: str, role: str) -> str:
    return f"{model}-{role}"


def namespace(given: EnvInput) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": given.namespace, "labels": labels(given)}}


# --------------------------------------------------------------------------- workloads


def deployment(given: EnvInput, item: ModelInput, role: str, *, in_process: bool) -> Obj:
    """The Deployment of one role; replicas are the autoscaler's (a GitOps sync must not fight it)."""
    version = _version_of(item, role)
    pod_labels = {**labels(given, item.model, role), LABEL_VERSION: str(version)}
    candidate = item.deployment.candidate if in_process and role == STABLE else None
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(given, object_name(item.model, role), item.model, role),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(item.model, role)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec(item, version, candidate)},
        },
    }


def pod_spec(item: ModelInput, version: int, candidate: int | None) -> Obj:
    kube = item.serving.kubernetes
    spec: Obj = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": kube.drain_seconds + SHUTDOWN_SECONDS,
    }
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if candidate is not None:
        spec["initContainers"] = [_candidate_copier(item, candidate)]
        volumes.append({"name": "candidate", "emptyDir": {"sizeLimit": "1Gi"}})
    spec["containers"] = [_service_container(item, version, candidate)]
    spec["volumes"] = volumes
    return spec


def _service_container(item: ModelInput, version: int, candidate: int | None) -> Obj:
    kube = item.serving.kubernetes
    mounts: list[Obj] = [{"name": "tmp", "mountPath": "/tmp"}]
    if candidate is not None:
        mounts.append({"name": "candidate", "mountPath": CANDIDATE_DIR, "readOnly": True})
    container: Obj = {
        "name": "serve",
        "image": item.images[version],
        "args": _service_arguments(item, candidate),
        "env": [{"name": "PORT", "value": str(PORT)}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": _resources(kube),
        "securityContext": _container_security(),
        "startupProbe": _probe("/health/live", period=2, failures=30),
        "livenessProbe": _probe("/health/live", period=10, failures=3),
        "readinessProbe": _probe("/health/ready", period=5, failures=3),
        # endpoints forget a stopping pod a little after it is told to stop: keep answering meanwhile
        "lifecycle": {"preStop": {"sleep": {"seconds": kube.drain_seconds}}},
        "volumeMounts": mounts,
    }
    if kube.drain_seconds == 0:
        del container["lifecycle"]
    return container


def _candidate_copier(item: ModelInput, candidate: int) -> Obj:
    """In-process routing: the candidate's image copies its record and artifact where the service reads them."""
    return {
        "name": "candidate-model",
        "image": item.images[candidate],
        "command": ["cp", f"{MODEL_DIR}/record.yaml", f"{MODEL_DIR}/model.skops", f"{CANDIDATE_DIR}/"],
        "resources": _resources(item.serving.kubernetes),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "candidate", "mountPath": CANDIDATE_DIR}],
    }


def _service_arguments(item: ModelInput, candidate: int | None) -> list[str]:
    """What the image's entry point passes on to ``python -m mlopsctl.serve`` (as the docker target does)."""
    serving = item.serving
    args = ["--max-body-bytes", str(serving.max_body_bytes), "--max-batch-rows", str(serving.max_batch_rows)]
    if serving.unknown_fields != "reject":
        args += ["--unknown-fields", serving.unknown_fields]
    if candidate is None:
        return args
    deployment = item.deployment
    args += [
        "--candidate-record",
        f"{CANDIDATE_DIR}/record.yaml",
        "--candidate-artifact",
        f"{CANDIDATE_DIR}/model.skops",
    ]
    args += ["--strategy", deployment.strategy]
    if deployment.strategy == "canary" and deployment.weight is not None:
        args += ["--weight", str(deployment.weight)]
    if item.shadow_tolerance:
        args += ["--shadow-tolerance", repr(item.shadow_tolerance)]
    return args


def _resources(kube: KubernetesServing) -> Obj:
    requests, limits = kube.resources.requests, kube.resources.limits
    return {
        "requests": {"cpu": requests.cpu, "memory": requests.memory},
        "limits": {"cpu": limits.cpu, "memory": limits.memory},
    }


def _container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _probe(path: str, *, period: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _version_of(item: ModelInput, role: str) -> int:
    if role == CANDIDATE and item.deployment.candidate is not None:
        return item.deployment.candidate
    return item.deployment.version


# --------------------------------------------------------------------------- traffic


def service(given: EnvInput, item: ModelInput, name: str, role: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(given, name, item.model, role),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(item.model, role),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def http_route(given: EnvInput, item: ModelInput) -> Obj:
    """Canary: backend weights; shadow: every request mirrored to the candidate; replace: the stable only."""
    deployment = item.deployment
    stable_weight = 100 - (deployment.weight or 0) if deployment.strategy == "canary" else 100
    backends: list[Obj] = [_backend(item.model, stable_weight)]
    if deployment.strategy == "canary":
        backends.append(_backend(f"{item.model}-{CANDIDATE}", deployment.weight or 0))
    rule: Obj = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}
    if deployment.strategy == "shadow":
        mirror = {"name": f"{item.model}-{CANDIDATE}", "port": SERVICE_PORT}
        rule["filters"] = [{"type": "RequestMirror", "requestMirror": {"backendRef": mirror}}]
    rule["backendRefs"] = backends
    spec: Obj = {"parentRefs": [_parent(given.kubernetes)]}
    if given.kubernetes.hostname:
        spec["hostnames"] = [f"{item.model}.{given.kubernetes.hostname}"]
    spec["rules"] = [rule]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata(given, item.model, item.model),
        "spec": spec,
    }


def _backend(name: str, weight: int) -> Obj:
    return {"name": name, "port": SERVICE_PORT, "weight": weight}


def _parent(kube: KubernetesEnvironment) -> Obj:
    parent: Obj = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": kube.gateway.name}
    if kube.gateway.namespace:
        parent["namespace"] = kube.gateway.namespace
    return parent


# --------------------------------------------------------------------------- availability and isolation


def autoscaler(given: EnvInput, item: ModelInput, role: str) -> Obj:
    kube = item.serving.kubernetes
    least = max(kube.min_replicas, item.deployment.replicas)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name(item.model, role)}
    utilisation = {"type": "Utilization", "averageUtilization": kube.target_cpu_percent}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(given, object_name(item.model, role), item.model, role),
        "spec": {
            "scaleTargetRef": target,
            "minReplicas": least,
            "maxReplicas": max(least, kube.max_replicas),
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": utilisation}}],
        },
    }


def disruption_budget(given: EnvInput, item: ModelInput, role: str) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(given, object_name(item.model, role), item.model, role),
        "spec": {
            "maxUnavailable": item.serving.kubernetes.max_unavailable,
            "selector": {"matchLabels": selector(item.model, role)},
        },
    }


def network_policy(given: EnvInput, item: ModelInput) -> Obj:
    """Only the environment's namespace and those the file names may reach the service; nothing goes out."""
    sources: list[Obj] = [{"podSelector": {}}]
    sources += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        for name in given.kubernetes.allow_from_namespaces
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(given, item.model, item.model),
        "spec": {
            "podSelector": {"matchLabels": selector(item.model)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": "http"}]}],
            "egress": [],
        },
    }


# --------------------------------------------------------------------------- monitoring


def pod_monitor(given: EnvInput, item: ModelInput) -> Obj:
    """Scrape every pod of the model with the labels the rules expect (``job``, ``env``, ``service``),
    as the scrape configuration of ``monitoring render`` sets them."""
    relabel = [
        # the job name the rules' MlopsServiceDown alert selects (the operator's own is namespace/name)
        {"action": "replace", "targetLabel": "job", "replacement": f"mlopsctl-{given.env}"},
        {"action": "replace", "targetLabel": "env", "replacement": given.env},
        {"action": "replace", "targetLabel": "service", "replacement": item.model},
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata(given, item.model, item.model),
        "spec": {
            "selector": {"matchLabels": selector(item.model)},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "15s", "relabelings": relabel}],
        },
    }


def prometheus_rule(given: EnvInput) -> Obj:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(given, f"mlopsctl-{given.env}"),
        "spec": given.rules,
    }
