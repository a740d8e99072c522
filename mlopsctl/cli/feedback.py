"""``mlopsctl feedback`` and ``mlopsctl explain`` (being built for issue 15)."""

from __future__ import annotations

import click

from mlopsctl.errors import UsageError


@click.command()
@click.argument("file")
def feedback(file: str) -> int:
    """Send ground-truth labels for logged predictions."""
    raise UsageError(f"feedback from {file!r} is not built yet (issue 15)")


@click.command()
@click.argument("request_id")
def explain(request_id: str) -> int:
    """Which model answered a request."""
    raise UsageError(f"explain {request_id!r} is not built yet (issue 15)")
