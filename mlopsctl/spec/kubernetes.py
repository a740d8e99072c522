"""Spec blocks for the kubernetes target (issue 17): how an environment's manifests are rendered.

``environments/<env>.yaml`` says how traffic is split in the cluster (``kubernetes:``); a model's
``serving.kubernetes:`` says what one instance needs (resources, autoscaling, disruption budget).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlopsctl.spec.base import Spec


class KubernetesEnvironment(Spec):
    """How an environment's deployments are rendered for a cluster."""

    routing: Literal["gateway-api", "in-process"] = "gateway-api"
    """gateway-api: canary weights and shadow mirrors as a Gateway API HTTPRoute; in-process: the
    service splits traffic itself (clusters without the Gateway API)."""


class KubernetesServing(Spec):
    """What one instance of a model's service needs in a cluster."""

    min_replicas: int = Field(default=1, ge=1, le=100)
    """Fewest replicas the autoscaler keeps."""
