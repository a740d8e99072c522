"""``mlopsctl retrain --check`` and ``mlopsctl retrain`` against a real ``mlopsctl serve``, real git
and the loopback forge: triggers named with their evidence, a candidate gated against the running
version on the same fresh hold-out, proposed as a pull request or, when worse, registered only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import git
from tests.support.predlog import wait_logged
from tests.support.retrain_repo import TOKEN, Served, ask, send_labels, served_v1, source_rows
from tests.support.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def served(cli: Any, model_repo: Path, tmp_path: Path) -> Iterator[Served]:
    with served_v1(cli, model_repo, tmp_path / "remotes") as found:
        yield found


@pytest.fixture
def forge(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Forge]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=served.remote)) as running:
        for name, value in api_environment(running.url).items():
            monkeypatch.setenv(name, value)
        yield running


def check(cli: Any, served: Served, *args: str) -> Any:
    return cli("retrain", "churn", "--check", "--repo", str(served.root), *args)


def wrong_labels(served: Served, count: int) -> None:
    """``count`` answers labelled with the other class: live accuracy 0.0, CRIT."""
    answers = ask(served, source_rows(served.root).iloc[:count], "wrong")
    wait_logged(served.root / ".mlops" / "predictions" / "serve" / "churn", {i for i, _ in answers})
    send_labels(served, [(request_id, 1 - label) for request_id, label in answers])


def test_check_with_no_trigger_says_not_needed(cli: Any, served: Served) -> None:
    result = check(cli, served)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0] == "churn v1 in staging (retraining.promote_to; production does not run churn): retraining not needed"
    )
    found = json.loads(check(cli, served, "-o", "json").stdout)
    assert (found["needed"], found["env"], found["version"], found["fired"]) == (False, "staging", 1, [])
    reasons = {t["name"]: (t["fired"], t["reason"]) for t in found["triggers"]}
    assert reasons["new_data"] == (False, "data/churn.csv is what v1 was trained on")
    assert reasons["labelled_traffic"] == (False, "no labelled answers of v1")
    assert reasons["performance"][0] is False


def test_labels_that_disagree_fire_the_performance_trigger(cli: Any, served: Served) -> None:
    wrong_labels(served, 25)
    result = check(cli, served)
    assert result.code == 1, result.stderr
    found = json.loads(check(cli, served, "-o", "json").stdout)
    assert {"performance", "labelled_traffic"} <= set(found["fired"])  # 25 rows may also drift
    assert result.stdout.splitlines()[0] == (
        f"churn v1 in staging (retraining.promote_to; production does not run churn): retraining needed ({', '.join(found['fired'])})"
    )
    reasons = {t["name"]: (t["fired"], t["reason"]) for t in found["triggers"]}
    assert reasons["performance"] == (True, "CRIT: live accuracy 0.000 from 25 labels over 10m < 0.75")
    assert reasons["labelled_traffic"] == (True, "25 labelled answers of v1 in the prediction logs")


def test_a_new_data_file_fires_the_new_data_trigger(cli: Any, served: Served) -> None:
    data = served.root / "data" / "churn.csv"
    rows = source_rows(served.root)
    rows.iloc[: len(rows) - 5].to_csv(data, index=False)
    found = json.loads(check(cli, served, "-o", "json").stdout)
    assert found["fired"] == ["new_data"]
    (reason,) = [t["reason"] for t in found["triggers"] if t["name"] == "new_data"]
    assert reason.startswith("data/churn.csv changed since v1 (sha256 ")
    assert check(cli, served).code == 1


def test_retrain_proposes_v2_with_the_trigger_and_the_comparison(cli: Any, served: Served, forge: Forge) -> None:
    wrong_labels(served, 25)
    result = cli("retrain", "churn", "--repo", str(served.root))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "Fresh data: 2025 rows (2000 from data.source, 25 labelled; customer_id, signup_date empty in the labelled rows (requests do not carry them))"
        in lines
    )
    assert "Candidate: registered churn@2" in lines
    (comparison,) = [line for line in lines if line.startswith("Comparison: ")]
    assert re.fullmatch(
        r"Comparison: candidate roc_auc 0\.\d{4} vs v1 0\.\d{4} on the same \d+ fresh held-out rows: (better|not worse) than v1",
        comparison,
    )
    branch_line = f"Proposed churn@2 for staging on branch promote/churn-2-staging (commit {git(served.root, 'rev-parse', 'promote/churn-2-staging')[:12]})"
    assert branch_line in lines
    [opened] = forge.requests
    body = opened.body["body"]
    assert opened.body["title"] == "Promote churn@2 to staging"
    assert "### Plan for staging" in body
    retraining = body[body.index("### Retraining") :]
    assert retraining.splitlines()[:9] == [
        "### Retraining",
        "",
        "Triggered by: drift, performance, labelled_traffic",
        "",
        "| trigger | fired | evidence |",
        "|---|---|---|",
        "| drift | yes | drift CRIT on support_calls, age |",
        "| performance | yes | CRIT: live accuracy 0.000 from 25 labels over 10m < 0.75 |",
        "| new_data | no | data/churn.csv is what v1 was trained on |",
    ]
    assert (
        "Fresh data: 2025 rows (2000 from data.source, 25 labelled from the prediction logs of staging)" in retraining
    )
    assert comparison in retraining
    message = git(served.root, "log", "-1", "--format=%B", "promote/churn-2-staging")
    assert message.splitlines()[:4] == [
        "Promote churn@2 to staging",
        "",
        "Retrained on fresh data; triggered by drift, performance, labelled_traffic.",
        "- drift: drift CRIT on support_calls, age",
    ]
    assert comparison in message.splitlines()
    record = yaml.safe_load((served.root / "registry" / "churn" / "v2.yaml").read_text())
    assert record["data"]["rows"] == 2025

    again = cli("retrain", "churn", "--repo", str(served.root))  # the next scheduled run, nothing new since
    assert again.code == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        f"Nothing retrained: churn@2 was already trained on this fresh data (sha256 {record['data']['sha256'][:12]}) "
        "(--force retrains anyway)."
    )
    assert not (served.root / "registry" / "churn" / "v3.yaml").exists()


def test_a_worse_candidate_is_registered_but_not_proposed(cli: Any, served: Served, forge: Forge) -> None:
    worse = ("--force", "--set", "training.params.max_depth=1")
    result = cli("retrain", "churn", *worse, "--repo", str(served.root), "-o", "json")
    outcome = json.loads(result.stdout)
    assert result.code == 1, outcome
    assert (outcome["needed"], outcome["forced"], outcome["registered"], outcome["proposed"]) == (
        False,
        True,
        True,
        False,
    )
    assert outcome["candidate"]["ref"] == "churn@2"
    assert outcome["comparison"]["passed"] is False
    assert outcome["not_proposed"] == (
        "churn@2 is worse than v1 on roc_auc by more than evaluation.champion_margin (0.0000); it stays registered"
    )
    assert forge.requests == []
    assert git(served.root, "branch", "--list", "promote/*") == ""
    table = cli("retrain", "churn", *worse, "--repo", str(served.root))
    assert table.code == 1
    assert table.stdout.splitlines()[-1] == (
        "Not proposed: churn@3 is worse than v1 on roc_auc by more than evaluation.champion_margin (0.0000); "
        "it stays registered"
    )


def test_retrain_without_a_trigger_does_nothing(cli: Any, served: Served) -> None:
    result = cli("retrain", "churn", "--repo", str(served.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Nothing retrained (--force retrains anyway)."
    assert not (served.root / "registry" / "churn" / "v2.yaml").exists()


def test_check_exit_codes_for_unreachable_metrics_and_usage(
    cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check(cli, served, "--env", "nope")
    assert (result.code, result.stderr) == (
        2,
        "error: Usage error: unknown environment 'nope'\nhint: environments: production, staging\n",
    )
    result = check(cli, served, "--env", "production")
    assert (result.code, result.stderr.splitlines()[0]) == (
        2,
        "error: Usage error: environment production does not run churn",
    )
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    result = check(cli, served)
    assert result.code == 3
    assert result.stderr.startswith("error: Prometheus unreachable: cannot reach Prometheus at http://127.0.0.1:")


def test_a_service_that_is_down_is_named_as_why_performance_is_unknown(cli: Any, served: Served) -> None:
    from tests.support.retrain_repo import commit_all
    from tests.support.status_repo import set_environment

    closed = free_port()  # nothing listens there: the running version is down
    set_environment(served.root, "staging", {"churn": {"version": 1, "port": closed}})
    commit_all(served.root, "staging on a port nothing serves")
    found = json.loads(check(cli, served, "-o", "json").stdout)
    reasons = {t["name"]: (t["fired"], t["reason"]) for t in found["triggers"]}
    fired, reason = reasons["performance"]
    assert not fired
    assert reason.startswith(f"no live performance: service down at 127.0.0.1:{closed}"), reason
