"""The dashboard's messages: views and workers post them, the app handles them.

Views never call the app: a drill-down, a command line or a request for data is a message that
bubbles from the view's screen up to the app. Workers report results the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from mlopsctl.overview.api import Overview

if TYPE_CHECKING:
    from mlopsctl.monitor.api import HealthReport


class HealthUpdated(Message):
    """A refresh finished: the new overview, the report (None when the source failed) and the problem."""

    def __init__(self, report: HealthReport | None, overview: Overview | None, problem: str | None) -> None:
        super().__init__()
        self.report, self.overview, self.problem = report, overview, problem


class Loaded(Message):
    """A background load finished: ``apply`` runs on the event loop, then the view redraws."""

    def __init__(self, apply: Callable[[], None]) -> None:
        super().__init__()
        self.apply = apply


class ActionFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class ActionDone(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ModelOpened(Message):
    """Drill down into a model (Enter on the Models view)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class VersionOpened(Message):
    """Show one version's record (Enter on the Model view's versions)."""

    def __init__(self, model: str, version: int) -> None:
        super().__init__()
        self.model, self.version = model, version


class CommandEntered(Message):
    """A line typed in command mode (``:``)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class DetailsWanted(Message):
    """A view needs a model's versions and runs loaded."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class HistoryWanted(Message):
    """A view needs the audit log loaded."""


class PlansWanted(Message):
    """A view shows sync verdicts: the environments' plans should be computed (again)."""
