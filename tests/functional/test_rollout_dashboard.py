"""The dashboard shows a canary's rollout: its step and what ``mlopsctl rollout`` would do, judged
on refresh without committing. The checks against a real Prometheus are shown in
tests/integration/test_rollout_prometheus.py."""

from __future__ import annotations

from pathlib import Path

from tests.support.dashboard import SIZE, make_app
from tests.support.gitops_repo import make_gitops_repo
from tests.support.rollout_dashboard import rollout_panel
from tests.support.rollout_repo import commit_canary, set_rollout


async def test_a_canary_shows_its_step_and_that_it_waits(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    set_rollout(repo.root, min_interval="5m")
    commit_canary(repo.root, "staging", 1, 2, 5)
    app = make_app(repo.root)
    async with app.run_test(size=SIZE) as pilot:
        text = await rollout_panel(app, pilot)
    head, reason = text.splitlines()
    assert head == "churn in staging: step 1/4, 5%"
    assert reason.startswith("waiting: step 1/4 (5%) has run ")
    assert "of rollout.min_interval 5m; judged in " in reason


async def test_a_weight_off_the_steps_says_so_and_no_canary_shows_nothing(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    set_rollout(repo.root, steps=[5, 25, 50, 100])
    commit_canary(repo.root, "staging", 1, 2, 20)
    app = make_app(repo.root)
    async with app.run_test(size=SIZE) as pilot:
        text = await rollout_panel(app, pilot)
    assert text.splitlines()[0] == "churn in staging: 20%, not a step"
    assert "refused: churn in staging runs a 20% canary, which is not a step of rollout.steps" in text.replace(
        "\n", " "
    )

    other = make_gitops_repo(tmp_path / "plain")
    app = make_app(other.root)
    async with app.run_test(size=SIZE) as pilot:
        assert await rollout_panel(app, pilot) == ""
