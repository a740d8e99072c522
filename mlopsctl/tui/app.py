"""The Textual app: k9s for models. This module is about lifecycle and navigation.

The first screen draws from :func:`mlopsctl.overview.api.read_overview` (file names and environment
files only), so it is quick on large repositories. Everything slower runs in thread workers that
post messages back: the full spec scan, health from the metrics source (polled at
``ui.refresh_seconds``, pausable), history and runs. State down, messages up: the app owns one
:class:`~mlopsctl.tui.state.DashboardState`, the views (:mod:`mlopsctl.tui.views`) render it and
post messages (:mod:`mlopsctl.tui.messages`) that the app handles, and the actions
(:mod:`mlopsctl.tui.actions`) call the same ``api`` functions as the CLI. An unreachable metrics
source, Docker engine or git remote shows as a banner while the rest keeps working.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from mlopsctl.errors import MlopsError, UnreachableError
from mlopsctl.overview.api import Overview, read_overview
from mlopsctl.ports.api import record, subscribe
from mlopsctl.spec.api import Repo, load_settings, scan_repo, terminal_safe
from mlopsctl.spec.models import ProjectSettings
from mlopsctl.tui import present
from mlopsctl.tui.commands import COMMANDS, MUTATING_ACTIONS, bindings, visible
from mlopsctl.tui.messages import (
    ActionDone,
    ActionFailed,
    CommandEntered,
    DetailsWanted,
    HealthUpdated,
    HistoryWanted,
    Loaded,
    ModelOpened,
    PlansWanted,
    VersionOpened,
)
from mlopsctl.tui.state import DashboardState, carry_health
from mlopsctl.tui.views import (
    EnvironmentsView,
    HistoryView,
    LogView,
    ModelsView,
    ModelView,
    View,
)

if TYPE_CHECKING:
    from mlopsctl.monitor.api import HealthReport
    from mlopsctl.tui.actions import Actions

HealthFetcher = Callable[[Repo], "HealthReport"]


class CommandsProvider(Provider):
    """The command palette lists the same commands as the footer and help."""

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, MlopsApp)
        for command in visible(app.state.readonly):
            yield DiscoveryHit(command.description, _runner(app, command.action), help=command.tooltip)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, MlopsApp)
        matcher = self.matcher(query)
        for command in visible(app.state.readonly):
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
        self.settings: ProjectSettings = load_settings(root)
        overview = read_overview(root)
        self.state = DashboardState(
            root=root,
            overview=overview,
            readonly=readonly,
            refresh_seconds=refresh_seconds or self.settings.ui.refresh_seconds,
            banners=list(overview.problems),
        )
        self.requested_theme = theme or self.settings.ui.theme
        self.fetch_health = fetch_health or _default_fetcher()
        self.live = live
        self._actions: Actions | None = None
        self._unsubscribe = subscribe(self.state.operations.append)
        self._refreshing = False
        self._frozen = False
        self._collecting = gc.isenabled()
        self._repo_lock = threading.Lock()
        self._repo_cache: tuple[tuple[tuple[str, int], ...], Repo] | None = None
        self._crit: set[str] = set()
        self._rollouts_judged = -math.inf

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

    @property
    def actions(self) -> Actions:
        """The dashboard's actions, with their modals: imported on the first action, not for the first screen."""
        if self._actions is None:
            from mlopsctl.tui.actions import Actions

            self._actions = Actions(self, self.state, lambda: self.current_view().selection(), self._specs)
        return self._actions

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
        # The full spec scan is not needed to paint the first screen: it starts once that is drawn,
        # so its thread does not compete with the first paint for the interpreter.
        self.call_after_refresh(self.load_repo)
        if self.live:
            self.set_interval(self.state.refresh_seconds, self._tick, name="refresh")
            self.call_after_refresh(self._tick)

    def on_unmount(self) -> None:
        self._unsubscribe()
        if self._collecting:
            gc.enable()

    def _tick(self) -> None:
        # Never overlap refreshes: a slow metrics source must not pile up threads or lose results.
        if not self.state.paused and not self._refreshing:
            self._refreshing = True
            self.refresh_health()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.state.readonly and action in MUTATING_ACTIONS:
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

    # ------------------------------------------------------------------ workers: loading

    @work(thread=True, exclusive=True, group="repo", exit_on_error=False)
    def load_repo(self) -> None:
        repo = self.current_repo()
        self.post_message(Loaded(lambda: setattr(self.state, "repo", repo)))

    def current_repo(self) -> Repo:
        """The loaded specs, read again (with the fast parser) only when a spec file changed."""
        with self._repo_lock:
            signature = _spec_signature(self.root)
            if self._repo_cache is None or self._repo_cache[0] != signature:
                self._repo_cache = (signature, scan_repo(self.root, locate=False))
            return self._repo_cache[1]

    def _specs(self) -> Repo:
        return self.state.repo or self.current_repo()

    @work(thread=True, group="refresh", exit_on_error=False)
    def refresh_health(self) -> None:
        """Everything but drawing happens here: read, fetch, judge and merge; the loop only swaps."""
        overview = read_overview(self.root)
        carry_health(self.state.overview, overview)
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
        self.state.record_live(report)
        self.post_message(HealthUpdated(report, overview, None))
        self._judge_rollouts(overview)

    def _judge_rollouts(self, overview: Overview) -> None:
        """Each canary's step and checks, as ``rollout --dry-run`` says them; at most once per refresh
        interval (a manual refresh or an action's must not multiply the Prometheus queries)."""
        now = time.monotonic()
        if now - self._rollouts_judged < self.state.refresh_seconds:
            return
        self._rollouts_judged = now
        judged = present.judge_canaries(self.root, overview, self.current_repo())
        self.post_message(Loaded(lambda: present.store_rollouts(self.state, judged)))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def load_model_details(self, model: str) -> None:
        details = present.model_details(self.root, model, self.state.overview)
        self.post_message(Loaded(lambda: self.state.details.__setitem__(model, details)))

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load_history(self) -> None:
        from mlopsctl.gitops import api as gitops

        entries = [present.history_row(entry) for entry in gitops.history(self.root, limit=500)]
        self.post_message(Loaded(lambda: setattr(self.state, "history", entries)))

    @work(thread=True, exclusive=True, group="plans", exit_on_error=False)
    def load_plans(self) -> None:
        """Every environment's plan, the one source of the Environments view's sync verdicts."""
        from mlopsctl.deploy.api import plan_each

        plans = plan_each(self.root, list(self.state.overview.environments))
        self.post_message(Loaded(lambda: present.store_plans(self.state, plans)))

    def _planning(self) -> bool:
        return any(w.group == "plans" and w.state is WorkerState.RUNNING for w in self.workers)

    def _plans_shown(self) -> bool:
        try:
            return isinstance(self.current_view(), EnvironmentsView)
        except LookupError:
            return False

    # ------------------------------------------------------------------ messages from workers and views

    def on_health_updated(self, message: HealthUpdated) -> None:
        state = self.state
        if message.overview is not None:
            state.overview = message.overview
        state.banners = [*state.overview.problems, *([message.problem] if message.problem else [])]
        if message.report is not None:
            state.report = message.report
            self._announce_crit()
        if self._plans_shown() and not self._planning():
            self.load_plans()  # a slow plan is not started again on every refresh
        self.refresh_views()

    def _announce_crit(self) -> None:
        crit = self.state.crit_models()
        for name in sorted(crit - self._crit):
            reason = next(iter(self.state.overview.models[name].reasons), "")
            self.notify(f"{name}: CRIT  {reason}", severity="error", timeout=8)
        self._crit = crit

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died (a bug, or an error the core did not wrap) must not fail silently."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            record("dashboard", f"{event.worker.name or 'worker'} failed: {type(error).__name__}: {error}", False)
            self.post_message(ActionFailed(error))

    def on_loaded(self, message: Loaded) -> None:
        message.apply()
        self.refresh_views()
        if not self._frozen:
            self._frozen = True
            self.call_after_refresh(self._settle_heap)

    def on_action_failed(self, message: ActionFailed) -> None:
        from mlopsctl.tui.modals import ErrorModal

        error = message.error
        if isinstance(error, MlopsError):
            self.push_screen(ErrorModal(error.title, error.message, error.hint))
        else:
            self.push_screen(
                ErrorModal("Internal error", f"{type(error).__name__}: {error}", "this is a bug; see the Log view")
            )

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=6)
        self.state.details.clear()
        self.load_repo()
        self.refresh_health()
        self.load_history()
        view = self.current_view()
        if isinstance(view, ModelView):
            self.load_model_details(view.model)
        if isinstance(view, EnvironmentsView):
            self.load_plans()

    def on_model_opened(self, message: ModelOpened) -> None:
        self.open_model(message.model)

    def on_version_opened(self, message: VersionOpened) -> None:
        self.actions.show_version(message.model, message.version)

    def on_command_entered(self, message: CommandEntered) -> None:
        self.run_command_line(message.line)

    def on_details_wanted(self, message: DetailsWanted) -> None:
        self.load_model_details(message.model)

    def on_history_wanted(self, _message: HistoryWanted) -> None:
        self.load_history()

    def on_plans_wanted(self, _message: PlansWanted) -> None:
        self.load_plans()

    # ------------------------------------------------------------------ navigation and modes

    def open_model(self, model: str) -> None:
        self.push_screen(ModelView(model))

    def action_command_mode(self) -> None:
        self.current_view().open_prompt(":")

    def action_filter(self) -> None:
        self.current_view().open_prompt("/")

    def action_help(self) -> None:
        from mlopsctl.tui.modals import HelpModal

        self.push_screen(HelpModal(visible(self.state.readonly), self._keymap_display()))

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
        if self._plans_shown():
            self.load_plans()
        self.notify("refreshing", timeout=1)

    def action_toggle_pause(self) -> None:
        self.state.paused = not self.state.paused
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
        if verb not in targets:
            self._unknown("command", verb, [k for k in targets if k != "q"])
        elif self._known_argument(verb, args):
            targets[verb]()

    def _known_argument(self, verb: str, args: list[str]) -> bool:
        overview = self.state.overview
        if verb == "env" and args and args[0] not in overview.environments:
            self._unknown("environment", args[0], overview.environments)
            return False
        if verb == "model" and args and args[0] not in overview.models:
            self._unknown("model", args[0], list(overview.models))
            return False
        return True

    def _unknown(self, kind: str, word: str, choices: Iterable[str]) -> None:
        import difflib

        close = difflib.get_close_matches(word, list(choices), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.notify(f"unknown {kind} '{word}'{hint}", severity="error")

    def _switch(self, view: View) -> None:
        while len([s for s in self.screen_stack if isinstance(s, View)]) > 1:
            self.pop_screen()
        self.switch_screen(view)

    # ------------------------------------------------------------------ actions (tui/actions.py)

    def action_promote(self) -> None:
        self.actions.promote()

    def action_rollback(self) -> None:
        self.actions.rollback()

    def action_archive(self) -> None:
        self.actions.archive()

    def action_train(self) -> None:
        self.actions.train()

    def action_build(self) -> None:
        self.actions.build()

    def action_plan(self) -> None:
        self.actions.plan(apply_after=False)

    def action_apply(self) -> None:
        self.actions.plan(apply_after=True)

    def action_compare(self) -> None:
        view = self.current_view()
        self.actions.compare(view.marked if isinstance(view, ModelView) else [])


# ---------------------------------------------------------------------- helpers (no Textual state)


def _default_fetcher() -> HealthFetcher:
    """The settings' metrics source, made on the first refresh, in its worker thread.

    Importing the monitor (numpy, the Prometheus client) costs a few hundred milliseconds: it is
    kept off the way to the first screen and off the event loop.
    """
    made: list[HealthFetcher] = []
    lock = threading.Lock()

    def fetch(repo: Repo) -> HealthReport:
        with lock:
            if not made:
                from mlopsctl.monitor.api import health_fetcher

                made.append(health_fetcher())
        return made[0](repo)

    return fetch


def _spec_signature(root: Path) -> tuple[tuple[str, int], ...]:
    files = [root / "mlops.yaml", *root.glob("models/*/model.yaml"), *root.glob("environments/*.yaml")]
    return tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files if f.is_file()))


def run_dashboard(
    root: Path,
    *,
    readonly: bool = False,
    refresh_seconds: float | None = None,
    theme: str | None = None,
    headless: bool = False,
) -> int:
    """Run the dashboard until it quits; the process exit code (non-zero when it stopped on an error)."""
    app = MlopsApp(root, readonly=readonly, refresh_seconds=refresh_seconds, theme=theme)
    app.run(headless=headless)
    return app.return_code or 0
