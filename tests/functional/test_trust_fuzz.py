"""Issue 11 fuzzing: whatever YAML a commit holds and whatever a command line says, mlopsctl ends
with a documented exit code (0, 1, 2 or 3) and never an "Internal error".

The CLI runs in-process (``mlopsctl.cli.main.run``) on one repository per test; each example
rewrites one file, so inputs stay small and every example is quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
EXIT_CODES = {0, 1, 2, 3}
SCALARS = [
    "2020-13-45",
    "!!int abc",
    "!!float abc",
    "!!timestamp nope",
    "!unknown x",
    "!!python/name:os.system ''",
    "9" * 5000,
    "-1",
    "one",
    "maybe",
    "~",
    "''",
    "[]",
    "{}",
    "*undefined",
    "&a x",
    "<<: 5",
    "!!binary '%%'",
    "1e999",
    ".nan",
    "0x1F",
    "1:20:30",
    "yes",
    "'\\n--index-url http://127.0.0.1:9'",
]
KEYS = ["version", "gates_passed", "model", "deployments", "archived", "environment", "packages", "<<", "name", "x"]


@st.composite
def yaml_text(draw: st.DrawFn) -> str:
    """A small YAML-ish document built from hostile scalars, keys, anchors, aliases and nesting."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        indent = "  " * draw(st.integers(0, 2))
        key = draw(st.sampled_from(KEYS))
        value = draw(st.sampled_from(SCALARS) | st.text(max_size=12))
        anchor = draw(st.sampled_from(["", "&a ", "*a", "&b [*a, *a] "]))
        lines.append(f"{indent}{key}: {anchor if anchor == '*a' else anchor + value}")
    depth = draw(st.integers(0, 120))
    lines.append("deep: " + "[" * depth + "]" * depth)
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


def check(result: Any) -> None:
    assert result.code in EXIT_CODES, result.stderr
    assert "Internal error" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@FUZZ
@given(text=yaml_text())
def test_any_spec_or_environment_file(cli: Any, repo: GitopsRepo, text: str) -> None:
    for relative in ("models/churn/model.yaml", "environments/staging.yaml"):
        path = repo.root / relative
        original = path.read_text()
        path.write_text(original + text)
        try:
            check(cli("validate", "--repo", str(repo.root)))
        finally:
            path.write_text(original)


@FUZZ
@given(text=yaml_text())
def test_any_record_or_archive_list(cli: Any, repo: GitopsRepo, text: str) -> None:
    for relative in ("registry/churn/v1.yaml", "registry/churn/archived.yaml"):
        path = repo.root / relative
        original = path.read_text() if path.exists() else None
        path.write_text((original or "") + text)
        try:
            for args in (("registry", "show", "churn@1", "--no-verify"), ("registry", "list", "--all")):
                check(cli(*args, "--repo", str(repo.root)))
        finally:
            if original is None:
                path.unlink()
            else:
                path.write_text(original)


@FUZZ
@given(value=st.sampled_from(SCALARS) | st.text(max_size=30), index=st.sampled_from(["0", "9" * 40, "x", ""]))
def test_any_set_value(cli: Any, repo: GitopsRepo, value: str, index: str) -> None:
    (repo.root / "data" / "churn.csv").unlink(missing_ok=True)  # a value that passes stops at the data: no fitting
    for path in ("training.params.max_depth", f"features.{index}.name", "nope"):
        result = cli("train", "churn", "--set", f"{path}={value}", "--repo", str(repo.root))
        check(result)


@FUZZ
@given(
    version=st.sampled_from(["9" * 5000, "-1", "one", "0", "v1", "latest", "1" * 10]) | st.text(max_size=12),
    model=st.sampled_from(["churn", "Churn", "../etc", ""]) | st.text(max_size=8),
)
def test_any_reference_on_the_command_line(cli: Any, repo: GitopsRepo, version: str, model: str) -> None:
    ref = f"{model}@{version}"
    for args in (("registry", "show", ref, "--no-verify"), ("history", "--model", model), ("registry", "list", model)):
        check(cli(*args, "--repo", str(repo.root)))


TRAILER_VALUE = st.sampled_from(["9" * 5000, "-1", "one", "²", "1,2", "../../etc", "0", ""]) | st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12
)


@FUZZ
@given(version=TRAILER_VALUE, weight=TRAILER_VALUE, model=TRAILER_VALUE)
def test_any_trailer_in_someones_commit(cli: Any, repo: GitopsRepo, version: str, weight: str, model: str) -> None:
    message = (
        f"Promote\n\nAction: promote\nModel: {model or 'churn'}\nVersion: {version}\nWeight: {weight}\nEnv: staging\n"
    )
    git(repo.root, "commit", "-q", "--allow-empty", "-m", message)
    for args in (("history",), ("history", "-o", "json"), ("history", "--model", "churn")):
        check(cli(*args, "--repo", str(repo.root)))
