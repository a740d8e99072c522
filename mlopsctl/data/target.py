"""What the label column holds, and whether a model can learn from it.

Training refuses a label with one class (classification) or one value (regression); the data
check reports the same thing as a failed ``consistency/target`` result, so both say it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlopsctl.data import wording
from mlopsctl.data.types import coerce
from mlopsctl.spec.models import ModelSpec

SHOWN_CLASSES = 5


@dataclass(frozen=True)
class TargetSummary:
    """The label column of one data set."""

    column: str
    task: str
    """classification or regression."""
    present: bool
    """Whether the column is in the data at all."""
    labelled: int = 0
    """Rows with a label."""
    missing: int = 0
    """Rows without one."""
    classes: dict[str, int] = field(default_factory=dict)
    """Classification: label (as text) to rows, most frequent first."""
    minimum: float | None = None
    """Regression: smallest label."""
    maximum: float | None = None
    """Regression: largest label."""

    @property
    def distinct(self) -> int:
        if self.task == "classification":
            return len(self.classes)
        if self.minimum is None or self.maximum is None:
            return 0
        return 1 if self.minimum == self.maximum else 2

    @property
    def learnable(self) -> bool:
        """At least two classes, or at least two different values."""
        return self.present and self.distinct >= 2

    def describe(self) -> str:
        """Text like "2 classes: 0 (1480), 1 (520)", "one class: 1 (2000 rows)", "min 25, max 346", "no labels"."""
        if not self.present:
            return "column missing"
        if self.labelled == 0:
            return "no labels"
        if self.task == "classification":
            return self._describe_classes()
        if self.minimum is None or self.maximum is None:
            return "no numeric labels"
        if self.minimum == self.maximum:
            return f"one value: {wording.number(self.minimum)} ({wording.rows(self.labelled)})"
        return f"min {wording.number(self.minimum)}, max {wording.number(self.maximum)}"

    def expectation(self) -> str:
        return "at least 2 classes" if self.task == "classification" else "more than one value"

    def _describe_classes(self) -> str:
        if len(self.classes) == 1:
            (label, count) = next(iter(self.classes.items()))
            return f"one class: {label} ({wording.rows(count)})"
        shown = ", ".join(f"{label} ({count})" for label, count in list(self.classes.items())[:SHOWN_CLASSES])
        more = ", ..." if len(self.classes) > SHOWN_CLASSES else ""
        return f"{len(self.classes)} classes: {shown}{more}"


def target_summary(frame: pd.DataFrame, spec: ModelSpec) -> TargetSummary:
    """Classes (classification) or range (regression) of spec.data.target in ``frame``."""
    column = spec.data.target
    task = spec.training.task
    if column not in frame.columns:
        return TargetSummary(column=column, task=task, present=False)
    labels = frame[column]
    missing = int(labels.isna().sum())
    labelled = len(labels) - missing
    if task == "classification":
        counts = labels.value_counts(dropna=True)
        classes = {_label(label): int(count) for label, count in counts.items()}
        return TargetSummary(column, task, True, labelled, missing, classes=classes)
    numbers = coerce(labels, "float").values
    present = numbers.dropna()
    if present.empty:
        return TargetSummary(column, task, True, labelled, missing)
    return TargetSummary(
        column, task, True, labelled, missing, minimum=float(present.min()), maximum=float(present.max())
    )


def _label(label: object) -> str:
    return wording.value(label).strip("'")
