"""Spec block for the prediction log (issue 15): what a service records about every answer it gives."""

from __future__ import annotations

from pydantic import Field

from mlopsctl.spec.base import Fraction, Spec


class PredictionLogSpec(Spec):
    """The bounded, rotating log of requests and answers that feedback labels join to."""

    enabled: bool = True
    """Write the log. Off: no request ids are kept, so feedback and explain have nothing to join to."""
    sample: Fraction = 1.0
    """Share of requests logged (1.0: every request)."""
    max_bytes: int = Field(default=67_108_864, ge=1_048_576)
    """Size of one log file before it rotates."""
    keep_files: int = Field(default=8, ge=1, le=1000)
    """Rotated files kept; older ones are deleted."""
