"""Spec blocks for the kubernetes target (issue 17): how an environment's manifests are rendered.

``environments/<env>.yaml`` says how traffic is split in the cluster and what may reach the
services (``kubernetes:``); a model's ``serving.kubernetes:`` says what one instance needs
(resources, autoscaling, disruption budget, drain time).

Resources are Kubernetes quantities (``250m``, ``0.5``, ``512Mi``, ``1Gi``), checked here against
ranges a prediction service can sensibly ask for, so that a typo (``1000`` cores, ``512`` bytes)
is a schema problem at file:line, not a pod that never schedules.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from mlopsctl.spec.base import Name, Spec

CPU_PATTERN = r"^[0-9]+(\.[0-9]{1,3})?m?$"
MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
MIN_CPU_CORES = 0.001
MAX_CPU_CORES = 64.0
MIN_MEMORY_BYTES = 16 * 2**20
MAX_MEMORY_BYTES = 512 * 2**30
_MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def _quantity_text(value: object) -> object:
    """A bare YAML number (``cpu: 2``, ``memory: 512``) is a quantity too, as kubectl takes it."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


CpuQuantity = Annotated[str, Field(pattern=CPU_PATTERN, examples=["250m", "0.5", "2"]), BeforeValidator(_quantity_text)]
MemoryQuantity = Annotated[
    str, Field(pattern=MEMORY_PATTERN, examples=["256Mi", "1Gi"]), BeforeValidator(_quantity_text)
]


def cpu_cores(quantity: str) -> float:
    """``"250m"`` -> 0.25; the text must already match :data:`CPU_PATTERN`."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory_bytes(quantity: str) -> float:
    """``"512Mi"`` -> 536870912; the text must already match :data:`MEMORY_PATTERN`."""
    match = re.fullmatch(MEMORY_PATTERN, quantity)
    if match is None:
        raise ValueError(f"not a memory quantity: {quantity!r} (e.g. 512Mi or 1Gi)")
    number = quantity[: len(quantity) - len(match.group(2) or "")]
    return float(number) * _MEMORY_UNITS[match.group(2) or ""]


class ResourceAmounts(Spec):
    """CPU and memory, as Kubernetes quantities."""

    cpu: CpuQuantity
    """CPU in cores or millicores, e.g. 250m, 0.5 or 2 (between 1m and 64)."""
    memory: MemoryQuantity
    """Memory, e.g. 256Mi or 1Gi (between 16Mi and 512Gi)."""

    @field_validator("cpu")
    @classmethod
    def _cpu_in_range(cls, value: str) -> str:
        if re.fullmatch(CPU_PATTERN, value) and not MIN_CPU_CORES <= cpu_cores(value) <= MAX_CPU_CORES:
            raise ValueError(f"cpu {value} is out of range: between 1m and {MAX_CPU_CORES:g} cores (e.g. 250m or 2)")
        return value

    @field_validator("memory")
    @classmethod
    def _memory_in_range(cls, value: str) -> str:
        if re.fullmatch(MEMORY_PATTERN, value) and not MIN_MEMORY_BYTES <= memory_bytes(value) <= MAX_MEMORY_BYTES:
            raise ValueError(f"memory {value} is out of range: between 16Mi and 512Gi (e.g. 512Mi or 2Gi)")
        return value


class Resources(Spec):
    """What the scheduler reserves (requests) and the most one instance may use (limits)."""

    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="250m", memory="512Mi"))
    """Reserved for each instance; the autoscaler's CPU target is a share of requests.cpu."""
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="1", memory="1Gi"))
    """The most each instance may use: past limits.memory it is killed, past limits.cpu throttled."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        if cpu_cores(self.requests.cpu) > cpu_cores(self.limits.cpu):
            raise ValueError(f"requests.cpu {self.requests.cpu} is more than limits.cpu {self.limits.cpu}")
        if memory_bytes(self.requests.memory) > memory_bytes(self.limits.memory):
            raise ValueError(f"requests.memory {self.requests.memory} is more than limits.memory {self.limits.memory}")
        return self


class GatewayRef(Spec):
    """The Gateway API Gateway the environment's HTTPRoutes attach to."""

    name: Name = "mlops"
    """Name of the Gateway."""
    namespace: Name | None = None
    """Its namespace. Empty: the environment's namespace."""


class KubernetesEnvironment(Spec):
    """How an environment's deployments are rendered for a cluster."""

    routing: Literal["gateway-api", "in-process"] = "gateway-api"
    """gateway-api: canary weights and shadow mirrors as a Gateway API HTTPRoute; in-process: the
    service splits traffic itself (clusters without the Gateway API)."""
    gateway: GatewayRef = Field(default_factory=GatewayRef)
    """The Gateway the HTTPRoutes attach to (gateway-api routing)."""
    hostname: Annotated[str, Field(pattern=HOSTNAME_PATTERN, max_length=253)] | None = None
    """Host name suffix: each model answers at <model>.<hostname>. Empty: the routes match any host."""
    allow_from_namespaces: list[Name] = Field(default_factory=list)
    """Namespaces besides the environment's own whose pods may reach the services (the Gateway's,
    Prometheus'); the NetworkPolicy refuses everything else, and every egress."""


class KubernetesServing(Spec):
    """What one instance of a model's service needs in a cluster."""

    min_replicas: int = Field(default=1, ge=1, le=100)
    """Fewest replicas the autoscaler keeps."""
    max_replicas: int = Field(default=3, ge=1, le=100)
    """Most replicas the autoscaler starts."""
    target_cpu_percent: int = Field(default=70, ge=10, le=100)
    """Average CPU use, in percent of requests.cpu, that the autoscaler keeps replicas at."""
    resources: Resources = Field(default_factory=Resources)
    """CPU and memory requests and limits of one instance."""
    max_unavailable: int = Field(default=1, ge=1, le=100)
    """Most instances a voluntary disruption (a node drain) may take down at once (PodDisruptionBudget)."""
    drain_seconds: int = Field(default=5, ge=0, le=120)
    """Seconds an instance keeps answering after it is told to stop, while endpoints forget it (preStop)."""

    @model_validator(mode="after")
    def _replicas_ordered(self) -> KubernetesServing:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is more than max_replicas {self.max_replicas}")
        return self
