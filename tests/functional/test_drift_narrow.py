"""``mlopsctl drift`` on an 80-column terminal, and ``--min-observations`` (issue 13, item 9).

Through the real ``mlopsctl`` entry point in a subprocess with ``COLUMNS=80``: feature names wrap
instead of being cut, the state column is whole, less useful columns give way (and are named), and
a verdict that is UNKNOWN for lack of data says so and how to judge anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli_process
from tests.support.status_repo import shifted, training_data

LONG_NAME = "monthly_charges_in_euros_including_taxes"
NARROW = {"COLUMNS": "80"}


@pytest.fixture
def small(model_repo: Path) -> Path:
    """269 rows like the issue's file: age shifted by 40 years (PSI far past 0.25)."""
    rows = shifted(training_data(model_repo).sample(n=269, random_state=1), "age", 40)
    path = model_repo / "small.csv"
    rows.to_csv(path, index=False)
    return path


def drift(root: Path, current: Path, *args: str, env: dict[str, str] | None = None) -> object:
    reference = root / "data" / "churn.csv"
    return run_cli_process(
        "drift", "churn", "--repo", str(root), "--reference", str(reference), "--current", str(current), *args, env=env
    )


def table_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("│", "┃"))]


def test_unknown_states_are_whole_and_say_why_at_80_columns(model_repo: Path, small: Path) -> None:
    result = drift(model_repo, small, env=NARROW)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines if line.startswith(("│", "┃", "┏", "└"))) <= 80
    rows = table_lines(result.stdout)
    assert [row.split("│")[-2].strip() for row in rows[1:]] == ["UNKNOWN"] * 6
    assert "…" not in result.stdout
    assert "not shown at this width: bins, KS, chi² p (-o json has every column)" in lines
    assert "UNKNOWN feature `age`: not enough data (269 < 500) on 269 current rows" in lines
    assert lines[-1] == (
        "UNKNOWN: fewer observations than monitoring.min_observations (500), so drift is not judged; "
        "to judge anyway, lower it for this run: --min-observations 266"
    )


def test_min_observations_judges_the_small_file(model_repo: Path, small: Path) -> None:
    result = drift(model_repo, small, "--min-observations", "200", "-o", "json")
    assert result.code == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["min_observations"] == 200
    states = {f["feature"]: f["state"] for f in payload["features"]}
    assert states["age"] == "CRIT"
    age = next(f for f in payload["features"] if f["feature"] == "age")
    assert age["reason"].startswith("feature `age` PSI ")
    assert age["reason"].endswith(" > 0.25 on 269 current rows")
    assert age["observations"] == 269
    assert "UNKNOWN" not in states.values()


def test_min_observations_must_be_positive(model_repo: Path, small: Path) -> None:
    result = drift(model_repo, small, "--min-observations", "0")
    assert result.code == 2
    assert "Invalid value for '--min-observations': 0 is not in the range x>=1." in result.stderr


def test_long_feature_names_wrap_instead_of_being_cut(model_repo: Path, small: Path) -> None:
    spec = model_repo / "models" / "churn" / "model.yaml"
    spec.write_text(spec.read_text().replace("monthly_charges", LONG_NAME))
    for path in (model_repo / "data" / "churn.csv", small):
        pd.read_csv(path).rename(columns={"monthly_charges": LONG_NAME}).to_csv(path, index=False)
    result = drift(model_repo, small, env=NARROW)
    assert result.code == 0, result.stderr
    first_cells = "".join(row.split("│")[1].strip() for row in table_lines(result.stdout)[1:])
    assert LONG_NAME in first_cells
    assert "…" not in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines() if line.startswith(("│", "┃")))
