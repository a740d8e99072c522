"""The Textual app: k9s for models.

The first screen draws from :func:`mlopsctl.overview.read_overview` (file names and environment
files only), so it is quick on large repositories. Everything slower runs in thread workers that
post messages back: the full spec scan, health from the metrics source (polled at
``ui.refresh_seconds``, pausable), history, runs, and every action, which calls the same core
functions as the CLI. An unreachable metrics source, Docker engine or git remote shows as a
banner while the rest keeps working.
"""

from __future__ import annotations

import difflib
import gc
import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, UnreachableError
from mlopsctl.overview import Overview, Placement, read_overview
from mlopsctl.spec.loader import Repo, load_settings, scan_repo
from mlopsctl.spec.models import ProjectSettings
from mlopsctl.textsafe import terminal_safe
from mlopsctl.tui import render
from mlopsctl.tui.commands import COMMANDS, MUTATING_ACTIONS, bindings, visible
from mlopsctl.tui.modals import (
    ConfirmModal,
    ErrorModal,
    HelpModal,
    Preview,
    ProgressModal,
    PromoteChoice,
    PromoteModal,
    unified_diff,
)
from mlopsctl.tui.safe import safe_cell
from mlopsctl.tui.views import (
    EnvironmentsView,
    HistoryView,
    LogView,
    ModelsView,
    ModelView,
    Selection,
    View,
)

if TYPE_CHECKING:
    from mlopsctl.monitor.health import HealthReport

LIVE_POINTS = 40
LIVE_SERIES = (
    ("request_rate", "req/s"),
    ("p95_latency_ms", "p95"),
    ("error_rate", "errors"),
    ("cpu_cores", "cpu"),
    ("memory_bytes", "memory"),
)
HealthFetcher = Callable[[Repo], "HealthReport"]


class HealthUpdated(Message):
    def __init__(self, report: HealthReport | None, overview: Overview | None, problem: str | None) -> None:
        super().__init__()
        self.report, self.overview, self.problem = report, overview, problem


class Loaded(Message):
    """A background load finished: ``apply`` runs on the event loop."""

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


class CommandsProvider(Provider):
    """The command palette lists the same commands as the footer and help."""

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, MlopsApp)
        for command in visible(app.readonly):
            yield DiscoveryHit(command.description, _runner(app, command.action), help=command.tooltip)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, MlopsApp)
        matcher = self.matcher(query)
        for command in visible(app.readonly):
            score = matcher.match(command.description)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(command.description), _runner(app, command.action), help=command.tooltip
                )


def _runner(app: MlopsApp, action: str) -> Callable[[], Any]:
    return lambda: app.invoke_command(action)


class MlopsApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mlopsctl"
    BINDINGS: ClassVar[list[BindingType]] = list(bindings())
    COMMANDS = App.COMMANDS | {CommandsProvider}

    def __init__(
        self,
        root: Path,
        *,
        readonly: bool = False,
        refresh_seconds: float | None = None,
        theme: str | None = None,
        fetch_health: HealthFetcher | None = None,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.root = root
        self.readonly = readonly
        self.settings: ProjectSettings = load_settings(root)
        self.refresh_seconds = refresh_seconds or self.settings.ui.refresh_seconds
        self.requested_theme = theme or self.settings.ui.theme
        self.fetch_health = fetch_health or _default_fetcher()
        self.live = live
        self.paused = False
        self.overview: Overview = read_overview(root)
        self.repo: Repo | None = None
        self.report: HealthReport | None = None
        self.banners: list[str] = list(self.overview.problems)
        self.details: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.plan_text: dict[str, Text] = {}
        self.operations: deque[oplog.Operation] = deque(maxlen=2000)
        self.live_history: dict[tuple[str, str, int, str], dict[str, deque[float]]] = defaultdict(
            lambda: defaultdict(lambda: deque(maxlen=LIVE_POINTS))
        )
        self._unsubscribe = oplog.subscribe(self.operations.append)
        self._refreshing = False
        self._frozen = False
        self._collecting = gc.isenabled()
        self._repo_lock = threading.Lock()
        self._repo_cache: tuple[tuple[tuple[str, int], ...], Repo] | None = None
        self._crit: set[str] = set()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications quote repository text (model names, reasons, errors): shown as typed, never as markup."""
        super().notify(
            terminal_safe(message), title=terminal_safe(title), severity=severity, timeout=timeout, markup=False
        )

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        # Start-up allocates a large long-lived heap: no collector passes over it until the first
        # screen is painted (see _settle_heap).
        self._collecting = gc.isenabled()
        gc.disable()
        if self.settings.ui.keymap:
            self.set_keymap(self.settings.ui.keymap)
        if self.requested_theme in self.available_themes:
            self.theme = self.requested_theme
        self.push_screen(ModelsView())
        self.load_repo()
        if self.live:
            self.set_interval(self.refresh_seconds, self._tick, name="refresh")
            self.call_after_refresh(self._tick)

    def on_unmount(self) -> None:
        self._unsubscribe()
        if self._collecting:
            gc.enable()

    def _tick(self) -> None:
        # Never overlap refreshes: a slow metrics source must not pile up threads or lose results.
        if not self.paused and not self._refreshing:
            self._refreshing = True
            self.refresh_health()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.readonly and action in MUTATING_ACTIONS:
            return False
        command = next((c for c in COMMANDS if c.action == action), None)
        return command is None or not command.views or self.current_view().view_id in command.views

    def current_view(self) -> View:
        screen = self.screen
        if isinstance(screen, View):
            return screen
        for candidate in reversed(self.screen_stack):
            if isinstance(candidate, View):
                return candidate
        raise LookupError("no view on the screen stack")

    def refresh_views(self) -> None:
        try:
            self.current_view().refresh_view()
        except LookupError:
            return

    # ------------------------------------------------------------------ workers: loading

    @work(thread=True, exclusive=True, group="repo", exit_on_error=False)
    def load_repo(self) -> None:
        repo = self.current_repo()
        self.post_message(Loaded(lambda: setattr(self, "repo", repo)))

    def current_repo(self) -> Repo:
        """The loaded specs, read again (with the fast parser) only when a spec file changed."""
        with self._repo_lock:
            signature = _spec_signature(self.root)
            if self._repo_cache is None or self._repo_cache[0] != signature:
                self._repo_cache = (signature, scan_repo(self.root, locate=False))
            return self._repo_cache[1]

    @work(thread=True, group="refresh", exit_on_error=False)
    def refresh_health(self) -> None:
        """Everything but drawing happens here: read, fetch, judge and merge; the loop only swaps."""
        overview = read_overview(self.root)
        _carry_history(self.overview, overview)
        try:
            report = self.fetch_health(self.current_repo())
        except UnreachableError as exc:
            self.post_message(HealthUpdated(None, overview, exc.message))
            return
        except MlopsError as exc:
            self.post_message(HealthUpdated(None, overview, f"{exc.title}: {exc.message}"))
            return
        finally:
            self._refreshing = False
        overview.merge_health(report)
        self._record_live(report)
        self.post_message(HealthUpdated(report, overview, None))

    def on_health_updated(self, message: HealthUpdated) -> None:
        if message.overview is not None:
            self.overview = message.overview
        self.banners = [*self.overview.problems, *([message.problem] if message.problem else [])]
        if message.report is not None:
            self.report = message.report
            self._announce_crit()
        self.refresh_views()

    def _record_live(self, report: HealthReport) -> None:
        for deployment in report.deployments:
            series = self.live_history[(deployment.env, deployment.model, deployment.version, deployment.role)]
            for name in ("p95_latency_ms", "error_rate", "cpu_cores", "memory_bytes", "request_rate"):
                value = deployment.values.get(name)
                series[name].append(float("nan") if value is None else float(value))

    def _announce_crit(self) -> None:
        crit = {name for name, row in self.overview.models.items() if row.state == "CRIT"}
        for name in sorted(crit - self._crit):
            reason = next(iter(self.overview.models[name].reasons), "")
            self.notify(f"{name}: CRIT  {reason}", severity="error", timeout=8)
        self._crit = crit

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died (a bug, or an error the core did not wrap) must not fail silently."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            oplog.record("dashboard", f"{event.worker.name or 'worker'} failed: {type(error).__name__}: {error}", False)
            self.post_message(ActionFailed(error))

    def on_loaded(self, message: Loaded) -> None:
        message.apply()
        self.refresh_views()
        if not self._frozen:
            self._frozen = True
            self.call_after_refresh(self._settle_heap)

    def _settle_heap(self) -> None:
        """Once the first screen is painted: freeze the start-up heap, then let the collector run.

        Start-up builds a large long-lived heap (Textual, the specs, the first render). A full
        collector pass over it takes 70-90 ms with 200 models, long enough to swallow a key press,
        and would come back every few seconds. Frozen, it is never walked again, and later passes
        only see what refreshes allocate. The price is that start-up's own cyclic garbage (about
        ten thousand objects, a few MB) is frozen with it instead of being collected, once.
        """
        gc.freeze()
        if self._collecting:
            gc.enable()

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def load_model_details(self, model: str) -> None:
        details = model_details(self.root, model, self.overview)
        self.post_message(Loaded(lambda: self.details.__setitem__(model, details)))

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load_history(self) -> None:
        from mlopsctl.gitops.history import read_history

        entries = [_history_row(entry) for entry in read_history(self.root, limit=500)]
        self.post_message(Loaded(lambda: setattr(self, "history", entries)))

    # ------------------------------------------------------------------ navigation and modes

    def open_model(self, model: str) -> None:
        self.push_screen(ModelView(model))

    def action_command_mode(self) -> None:
        self.current_view().open_prompt(":")

    def action_filter(self) -> None:
        self.current_view().open_prompt("/")

    def action_help(self) -> None:
        keys = {binding_id: keys for binding_id, keys in self._keymap_display().items()}
        self.push_screen(HelpModal(visible(self.readonly), keys))

    def _keymap_display(self) -> dict[str, str]:
        return {c.id: self.settings.ui.keymap.get(c.id, c.binding().key_display or c.key) for c in COMMANDS}

    def action_go_back(self) -> None:
        view = self.current_view()
        if view.close_prompt():
            return
        if view.filter_text:
            view.set_filter("")
        elif len([s for s in self.screen_stack if isinstance(s, View)]) > 1:
            self.pop_screen()

    def action_refresh(self) -> None:
        self.load_repo()
        self.refresh_health()
        self.notify("refreshing", timeout=1)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.refresh_views()

    def action_sort(self) -> None:
        view = self.current_view()
        if isinstance(view, ModelsView):
            view.cycle_sort()

    def action_mark(self) -> None:
        view = self.current_view()
        if isinstance(view, ModelView):
            view.toggle_mark()

    def invoke_command(self, action: str) -> None:
        if self.check_action(action, ()) is False:
            self.notify(f"{action} is not available here", severity="warning")
            return
        getattr(self, f"action_{action}")()

    def run_command_line(self, line: str) -> None:
        words = line.strip().lstrip(":").split()
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        targets: dict[str, Callable[[], None]] = {
            "models": lambda: self._switch(ModelsView()),
            "model": lambda: self.open_model(args[0]) if args else self.notify("usage: model NAME", severity="warning"),
            "env": lambda: self._switch(EnvironmentsView(args[0] if args else None)),
            "environments": lambda: self._switch(EnvironmentsView()),
            "history": lambda: self._switch(HistoryView(args[0] if args else None)),
            "log": lambda: self._switch(LogView()),
            "help": self.action_help,
            "quit": self.exit,
            "q": self.exit,
        }
        if verb in targets:
            if verb == "env" and args and args[0] not in self.overview.environments:
                self._unknown("environment", args[0], self.overview.environments)
                return
            if verb == "model" and args and args[0] not in self.overview.models:
                self._unknown("model", args[0], list(self.overview.models))
                return
            targets[verb]()
            return
        self._unknown("command", verb, [k for k in targets if k != "q"])

    def _unknown(self, kind: str, word: str, choices: Iterable[str]) -> None:
        close = difflib.get_close_matches(word, list(choices), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.notify(f"unknown {kind} '{word}'{hint}", severity="error")

    def _switch(self, view: View) -> None:
        while len([s for s in self.screen_stack if isinstance(s, View)]) > 1:
            self.pop_screen()
        self.switch_screen(view)

    # ------------------------------------------------------------------ actions (mutating ones in workers)

    def _selection(self, need: str) -> Selection | None:
        selection = self.current_view().selection()
        if need == "version" and (selection.model is None or selection.version is None):
            self.notify("select a model version first", severity="warning")
            return None
        if need == "model" and selection.model is None:
            self.notify("select a model first", severity="warning")
            return None
        return selection

    def action_promote(self) -> None:
        selection = self._selection("version")
        if selection is None or selection.version is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        envs = self.overview.environments
        preview = lambda choice: self.promote_preview(ref, choice)  # noqa: E731
        self.push_screen(
            PromoteModal(ref, envs, preview, selection.env),
            partial(_when, self._run_promote, ref),
        )

    def promote_preview(self, ref: str, choice: PromoteChoice) -> Preview:
        from mlopsctl.gitops.api import model_spec, resolve_strategy
        from mlopsctl.gitops.git import Git
        from mlopsctl.gitops.operations import Promote
        from mlopsctl.gitops.snapshot import Snapshot
        from mlopsctl.registry.records import parse_ref

        try:
            repo = self.repo or self.current_repo()
            model, version = parse_ref(ref)
            spec = model_spec(repo, model)
            strategy, weight = resolve_strategy(spec, choice.strategy, choice.weight)
            snap = Snapshot(Git(self.root))
            change = Promote(spec=spec, version=version or 0, env=choice.env, strategy=strategy, weight=weight).prepare(
                snap
            )
            before = snap.read(change.path) or ""
        except MlopsError as exc:
            return Preview(False, Text(f"✗ {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), style="red"))
        text = Text()
        text.append("Gate checks\n", style="bold")
        for gate in change.record.gates:
            text.append(
                f"  {'✓' if gate.passed else '✗'} {gate.gate}  (measured {_fmt(gate.value)})\n",
                style="green" if gate.passed else "red",
            )
        where = "directly on the current branch" if choice.direct else f"on branch {change.branch}, as a pull request"
        text.append(f"\n{change.title}\nCommit {where}\n\n", style="bold")
        text.append_text(unified_diff(change.path, before, change.text))
        return Preview(True, text)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_promote(self, ref: str, choice: PromoteChoice) -> None:
        from mlopsctl.gitops.api import promote

        self._guard(
            lambda: promote(
                self.root, ref, choice.env, strategy=choice.strategy, weight=choice.weight, direct=choice.direct
            )
        )

    def _guard(self, call: Callable[[], Any]) -> None:
        """Run one core action in this worker; errors become a modal, success a notification and a refresh."""
        try:
            outcome = call()
        except MlopsError as exc:
            self.post_message(ActionFailed(exc))
            return
        self.post_message(ActionDone(_describe(outcome)))

    def on_action_failed(self, message: ActionFailed) -> None:
        error = message.error
        if isinstance(error, MlopsError):
            self.push_screen(ErrorModal(error.title, error.message, error.hint))
        else:
            self.push_screen(
                ErrorModal("Internal error", f"{type(error).__name__}: {error}", "this is a bug; see the Log view")
            )

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=6)
        self.details.clear()
        self.load_repo()
        self.refresh_health()
        self.load_history()
        view = self.current_view()
        if isinstance(view, ModelView):
            self.load_model_details(view.model)

    def action_rollback(self) -> None:
        selection = self._selection("model")
        if selection is None or selection.model is None:
            return
        model = selection.model
        row = self.overview.models.get(model)
        envs = [selection.env] if selection.env else sorted(row.placements) if row else []
        if not envs:
            self.notify(f"{model} runs in no environment", severity="warning")
            return
        env = envs[0]
        body = self._rollback_preview(model, env)
        self.push_screen(
            ConfirmModal(f"Roll back {model} in {env}", body, "Roll back"),
            partial(_when, self._run_rollback, model, env),
        )

    def _rollback_preview(self, model: str, env: str) -> Text:
        from mlopsctl.gitops.git import Git
        from mlopsctl.gitops.operations import Rollback
        from mlopsctl.gitops.snapshot import Snapshot

        try:
            snap = Snapshot(Git(self.root))
            change = Rollback(model=model, env=env).prepare(snap)
        except MlopsError as exc:
            return Text(f"✗ {exc.message}", style="red")
        return Text.assemble(
            (f"{change.title}\n\n", "bold"), unified_diff(change.path, snap.read(change.path) or "", change.text)
        )

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_rollback(self, model: str, env: str) -> None:
        from mlopsctl.gitops.api import rollback

        self._guard(lambda: rollback(self.root, model, env))

    def action_archive(self) -> None:
        selection = self._selection("version")
        if selection is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        body = Text(
            f"Archive {ref}: it stays in the registry for lineage and reproduction, but can never be deployed again."
        )
        self.push_screen(ConfirmModal(f"Archive {ref}", body, "Archive"), partial(_when, self._run_archive, ref))

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_archive(self, ref: str) -> None:
        from mlopsctl.gitops.api import archive

        self._guard(lambda: archive(self.root, ref))

    def action_train(self) -> None:
        selection = self._selection("model")
        if selection is None or selection.model is None:
            return
        modal = ProgressModal(f"Training {selection.model}")
        self.push_screen(modal)
        self._run_train(selection.model, modal)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_train(self, model: str, modal: ProgressModal) -> None:
        from mlopsctl.train.api import train_model

        def progress(label: str, done: int, total: int | None) -> None:
            self.call_from_thread(modal.step, label, done, total)

        def call() -> Any:
            return train_model(scan_repo(self.root), model, progress=progress)

        self._guard(call)
        self.call_from_thread(modal.dismiss, None)

    def action_build(self) -> None:
        selection = self._selection("version")
        if selection is None or selection.model is None:
            return
        ref = f"{selection.model}@{selection.version}"
        modal = ProgressModal(f"Building the image of {ref}")
        self.push_screen(modal)
        self._run_build(ref, modal)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_build(self, ref: str, modal: ProgressModal) -> None:
        from mlopsctl.build.api import Progress, build_image

        class ModalProgress(Progress):
            def note(self, text: str) -> None:
                app.call_from_thread(modal.step, text, 0, None)

        app = self
        self._guard(lambda: build_image(scan_repo(self.root), ref, progress=ModalProgress()))
        self.call_from_thread(modal.dismiss, None)

    def _selected_env(self) -> str | None:
        env = self.current_view().selection().env
        if env is None and self.overview.environments:
            env = self.overview.environments[0]
        if env is None:
            self.notify("no environment to plan", severity="warning")
        return env

    def action_plan(self) -> None:
        env = self._selected_env()
        if env is not None:
            self._run_plan(env, apply_after=False)

    def action_apply(self) -> None:
        env = self._selected_env()
        if env is not None:
            self._run_plan(env, apply_after=True)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _run_plan(self, env: str, apply_after: bool) -> None:
        from mlopsctl.deploy.api import plan_environment

        try:
            plan = plan_environment(scan_repo(self.root), env)
        except MlopsError as exc:
            self.post_message(ActionFailed(exc))
            return
        text = Text(plan.to_text())
        self.post_message(Loaded(lambda: self._show_plan(env, plan, text, apply_after)))

    def _show_plan(self, env: str, plan: Any, text: Text, apply_after: bool) -> None:
        self.plan_text[env] = text
        self.refresh_views()
        if not apply_after:
            return
        if not plan.changes:
            self.notify(f"{env} already matches Git: nothing to apply", timeout=4)
            return
        self.push_screen(ConfirmModal(f"Apply {env}", text, "Apply"), partial(_when, self._run_apply, env))

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run_apply(self, env: str) -> None:
        from mlopsctl.deploy.api import apply_environment

        self._guard(lambda: apply_environment(scan_repo(self.root), env))

    def action_compare(self) -> None:
        view = self.current_view()
        if not isinstance(view, ModelView) or len(view.marked) < 2:
            self.notify("mark two or more runs with space first", severity="warning")
            return
        from mlopsctl.tracking.compare import compare_runs
        from mlopsctl.tracking.store import RunStore

        repo = self.repo or self.current_repo()
        with RunStore(repo.metadata_db) as store:
            runs = [store.get(run_id) for run_id in view.marked]
        comparison = compare_runs(runs)
        self.push_screen(ConfirmModal("Compare runs", _comparison_table(comparison.to_dict()), "Close"))

    def show_version(self, model: str, version: int) -> None:
        from mlopsctl.registry.records import read_record

        try:
            record = read_record(self.root, model, version)
        except MlopsError as exc:
            self.push_screen(ErrorModal(exc.title, exc.message, exc.hint))
            return
        self.push_screen(ConfirmModal(f"{model}@{version}", _record_text(record), "Close"))

    # ------------------------------------------------------------------ what the views render

    def environment_rows(self, only: str | None, needle: str) -> list[tuple[str, list[Any]]]:
        observed = _observed(self.report)
        rows: list[tuple[str, list[Any]]] = []
        for env in self.overview.environments:
            if only and env != only:
                continue
            for name, row in sorted(self.overview.models.items()):
                placement = row.placements.get(env)
                if placement is None:
                    continue
                seen = observed.get((env, name), "-")
                in_sync = "synced" if seen == placement.label() else "out of sync" if seen != "-" else "unknown"
                cells = [env, name, placement.label(), seen, render.state(_env_state(self.report, env, name)), in_sync]
                if needle.lower() in " ".join(map(str, cells)).lower():
                    rows.append((f"{env}/{name}", cells))
        return rows

    def drift_text(self, model: str) -> Text:
        if self.report is None:
            return Text("waiting for health…", style="dim")
        spec = self.repo.models.get(model) if self.repo else None
        warn, crit = (spec.monitoring.drift_psi.warn, spec.monitoring.drift_psi.crit) if spec else (0.1, 0.25)
        text = Text()
        for deployment in self.report.deployments:
            if deployment.model != model:
                continue
            text.append(f"{deployment.env} v{deployment.version} {deployment.role}\n", style="bold")
            for feature in deployment.features:
                psi = None if math.isnan(feature.psi) else feature.psi
                text.append(f"  {feature.feature[:15]:<15} ")
                text.append_text(render.bar(psi, warn, crit, width=18))
                text.append(f" {_fmt(psi)}\n")
        return text or Text("not deployed: no live drift", style="dim")

    def live_text(self, model: str) -> Text:
        text = Text()
        for (env, name, version, role), series in sorted(self.live_history.items()):
            if name != model:
                continue
            text.append(f"{env} v{version} {role}\n", style="bold")
            for metric, label in LIVE_SERIES:
                values = series.get(metric, deque())
                last = values[-1] if values else float("nan")
                text.append(f"  {label:<7} ")
                text.append_text(render.sparkline(values, 18))  # fits the side panel with "0.04 cores"
                text.append(f" {render.quantity(metric, last)}\n")
        return text or Text("no live data", style="dim")


# ---------------------------------------------------------------------- helpers (no Textual state)


def _when(run: Callable[..., Any], *args: Any) -> None:
    """A modal callback: the last argument is the modal's answer; run the action when it is truthy."""
    *fixed, answer = args
    if answer is True:
        run(*fixed)
    elif answer:
        run(*fixed, answer)


def _default_fetcher() -> HealthFetcher:
    from mlopsctl.monitor.health import collect_health
    from mlopsctl.monitor.sources import metrics_source
    from mlopsctl.monitor.targets import deployment_endpoints

    sources: dict[tuple[Any, ...], Any] = {}

    def fetch(repo: Repo) -> HealthReport:
        endpoints = [e for env in sorted(repo.environments) for e in deployment_endpoints(repo, env)]
        key = (repo.settings.prometheus.url, tuple(endpoints))
        if key not in sources:  # a direct-scrape source keeps history between refreshes: reuse it
            sources.clear()
            sources[key] = metrics_source(repo.settings.prometheus, endpoints)
        return collect_health(repo, source=sources[key])

    return fetch


def _spec_signature(root: Path) -> tuple[tuple[str, int], ...]:
    files = [root / "mlops.yaml", *root.glob("models/*/model.yaml"), *root.glob("environments/*.yaml")]
    return tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files if f.is_file()))


def _carry_history(old: Overview, new: Overview) -> None:
    for name, row in new.models.items():
        if name in old.models:
            row.rate_history = old.models[name].rate_history
            row.state, row.reasons = old.models[name].state, old.models[name].reasons
            row.worst_drift, row.worst_psi, row.request_rate = (
                old.models[name].worst_drift,
                old.models[name].worst_psi,
                old.models[name].request_rate,
            )


def _observed(report: HealthReport | None) -> dict[tuple[str, str], str]:
    if report is None:
        return {}
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for d in report.deployments:
        if d.values.get("up") == 1.0:
            found[(d.env, d.model)][d.role] = d.version
    labels: dict[tuple[str, str], str] = {}
    for key, roles in found.items():
        stable = roles.get("stable")
        if "canary" in roles:
            labels[key] = f"v{stable}→v{roles['canary']}"
        elif "shadow" in roles:
            labels[key] = f"v{stable}+v{roles['shadow']} shadow"
        else:
            labels[key] = f"v{stable}"
    return labels


def _env_state(report: HealthReport | None, env: str, model: str) -> str:
    if report is None:
        return "-"
    states = [d.state for d in report.deployments if d.env == env and d.model == model]
    return str(max(states)) if states else "-"


def model_details(root: Path, model: str, overview: Overview) -> dict[str, Any]:
    """Versions and runs of one model, as table cells."""
    from mlopsctl.registry.records import archived_versions, read_record
    from mlopsctl.tracking.store import RunStore

    row = overview.models.get(model)
    archived = archived_versions(root, model)
    images = _pushed_images(root, model)
    versions = []
    for number in reversed(row.versions if row else []):
        record = read_record(root, model, number)
        stage = ", ".join(_role_in(row.placements[env], number) for env in row.stage_of(number)) if row else ""
        stage = "archived" if number in archived else stage or "-"
        gates = Text("passed", style="green") if record.gates_passed else Text("failed", style="red")
        versions.append(
            {
                "version": number,
                "cells": [
                    f"v{number}",
                    record.created_at[:10],
                    render.metrics_summary(record.metrics, limit=1),
                    gates,
                    f"{record.data.rows} {record.data.sha256[:7]}",
                    record.spec_commit[:7],
                    images.get(number, "-"),
                    stage,
                ],
            }
        )
    runs = []
    try:
        settings_root = scan_repo(root)
        with RunStore(settings_root.metadata_db) as store:
            for run in store.list_runs(model, limit=50):
                runs.append(
                    {
                        "id": run.id,
                        "cells": [
                            run.id,
                            run.started_iso[:16].replace("T", " "),
                            run.status,
                            render.metrics_summary(run.metrics, limit=1),
                            f"v{run.version}" if run.version else "-",
                        ],
                    }
                )
    except MlopsError:
        pass
    return {"versions": versions, "runs": runs}


def _role_in(placement: Placement, version: int) -> str:
    if version == placement.version:
        return placement.env
    if placement.strategy == "canary":
        return f"{placement.env} canary {placement.weight}%"
    return f"{placement.env} shadow"


def _pushed_images(root: Path, model: str) -> dict[int, str]:
    """The last image pushed for each version; a bad committed images.yaml is a CheckFailed naming it."""
    from mlopsctl.build.images import read_pushed

    return {entry.version: entry.reference for entry in read_pushed(root, model)}


def _history_row(entry: Any) -> dict[str, Any]:
    gates = "-" if entry.gates_passed is None else "passed" if entry.gates_passed else "failed"
    strategy = entry.strategy or "-"
    if entry.weight:
        strategy += f" {entry.weight}%"
    cells = [
        entry.date[:16].replace("T", " "),
        entry.author,
        entry.action,
        entry.model,
        f"v{entry.version}" if entry.version else "-",
        entry.env or "-",
        strategy,
        gates,
        entry.commit[:8],
    ]
    return {"commit": entry.commit, "model": entry.model, "cells": cells}


def _describe(outcome: Any) -> str:
    for attribute in ("next_steps",):
        steps = getattr(outcome, attribute, None)
        if steps:
            return f"done: {getattr(outcome, 'commit', '')[:8]}  {steps[0]}"
    ref = getattr(outcome, "ref", None)
    return f"done: {ref}" if ref else "done"


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _comparison_table(data: dict[str, Any]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("")
    runs = data.get("runs", [])
    for run in runs:
        table.add_column(safe_cell(str(run)))
    for section in ("params", "metrics", "context"):
        for name, values in (data.get(section) or {}).items():
            label = f"{section[:-1] if section != 'context' else ''} {name}".strip()
            table.add_row(safe_cell(label), *(safe_cell(str(v)) for v in values))
    return table


def _record_text(record: Any) -> Text:
    text = Text()
    text.append("Lineage\n", style="bold")
    text.append(f"  run {record.run_id}  spec {record.spec_commit[:12]}{' (dirty)' if record.spec_dirty else ''}\n")
    text.append(f"  data {record.data.uri}  {record.data.rows} rows  sha256 {record.data.sha256[:16]}\n")
    text.append(f"  artifact sha256 {record.artifact.sha256[:16]}  {record.artifact.size} bytes\n")
    text.append("Metrics\n", style="bold")
    for name, value in sorted(record.metrics.items()):
        text.append(f"  {name:<20} {value:.4f}\n")
    text.append("Gates\n", style="bold")
    for gate in record.gates:
        text.append(f"  {'✓' if gate.passed else '✗'} {gate.gate}\n", style="green" if gate.passed else "red")
    text.append("Parameters\n", style="bold")
    for name, value in sorted(record.params.items()):
        text.append(f"  {name} = {value}\n")
    return text


def run_dashboard(
    root: Path, *, readonly: bool = False, refresh_seconds: float | None = None, theme: str | None = None
) -> None:
    MlopsApp(root, readonly=readonly, refresh_seconds=refresh_seconds, theme=theme).run()
