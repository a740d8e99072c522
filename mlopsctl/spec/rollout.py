"""Spec blocks for progressive delivery (issue 16): shadow comparison and canary analysis."""

from __future__ import annotations

from pydantic import Field

from mlopsctl.spec.base import Spec


class ShadowSpec(Spec):
    """How a shadow's answers are compared with the stable version's on the same requests."""

    tolerance: float = Field(default=0.0, ge=0.0)
    """Regression: an answer within this absolute difference of the stable one agrees."""
