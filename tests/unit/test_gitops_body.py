"""The pull-request body and the commit message of a change."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlopsctl.contract.records import VersionRecord
from mlopsctl.gitops.operations import Change
from mlopsctl.gitops.publish import pull_request_body
from tests.support.gitops_repo import write_record


def change(tmp_path: Path, **extra: object) -> Change:
    record = VersionRecord.model_validate(yaml.safe_load(write_record(tmp_path, "churn", 3).read_text()))
    fields: dict[str, object] = {
        "action": "promote",
        "model": "churn",
        "version": 3,
        "env": "production",
        "path": "environments/production.yaml",
        "text": "",
        "title": "Promote churn@3 to production as a 20% canary",
        "record": record,
        "strategy": "canary",
        "weight": 20,
        "previous": "2",
        **extra,
    }
    return Change(**fields)  # type: ignore[arg-type]


def test_body_without_a_plan_says_ci_posts_it(tmp_path: Path) -> None:
    assert pull_request_body(change(tmp_path), None) == (
        "## Promote churn@3 to production as a 20% canary\n\n"
        "| | |\n|---|---|\n| Model | `churn` |\n| Version | 3 |\n| Environment | production |\n"
        "| Strategy | canary, 20% of requests |\n| Before | 2 |\n\n"
        "### Gates of churn@3 (`registry/churn/v3.yaml`)\n\n"
        "| Gate | Value | Result |\n|---|---|---|\n"
        "| `roc_auc >= 0.75` | 0.91 | passed |\n| `p95_latency_ms <= 50` | 12.5 | passed |\n\n"
        "All gates passed.\n\n"
        "### Plan for production\n\n"
        "CI posts `mlopsctl plan --env production` on this pull request.\n\n"
        "---\nOpened by mlopsctl. Merging applies it: CI runs `mlopsctl apply --env production`.\n"
    )


def test_message_trailers_and_branch(tmp_path: Path) -> None:
    promoted = change(tmp_path, reason="holiday traffic")
    assert promoted.branch == "promote/churn-3-production"
    assert promoted.message() == (
        "Promote churn@3 to production as a 20% canary\n\nholiday traffic\n\n"
        "Action: promote\nModel: churn\nVersion: 3\nEnv: production\nStrategy: canary\nWeight: 20\nPrevious: 2\n"
    )
    archived = change(tmp_path, action="archive", env=None, strategy=None, weight=None, previous=None)
    assert archived.branch == "archive/churn-3"
    assert archived.message().endswith("\n\nAction: archive\nModel: churn\nVersion: 3\n")
