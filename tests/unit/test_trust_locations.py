"""Issue 11: where a path from a committed file may point, and how text from a data file is shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from mlopsctl.data import wording
from mlopsctl.errors import CheckFailed
from mlopsctl.fsio import refuse_links
from mlopsctl.overview import read_overview
from mlopsctl.spec.locations import escapes_repository
from mlopsctl.spec.models import Environment, ProjectSettings

SEGMENTS = st.lists(st.sampled_from(["..", ".", "a", "b", "data", ""]), min_size=1, max_size=8)
OUTSIDE = (
    "'/shared/store' is outside the repository, which only the user may choose: set MLOPS_ARTIFACT_STORE "
    "instead, or set 'data: {allow_outside_repo: true}' in ~/.config/mlopsctl/config.yaml, or "
    "MLOPS_DATA_ALLOW_OUTSIDE_REPO=1, to allow it"
)


@settings(max_examples=200, deadline=None)
@given(SEGMENTS)
def test_a_relative_path_escapes_exactly_when_it_resolves_above_the_root(segments: list[str]) -> None:
    location = "/".join(segments)
    root = Path("/repo/root")
    resolved = Path(os.path.normpath(root / location))
    assert escapes_repository(location) == (not resolved.is_relative_to(root))


@pytest.mark.parametrize("location", ["/etc/passwd", "~/data.csv", "file:///etc/passwd", "file://../x.csv"])
def test_absolute_home_and_uri_paths_escape(location: str) -> None:
    assert escapes_repository(location)


@pytest.mark.parametrize("location", ["data/churn.csv", "file://data/churn.csv", "a/../data.csv", "./x.csv"])
def test_paths_that_stay_inside_do_not_escape(location: str) -> None:
    assert not escapes_repository(location)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_text_from_a_data_file_is_short_and_has_no_character_that_does_not_print(item: str) -> None:
    shown = wording.text(item)
    assert len(shown) <= wording.MAX_VALUE_CHARS
    assert shown.isprintable()


def test_a_terminal_escape_is_shown_escaped() -> None:
    assert wording.value("a\x1b[31mred\n") == "'a\\x1b[31mred\\n'"


def test_a_store_outside_the_repository_is_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        ProjectSettings(name="demo", artifact_store="/shared/store")
    assert caught.value.errors()[0]["msg"] == f"Value error, {OUTSIDE}"
    monkeypatch.setenv("MLOPS_ARTIFACT_STORE", "/shared/store")
    assert ProjectSettings(name="demo", artifact_store="/shared/store").artifact_store == "/shared/store"


def test_the_opt_in_lets_a_store_outside_the_repository_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")
    assert ProjectSettings(name="demo", metadata_store="../runs.db").metadata_store == "../runs.db"


def test_a_deployment_key_must_be_a_name() -> None:
    with pytest.raises(ValidationError) as caught:
        Environment.model_validate({"name": "staging", "deployments": {"../../evil": {"version": 1}}})
    assert [error["loc"] for error in caught.value.errors()] == [("deployments", "../../evil", "[key]")]


def test_links_under_the_root_are_refused_and_real_folders_pass(tmp_path: Path) -> None:
    (tmp_path / ".mlops" / "deploy").mkdir(parents=True)
    assert refuse_links(tmp_path, tmp_path / ".mlops" / "deploy" / "logs" / "x") == tmp_path / ".mlops/deploy/logs/x"
    (tmp_path / ".mlops" / "deploy" / "logs").symlink_to(tmp_path)
    with pytest.raises(CheckFailed) as caught:
        refuse_links(tmp_path, tmp_path / ".mlops" / "deploy" / "logs" / "x")
    assert caught.value.message == (
        ".mlops/deploy/logs is a symbolic link: mlopsctl writes its state only into real folders inside the repository"
    )
    with pytest.raises(CheckFailed) as outside:
        refuse_links(tmp_path / ".mlops", tmp_path / "elsewhere")
    assert outside.value.message == f"{tmp_path / 'elsewhere'} is outside the repository {tmp_path / '.mlops'}"


def test_the_dashboard_leaves_out_environment_files_whose_names_would_become_paths(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    environments.mkdir()
    header = "apiVersion: mlopsctl/v1\nkind: Environment\nname: staging\n"
    (environments / "staging.yaml").write_text(header + "deployments:\n  ../../evil: {version: 1}\n")
    (environments / "...yaml").write_text(header + "deployments:\n  churn: {version: 1}\n")
    overview = read_overview(tmp_path)
    assert (overview.environments, sorted(overview.models)) == ([], [])
    assert overview.problems == [
        "'environments/...yaml': the environment name '..' (the file name) must be lower-case letters, digits and "
        "dashes, starting with a letter (run mlopsctl validate)",
        "environments/staging.yaml:5:3: deployments.../../evil: must be lower-case letters, digits and dashes, "
        "starting with a letter (got '../../evil') (run mlopsctl validate)",
    ]
