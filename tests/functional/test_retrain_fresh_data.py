"""The fresh data ``retrain`` trains on: data.source plus an environment's labelled traffic, one row
per (request id, row) even when a shadow logged the same request, in the spec's columns with the
label as the target. A real service (stable and shadow) logs to the local target's folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlopsctl.contract.predictionlog import labelled_rows
from mlopsctl.retrain.fresh import assemble, labelled_traffic
from mlopsctl.serve.predlog import env_folder
from mlopsctl.spec.loader import open_repo
from tests.support.predlog import logging_service, post_json, wait_logged
from tests.support.serving import churn_fitted, records_of


def test_labelled_traffic_is_deduplicated_and_given_the_spec_columns(model_repo: Path) -> None:
    repo = open_repo(model_repo)
    folder = env_folder(repo.state_dir, "staging", "churn")
    fit = churn_fitted(rows=300)
    service = logging_service(fit, folder, shadow=churn_fitted(rows=300, seed=8))
    try:
        rows = records_of(fit.frame.iloc[:3][[c.name for c in fit.record.signature.inputs]])
        status, _, body = post_json(service.url, "/predict", {"records": rows}, {"X-Request-Id": "batch-1"})
        assert status == 200, body
        status, _, body = post_json(service.url, "/predict", {"records": rows[:1]}, {"X-Request-Id": "retry-1"})
        assert status == 200, body
        wait_logged(folder, {"batch-1", "retry-1"})
        labels = [
            {"id": "batch-1", "row": 0, "label": 1},
            {"id": "batch-1", "row": 2, "label": 0},
            {"id": "retry-1", "row": 0, "label": 1},  # the same inputs and label again: one row in the data
        ]
        status, _, body = post_json(service.url, "/feedback", {"labels": labels})
        assert status == 200, body
    finally:
        service.stop()
    assert sorted(labelled_rows(folder)["role"]) == ["shadow"] * 3 + ["stable"] * 3  # the same ids twice
    traffic = labelled_traffic(repo, "churn", "staging")
    assert sorted(zip(traffic["id"], traffic["row"], traffic["role"], traffic["label"], strict=True)) == [
        ("batch-1", 0, "stable", 1),
        ("batch-1", 2, "stable", 0),
        ("retry-1", 0, "stable", 1),
    ]
    source = pd.read_csv(model_repo / "data" / "churn.csv")
    fresh = assemble(repo, repo.models["churn"], "staging", source)
    written = pd.read_csv(fresh.path)
    assert (fresh.source_rows, fresh.labelled_rows, fresh.absent) == (len(source), 2, ("customer_id", "signup_date"))
    assert list(written.columns) == list(source.columns)
    added = written.iloc[len(source) :]
    assert added["churned"].tolist() == [1, 0]
    assert added["tenure_months"].tolist() == [rows[0]["tenure_months"], rows[2]["tenure_months"]]
    assert added["customer_id"].isna().all()
