"""Which pushed image the docker target pulls for a version (issue 14): read from the committed
``registry/<model>/images.yaml`` as untrusted input, only from ``image.registry``, newest first."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlopsctl.build.images import pushed_image
from mlopsctl.errors import CheckFailed
from mlopsctl.spec.loader import open_repo
from tests.support.image_registry import images_yaml

REGISTRY = "registry.example.com/acme"
OLD, NEW, OTHER = ("sha256:" + digit * 64 for digit in "123")


def _write(root: Path, entries: list[tuple[int, str, str]], registry: str | None = REGISTRY) -> None:
    (root / "registry" / "churn").mkdir(parents=True, exist_ok=True)
    rows = [{"version": version, "reference": reference, "digest": digest} for version, reference, digest in entries]
    (root / "registry" / "churn" / "images.yaml").write_text(images_yaml(rows))
    settings = yaml.safe_load((root / "mlops.yaml").read_text())
    settings.setdefault("image", {})["registry"] = registry
    (root / "mlops.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))


def test_the_newest_image_of_the_version_in_the_registry_is_pulled(model_repo: Path) -> None:
    _write(
        model_repo,
        [
            (1, f"{REGISTRY}/demo/churn:v1", OLD),
            (2, f"{REGISTRY}/demo/churn:v2", OTHER),
            (1, f"{REGISTRY}/demo/churn:v1", NEW),
        ],
    )
    pinned = pushed_image(open_repo(model_repo), "churn", 1)
    assert pinned is not None
    assert (pinned.pinned, pinned.where) == (f"{REGISTRY}/demo/churn@{NEW}", "registry/churn/images.yaml:19")


def test_the_versions_own_repository_wins_over_another_tag_in_the_registry(model_repo: Path) -> None:
    _write(model_repo, [(1, f"{REGISTRY}/demo/churn:v1", OLD), (1, f"{REGISTRY}/other/name:x", NEW)])
    pinned = pushed_image(open_repo(model_repo), "churn", 1)
    assert pinned is not None and pinned.pinned == f"{REGISTRY}/demo/churn@{OLD}"


def test_nothing_is_pulled_without_an_image_registry(model_repo: Path) -> None:
    _write(model_repo, [(1, f"{REGISTRY}/demo/churn:v1", OLD)], registry=None)
    assert pushed_image(open_repo(model_repo), "churn", 1) is None


def test_a_version_nothing_was_pushed_for_is_built(model_repo: Path) -> None:
    _write(model_repo, [(2, f"{REGISTRY}/demo/churn:v2", OLD)])
    assert pushed_image(open_repo(model_repo), "churn", 1) is None


@pytest.mark.parametrize(
    "reference",
    [
        "evil.example.com/acme/demo/churn:v1",
        "registry.example.com/acmex/demo/churn:v1",  # a prefix of the name is not the registry
        "registry.example.com:443/acme/demo/churn:v1",
    ],
)
def test_an_image_in_another_registry_is_refused_at_its_line(model_repo: Path, reference: str) -> None:
    _write(model_repo, [(1, reference, OLD)])
    with pytest.raises(CheckFailed) as caught:
        pushed_image(open_repo(model_repo), "churn", 1)
    assert caught.value.message == (
        f"registry/churn/images.yaml:5:14: images[0].reference: {reference} is not in the image registry "
        f"{REGISTRY} (image.registry); an image is pulled only from the registry this runner's settings name"
    )
    assert caught.value.hint == (
        f"push the version to {REGISTRY}: mlopsctl build churn@1 --push; "
        "see who added the entry with: git log -p -- registry/churn/images.yaml"
    )


@pytest.mark.parametrize(
    ("digest", "problem"),
    [
        ("sha256:abc", "images[0].digest: String should match pattern '^sha256:[0-9a-f]{64}$'"),
        ("sha256:" + "A" * 64, "images[0].digest: String should match pattern '^sha256:[0-9a-f]{64}$'"),
        ("md5:" + "a" * 64, "images[0].digest: String should match pattern '^sha256:[0-9a-f]{64}$'"),
    ],
)
def test_a_malformed_digest_is_refused_at_its_line(model_repo: Path, digest: str, problem: str) -> None:
    _write(model_repo, [(1, f"{REGISTRY}/demo/churn:v1", digest)])
    with pytest.raises(CheckFailed) as caught:
        pushed_image(open_repo(model_repo), "churn", 1)
    assert caught.value.message.endswith(f"registry/churn/images.yaml:7:11: {problem}")


def test_a_reference_that_is_not_an_image_name_is_refused(model_repo: Path) -> None:
    _write(model_repo, [(1, f"{REGISTRY}/demo/churn:v1 --privileged", OLD)])
    with pytest.raises(CheckFailed) as caught:
        pushed_image(open_repo(model_repo), "churn", 1)
    assert caught.value.message.endswith(
        "registry/churn/images.yaml:5:14: images[0].reference: "
        "Value error, not an image reference such as registry.example.com/acme/churn:v3"
    )
