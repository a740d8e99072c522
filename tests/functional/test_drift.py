"""``mlopsctl drift``: offline on CSV and Parquet files, and live from a contract-shaped service."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlopsctl.contract.binning import numeric_reference
from mlopsctl.monitor import stats
from tests.support.status_repo import (
    ContractExporter,
    make_reference,
    send_traffic,
    serving,
    set_environment,
    set_monitoring,
    shifted,
    training_data,
    write_record,
)


@pytest.fixture
def files(model_repo: Path) -> tuple[Path, Path, Path]:
    """The training data as reference (CSV), a resample of it (CSV), and a shifted resample (Parquet)."""
    data = training_data(model_repo)
    same = data.sample(n=2000, replace=True, random_state=3)
    same.to_csv(model_repo / "same.csv", index=False)
    shifted(same, "age", 40).to_parquet(model_repo / "shifted.parquet")
    return model_repo / "data" / "churn.csv", model_repo / "same.csv", model_repo / "shifted.parquet"


def drift(cli: Any, root: Path, *args: str) -> Any:
    return cli("drift", "churn", "--repo", str(root), *args)


def test_offline_same_distribution_is_ok(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    reference, same, _ = files
    result = drift(cli, model_repo, "--reference", str(reference), "--current", str(same), "-o", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["state"] == "OK"
    assert payload["bins_from"] == "10 bins from the reference data"
    assert [f["feature"] for f in payload["features"]] == [
        "tenure_months",
        "monthly_charges",
        "support_calls",
        "age",
        "contract",
        "payment_method",
    ]
    assert all(f["psi"] < 0.1 for f in payload["features"])


def test_offline_shift_is_crit_for_that_feature(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    reference, _, shifted_file = files
    result = drift(cli, model_repo, "--reference", str(reference), "--current", str(shifted_file))
    assert result.code == 1, result.stderr
    verdicts = [line for line in result.stdout.splitlines() if line.startswith(("CRIT", "WARN"))]
    assert len(verdicts) == 1
    assert re.fullmatch(r"CRIT feature `age` PSI \d+\.\d\d > 0\.25 on 2,000 current rows", verdicts[0])


def test_offline_psi_is_the_python_formula_on_the_same_bins(
    cli: Any, model_repo: Path, files: tuple[Path, Path, Path]
) -> None:
    reference, _, shifted_file = files
    result = drift(cli, model_repo, "--reference", str(reference), "--current", str(shifted_file), "-o", "json")
    age = next(f for f in json.loads(result.stdout)["features"] if f["feature"] == "age")
    ref = pd.read_csv(reference)["age"].to_numpy(dtype=float)
    cur = pd.read_parquet(shifted_file)["age"].to_numpy(dtype=float)
    edges = numeric_reference(pd.Series(ref), 10).edges
    ref_counts = np.bincount(np.searchsorted(edges, ref), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur), minlength=len(edges) + 1)
    assert age["psi"] == pytest.approx(stats.psi(ref_counts / ref_counts.sum(), cur_counts), abs=1e-12)
    assert age["ks_statistic"] == pytest.approx(float(__import__("scipy").stats.ks_2samp(ref, cur).statistic))


def test_offline_with_version_uses_its_bins(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    reference, same, _ = files
    coarse = make_reference(training_data(model_repo), bins=4)
    write_record(model_repo, "churn", 1, coarse)
    args = ("--reference", str(reference), "--current", str(same), "--version", "1", "-o", "json")
    payload = json.loads(drift(cli, model_repo, *args).stdout)
    assert payload["bins_from"] == "the version's bins"
    age = next(f for f in payload["features"] if f["feature"] == "age")
    assert age["bins"] == len(coarse.features["age"].edges) + 1 == 4


def test_offline_below_min_observations(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    reference, _, shifted_file = files
    small = model_repo / "small.csv"
    pd.read_parquet(shifted_file).head(100).to_csv(small, index=False)
    result = drift(cli, model_repo, "--reference", str(reference), "--current", str(small), "-o", "json")
    assert result.code == 0
    age = next(f for f in json.loads(result.stdout)["features"] if f["feature"] == "age")
    assert age["state"] == "UNKNOWN"
    assert age["reason"] == "feature `age`: not enough data (100 < 500) on 100 current rows"


def test_offline_needs_both_files(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    result = drift(cli, model_repo, "--reference", str(files[0]))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: Usage error: offline drift needs both --reference and --current",
        "hint: pass both data files",
    ]


def test_offline_missing_column(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    broken = model_repo / "broken.csv"
    pd.read_csv(files[1]).drop(columns=["age"]).to_csv(broken, index=False)
    result = drift(cli, model_repo, "--reference", str(files[0]), "--current", str(broken))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == f"error: Missing columns: {broken} has no column 'age'"


def test_offline_missing_file(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    result = drift(cli, model_repo, "--reference", str(files[0]), "--current", str(model_repo / "nope.parquet"))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Not found: no data file {model_repo / 'nope.parquet'}",
        "hint: pass an existing CSV or Parquet file",
    ]


def test_offline_unknown_model(cli: Any, model_repo: Path, files: tuple[Path, Path, Path]) -> None:
    result = cli("drift", "chrun", "--repo", str(model_repo), "--reference", str(files[0]), "--current", str(files[1]))
    assert result.code == 1
    assert result.stderr.splitlines()[1] == "hint: did you mean 'churn'?"


def test_live_drift_table(cli: Any, model_repo: Path) -> None:
    data = training_data(model_repo)
    reference = make_reference(data)
    write_record(model_repo, "churn", 1, reference)
    set_monitoring(model_repo, window="10m", min_observations=300)
    exporter = ContractExporter("churn", {(1, "stable"): reference})
    send_traffic(exporter, data.assign(contract="two-year"), 600)
    with serving(exporter) as port:
        set_environment(model_repo, "staging", {"churn": {"version": 1, "port": port}})
        result = drift(cli, model_repo, "--env", "staging", "-o", "json")
        table = drift(cli, model_repo, "--env", "staging")
    assert result.code == 1
    (deployment,) = json.loads(result.stdout)["deployments"]
    states = {f["feature"]: f["state"] for f in deployment["features"]}
    assert states == {
        "tenure_months": "OK",
        "monthly_charges": "OK",
        "support_calls": "OK",
        "age": "OK",
        "contract": "CRIT",
        "payment_method": "OK",
        "prediction": "OK",
    }
    contract = next(f for f in deployment["features"] if f["feature"] == "contract")
    shares = reference.features["contract"].shares
    counts = [600.0 if c == "two-year" else 0.0 for c in [*reference.features["contract"].categories, "__other__"]]
    assert contract["psi"] == pytest.approx(stats.psi(shares, counts), abs=1e-12)
    assert "staging/churn@1 (stable) over 10m" in table.stdout


def test_live_drift_of_a_model_not_deployed(cli: Any, model_repo: Path) -> None:
    result = drift(cli, model_repo, "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Not found: churn is not deployed in environment 'staging'",
        "hint: offline: pass --reference and --current",
    ]
