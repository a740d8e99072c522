"""The building blocks every spec file shares: the strict base model, names, durations, fractions.

Kept apart from :mod:`mlopsctl.spec.models` so that spec blocks living in their own modules
(:mod:`mlopsctl.spec.kubernetes`, :mod:`mlopsctl.spec.prediction_log`, :mod:`mlopsctl.spec.rollout`)
build on the same base without importing the models they are part of.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlopsctl.spec.names import NAME_PATTERN

API_VERSION = "mlopsctl/v1"
MAX_VERSION = 999_999_999
"""The highest version number (nine digits), the same cap the registry enforces."""
DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(s|m|h|d|w)$"
GATE_PATTERN = r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<|==)\s*(-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?)\s*$"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, examples=["90s", "15m", "1h", "30d"])]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
ColumnType = Literal["integer", "float", "category", "string", "datetime", "boolean"]
Target = Literal["local", "docker", "kubernetes"]
Strategy = Literal["replace", "canary", "shadow"]


def duration_seconds(text: str) -> float:
    """``"1h"`` -> 3600.0. The text must already match the duration pattern."""
    match = re.fullmatch(DURATION_PATTERN, text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use a number and s, m, h, d or w, e.g. 1h)")
    return float(text[:-1]) * _DURATION_UNITS[text[-1]]


class Spec(BaseModel):
    """Base for every spec block: unknown keys are errors, and docstrings become descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True, defer_build=True)
