"""``mlopsctl render``: an environment's Kubernetes manifests (being built for issue 17)."""

from __future__ import annotations

import click

from mlopsctl.errors import UsageError


@click.command()
@click.option("--env", "env", required=True, help="Environment to render.")
def render(env: str) -> int:
    """Render an environment's Kubernetes manifests into deploy/<env>/."""
    raise UsageError(f"rendering {env!r} for Kubernetes is not built yet (issue 17)")
