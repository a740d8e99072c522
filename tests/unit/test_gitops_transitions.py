"""The deployment transitions of promote and rollback (the table in transitions' docstring)."""

from __future__ import annotations

from typing import Any

import pytest

from mlopsctl.errors import PolicyRefused
from mlopsctl.gitops import transitions
from mlopsctl.gitops.transitions import NothingToChange

W = "churn in production"
CANARY = {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20, "port": 8201}
SHADOW = {"version": 1, "strategy": "shadow", "candidate": 2}


@pytest.mark.parametrize(
    ("current", "version", "strategy", "weight", "expected"),
    [
        (None, 1, "replace", None, {"version": 1}),
        ({"version": 1, "port": 8201}, 2, "replace", None, {"version": 2, "port": 8201}),
        ({"version": 1}, 2, "canary", 20, {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20}),
        ({"version": 1}, 2, "shadow", None, {"version": 1, "strategy": "shadow", "candidate": 2}),
        (CANARY, 2, "replace", None, {"version": 2, "port": 8201}),
        (CANARY, 1, "replace", None, {"version": 1, "port": 8201}),
        (CANARY, 2, "canary", 40, {**CANARY, "weight": 40}),
        (CANARY, 3, "canary", 10, {**CANARY, "candidate": 3, "weight": 10}),
        (CANARY, 2, "shadow", None, {"version": 1, "strategy": "shadow", "candidate": 2, "port": 8201}),
        (SHADOW, 2, "canary", 5, {"version": 1, "strategy": "canary", "candidate": 2, "weight": 5}),
        (SHADOW, 3, "shadow", None, {"version": 1, "strategy": "shadow", "candidate": 3}),
    ],
)
def test_promote(
    current: dict[str, Any] | None, version: int, strategy: str, weight: int | None, expected: dict[str, Any]
) -> None:
    assert transitions.promote(current, version, strategy, weight, W) == expected


def test_canary_needs_a_stable_version() -> None:
    with pytest.raises(PolicyRefused) as caught:
        transitions.promote(None, 2, "canary", 20, W)
    assert caught.value.message == (
        "nothing runs for churn in production yet, and a canary needs a stable version to run beside"
    )
    assert caught.value.hint == "promote a first version with --strategy replace"


def test_candidate_must_differ_from_the_stable_version() -> None:
    with pytest.raises(PolicyRefused) as caught:
        transitions.promote({"version": 1}, 1, "shadow", None, W)
    assert caught.value.message == (
        "version 1 is already the stable version of churn in production; a shadow candidate must be another version"
    )


@pytest.mark.parametrize(
    ("current", "version", "strategy", "weight", "message"),
    [
        ({"version": 1}, 1, "replace", None, "churn in production already runs version 1; nothing to change"),
        (CANARY, 2, "canary", 20, "churn in production already runs 1 canary 2 at 20%; nothing to change"),
    ],
)
def test_nothing_to_change(
    current: dict[str, Any], version: int, strategy: str, weight: int | None, message: str
) -> None:
    with pytest.raises(NothingToChange) as caught:
        transitions.promote(current, version, strategy, weight, W)
    assert caught.value.message == message
    assert caught.value.exit_code == 1


def test_rollback_drops_a_candidate_first() -> None:
    assert transitions.rollback(CANARY, None, None, W) == {"version": 1, "port": 8201}
    assert transitions.rollback(SHADOW, None, None, W) == {"version": 1}


def test_rollback_returns_to_the_previous_stable_or_the_named_version() -> None:
    assert transitions.rollback({"version": 3}, 2, None, W) == {"version": 2}
    assert transitions.rollback(CANARY, None, 4, W) == {"version": 4, "port": 8201}


def test_rollback_without_an_earlier_version() -> None:
    with pytest.raises(NothingToChange) as caught:
        transitions.rollback({"version": 3}, None, None, W)
    assert caught.value.message == (
        "churn in production has run only version 3: there is no earlier version to roll back to"
    )


@pytest.mark.parametrize(
    ("fields", "text"),
    [(None, "none"), ({"version": 3}, "3"), (CANARY, "1 canary 2 at 20%"), (SHADOW, "1 shadow 2")],
)
def test_describe(fields: dict[str, Any] | None, text: str) -> None:
    assert transitions.describe(fields) == text


def test_runs_names_the_role() -> None:
    assert transitions.runs(CANARY, 1) == "stable"
    assert transitions.runs(CANARY, 2) == "canary"
    assert transitions.runs(SHADOW, 2) == "shadow"
    assert transitions.runs(CANARY, 3) is None
