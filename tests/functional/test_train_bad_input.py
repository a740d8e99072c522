"""Bad input to ``mlopsctl train``: each gets one clear message and exit 1 or 2, and nothing is registered.

Data problems end the tracked run as FAILED (the run row is the only thing written); command-line
problems (``--set``) stop before a run is even opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlopsctl.spec.loader import open_repo
from mlopsctl.tracking.store import RunStore
from tests.support.train_repo import cancer_frame, commit_all, git, records, sk_repo

__all__ = ["sk_repo"]

DATA_HINT = "hint: fix the data or the spec's quality expectations; the full report: mlopsctl data check cancer\n"


def train(cli: Any, root: Path, *args: str) -> Any:
    return cli("--repo", str(root), "train", "cancer", *args)


def assert_nothing_registered(root: Path, head: str) -> None:
    assert records(root, "cancer") == []
    assert git(root, "rev-parse", "HEAD") == head
    assert git(root, "status", "--porcelain", "--", "registry", "models") == ""


def only_run(root: Path) -> Any:
    with RunStore(open_repo(root).metadata_db) as store:
        (run,) = store.list_runs("cancer")
    return run


def write_csv(root: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(root / "data" / "cancer.csv", index=False)


def _missing_target(root: Path) -> None:
    write_csv(root, cancer_frame().drop(columns=["benign"]))


def _wrong_type(root: Path) -> None:
    frame = cancer_frame().astype({"mean_radius": object})
    frame.loc[3, "mean_radius"] = "big"
    write_csv(root, frame)


def _empty(root: Path) -> None:
    (root / "data" / "cancer.csv").write_bytes(b"")


def _not_utf8(root: Path) -> None:
    path = root / "data" / "cancer.csv"
    path.write_bytes(path.read_bytes().replace(b"mean_texture", b"mean_t\xe9xture", 1))


def _one_class(root: Path) -> None:
    frame = cancer_frame()
    frame["benign"] = 1
    write_csv(root, frame)


DATA_CASES = {
    "missing target column": (
        _missing_target,
        "error: Data check failed: 1 of 15 data checks failed on data/cancer.csv:\n"
        "  completeness/required [benign]: column missing from the file; expected column present (the target)\n"
        + DATA_HINT,
    ),
    "wrong type": (
        _wrong_type,
        "error: Data check failed: 1 of 19 data checks failed on data/cancer.csv:\n"
        "  consistency/type [mean_radius]: 1 value not float, e.g. 'big' at row 4; expected float\n" + DATA_HINT,
    ),
    "empty file": (
        _empty,
        "error: Unreadable data: data/cancer.csv is empty (0 bytes)\nhint: write a header and data rows\n",
    ),
    "not UTF-8": (
        _not_utf8,
        "error: Unreadable data: data/cancer.csv is not UTF-8: byte 0xe9 at offset 18 (line 1, column 19)\n"
        "hint: save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT\n",
    ),
    "one class": (
        _one_class,
        "error: Data check failed: 1 of 19 data checks failed on data/cancer.csv:\n"
        "  consistency/target [benign]: one class: 1 (569 rows); expected at least 2 classes\n" + DATA_HINT,
    ),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_fails_the_run_and_registers_nothing(cli: Any, sk_repo: Path, case: str) -> None:
    damage, expected = DATA_CASES[case]
    head = git(sk_repo, "rev-parse", "HEAD")
    damage(sk_repo)
    result = train(cli, sk_repo)
    assert result.code == 1
    assert result.stderr == expected
    assert result.stdout == ""
    assert_nothing_registered(sk_repo, head)
    run = only_run(sk_repo)
    assert run.status == "FAILED"
    assert run.error == "\n".join(expected.splitlines()[:-1]).removeprefix("error: ")  # the message, less the hint
    assert run.version is None


def test_parameter_rejected_at_fit_time_fails_the_run(cli: Any, sk_repo: Path) -> None:
    head = git(sk_repo, "rev-parse", "HEAD")
    result = train(cli, sk_repo, "--set", "training.params.bootstrap=false", "--set", "training.params.max_samples=0.5")
    assert result.code == 1
    assert result.stderr == (
        "error: Training failed: RandomForestClassifier could not be fitted: `max_sample` cannot be set if "
        "`bootstrap=False`. Either switch to `bootstrap=True` or set `max_sample=None`.\n"
        "hint: check training.params and training.grid in models/cancer/model.yaml\n"
    )
    assert_nothing_registered(sk_repo, head)
    assert only_run(sk_repo).status == "FAILED"


SET_CASES = {
    ("training.params.max_depth=-3",): (
        "training.params.max_depth=-3: The 'max_depth' parameter of RandomForestClassifier must be an int in the "
        "range [1, inf) or None. Got -3 instead.\nhint: fix the value and run again"
    ),
    ("training.params.max_dept=3",): (
        "training.params.max_dept=3: RandomForestClassifier has no parameter 'max_dept'; did you mean 'max_depth'?\n"
        "hint: fix the value and run again"
    ),
    (
        "training.parms.max_depth=3",
    ): "training.parms.max_depth=3: unknown key 'parms' in training; did you mean 'params'?",
    ("trainng.params.max_depth=3",): (
        "trainng.params.max_depth=3: unknown key 'trainng' in the model spec; did you mean 'training'?"
    ),
    ("training.split.test_size=2",): (
        "training.split.test_size=2: Input should be less than 1\n"
        "hint: the value must fit the model schema (mlopsctl schema model)"
    ),
    ("training.params.max_depth",): (
        "training.params.max_depth: expected PATH=VALUE\nhint: for example: --set training.params.max_depth=5"
    ),
    ("training.params.max_depth=[1",): (
        "training.params.max_depth=[1: the value is not valid YAML: expected ',' or ']', but got '<stream end>'"
    ),
    (
        "features.x.kind=numeric",
    ): "features.x.kind=numeric: features is a list; index it with a number, e.g. features.0",
    ("features.9.kind=numeric",): "features.9.kind=numeric: index 9 is out of range (the list has 6 items)",
    ("training.task.kind=x",): "training.task.kind=x: training.task is a single value and has no key 'kind'",
    ("features.0.scale=huge",): (
        "features.0.scale=huge: Input should be 'standard', 'minmax', 'robust' or 'none'\n"
        "hint: the value must fit the model schema (mlopsctl schema model)"
    ),
}


@pytest.mark.parametrize("overrides", list(SET_CASES))
def test_bad_set_is_a_usage_error_naming_it(cli: Any, sk_repo: Path, overrides: tuple[str, ...]) -> None:
    head = git(sk_repo, "rev-parse", "HEAD")
    args = [part for text in overrides for part in ("--set", text)]
    result = train(cli, sk_repo, *args)
    assert result.code == 2
    assert result.stderr == f"error: Invalid --set: {SET_CASES[overrides]}\n"
    assert_nothing_registered(sk_repo, head)
    assert not open_repo(sk_repo).metadata_db.exists()  # no run was opened


def test_bad_grid_value_from_set_is_named(cli: Any, sk_repo: Path) -> None:
    result = train(cli, sk_repo, "--grid", "--set", "training.grid.max_depth=[0, 2]")
    assert result.code == 2
    assert result.stderr == (
        "error: Invalid --set: training.grid.max_depth=[0, 2]: candidate max_depth=0 min_samples_leaf=1: "
        "The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or None. "
        "Got 0 instead.\nhint: fix the value and run again\n"
    )


def test_bad_parameter_in_the_spec_file_is_located(cli: Any, sk_repo: Path) -> None:
    spec = sk_repo / "models" / "cancer" / "model.yaml"
    spec.write_text(spec.read_text().replace("max_depth: 4", "max_depth: -4"))
    commit_all(sk_repo, "break it")
    head = git(sk_repo, "rev-parse", "HEAD")
    result = train(cli, sk_repo)
    assert result.code == 1
    assert result.stderr == (
        "error: Invalid spec: models/cancer/model.yaml:34:16: training.params.max_depth: The 'max_depth' parameter "
        "of RandomForestClassifier must be an int in the range [1, inf) or None. Got -4 instead.\n"
        "hint: fix models/cancer/model.yaml; 'mlopsctl validate' shows every problem\n"
    )
    assert_nothing_registered(sk_repo, head)


def test_grid_without_a_grid_is_a_usage_error(cli: Any, sk_repo: Path) -> None:
    result = train(cli, sk_repo, "--grid", "--set", "training.grid=null")
    assert result.code == 2
    assert result.stderr == (
        "error: Usage error: --grid needs a hyperparameter grid, and models/cancer/model.yaml has no training.grid\n"
        "hint: add training.grid (each parameter to a list of values), or train without --grid\n"
    )


def test_unknown_model_is_named(cli: Any, sk_repo: Path) -> None:
    result = cli("--repo", str(sk_repo), "train", "cancr")
    assert result.code == 1
    assert (
        result.stderr == f"error: Not found: no model 'cancr' in {sk_repo / 'models'}\nhint: did you mean 'cancer'?\n"
    )
