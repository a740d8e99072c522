"""``mlopsctl retrain`` (being built for issue 15)."""

from __future__ import annotations

import click

from mlopsctl.errors import UsageError


@click.command()
@click.argument("model", required=False)
def retrain(model: str | None) -> int:
    """Retrain when the spec's triggers fire."""
    raise UsageError(f"retrain {model or ''} is not built yet (issue 15)")
