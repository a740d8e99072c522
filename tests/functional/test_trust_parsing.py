"""Issue 11: every file of a model repository is untrusted input; each bad one ends in a clean error.

Alias bombs, deep nesting, values YAML cannot build, merge keys, 5,000-digit versions, bad records and
archive lists, requirement injection and links under registry/: each gives one line naming the file
(and line) with a documented exit code, never "Internal error", never a hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.spec.yamlpos import MAX_ALIAS_NODES, MAX_DEPTH
from tests.conftest import run_cli_process
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo
from tests.support.hostile_yaml import BOMB, HUGE

"""432 bytes of YAML that expand to 9**9 strings."""
BOMB_PROBLEM = f"alias expansion exceeds {MAX_ALIAS_NODES} nodes"


def append_and_commit(root: Path, relative: str, text: str) -> int:
    """Append ``text`` to a file, commit it, and return the line the appended text starts on."""
    path = root / relative
    before = path.read_text() if path.exists() else ""
    path.write_text(before + text)
    git(root, "add", relative)
    git(root, "commit", "-q", "-m", f"Change {relative}")
    return before.count("\n") + 1


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """The real mlopsctl in a subprocess; the timeout only stops a hang from blocking the suite."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlopsctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return proc


# --------------------------------------------------------------------------- alias bombs and nesting


@pytest.mark.parametrize("relative", ["models/churn/model.yaml", "environments/staging.yaml", "mlops.yaml"])
def test_alias_bomb_is_a_problem_at_file_line_in_validate(model_repo: Path, relative: str) -> None:
    start = append_and_commit(model_repo, relative, BOMB)
    result = run_cli_process("validate", "--repo", str(model_repo))
    assert result.code == 1, result.stderr
    assert f"{relative}:{start}:50: e: {BOMB_PROBLEM}" in result.stdout
    assert "Internal error" not in result.stdout + result.stderr


@pytest.mark.parametrize("relative", ["environments/staging.yaml", "mlops.yaml"])
def test_alias_bomb_stops_plan_with_exit_1(model_repo: Path, relative: str) -> None:
    start = append_and_commit(model_repo, relative, BOMB)
    result = run(model_repo, "plan", "--env", "staging")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert f"{relative}:{start}:50: e: {BOMB_PROBLEM}" in result.stderr
    assert "Internal error" not in result.stderr


def test_nesting_5000_deep_is_a_problem_in_validate(model_repo: Path) -> None:
    start = append_and_commit(model_repo, "models/churn/model.yaml", "deep: " + "[" * 5000 + "]" * 5000 + "\n")
    result = run_cli_process("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert f"models/churn/model.yaml:{start}:70: (document): nesting deeper than {MAX_DEPTH} levels" in (result.stdout)


# --------------------------------------------------------------------------- values YAML cannot build, merge keys

CONSTRUCT_ERRORS = [
    ("2020-13-45", "cannot read '2020-13-45' as a timestamp: month must be in 1..12"),
    ("!!int abc", "cannot read 'abc' as an integer"),
    ("!!float abc", "cannot read 'abc' as a number"),
    ("!!timestamp nope", "cannot read 'nope' as a timestamp"),
    ("!secret x", "unsupported tag '!secret' on 'x'"),
    ("!!python/name:os.system ''", "unsupported tag '!!python/name:os.system' on ''"),
]


@pytest.mark.parametrize(("value", "message"), CONSTRUCT_ERRORS, ids=[v for v, _ in CONSTRUCT_ERRORS])
def test_values_that_cannot_be_built_are_problems_in_validate(
    cli: Any, model_repo: Path, value: str, message: str
) -> None:
    spec = model_repo / "models/churn/model.yaml"
    original = "description: Predicts which customers will cancel their subscription.\n"
    line = spec.read_text().splitlines(keepends=True).index(original) + 1
    spec.write_text(spec.read_text().replace(original, f"description: {value}\n"))
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert f"models/churn/model.yaml:{line}:14: description: {message}" in result.stdout
    assert "Internal error" not in result.stdout + result.stderr


def test_merge_keys_are_read_with_yaml_1_1_semantics(cli: Any, model_repo: Path) -> None:
    settings = model_repo / "mlops.yaml"
    merged = "git:\n  <<: [{remote: origin, provider: auto}, {remote: upstream, main_branch: 5}]\n  main_branch: main\n"
    text = settings.read_text()
    start = text.index("git:\n")
    settings.write_text(text[:start] + merged)
    result = cli("validate", "--repo", str(model_repo))
    assert (result.code, result.stderr) == (0, "")
    settings.write_text(text[:start] + "git:\n  <<: {remote: origin, provder: auto}\n")
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert "git.provder: unknown key 'provder'; did you mean 'provider'?" in result.stdout


# --------------------------------------------------------------------------- MLOPS_* and --set

HOSTILE_VALUES = [
    ("!!int abc", "cannot read 'abc' as an integer"),
    ("2020-13-45", "cannot read '2020-13-45' as a timestamp: month must be in 1..12"),
    ("!!python/name:os.system", "unsupported tag '!!python/name:os.system' on ''"),
    ("[" * 5000 + "]" * 5000, f"nesting deeper than {MAX_DEPTH} levels"),
    (BOMB.replace("\n", ", ").join("{}"), BOMB_PROBLEM),
]
HOSTILE_IDS = ["int", "date", "python-tag", "deep", "bomb"]


@pytest.mark.parametrize(("value", "message"), HOSTILE_VALUES, ids=HOSTILE_IDS)
def test_mlops_variables_with_hostile_values_are_problems_naming_the_variable(
    cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("MLOPS_DEFAULT_TARGET", value)
    validate = cli("validate", "--repo", str(model_repo))
    expected = f"default_target: the environment variable MLOPS_DEFAULT_TARGET is not a usable value: {message}"
    assert validate.code == 1
    assert f"mlops.yaml:13:17: {expected}" in validate.stdout
    plan = cli("plan", "--env", "staging", "--repo", str(model_repo))
    assert plan.code == 2
    assert plan.stderr.splitlines() == [
        f"error: Invalid environment variable: {model_repo}/mlops.yaml:13:17: {expected}",
        "hint: correct or unset that environment variable",
    ]


@pytest.mark.parametrize(("value", "message"), HOSTILE_VALUES, ids=HOSTILE_IDS)
def test_set_with_hostile_values_is_a_usage_error(cli: Any, model_repo: Path, value: str, message: str) -> None:
    result = cli("train", "churn", "--set", f"training.params.max_depth={value}", "--repo", str(model_repo))
    assert result.code == 2
    shown = f"training.params.max_depth={value}"
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    assert result.stderr.splitlines() == [
        f"error: Invalid --set: {shown}: the value cannot be used: {message}",
        "hint: write a plain YAML value, e.g. --set training.params.max_depth=5 or --set training.params.max_depth=null",
    ]


def test_set_with_a_5000_digit_index_is_a_usage_error(cli: Any, model_repo: Path) -> None:
    result = cli("train", "churn", "--set", f"features.{HUGE}.name=x", "--repo", str(model_repo))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: Invalid --set: features.{'9' * 68}...: index 999999999999... is out of range (at most 6 digits)"
    ]


# --------------------------------------------------------------------------- version numbers


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


@pytest.mark.parametrize("version", [HUGE, "-1", "one", "1000000000"])
def test_bad_version_references_are_usage_errors(cli: Any, repo: GitopsRepo, version: str) -> None:
    shown = f"churn@{version}" if len(version) < 70 else f"churn@{'9' * 71}..."
    for command in (("registry", "show"), ("promote",)):
        extra = ("--env", "staging", "--direct") if command == ("promote",) else ()
        result = cli(*command, f"churn@{version}", *extra, "--repo", str(repo.root))
        assert result.code == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"error: Usage error: '{shown}' is not a model version reference",
            "hint: write MODEL@VERSION, e.g. churn@3, churn@v3 or churn@latest",
        ]


def test_a_bad_version_trailer_does_not_break_history(cli: Any, repo: GitopsRepo) -> None:
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(repo.root)).code == 0
    message = f"Promote churn@{HUGE[:9]}\n\nAction: promote\nModel: churn\nVersion: {HUGE}\nEnv: staging\n"
    git(repo.root, "commit", "-q", "--allow-empty", "-m", message)
    assert cli("promote", "churn@2", "--env", "staging", "--direct", "--repo", str(repo.root)).code == 0
    result = cli("history", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    entries = json.loads(result.stdout)["entries"]
    assert [(e["model"], e["version"], e["note"]) for e in entries] == [
        ("churn", 2, None),
        ("churn", None, "unreadable Version: trailer '99999999999999999999...'"),
        ("churn", 1, None),
    ]
    table = cli("history", "--repo", str(repo.root))
    assert table.code == 0 and "Internal error" not in table.stderr


# --------------------------------------------------------------------------- records and archive lists


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "version",
            "one",
            "version: Input should be a valid integer, unable to parse string as an integer (got 'one')",
        ),
        (
            "gates_passed",
            "maybe",
            "gates_passed: Input should be a valid boolean, unable to interpret input (got 'maybe')",
        ),
        (
            "version",
            HUGE,
            "version: cannot read '9999999999999999999999999999999999999999...' as an integer: "
            "more digits than a number may have",
        ),
    ],
)
def test_a_bad_record_is_an_error_naming_the_file_and_field(
    cli: Any, repo: GitopsRepo, field: str, value: str, message: str
) -> None:
    path = repo.root / "registry/churn/v1.yaml"
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith(f"{field}:"))
    lines[line - 1] = f"{field}: {value}"
    path.write_text("\n".join(lines) + "\n")
    result = cli("registry", "show", "churn@1", "--repo", str(repo.root))
    assert result.code == 1
    column = len(field) + 3
    assert result.stderr.splitlines() == [
        f"error: Invalid record: registry record {path}:{line}:{column}: {message}",
        f"hint: records are written by mlopsctl and never edited; restore it with: git checkout -- {path}",
    ]


def test_an_archive_list_that_is_not_a_list_is_an_error_naming_it(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / "registry/churn/archived.yaml"
    path.write_text("archived: 5\n")
    result = cli("registry", "show", "churn@1", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Invalid archive list: archive list {path}:1:11: archived: expected a list of entries such as - "
        "version: 3",
        f"hint: archived.yaml is written by mlopsctl archive; restore it with: git checkout -- {path}",
    ]
    path.write_text(f"archived:\n- version: {HUGE}\n")
    result = cli("registry", "show", "churn@1", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: Invalid archive list: archive list {path}:2:12: archived[0].version: cannot read "
        "'9999999999999999999999999999999999999999...' as an integer: more digits than a number may have"
    )


def test_requirement_injection_in_a_record_is_refused_before_pip(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / "registry/churn/v1.yaml"
    record = yaml.safe_load(path.read_text())
    record["environment"] = {"packages": {"scikit-learn": "2.4.6\n--index-url http://127.0.0.1:9/simple"}}
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    result = cli("build", "churn@1", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: Invalid record: registry record {path}:39:19: environment.packages.scikit-learn: package "
        "scikit-learn: '2.4.6\\n--index-url http://127.0.0.1:9/sim...' is not a valid version (PEP 440)"
    )


def test_requirement_lines_are_checked_where_pip_reads_them(tmp_path: Path) -> None:
    from mlopsctl.build.pins import Pin, TargetPython
    from mlopsctl.build.wheelhouse import WheelhouseError, prepare_wheelhouse

    hostile = Pin("numpy", "1.0\n--index-url http://127.0.0.1:9/simple", "record")
    with pytest.raises(WheelhouseError) as caught:
        prepare_wheelhouse([hostile], TargetPython(), tmp_path / "cache")
    assert caught.value.message == (
        "refused to pass 'numpy==1.0\\n--index-url http://127.0.0.1:9/simple' to pip: package numpy: "
        "'1.0\\n--index-url http://127.0.0.1:9/simpl...' is not a valid version (PEP 440)"
    )
    assert not (tmp_path / "cache" / "wheels").exists()


# --------------------------------------------------------------------------- links and unwritable targets


def test_train_refuses_a_registry_folder_that_is_a_link(cli: Any, model_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (model_repo / "registry" / "churn").symlink_to(outside)
    result = cli("train", "churn", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Symbolic link refused: registry/churn is a symbolic link (to {outside}); mlopsctl never reads or "
        "writes the registry through a link",
        "hint: replace the link with a real folder or file: git rm registry/churn",
    ]
    assert list(outside.iterdir()) == []


def test_a_record_that_is_a_link_is_refused(cli: Any, repo: GitopsRepo, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.yaml"
    record = repo.root / "registry/churn/v1.yaml"
    target.write_text(record.read_text())
    record.unlink()
    record.symlink_to(target)
    for args in (("registry", "show", "churn@1"), ("registry", "list", "churn")):
        result = cli(*args, "--repo", str(repo.root))
        assert result.code == 1
        assert result.stderr.splitlines()[0] == (
            f"error: Symbolic link refused: registry/churn/v1.yaml is a symbolic link (to {target}); mlopsctl never "
            "reads or writes the registry through a link"
        )


@pytest.mark.parametrize("target", ["/dev/null/x", "/proc/mlopsctl-x"])
def test_init_into_an_unwritable_target_is_one_line(cli: Any, target: str) -> None:
    result = cli("init", target)
    assert result.code == 2
    reason = "Not a directory" if target.startswith("/dev/null") else "No such file or directory"
    assert result.stderr.splitlines() == [
        f"error: Usage error: cannot create {target}: {reason}",
        "hint: choose a folder you can write to, e.g. ./my-models",
    ]
