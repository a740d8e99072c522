"""The dashboard's actions: modal, then a worker calling a core ``api`` function, then done or failed.

Each action reads the selection, asks through a modal (a preview, a form or a progress bar), runs
the core in a thread worker and posts :class:`~mlopsctl.tui.messages.ActionDone` or
:class:`~mlopsctl.tui.messages.ActionFailed`; the app turns those into a notification and a
reload, or an error modal. The same functions back the CLI, so both faces do the same thing.
The core is imported when an action starts, not with the first screen.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import App

from mlopsctl.errors import MlopsError
from mlopsctl.spec.api import Repo, scan_repo
from mlopsctl.tui import present
from mlopsctl.tui.messages import ActionDone, ActionFailed, Loaded
from mlopsctl.tui.modals import ConfirmModal, ErrorModal, ProgressModal, PromoteChoice, PromoteModal, ShownPreview
from mlopsctl.tui.state import DashboardState, Selection

if TYPE_CHECKING:
    from mlopsctl.deploy.api import Plan


class Actions:
    """The mutating commands (and plan, compare, show version) of the dashboard, for one app."""

    def __init__(
        self,
        app: App[Any],
        state: DashboardState,
        selection: Callable[[], Selection],
        specs: Callable[[], Repo],
    ) -> None:
        self.app, self.state = app, state
        self._selection, self._specs = selection, specs

    # ------------------------------------------------------------------ plumbing

    def _start(self, work: Callable[[], None], name: str, group: str = "action") -> None:
        """A thread worker; a newer one in the same group replaces a running one."""
        self.app.run_worker(work, name=name, group=group, exclusive=True, thread=True, exit_on_error=False)

    def _guard(self, call: Callable[[], Any]) -> None:
        """Run one core action in the worker; errors become a modal, success a notification and a reload."""
        try:
            outcome = call()
        except MlopsError as exc:
            self.app.post_message(ActionFailed(exc))
            return
        self.app.post_message(ActionDone(present.describe(outcome)))

    def _selected(self, need: str) -> Selection | None:
        selection = self._selection()
        if need == "version" and (selection.model is None or selection.version is None):
            self.app.notify("select a model version first", severity="warning")
            return None
        if need == "model" and selection.model is None:
            self.app.notify("select a model first", severity="warning")
            return None
        return selection

    # ------------------------------------------------------------------ promote, rollback, archive

    def promote(self) -> None:
        selection = self._selected("version")
        if selection is None or selection.version is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        modal = PromoteModal(ref, self.state.overview.environments, partial(self.promote_preview, ref), selection.env)
        self.app.push_screen(modal, partial(_when, self._start_promote, ref))

    def promote_preview(self, ref: str, choice: PromoteChoice) -> ShownPreview:
        from mlopsctl.gitops import api as gitops

        try:
            preview = gitops.preview_promote(
                self.state.root, ref, choice.env, choice.strategy, choice.weight, choice.direct, repo=self._specs()
            )
        except MlopsError as exc:
            return ShownPreview(False, present.refusal_text(exc.message, exc.hint))
        return ShownPreview(preview.allowed, present.preview_text(preview))

    def _start_promote(self, ref: str, choice: PromoteChoice) -> None:
        from mlopsctl.gitops import api as gitops

        root = self.state.root

        def call() -> Any:
            return gitops.promote(
                root, ref, choice.env, strategy=choice.strategy, weight=choice.weight, direct=choice.direct
            )

        self._start(lambda: self._guard(call), "promote")

    def rollback(self) -> None:
        selection = self._selected("model")
        if selection is None or selection.model is None:
            return
        model = selection.model
        row = self.state.overview.models.get(model)
        envs = [selection.env] if selection.env else sorted(row.placements) if row else []
        if not envs:
            self.app.notify(f"{model} runs in no environment", severity="warning")
            return
        env = envs[0]
        modal = ConfirmModal(f"Roll back {model} in {env}", self.rollback_preview(model, env), "Roll back")
        self.app.push_screen(modal, partial(_when, self._start_rollback, model, env))

    def rollback_preview(self, model: str, env: str) -> Text:
        from mlopsctl.gitops import api as gitops

        try:
            preview = gitops.preview_rollback(self.state.root, model, env, repo=self._specs())
        except MlopsError as exc:
            return present.refusal_text(exc.message, None)
        return present.preview_text(preview)

    def _start_rollback(self, model: str, env: str) -> None:
        from mlopsctl.gitops import api as gitops

        root = self.state.root
        self._start(lambda: self._guard(lambda: gitops.rollback(root, model, env)), "rollback")

    def archive(self) -> None:
        selection = self._selected("version")
        if selection is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        body = Text(
            f"Archive {ref}: it stays in the registry for lineage and reproduction, but can never be deployed again."
        )
        self.app.push_screen(ConfirmModal(f"Archive {ref}", body, "Archive"), partial(_when, self._start_archive, ref))

    def _start_archive(self, ref: str) -> None:
        from mlopsctl.gitops import api as gitops

        root = self.state.root
        self._start(lambda: self._guard(lambda: gitops.archive(root, ref)), "archive")

    # ------------------------------------------------------------------ train, build

    def train(self) -> None:
        selection = self._selected("model")
        if selection is None or selection.model is None:
            return
        modal = ProgressModal(f"Training {selection.model}")
        self.app.push_screen(modal)
        self._start(partial(self._train, selection.model, modal), "train")

    def _train(self, model: str, modal: ProgressModal) -> None:
        from mlopsctl.train.api import train_model

        def progress(label: str, done: int, total: int | None) -> None:
            self.app.call_from_thread(modal.step, label, done, total)

        self._guard(lambda: train_model(scan_repo(self.state.root), model, progress=progress))
        self.app.call_from_thread(modal.dismiss, None)

    def build(self) -> None:
        selection = self._selected("version")
        if selection is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        modal = ProgressModal(f"Building the image of {ref}")
        self.app.push_screen(modal)
        self._start(partial(self._build, ref, modal), "build")

    def _build(self, ref: str, modal: ProgressModal) -> None:
        from mlopsctl.build.api import Progress, build_image

        app = self.app

        class ModalProgress(Progress):
            def note(self, text: str) -> None:
                app.call_from_thread(modal.step, text, 0, None)

        self._guard(lambda: build_image(scan_repo(self.state.root), ref, progress=ModalProgress()))
        self.app.call_from_thread(modal.dismiss, None)

    # ------------------------------------------------------------------ plan, apply

    def plan(self, apply_after: bool) -> None:
        env = self._selected_env()
        if env is not None:
            self._start(partial(self._plan, env, apply_after), "plan", group="plan")

    def _selected_env(self) -> str | None:
        env = self._selection().env
        if env is None and self.state.overview.environments:
            env = self.state.overview.environments[0]
        if env is None:
            self.app.notify("no environment to plan", severity="warning")
        return env

    def _plan(self, env: str, apply_after: bool) -> None:
        from mlopsctl.deploy.api import light_repo, plan_environment

        try:
            plan = plan_environment(light_repo(self.state.root), env)
        except MlopsError as exc:
            self.app.post_message(ActionFailed(exc))
            return
        self.app.post_message(Loaded(lambda: self._show_plan(env, plan, apply_after)))

    def _show_plan(self, env: str, plan: Plan, apply_after: bool) -> None:
        present.store_plans(self.state, {env: plan})
        if not apply_after:
            return
        if not plan.changes:
            self.app.notify(f"{env} already matches Git: nothing to apply", timeout=4)
            return
        modal = ConfirmModal(f"Apply {env}", Text(self.state.plan_text[env]), "Apply")
        self.app.push_screen(modal, partial(_when, self._start_apply, env))

    def _start_apply(self, env: str) -> None:
        from mlopsctl.deploy.api import apply_environment

        root = self.state.root
        self._start(lambda: self._guard(lambda: apply_environment(scan_repo(root), env)), "apply")

    # ------------------------------------------------------------------ read-only modals

    def compare(self, marked: list[str]) -> None:
        if len(marked) < 2:
            self.app.notify("mark two or more runs with space first", severity="warning")
            return
        from mlopsctl.tracking.api import compare_in

        table = present.comparison_table(compare_in(self._specs().metadata_db, marked).to_dict())
        self.app.push_screen(ConfirmModal("Compare runs", table, "Close"))

    def show_version(self, model: str, version: int) -> None:
        from mlopsctl.registry.api import read_record

        try:
            record = read_record(self.state.root, model, version)
        except MlopsError as exc:
            self.app.push_screen(ErrorModal(exc.title, exc.message, exc.hint))
            return
        self.app.push_screen(ConfirmModal(f"{model}@{version}", present.record_text(record), "Close"))


def _when(run: Callable[..., Any], *args: Any) -> None:
    """A modal callback: the last argument is the modal's answer; run the action when it is truthy."""
    *fixed, answer = args
    if answer is True:
        run(*fixed)
    elif answer:
        run(*fixed, answer)
