"""Spec blocks for progressive delivery (issue 16): shadow comparison and canary analysis.

``monitoring.shadow`` says how a shadow's (or a canary's) answers are compared with the stable
version's on the same requests and when the agreement is WARN or CRIT; ``rollout`` says the steps a
canary takes (``mlopsctl rollout`` commits each one) and the checks, backed by PromQL, that judge a
step before the next.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mlopsctl.spec.base import Duration, Fraction, Spec


class ShadowSpec(Spec):
    """How a shadow's answers are compared with the stable version's on the same requests."""

    tolerance: float = Field(default=0.0, ge=0.0)
    """Regression: an answer within this absolute difference of the stable one agrees."""
    warn_below: Fraction = 0.95
    """WARN when the share of rows where the candidate agrees with the stable version falls below this."""
    crit_below: Fraction = 0.9
    """CRIT when the agreement falls below this."""

    @model_validator(mode="after")
    def _ordered(self) -> ShadowSpec:
        if self.crit_below > self.warn_below:
            raise ValueError("crit_below must not be above warn_below")
        return self


class RolloutChecks(Spec):
    """What a canary step must show before the next step; each is a PromQL query over the step's time."""

    max_error_rate: Fraction | None = 0.01
    """Largest share of the candidate's requests answered 5xx. Empty: not checked."""
    max_p95_latency_ratio: float | None = Field(default=1.25, gt=0.0)
    """Largest candidate p95 latency as a multiple of the stable version's. Empty: not checked."""
    max_p95_latency_ms: float | None = Field(default=None, gt=0.0)
    """Largest candidate p95 latency in milliseconds. Empty: not checked."""
    min_agreement: Fraction | None = 0.9
    """Least share of rows where the candidate's answer agrees with the stable version's. Empty: not checked."""
    max_drift_psi: float | None = Field(default=0.25, gt=0.0)
    """Largest population stability index of any feature in the candidate's traffic. Empty: not checked."""
    min_live_performance: float | None = None
    """Least live value of ``monitoring.performance.metric`` for the candidate when labels exist.
    Empty: ``monitoring.performance.crit_below`` when performance is monitored, else not checked."""


class RolloutSpec(Spec):
    """The steps a canary takes from its first weight to the full promotion, and how each is judged."""

    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1, max_length=20)
    """Canary weights in percent, rising; 100 is the full promotion (the candidate replaces the stable)."""
    min_interval: Duration = "5m"
    """Least time a step runs before it is judged."""
    min_requests: int = Field(default=100, ge=1)
    """Fewest requests the candidate must have answered in a step before it is judged."""
    checks: RolloutChecks = Field(default_factory=RolloutChecks)
    """The checks every step must pass; a failed check rolls the canary back."""

    @model_validator(mode="after")
    def _rising(self) -> RolloutSpec:
        if any(not 1 <= step <= 100 for step in self.steps):
            raise ValueError("every step is a weight from 1 to 100 (percent)")
        if any(later <= earlier for earlier, later in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError(f"steps must rise: {self.steps}")
        return self
