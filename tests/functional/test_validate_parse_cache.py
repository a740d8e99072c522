"""`mlopsctl validate` keeps each file's located parse in .git/mlopsctl/yaml-parse and says the same from it.

Issue 13 item 15: validate on 500 models under 1 s needs the parse of unchanged files kept; a kept
parse must report the same problems at the same file:line:column as a fresh one.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli_process
from tests.support.parse_cache import entries


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_validate_twice_reads_the_second_time_from_the_cache_and_says_the_same(model_repo: Path) -> None:
    first = run_cli_process("validate", cwd=model_repo)
    assert (first.code, first.stdout.strip()) == (0, "ok: 1 model, 2 environments, no problems"), first.stderr
    kept = entries(model_repo)
    assert len(kept) == 4  # mlops.yaml, the model spec, two environment files
    second = run_cli_process("validate", cwd=model_repo)
    assert (second.code, second.stdout, second.stderr) == (first.code, first.stdout, first.stderr)
    assert entries(model_repo) == kept


def test_problems_read_from_the_cache_keep_their_line_and_column(model_repo: Path) -> None:
    model = model_repo / "models/churn/model.yaml"
    _edit(model, "n_estimators: 100", "n_estimator: 100")
    _edit(model, "window: 1h", "window: 1 hour")
    _edit(model_repo / "environments/staging.yaml", "deployments: {}", "deployments:\n  sales: {version: 1}")
    expected = [
        "environments/staging.yaml:10:3: deployments.sales: no model 'sales' in models/",
        "models/churn/model.yaml:61:18: training.params.n_estimator: RandomForestClassifier has no parameter "
        "'n_estimator'; did you mean 'n_estimators'?",
        "models/churn/model.yaml:86:11: monitoring.window: must be a duration such as 90s, 15m, 1h, 30d or 2w "
        "(got '1 hour')",
        "",
        f"3 problems in {model_repo}",
    ]
    for _ in range(2):  # parsed, then kept
        result = run_cli_process("validate", cwd=model_repo)
        assert result.code == 1, result.stderr
        assert result.stdout.strip().splitlines() == expected
    assert len(entries(model_repo)) == 4
