"""One registry of the dashboard's commands: bindings, footer, help screen and command palette.

Every command has a stable ``id`` (what ``ui.keymap`` in mlops.yaml remaps), a default key, a
description (footer and palette) and a tooltip (help). Mutating commands are hidden by
``--readonly``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    id: str
    key: str
    action: str
    description: str
    tooltip: str
    mutating: bool = False
    show: bool = True
    views: tuple[str, ...] = ()
    """Views the command applies to; empty: every view."""

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            tooltip=self.tooltip,
            id=self.id,
            key_display=_DISPLAY.get(self.key),
        )


_DISPLAY = {"colon": ":", "slash": "/", "question_mark": "?", "escape": "esc", "space": "space"}

COMMANDS: tuple[Command, ...] = (
    Command(
        "command", "colon", "command_mode", "Command", "Type a command: models, env NAME, history, log, help, quit"
    ),
    Command("filter", "slash", "filter", "Filter", "Filter the rows of the current view; esc clears"),
    Command("help", "question_mark", "help", "Help", "Every key and command"),
    Command("back", "escape", "go_back", "Back", "Back to the previous view (or clear the filter)", show=False),
    Command("refresh", "r", "refresh", "Refresh", "Read the repository and health again now"),
    Command("pause", "s", "toggle_pause", "Pause", "Pause or resume the live refresh"),
    Command("promote", "p", "promote", "Promote", "Promote the selected version (gate checks and diff first)", True),
    Command("rollback", "u", "rollback", "Rollback", "Roll the selected model back in an environment", True),
    Command("archive", "x", "archive", "Archive", "Archive the selected version (never deployed again)", True),
    Command("build", "b", "build", "Build", "Build the selected version's Docker image", True),
    Command("train", "t", "train", "Train", "Train the selected model and register a version", True),
    Command("plan", "d", "plan", "Plan", "Show what apply would change in the selected environment"),
    Command("apply", "a", "apply", "Apply", "Converge the selected environment to Git (plan first)", True),
    Command(
        "compare", "c", "compare", "Compare", "Mark runs with space, then compare them side by side", views=("model",)
    ),
    Command("sort", "o", "sort", "Sort", "Sort by the next column (or click a header)", views=("models",)),
    Command("mark", "space", "mark", "Mark", "Mark or unmark a run for comparison", show=False, views=("model",)),
    Command("quit", "q", "quit", "Quit", "Leave the dashboard"),
)

MUTATING_ACTIONS = frozenset(c.action for c in COMMANDS if c.mutating)


def bindings(readonly: bool = False) -> list[Binding]:
    return [c.binding() for c in COMMANDS if not (readonly and c.mutating)]


def visible(readonly: bool) -> list[Command]:
    return [c for c in COMMANDS if not (readonly and c.mutating)]
