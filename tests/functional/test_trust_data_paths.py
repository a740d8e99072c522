"""Issue 11: ``data.source`` is read only from inside the repository, unless the user opts in.

A hostile spec points ``data.source`` at ``/etc/passwd``, at ``../../outside.csv``, or at a file
inside the repository that is a symbolic link out of it. ``validate``, ``data check`` and ``train``
refuse, naming the spec file, line and field, and never show the file's content. The user (never
the repository) opts in through MLOPS_DATA_ALLOW_OUTSIDE_REPO=1 or the user config file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.scaffold.init import init_repo

OPT_IN = (
    "set 'data: {allow_outside_repo: true}' in ~/.config/mlopsctl/config.yaml, or MLOPS_DATA_ALLOW_OUTSIDE_REPO=1, "
    "to allow it"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository two folders below ``tmp_path``, so ``../../outside.csv`` is ``tmp_path/outside.csv``."""
    return init_repo(tmp_path / "work" / "repo", "demo").root


def point_source(repo: Path, source: str) -> None:
    spec = repo / "models" / "churn" / "model.yaml"
    spec.write_text(spec.read_text().replace("source: data/churn.csv", f"source: {source}"))


def never_echoes_passwd(result: Any) -> None:
    assert "root:" not in result.stdout + result.stderr


@pytest.mark.parametrize("source", ["/etc/passwd", "../../outside.csv", "file:///etc/passwd"])
def test_validate_reports_a_source_outside_the_repository(cli: Any, repo: Path, tmp_path: Path, source: str) -> None:
    shutil.copy(repo / "data" / "churn.csv", tmp_path / "outside.csv")
    point_source(repo, source)
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert (
        f"models/churn/model.yaml:12:11: data.source: '{source}' is outside the repository; data is read only from "
        f"inside it: {OPT_IN}"
    ) in result.stdout.splitlines()
    never_echoes_passwd(result)


@pytest.mark.parametrize("command", [("data", "check", "churn"), ("train", "churn")])
@pytest.mark.parametrize("source", ["/etc/passwd", "../../outside.csv"])
def test_data_check_and_train_refuse_a_source_outside_the_repository(
    cli: Any, repo: Path, tmp_path: Path, command: tuple[str, ...], source: str
) -> None:
    shutil.copy(repo / "data" / "churn.csv", tmp_path / "outside.csv")
    point_source(repo, source)
    result = cli(*command, "--repo", str(repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Invalid specs: the repository's specs have problems:",
        f"{repo}/models/churn/model.yaml:12:11: data.source: '{source}' is outside the repository; data is read "
        f"only from inside it: {OPT_IN}",
        "hint: run 'mlopsctl validate' for the full report",
    ]
    never_echoes_passwd(result)


@pytest.mark.parametrize("command", [("data", "check", "churn"), ("train", "churn")])
@pytest.mark.parametrize("target", ["/etc/passwd", "outside.csv"])
def test_a_symbolic_link_out_of_the_repository_is_refused(
    cli: Any, repo: Path, tmp_path: Path, command: tuple[str, ...], target: str
) -> None:
    shutil.copy(repo / "data" / "churn.csv", tmp_path / "outside.csv")
    (repo / "data" / "churn.csv").unlink()
    (repo / "data" / "churn.csv").symlink_to(tmp_path / target)
    result = cli(*command, "--repo", str(repo))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Data outside the repository: models/churn/model.yaml:12:11: data.source: 'data/churn.csv' leads "
        "outside the repository through a symbolic link; data is read only from inside it",
        f"hint: {OPT_IN}",
    ]
    never_echoes_passwd(result)


@pytest.mark.parametrize("source", ["absolute", "../../outside.csv", "file-uri"])
def test_the_user_opts_in_with_the_environment_variable(
    cli: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copy(repo / "data" / "churn.csv", outside)
    point_source(repo, {"absolute": str(outside), "file-uri": f"file://{outside}"}.get(source, source))
    assert cli("data", "check", "churn", "--repo", str(repo)).code == 1  # refused until the user opts in
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")
    result = cli("data", "check", "churn", "--repo", str(repo))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"churn data {outside}"
    assert result.stdout.splitlines()[-1] == "PASSED: 33 checks"


def test_the_user_opts_in_with_the_user_config_file(cli: Any, repo: Path, tmp_path: Path, isolated_home: Path) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copy(repo / "data" / "churn.csv", outside)
    (repo / "data" / "churn.csv").unlink()
    (repo / "data" / "churn.csv").symlink_to(outside)
    assert cli("data", "check", "churn", "--repo", str(repo)).code == 1  # refused until the user opts in
    config = isolated_home / ".config" / "mlopsctl" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("data:\n  allow_outside_repo: true\n")
    result = cli("data", "check", "churn", "--repo", str(repo))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "PASSED: 33 checks"


def test_a_file_that_is_not_data_is_never_echoed(cli: Any, repo: Path) -> None:
    """Inside the repository, a file whose header is a line of something else: named as a mismatch, not quoted."""
    (repo / "data" / "churn.csv").write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n")
    result = cli("data", "check", "churn", "--repo", str(repo), "--output", "json")
    assert result.code == 1
    never_echoes_passwd(result)
    assert "the file's header does not match data.columns (1 column, none declared)" in result.stdout
