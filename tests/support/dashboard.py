"""The dashboard under test: an app with no live health, its fixed size, a step into the Model view."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from mlopsctl.monitor.health import HealthReport
from mlopsctl.spec.loader import Repo
from mlopsctl.tui.app import MlopsApp

SIZE = (120, 32)


def no_health(_repo: Repo) -> HealthReport:
    return HealthReport("none", [])


def make_app(root: Path, **kwargs: object) -> MlopsApp:
    kwargs.setdefault("fetch_health", no_health)
    kwargs.setdefault("live", False)
    return MlopsApp(root, **kwargs)  # type: ignore[arg-type]


async def open_model(app: MlopsApp, pilot: Pilot[None]) -> None:
    """From the first screen, Enter on the selected model and wait for its details."""
    await pilot.pause()
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
