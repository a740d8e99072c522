"""A feature with one value in every training row is a data-check warning, not a refusal (issue 13, item 7).

scikit-learn fits around such columns, and real data sets have them: three pixels of the 8x8
digits are blank in every image. ``train`` prints the warning naming each column, records it on
the run (``runs show -o json``), and registers the version. A feature with no value at all is
still refused: imputers drop such a column while fitting, so the version would no longer take
the inputs its signature promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlopsctl.registry.records import read_record
from tests.conftest import run_cli_process
from tests.support.digits_repo import BLANK_PIXELS, digits_frame, digits_repo
from tests.support.train_repo import cancer_frame, commit_all, git, records, sk_repo

__all__ = ["digits_repo", "sk_repo"]


def warning_line(column: str, value: str) -> str:
    return (
        f"  WARN      consistency/constant [{column}]: only one value: {value}; expected more than one value "
        "(training goes on)\n"
    )


def test_the_digits_blank_pixels_are_the_three_constant_columns() -> None:
    frame = digits_frame()
    assert [name for name in frame.columns if frame[name].nunique() == 1] == BLANK_PIXELS


def test_train_on_digits_warns_about_the_blank_pixels_and_registers(digits_repo: Path) -> None:
    result = run_cli_process("--repo", str(digits_repo), "train", "digits", env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    for pixel in BLANK_PIXELS:
        assert warning_line(pixel, "0") in result.stdout
    assert "Unusable features" not in result.stdout + result.stderr
    assert "Registered digits@1" in result.stdout
    record = read_record(digits_repo, "digits", 1)
    assert [column.name for column in record.signature.inputs] == list(digits_frame().columns[:-1])


def test_the_warnings_are_recorded_on_the_run(cli: Any, digits_repo: Path) -> None:
    trained = cli("--repo", str(digits_repo), "train", "digits", "-o", "json")
    assert trained.code == 0, trained.stderr
    payload = json.loads(trained.stdout)
    expected = [
        {
            "dimension": "consistency",
            "check": "constant",
            "column": pixel,
            "passed": True,
            "observed": "only one value: 0",
            "expected": "more than one value",
            "failing_rows": 0,
            "severity": "warning",
            "status": "WARN",
        }
        for pixel in BLANK_PIXELS
    ]
    assert payload["warnings"] == expected
    assert payload["version"] == 1

    shown = cli("--repo", str(digits_repo), "runs", "show", payload["run_id"], "-o", "json")
    assert shown.code == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "FINISHED"
    assert run["version"] == 1
    assert run["warnings"] == expected
    table = cli("--repo", str(digits_repo), "runs", "show", payload["run_id"])
    shown_lines = [line.strip() for line in table.stdout.splitlines()]
    for pixel in BLANK_PIXELS:
        assert f"WARN  consistency/constant [{pixel}]: only one value: 0" in shown_lines


def test_a_constant_feature_of_the_cancer_data_no_longer_stops_training(cli: Any, sk_repo: Path) -> None:
    frame = cancer_frame()
    frame["mean_radius"] = 1.0
    frame.to_csv(sk_repo / "data" / "cancer.csv", index=False)
    result = cli("--repo", str(sk_repo), "train", "cancer")
    assert result.code == 0, result.stderr
    assert warning_line("mean_radius", "1") in result.stdout
    assert "Registered cancer@1" in result.stdout
    assert records(sk_repo, "cancer") == [1]


def test_a_feature_with_no_values_is_still_refused(cli: Any, sk_repo: Path) -> None:
    frame = cancer_frame()
    frame["mean_radius"] = float("nan")
    frame.to_csv(sk_repo / "data" / "cancer.csv", index=False)
    spec = sk_repo / "models" / "cancer" / "model.yaml"
    allowed = "quality:\n  completeness:\n    max_missing: {mean_radius: 1.0}\n"
    spec.write_text(spec.read_text().replace("quality:\n", allowed))
    head = commit_all(sk_repo, "mean_radius lost, and allowed to be missing")
    result = cli("--repo", str(sk_repo), "train", "cancer")
    assert result.code == 1
    assert result.stderr == (
        "error: Unusable features: in data/cancer.csv, feature 'mean_radius' has no values, so it cannot help the "
        "model\nhint: fill it, or remove it from features in models/cancer/model.yaml\n"
    )
    assert records(sk_repo, "cancer") == []
    assert git(sk_repo, "rev-parse", "HEAD") == head
