"""``mlopsctl data check`` through the CLI, on real repositories from ``init`` and scikit-learn's data sets."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import run_cli_process
from tests.support.sklearn_data import add_sklearn_model


def git_status(root: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True).stdout


def churn(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data" / "churn.csv", dtype={"customer_id": str})


def save(root: Path, frame: pd.DataFrame, name: str = "churn.csv") -> Path:
    path = root / "data" / name
    frame.to_csv(path, index=False)
    return path


def check_json(cli: Any, root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("data", "check", "churn", "--repo", str(root), "-o", "json", *extra)
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)


def failed(payload: dict[str, Any]) -> list[tuple[str, str, str | None, str, str]]:
    return [
        (r["dimension"], r["check"], r["column"], r["observed"], r["expected"])
        for r in payload["results"]
        if not r["passed"]
    ]


# --------------------------------------------------------------------------- passing


def test_the_sample_data_of_a_new_repository_passes(cli: Any, model_repo: Path) -> None:
    result = cli("data", "check", "churn", "--repo", str(model_repo))
    assert result.code == 0, result.stdout + result.stderr
    digest = hashlib.sha256((model_repo / "data" / "churn.csv").read_bytes()).hexdigest()
    lines = result.stdout.splitlines()
    assert lines[0] == "churn data data/churn.csv"
    assert lines[1] == f"  sha256  {digest}"
    assert lines[2].startswith("  schema  ")
    assert lines[3] == "  rows 2000, columns 9"
    assert lines[-1] == "PASSED: 33 checks"
    for section in ("accuracy", "completeness", "consistency", "timeliness"):
        assert any(line.startswith(section) for line in lines), section
    assert "  range          │ age             │ min 18, max 85" in result.stdout
    assert "FAIL" not in result.stdout
    assert git_status(model_repo) == ""


def test_json_output(cli: Any, model_repo: Path) -> None:
    code, payload = check_json(cli, model_repo)
    assert code == 0
    assert list(payload) == ["model", "data", "passed", "rows", "failed", "warnings", "results"]
    assert payload["model"] == "churn"
    assert payload["passed"] is True
    digest = hashlib.sha256((model_repo / "data" / "churn.csv").read_bytes()).hexdigest()
    assert payload["data"]["uri"] == "data/churn.csv"
    assert payload["data"]["sha256"] == digest
    assert (payload["data"]["rows"], payload["data"]["columns"]) == (2000, 9)
    assert len(payload["data"]["schema_sha256"]) == 64
    assert len(payload["results"]) == 33
    assert {r["dimension"] for r in payload["results"]} == {"accuracy", "completeness", "consistency", "timeliness"}
    assert payload["results"][3] == {
        "dimension": "accuracy",
        "check": "range",
        "column": "age",
        "passed": True,
        "observed": "min 18, max 85",
        "expected": "18 <= age <= 110",
        "failing_rows": 0,
        "severity": "error",
        "status": "PASS",
    }


def test_the_real_entry_point(model_repo: Path) -> None:
    result = run_cli_process("data", "check", "churn", cwd=model_repo)
    assert result.code == 0, result.stderr
    assert "PASSED: 33 checks" in result.stdout


@pytest.mark.parametrize(
    ("dataset", "fmt", "checks"), [("breast-cancer", "csv", 98), ("wine", "parquet", 47), ("diabetes", "csv", 37)]
)
def test_scikit_learn_data_sets_pass(cli: Any, model_repo: Path, dataset: str, fmt: str, checks: int) -> None:
    add_sklearn_model(model_repo, dataset, fmt=fmt)  # type: ignore[arg-type]
    result = cli("data", "check", dataset, "--repo", str(model_repo), "-o", "json")
    assert result.code == 0, result.stdout
    payload = json.loads(result.stdout)
    assert (payload["passed"], payload["failed"], len(payload["results"])) == (True, 0, checks)
    assert payload["data"]["uri"] == f"data/{dataset}.{fmt}"


def test_scikit_learn_regression_target_is_described(cli: Any, model_repo: Path) -> None:
    add_sklearn_model(model_repo, "diabetes")
    payload = json.loads(cli("data", "check", "diabetes", "--repo", str(model_repo), "-o", "json").stdout)
    target = next(r for r in payload["results"] if r["check"] == "target")
    assert (target["column"], target["observed"], target["expected"]) == (
        "progression",
        "min 25, max 346",
        "more than one value",
    )


def test_wine_classes_are_text_labels(cli: Any, model_repo: Path) -> None:
    add_sklearn_model(model_repo, "wine", fmt="parquet")
    payload = json.loads(cli("data", "check", "wine", "--repo", str(model_repo), "-o", "json").stdout)
    target = next(r for r in payload["results"] if r["check"] == "target")
    assert target["observed"] == "3 classes: class_1 (71), class_0 (59), class_2 (48)"


# --------------------------------------------------------------------------- failing expectations


def test_corrupted_data_fails_with_each_problem(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame.loc[[3, 10, 11], "age"] = [4, 12, 250]
    frame.loc[5, "contract"] = "three-year"
    frame.loc[0:199, "monthly_charges"] = None
    frame.loc[7, "customer_id"] = "X1"
    frame = pd.concat([frame, frame.iloc[[20]]], ignore_index=True)
    save(model_repo, frame)
    code, payload = check_json(cli, model_repo)
    assert code == 1
    assert payload["passed"] is False
    assert failed(payload) == [
        ("accuracy", "range", "age", "2 rows below 18 (min 4); 1 row above 110 (max 250)", "18 <= age <= 110"),
        (
            "accuracy",
            "allowed",
            "contract",
            "1 row not allowed, e.g. 'three-year' at row 6",
            "one of month-to-month, one-year, two-year",
        ),
        ("accuracy", "pattern", "customer_id", "1 row does not match, e.g. 'X1' at row 8", "matches C[0-9]{6}"),
        ("completeness", "missing", "monthly_charges", "missing 10.7%", "missing <= 5%"),
        (
            "consistency",
            "unique",
            "customer_id",
            "1 duplicate value, e.g. 'C000021' at rows 21 and 2001",
            "unique values",
        ),
        ("consistency", "duplicate_rows", None, "1 duplicate row, e.g. row 2001 repeats row 21", "no duplicate rows"),
    ]
    assert payload["failed"] == 6


def test_failures_show_in_the_table_and_the_verdict(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame.loc[3, "age"] = 4
    save(model_repo, frame)
    result = cli("data", "check", "churn", "--repo", str(model_repo))
    assert result.code == 1
    assert "│ 1 row below 18 (min 4)" in result.stdout
    assert "│ FAIL" in result.stdout
    assert result.stdout.splitlines()[-1] == "FAILED: 1 of 33 checks failed"
    assert result.stderr == ""


def test_stale_data_fails_timeliness(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame["signup_date"] = "2020-01-01"
    save(model_repo, frame)
    code, payload = check_json(cli, model_repo)
    assert code == 1
    [(dimension, check, column, observed, expected)] = failed(payload)
    assert (dimension, check, column, expected) == (
        "timeliness",
        "freshness",
        "signup_date",
        "newest not older than 30d",
    )
    assert observed.startswith("newest 2020-01-01, ") and observed.endswith(" days old")


def test_a_missing_target_column_fails(cli: Any, model_repo: Path) -> None:
    save(model_repo, churn(model_repo).drop(columns=["churned"]))
    code, payload = check_json(cli, model_repo)
    assert code == 1
    assert failed(payload) == [
        ("completeness", "required", "churned", "column missing from the file", "column present (the target)")
    ]


def test_wrong_types_fail_with_an_example_row(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame["age"] = frame["age"].astype(object)
    frame.loc[[4, 9], "age"] = ["forty", "3.5"]
    frame["signup_date"] = frame["signup_date"].astype(object)
    frame.loc[2, "signup_date"] = "last tuesday"
    save(model_repo, frame)
    code, payload = check_json(cli, model_repo)
    assert code == 1
    assert failed(payload) == [
        ("consistency", "type", "signup_date", "1 value not datetime, e.g. 'last tuesday' at row 3", "datetime"),
        ("consistency", "type", "age", "2 values not integer, e.g. 'forty' at row 5", "integer"),
    ]


def test_a_constant_column_warns_but_passes(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame["contract"] = "one-year"
    save(model_repo, frame)
    result = cli("data", "check", "churn", "--repo", str(model_repo))
    assert result.code == 0
    assert "│ only one value: 'one-year'" in result.stdout
    assert "│ WARN" in result.stdout
    assert result.stdout.splitlines()[-1] == "PASSED: 34 checks, 1 warning"


def test_a_label_with_one_class_fails(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame["churned"] = 0
    save(model_repo, frame)
    code, payload = check_json(cli, model_repo)
    assert code == 1
    assert failed(payload) == [("consistency", "target", "churned", "one class: 0 (2000 rows)", "at least 2 classes")]


def test_undeclared_columns_are_reported_not_failed(cli: Any, model_repo: Path) -> None:
    frame = churn(model_repo)
    frame["region"] = "north"
    save(model_repo, frame)
    code, payload = check_json(cli, model_repo)
    assert code == 0
    schema = next(r for r in payload["results"] if r["check"] == "schema")
    assert (schema["passed"], schema["severity"], schema["observed"]) == (
        True,
        "info",
        "1 undeclared column kept, not checked: region",
    )


def test_another_file_through_data_option_in_parquet(cli: Any, model_repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "churn.parquet"
    frame = churn(model_repo)
    frame["signup_date"] = pd.to_datetime(frame["signup_date"])
    frame.to_parquet(path)
    code, payload = check_json(cli, model_repo, "--data", str(path))
    assert code == 0
    assert payload["data"]["uri"] == str(path.resolve())
    assert payload["data"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- bad input


def bad_input(cli: Any, root: Path, name: str, content: bytes | None) -> tuple[int, str, str]:
    path = root.parent / name
    if content is not None:
        path.write_bytes(content)
    result = cli("data", "check", "churn", "--repo", str(root), "--data", str(path))
    return result.code, result.stderr, str(path.resolve())


@pytest.mark.parametrize(
    ("name", "content", "code", "message", "hint"),
    [
        ("none.csv", None, 1, "error: Not found: no data file at {path}", "hint: check the path given"),
        (
            "empty.csv",
            b"",
            1,
            "error: Unreadable data: {path} is empty (0 bytes)",
            "hint: write a header and data rows",
        ),
        (
            "header.csv",
            b"customer_id,signup_date,churned\n",
            1,
            "error: Unreadable data: {path} has no rows, only a header line",
            "hint: add data rows below the header",
        ),
        (
            "latin1.csv",
            "customer_id,churned\nC000001,0\nC00000\xe9,1\n".encode("latin-1"),
            1,
            "error: Unreadable data: {path} is not UTF-8: byte 0xe9 at offset 36 (line 3, column 7)",
            "hint: save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT",
        ),
        (
            "fake.parquet",
            b"customer_id,churned\nC000001,0\n",
            1,
            "error: Unreadable data: {path} is not a Parquet file (or it is damaged)",
            "hint: set data.format to csv, or write the data with pandas' to_parquet",
        ),
        (
            "ragged.csv",
            b"customer_id,churned\nC000001,0\nC000002,1,extra\n",
            1,
            "error: Unreadable data: {path} line 3: expected 2 fields like the header, found 3",
            "hint: quote values that contain the delimiter, or fix the row",
        ),
        (
            "data.txt",
            b"customer_id,churned\n",
            2,
            "error: Usage error: cannot tell the format of {path}",
            "hint: name the file .csv or .parquet, or set data.format to csv or parquet",
        ),
    ],
)
def test_bad_input_is_one_clear_message(
    cli: Any, model_repo: Path, name: str, content: bytes | None, code: int, message: str, hint: str
) -> None:
    exit_code, stderr, path = bad_input(cli, model_repo, name, content)
    assert exit_code == code
    assert stderr.splitlines() == [message.format(path=path), hint]
    assert git_status(model_repo) == ""
    assert not (model_repo / ".mlops").exists()


def test_a_bad_spec_source_is_named_in_the_hint(cli: Any, model_repo: Path) -> None:
    (model_repo / "data" / "churn.csv").unlink()
    result = cli("data", "check", "churn", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Not found: no data file at data/churn.csv",
        "hint: check data.source in models/churn/model.yaml",
    ]


def test_an_unknown_model(cli: Any, model_repo: Path) -> None:
    result = cli("data", "check", "chrun", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Not found: no model 'chrun' in {model_repo / 'models'}",
        "hint: did you mean 'churn'?",
    ]


def test_bad_input_in_a_real_process_has_no_traceback(model_repo: Path) -> None:
    (model_repo / "data" / "churn.csv").write_bytes(b"")
    result = run_cli_process("data", "check", "churn", "-o", "json", cwd=model_repo)
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Unreadable data: data/churn.csv is empty (0 bytes)",
        "hint: write a header and data rows",
    ]
