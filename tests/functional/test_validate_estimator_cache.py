"""`validate` checks estimators from a cached table instead of importing scikit-learn (issue 13 item 15).

The table is derived from the installed scikit-learn once and cached by its version in
``$XDG_CACHE_HOME/mlopsctl``. Every test runs the real entry point in a subprocess (an in-process
run would find scikit-learn already imported, and then asks it directly), cold and warm, and
asserts the same words and exit code either way; speed is bench/bench_cli.py's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each cold run derives the table: seconds

SKLEARN = metadata.version("scikit-learn")
BAD_NAME = (
    "models/churn/model.yaml:61:18: training.params.n_estimator: RandomForestClassifier has no parameter "
    "'n_estimator'; did you mean 'n_estimators'?"
)
BAD_VALUE = (
    "models/churn/model.yaml:62:16: training.params.max_depth: The 'max_depth' parameter of RandomForestClassifier "
    "must be an int in the range [1, inf) or None. Got -1 instead."
)
REPORT_SKLEARN = """
import atexit, sys
atexit.register(lambda: sys.stderr.write(f"sklearn imported: {'sklearn' in sys.modules}\\n"))
from mlopsctl.cli.main import main
sys.argv[0] = "mlopsctl"
main()
"""


def validate(repo: Path, cache: Path) -> tuple[int, str, str]:
    """``mlopsctl validate`` through the console script's code, with ``cache`` as XDG_CACHE_HOME."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", REPORT_SKLEARN, "validate"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def table_file(cache: Path, version: str = SKLEARN) -> Path:
    return cache / "mlopsctl" / f"sklearn-params-{version}.json"


def edit(repo: Path, old: str, new: str) -> None:
    spec = repo / "models" / "churn" / "model.yaml"
    spec.write_text(spec.read_text().replace(old, new, 1))


def test_a_clean_repository_validates_without_importing_scikit_learn(model_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = validate(model_repo, cache)
    assert cold[:2] == (0, "ok: 1 model, 2 environments, no problems\n")
    assert json.loads(table_file(cache).read_text())["sklearn_version"] == SKLEARN
    assert validate(model_repo, cache) == (0, cold[1], "sklearn imported: False\n")


def test_an_unknown_parameter_reads_the_same_cold_and_warm(model_repo: Path, tmp_path: Path) -> None:
    edit(model_repo, "n_estimators: 100", "n_estimator: 100")
    cache = tmp_path / "cache"
    cold = validate(model_repo, cache)
    warm = validate(model_repo, cache)
    expected = f"{BAD_NAME}\n\n1 problem in {model_repo}\n"
    assert cold[:2] == warm[:2] == (1, expected)
    assert warm[2] == "sklearn imported: False\n"


def test_a_value_scikit_learn_refuses_is_its_own_message_cold_and_warm(model_repo: Path, tmp_path: Path) -> None:
    edit(model_repo, "max_depth: 8", "max_depth: -1")
    cache = tmp_path / "cache"
    expected = (1, f"{BAD_VALUE}\n\n1 problem in {model_repo}\n")
    assert validate(model_repo, cache)[:2] == expected
    assert validate(model_repo, cache)[:2] == expected  # the table never vouches for it: scikit-learn says why


def test_a_table_for_another_scikit_learn_version_is_not_used(model_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert validate(model_repo, cache)[0] == 0
    table = json.loads(table_file(cache).read_text())
    forest = table["estimators"]["sklearn.ensemble.RandomForestClassifier"]
    forest["params"] = [*forest["params"], "n_estimator"]  # what an older version might have accepted
    table["sklearn_version"] = "0.0.1"
    table_file(cache, "0.0.1").write_text(json.dumps(table))
    table_file(cache).write_text(json.dumps(table))  # this version's name, another version's table inside
    edit(model_repo, "n_estimators: 100", "n_estimator: 100")
    assert validate(model_repo, cache)[:2] == (1, f"{BAD_NAME}\n\n1 problem in {model_repo}\n")
    assert json.loads(table_file(cache).read_text())["sklearn_version"] == SKLEARN  # rebuilt


def wrong_shape(text: str) -> str:
    """Valid JSON for this version, but the forest's entry no longer fits the table's schema."""
    table = json.loads(text)
    table["estimators"]["sklearn.ensemble.RandomForestClassifier"]["params"] = {"n_estimator": 1}
    return json.dumps(table)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # cut short by a full disk
        lambda text: "\x00\x01 not json",
        lambda text: wrong_shape(text),
    ],
    ids=["truncated", "garbage", "wrong-shape"],
)
def test_a_damaged_cache_file_is_rebuilt_not_trusted(
    model_repo: Path, tmp_path: Path, damage: Callable[[str], str]
) -> None:
    cache = tmp_path / "cache"
    assert validate(model_repo, cache)[0] == 0
    path = table_file(cache)
    path.write_text(damage(path.read_text()))
    edit(model_repo, "n_estimators: 100", "n_estimator: 100")
    assert validate(model_repo, cache)[:2] == (1, f"{BAD_NAME}\n\n1 problem in {model_repo}\n")
    rebuilt = json.loads(path.read_text())
    assert rebuilt["estimators"]["sklearn.ensemble.RandomForestClassifier"]["params"][0] == "n_estimators"
    assert validate(model_repo, cache)[2] == "sklearn imported: False\n"
