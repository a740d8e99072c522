"""Issue 11: images.yaml, version records handed to the service and environment files read by the
overview go through the bounded YAML parser; a hostile one is one clear error naming file:line:column."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlopsctl.build.images import ImageEntry, images_for, record_local
from mlopsctl.errors import CheckFailed, MlopsError, UsageError
from mlopsctl.overview import read_environment_files
from mlopsctl.serve.runner import read_record_file
from mlopsctl.spec.loader import open_repo
from tests.support.hostile_yaml import BOMB, HUGE

DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
IMAGE = "- {model: churn, version: 1, reference: 'demo/churn:v1', image_id: 'sha256:1', built_at: '2024-05-01'}\n"


# --------------------------------------------------------------------------- registry/<model>/images.yaml

BAD_IMAGES = [
    (BOMB, "1:50: e: alias expansion exceeds 10000 nodes"),
    (DEEP, "1:67: (document): nesting deeper than 64 levels"),
    ("images: 5\n", "1:9: images: expected a list of entries such as - version: 3"),
    (
        "images:\n" + IMAGE.replace("version: 1", "version: abc"),
        "2:27: images[0].version: Input should be a valid integer, unable to parse string as an integer",
    ),
    (
        "images:\n" + IMAGE.replace("version: 1", "version: 1000000000"),
        "2:27: images[0].version: Input should be less than or equal to 999999999",
    ),
    (
        "images:\n" + IMAGE.replace("version: 1", f"version: {HUGE}"),
        "2:27: images[0].version: cannot read "
        "'9999999999999999999999999999999999999999...' as an integer: more digits than a number may have",
    ),
    ("images:\n- 5\n", "2:3: images[0]: Input should be a valid dictionary or instance of ImageEntry"),
]


@pytest.mark.parametrize(
    ("text", "problem"), BAD_IMAGES, ids=["bomb", "deep", "not-a-list", "word", "too-big", "huge", "not-a-mapping"]
)
def test_a_bad_images_yaml_is_an_error_naming_it(model_repo: Path, text: str, problem: str) -> None:
    path = model_repo / "registry" / "churn" / "images.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(CheckFailed) as caught:
        images_for(open_repo(model_repo), "churn")
    assert (caught.value.title, caught.value.message, caught.value.hint) == (
        "Invalid image list",
        f"image list {path}:{problem}",
        f"images.yaml is written by mlopsctl build --push; see who changed it with: git log -p -- {path}",
    )


def test_a_good_images_yaml_is_read(model_repo: Path) -> None:
    path = model_repo / "registry" / "churn" / "images.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("images:\n" + IMAGE)
    assert [entry.reference for entry in images_for(open_repo(model_repo), "churn")] == ["demo/churn:v1"]


def test_the_image_list_in_the_state_folder_is_not_written_through_a_link(model_repo: Path, tmp_path: Path) -> None:
    repo = open_repo(model_repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo.state_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(elsewhere, repo.state_dir / "locks")
    entry = ImageEntry(model="churn", version=1, reference="demo/churn:v1", image_id="sha256:1", built_at="now")
    with pytest.raises(MlopsError) as caught:
        record_local(repo, [entry])
    relative = (repo.state_dir / "locks").relative_to(model_repo).as_posix()
    assert caught.value.message == (
        f"{relative} is a symbolic link: mlopsctl writes its state only into real folders inside the repository"
    )
    assert list(elsewhere.iterdir()) == []
    assert not (repo.state_dir / "images.json").exists()


# --------------------------------------------------------------------------- the record a service loads


@pytest.mark.parametrize(
    ("text", "problem"),
    [(BOMB, "1:50: e: alias expansion exceeds 10000 nodes"), (DEEP, "1:67: (document): nesting deeper than 64 levels")],
    ids=["bomb", "deep"],
)
def test_the_service_refuses_a_hostile_record_file_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        read_record_file(path)
    assert caught.value.message == f"cannot read the version record {path}:{problem}"


# --------------------------------------------------------------------------- the overview's environment files


def test_the_overview_names_a_hostile_environment_file(model_repo: Path) -> None:
    staging = model_repo / "environments" / "staging.yaml"
    start = staging.read_text().count("\n") + 1
    staging.write_text(staging.read_text() + BOMB)
    environments, problems = read_environment_files(model_repo)
    assert "staging" not in environments
    assert problems == [
        f"environments/staging.yaml:{start}:50: e: alias expansion exceeds 10000 nodes (run mlopsctl validate)"
    ]
