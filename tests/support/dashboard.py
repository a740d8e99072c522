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


async def train_promote_apply(app: MlopsApp, pilot: Pilot[None], env: str) -> None:
    """From the first screen, with the dashboard's own keys: train the selected model (churn@1), promote
    it to ``env`` directly (the modal), plan and apply ``env``, then open the Log view."""
    from mlopsctl.tui.modals import ConfirmModal, PromoteModal

    await pilot.pause()
    await pilot.press("t")
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("escape")
    await open_model(app, pilot)
    await pilot.press("p")
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, PromoteModal)
    modal.query_one("#env").value = env  # type: ignore[attr-defined]
    modal.query_one("#direct").value = True  # type: ignore[attr-defined]
    await pilot.pause()
    await pilot.click("#confirm")
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("colon", *f"env {env}", "enter")
    await pilot.pause()
    await pilot.press("a")  # plan first, then the confirmation
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, ConfirmModal)
    await pilot.click("#confirm")
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("colon", *"log", "enter")
    await pilot.pause()
