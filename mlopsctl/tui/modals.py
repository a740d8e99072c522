"""Modal screens: errors, confirmations with a preview, the promote form, help, comparisons.

A modal never performs the action itself: it returns the user's decision to the app, which runs
the core function in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static, Switch

from mlopsctl.tui.commands import Command
from mlopsctl.tui.safe import SafeStatic, safe_cell, safe_text


class ErrorModal(ModalScreen[None]):
    """An error from the core: its title, message and what to do."""

    BINDINGS = [Binding("escape,enter", "dismiss_modal", "Close", id="close-error")]

    def __init__(self, title: str, message: str, hint: str | None = None) -> None:
        super().__init__(classes="modal")
        self.title_text, self.message, self.hint = title, message, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Label(safe_text(Text(self.title_text, style="bold red")), id="dialog-title")
            yield SafeStatic(Text(self.message), id="dialog-body")
            if self.hint:
                yield SafeStatic(Text(f"hint: {self.hint}", style="yellow"), id="dialog-hint")
            yield Button("Close", id="close", variant="error")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    """A mutating action's preview (checks, diff, where it goes) and Confirm / Cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-confirm")]

    def __init__(self, title: str, body: Text | Table | str, confirm: str = "Confirm") -> None:
        super().__init__(classes="modal")
        self.title_text, self.body, self.confirm_label = title, body, confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(safe_text(Text(self.title_text, style="bold")), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                yield SafeStatic(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.confirm_label, id="confirm", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass(frozen=True)
class PromoteChoice:
    env: str
    strategy: str
    weight: int | None
    direct: bool


@dataclass(frozen=True)
class ShownPreview:
    """A preview as the promote form shows it (:func:`mlopsctl.tui.present.preview_text`); ``ok`` enables it."""

    ok: bool
    text: Text


PreviewFn = Callable[[PromoteChoice], ShownPreview]


class PromoteModal(ModalScreen[PromoteChoice | None]):
    """Choose environment, strategy and weight; the preview (gates, diff) updates as you choose."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-promote")]

    def __init__(self, ref: str, envs: list[str], preview: PreviewFn, default_env: str | None = None) -> None:
        super().__init__(classes="modal")
        self.ref, self.envs, self.preview = ref, envs, preview
        self.default_env = default_env if default_env in envs else (envs[0] if envs else None)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(safe_text(Text(f"Promote {self.ref}", style="bold")), id="dialog-title")
            with Horizontal(id="promote-form"):
                yield Select(
                    [(safe_cell(e), e) for e in self.envs],
                    value=self.default_env or Select.BLANK,
                    id="env",
                    allow_blank=False,
                )
                yield Select(
                    [("replace", "replace"), ("canary", "canary"), ("shadow", "shadow")],
                    value="replace",
                    id="strategy",
                    allow_blank=False,
                )
                yield Input(value="10", placeholder="weight %", id="weight", type="integer", max_length=2)
                yield Label("direct", classes="switch-label")
                yield Switch(value=False, id="direct", tooltip="Commit on the current branch instead of a PR branch")
            with VerticalScroll(id="dialog-scroll"):
                yield SafeStatic(id="preview")
            with Horizontal(id="dialog-buttons"):
                yield Button("Promote", id="confirm", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._update()

    def choice(self) -> PromoteChoice:
        env = self.query_one("#env", Select).value
        strategy = str(self.query_one("#strategy", Select).value)
        weight_text = self.query_one("#weight", Input).value
        weight = int(weight_text) if strategy == "canary" and weight_text.isdigit() else None
        return PromoteChoice(str(env), strategy, weight, self.query_one("#direct", Switch).value)

    def _update(self) -> None:
        preview = self.preview(self.choice())
        self.query_one("#preview", Static).update(preview.text)
        self.query_one("#confirm", Button).disabled = not preview.ok
        self.query_one("#weight", Input).display = self.choice().strategy == "canary"

    def on_select_changed(self, _event: Select.Changed) -> None:
        self._update()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._update()

    def on_switch_changed(self, _event: Switch.Changed) -> None:
        self._update()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.choice() if event.button.id == "confirm" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProgressModal(ModalScreen[None]):
    """Progress of a long action (train, build, apply) that runs in a worker."""

    BINDINGS = [Binding("escape", "hide", "Hide", id="hide-progress")]

    def __init__(self, title: str) -> None:
        super().__init__(classes="modal")
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(safe_text(Text(self.title_text, style="bold")), id="dialog-title")
            yield SafeStatic("starting…", id="progress-step")
            yield ProgressBar(total=None, id="progress-bar", show_eta=False)

    def step(self, label: str, done: int, total: int | None) -> None:
        self.query_one("#progress-step", Static).update(label)
        bar = self.query_one("#progress-bar", ProgressBar)
        bar.update(total=total, progress=done)

    def action_hide(self) -> None:
        self.dismiss(None)


class HelpModal(ModalScreen[None]):
    """Every key, from the same registry as the footer and the command palette."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_modal", "Close", id="close-help")]

    def __init__(self, commands: list[Command], keys: dict[str, str]) -> None:
        super().__init__(classes="modal")
        self.commands, self.keys = commands, keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("key")
        table.add_column("command")
        table.add_column("what it does")
        for command in self.commands:
            table.add_row(self.keys.get(command.id, command.key), command.description, command.tooltip)
        modes = Text.from_markup(
            "\n[bold]Command mode[/] (:)  models · model NAME · env [NAME] · history [MODEL] · log · help · quit\n"
            "[bold]Filter[/] (/)  type to narrow the rows, enter to keep, esc to clear\n"
            "[bold]Enter[/] opens the selected row; [bold]esc[/] goes back"
        )
        with Vertical(id="dialog"):
            yield Label(Text("Help", style="bold"), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                yield Static(table)
                yield Static(modes)

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)
