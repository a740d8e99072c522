"""Issue 11: every writer into the state folder refuses a symbolic link; reproduce, validate and registry output.

A hostile commit (or anything running as the user) makes ``.mlops`` a symbolic link to a folder
outside the repository, or plants one further down (``.mlops/artifacts``, the registry index).
``train``, ``status`` and ``registry list`` must refuse with one line naming the link, and write
nothing outside. A record's ``data.uri`` must not make ``reproduce`` read outside the repository,
``validate`` reports a ``data.source`` that is a link out of it, and a record's text never breaks
or steers ``registry list`` and ``registry show``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.contract.records import GateResult
from mlopsctl.registry.store import register_version
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import open_repo
from tests.conftest import isolate_git_home
from tests.support.registry_drafts import make_draft

OPT_IN = (
    "set 'data: {allow_outside_repo: true}' in ~/.config/mlopsctl/config.yaml, or MLOPS_DATA_ALLOW_OUTSIDE_REPO=1, "
    "to allow it"
)


def refusal(link: str) -> list[str]:
    return [
        f"error: Unsafe state folder: {link} is a symbolic link: mlopsctl writes its state only into real folders "
        "inside the repository",
        f"hint: remove the link (rm {link}) and run again; mlopsctl creates the folder itself",
    ]


def tree(base: Path) -> dict[str, bytes | str]:
    """Every file and link under ``base`` with its content (or its target)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(base.rglob("*")):
        key = str(path.relative_to(base))
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh repository two folders below ``tmp_path`` (so ``../../x.csv`` is ``tmp_path/x.csv``)."""
    return init_repo(tmp_path / "work" / "repo", "demo").root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- the state folder


@pytest.mark.parametrize(
    "command", [("train", "churn"), ("status",), ("registry", "list"), ("registry", "list", "--all")]
)
def test_a_state_folder_linked_outside_is_refused_and_nothing_is_written_there(
    cli: Any, repo: Path, outside: Path, command: tuple[str, ...]
) -> None:
    (repo / ".mlops").symlink_to(outside)
    result = cli(*command, "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops"))
    assert tree(outside) == {}


def test_a_committed_state_folder_link_is_refused_by_train(cli: Any, repo: Path, outside: Path) -> None:
    from tests.support.apply_repo import git

    (repo / ".mlops").symlink_to(outside)
    git(repo, "add", "-f", ".mlops")
    git(repo, "commit", "-q", "-m", "A state folder somewhere else")
    result = cli("train", "churn", "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops"))
    assert tree(outside) == {}


def test_an_artifact_store_linked_outside_is_refused_before_the_artifact_is_written(
    cli: Any, repo: Path, outside: Path
) -> None:
    (repo / ".mlops").mkdir()
    (repo / ".mlops" / "artifacts").symlink_to(outside)
    result = cli("train", "churn", "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops/artifacts"))
    assert tree(outside) == {}
    assert not (repo / "registry" / "churn").exists()  # no record names an artifact that was never stored


def test_a_planted_registry_index_link_is_refused_by_registry_list(cli: Any, repo: Path, outside: Path) -> None:
    victim = outside / "victim.sqlite"
    (repo / ".mlops").mkdir()
    (repo / ".mlops" / "registry-index.sqlite").symlink_to(victim)
    result = cli("registry", "list", "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops/registry-index.sqlite"))
    assert tree(outside) == {}


def test_a_health_cache_linked_outside_is_refused_by_status(cli: Any, repo: Path, outside: Path) -> None:
    (repo / ".mlops").mkdir()
    (repo / ".mlops" / "cache").symlink_to(outside)
    result = cli("status", "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops/cache"))
    assert tree(outside) == {}


def test_a_runs_database_linked_outside_is_refused_by_runs_list(cli: Any, repo: Path, outside: Path) -> None:
    victim = outside / "runs.db"
    victim.write_bytes(b"")
    (repo / ".mlops").mkdir()
    (repo / ".mlops" / "runs.db").symlink_to(victim)
    result = cli("runs", "list", "--repo", str(repo))
    assert (result.code, result.stderr.splitlines()) == (1, refusal(".mlops/runs.db"))
    assert tree(outside) == {"runs.db": b""}


# --------------------------------------------------------------------------- reproduce


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """churn@1, trained and registered for real once for the module."""
    from mlopsctl.cli.main import run

    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        root = init_repo(tmp_path_factory.mktemp("trained") / "repo", "demo").root
        assert run(["train", "churn", "--repo", str(root)]) == 0
        yield root


@pytest.fixture
def trained(trained_once: Path, tmp_path: Path) -> Path:
    """A copy of the trained repository two folders below ``tmp_path``."""
    root = tmp_path / "work" / "repo"
    shutil.copytree(trained_once, root, symlinks=True)
    return root


def record_data_uri(root: Path, uri: str) -> None:
    record = root / "registry" / "churn" / "v1.yaml"
    record.write_text(record.read_text().replace("  uri: data/churn.csv\n", f"  uri: '{uri}'\n"))


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("/etc/passwd", "is outside the repository"),
        ("../../x.csv", "is outside the repository"),
        ("data/linked.csv", "leads outside the repository through a symbolic link"),
    ],
)
def test_reproduce_refuses_a_recorded_data_uri_outside_the_repository(
    cli: Any, trained: Path, tmp_path: Path, uri: str, why: str
) -> None:
    shutil.copy(trained / "data" / "churn.csv", tmp_path / "x.csv")  # the same bytes: only the place is wrong
    (trained / "data" / "linked.csv").symlink_to(tmp_path / "x.csv")
    record_data_uri(trained, uri)
    result = cli("reproduce", "churn@1", "--repo", str(trained))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Data outside the repository: registry/churn/v1.yaml: data.uri '{uri}' {why}; data is read only "
        "from inside it",
        f"hint: give the data with --data PATH, or {OPT_IN}",
    ]
    assert "root:" not in result.stdout + result.stderr


def test_reproduce_reads_a_recorded_data_uri_outside_when_the_user_opts_in(
    cli: Any, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(trained / "data" / "churn.csv", tmp_path / "x.csv")
    record_data_uri(trained, "../../x.csv")
    assert cli("reproduce", "churn@1", "--repo", str(trained)).code == 1  # refused until the user opts in
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")
    result = cli("reproduce", "churn@1", "--repo", str(trained))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Metrics match."


def test_reproduce_reads_the_data_the_user_gives_with_data(cli: Any, trained: Path, tmp_path: Path) -> None:
    shutil.copy(trained / "data" / "churn.csv", tmp_path / "x.csv")
    record_data_uri(trained, "/etc/passwd")
    assert cli("reproduce", "churn@1", "--repo", str(trained)).code == 1  # the record's location is refused
    result = cli("reproduce", "churn@1", "--repo", str(trained), "--data", str(tmp_path / "x.csv"))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Metrics match."


# --------------------------------------------------------------------------- validate


def link_source_outside(repo: Path, tmp_path: Path) -> None:
    shutil.copy(repo / "data" / "churn.csv", tmp_path / "outside.csv")
    (repo / "data" / "churn.csv").unlink()
    (repo / "data" / "churn.csv").symlink_to(tmp_path / "outside.csv")


def test_validate_reports_a_data_source_that_links_outside(cli: Any, repo: Path, tmp_path: Path) -> None:
    link_source_outside(repo, tmp_path)
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert (
        "models/churn/model.yaml:12:11: data.source: 'data/churn.csv' leads outside the repository through a "
        f"symbolic link; data is read only from inside it: {OPT_IN}"
    ) in result.stdout.splitlines()


def test_validate_accepts_the_link_when_the_user_opts_in(
    cli: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_source_outside(repo, tmp_path)
    assert cli("validate", "--repo", str(repo)).code == 1  # reported until the user opts in
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")
    result = cli("validate", "--repo", str(repo))
    assert result.code == 0, result.stdout
    assert "symbolic link" not in result.stdout


# --------------------------------------------------------------------------- registry output


@pytest.fixture
def hostile_record(repo: Path) -> Path:
    """churn@1 whose task, metric and gate names hold markup and terminal control sequences."""
    metrics = {"auc[/]\x1b[2J": 0.9, "[bold]f1\x1b]0;owned\x07": 0.5}
    gate = GateResult(gate="auc[/] >= 0.5 [red]", value=0.9, passed=True)
    draft = make_draft("churn", run_id="run-[/]", task="class[/]ification", metrics=metrics, gates=[gate])
    register_version(open_repo(repo), draft)
    return repo


def test_registry_list_shows_record_text_as_typed_without_control_characters(cli: Any, hostile_record: Path) -> None:
    for args in (("registry", "list"), ("registry", "list", "--all"), ("registry", "list", "churn")):
        result = cli(*args, "--repo", str(hostile_record))
        assert (result.code, result.stderr) == (0, "")
        assert "auc[/][2J=0.9 [bold]f1]0;owned=0.5" in result.stdout
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_registry_show_escapes_the_task_gate_and_metric_names(cli: Any, hostile_record: Path) -> None:
    result = cli("registry", "show", "churn@1", "--repo", str(hostile_record))
    assert (result.code, result.stderr) == (0, "")
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "churn@1  class[/]ification  sklearn.linear_model.LogisticRegression  stage: -"
    assert "  pass  auc[/] >= 0.5 [red]  measured 0.9" in lines
    assert "  auc[/][2J         0.9" in lines
    assert "  [bold]f1]0;owned  0.5" in lines
    assert "  run            run-[/]" in lines
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
