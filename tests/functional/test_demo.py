"""``mlopsctl demo --no-ui`` through the real entry point: the lifecycle up to the drift alarm, then
the closed loop once (issue 15): labels arrive for the answers staging logged, live accuracy falls
below monitoring.performance, ``retrain --check`` names the triggers and ``retrain`` registers v3
and proposes it on a branch (the demo has no remote, so no pull request).

The demo runs once for the module (it trains three times and serves for real); each test reads
what it printed and what it left in the repository.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliResult, isolate_git_home, run_cli_process
from tests.support.demo_run import live_accuracy, staging_port, stop_demo_leftovers
from tests.support.gitops_repo import git

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Demo:
    root: Path
    result: CliResult

    @property
    def lines(self) -> list[str]:
        return self.result.stdout.splitlines()

    def step(self, title: str) -> list[str]:
        """The lines a step printed, from its numbered title to the next blank line."""
        start = next(i for i, line in enumerate(self.lines) if re.match(rf"\d+\. {re.escape(title)}  \$ ", line))
        end = self.lines.index("", start)
        return self.lines[start + 1 : end]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        patch.setenv("COLUMNS", "200")
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
        for name in [n for n in os.environ if n.startswith("MLOPS_")]:
            patch.delenv(name)
        root = tmp_path_factory.mktemp("demo") / "repo"
        try:
            yield Demo(root, run_cli_process("demo", "--no-ui", "--path", str(root)))
        finally:
            stop_demo_leftovers(root)


def test_demo_walks_the_lifecycle_to_a_drift_alarm(demo: Demo) -> None:
    assert demo.result.code == 0, demo.result.stderr + demo.result.stdout
    out = demo.result.stdout
    for title in ("1. Create a model repository", "4. Train and register version 1", "Apply the canary"):
        assert title in out
    assert "ok: 1 model, 2 environments, no problems" in out
    assert "updated churn v1 + v2 canary 20%" in out
    assert "CRIT churn v1 stable: feature `monthly_charges` PSI" in out
    assert (demo.root / "registry" / "churn" / "v2.yaml").is_file()


def test_the_demo_spec_judges_live_accuracy(demo: Demo) -> None:
    spec = yaml.safe_load((demo.root / "models" / "churn" / "model.yaml").read_text())
    assert spec["monitoring"]["performance"] == {"metric": "accuracy", "warn_below": 0.75, "crit_below": 0.65}
    assert spec["retraining"]["on_performance"] is True
    commit = git(demo.root, "log", "-1", "--format=%h", "--abbrev=12", "--", "models/churn/model.yaml")
    assert demo.step("Create a model repository")[1] == (
        f"  the demo judges churn's live accuracy: monitoring.performance WARN below 0.75, CRIT below 0.65 "
        f"(commit {commit})"
    )


def test_labels_arrive_and_live_accuracy_falls(demo: Demo) -> None:
    lines = demo.step("Labels arrive: the customers' real outcomes, and who churns has changed")
    assert lines[:2] == [
        "  before: UNKNOWN churn v1 stable: live accuracy: not enough labels (0 < 500) over 1h",
        "  before: UNKNOWN churn v2 canary: live accuracy: not enough labels (0 < 500) over 1h",
    ]
    assert lines[2] == "  staging logged every answer with its request id in .mlops/predictions/env/staging/churn/"
    labelled = (demo.root / ".mlops" / "demo-labels.csv").read_text().splitlines()
    assert (labelled[0], len(labelled)) == ("id,row,label", 1001)
    cancelled = sum(int(line.rsplit(",", 1)[1]) for line in labelled[1:])
    assert lines[3:5] == [
        "  the demo writes the outcomes of 1000 answered customers to .mlops/demo-labels.csv (id,row,label): "
        f"{cancelled} cancelled",
        "  since the shift everyone paying over 120 a month cancels (the concept changed); "
        "the others did as the model said",
    ]
    assert lines[5] == f"  1000 of 1000 labels accepted by http://127.0.0.1:{staging_port(demo.root)}"
    stable = live_accuracy(demo.root, "stable")
    assert stable.value < 0.65
    assert lines[6] == (
        f"  after:  CRIT churn v1 stable: live accuracy {stable.value:.3f} from {stable.labels} labels over 1h < 0.65"
    )
    assert lines[7].startswith("  after:  ") and "churn v2 canary: live accuracy" in lines[7]


def test_retrain_check_names_the_triggers(demo: Demo) -> None:
    lines = demo.step("Ask whether to retrain")
    stable = live_accuracy(demo.root, "stable")
    assert lines == [
        "  churn v1 in staging: retraining needed (drift, performance, labelled_traffic)",
        "    drift             fired  drift CRIT on monthly_charges",
        f"    performance       fired  CRIT: live accuracy {stable.value:.3f} from {stable.labels} labels over 1h < 0.65",
        "    new_data          no     data/churn.csv is what v1 was trained on",
        f"    labelled_traffic  fired  {stable.labels} labelled answers of v1 in the prediction logs",
    ]


def test_retrain_registers_v3_and_proposes_it_on_a_branch(demo: Demo) -> None:
    lines = demo.step("Retrain on the labelled traffic and propose version 3")
    branch = "promote/churn-3-staging"
    proposal = git(demo.root, "rev-parse", branch)
    registered = git(demo.root, "log", "-1", "--format=%h", "--abbrev=12", "main", "--", "registry/churn/v3.yaml")
    assert lines[0] == "  fresh data: 3000 rows (2000 from data/churn.csv, 1000 labelled answers of staging)"
    assert re.fullmatch(rf"  registered churn@3 \(run [0-9a-f]{{12}}\), commit {registered}", lines[1])
    assert re.fullmatch(
        r"  comparison: candidate roc_auc 0\.\d{4} vs v1 0\.\d{4} on the same 750 fresh held-out rows: better than v1",
        lines[2],
    )
    assert lines[3:] == [
        f"  proposed churn@3 for staging: commit {proposal[:12]} on branch {branch} (no remote here, so no pull request)",
        f"  staging still serves v1 + v2 canary; to take v3: git merge {branch} && mlopsctl apply --env staging",
    ]
    message = git(demo.root, "log", "-1", "--format=%B", branch).splitlines()
    assert message[:3] == [
        "Promote churn@3 to staging",
        "",
        "Retrained on fresh data; triggered by drift, performance, labelled_traffic.",
    ]
    assert {"Action: promote", "Version: 3", "Env: staging"} <= set(message)
    assert git(demo.root, "rev-parse", f"{branch}^") == git(demo.root, "rev-parse", "main")  # merges fast-forward


def test_registry_shows_v3_and_staging_still_runs_v1_and_the_canary(demo: Demo) -> None:
    listed = run_cli_process("registry", "list", "churn", "-o", "json", "--repo", str(demo.root))
    assert listed.code == 0, listed.stderr
    versions = {v["version"]: v for v in json.loads(listed.stdout)["versions"]}
    assert sorted(versions) == [1, 2, 3]
    assert versions[3]["data_rows"] == 3000
    staging = yaml.safe_load((demo.root / "environments" / "staging.yaml").read_text())
    assert staging["deployments"]["churn"]["version"] == 1


def test_the_hints_name_the_loop_commands(demo: Demo) -> None:
    first_id = (demo.root / ".mlops" / "demo-labels.csv").read_text().splitlines()[1].split(",")[0]
    assert f"  mlopsctl explain {first_id}   # which version answered it, re-run" in demo.lines
    assert "  mlopsctl retrain churn --check    # the retraining triggers, judged while staging serves" in demo.lines
    assert "  git show promote/churn-3-staging   # the promotion retrain proposes" in demo.lines
