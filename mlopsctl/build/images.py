"""Where the images built for a version are recorded.

Version records are immutable, so images are recorded beside them, in two places by what they are:

* ``<state_dir>/images.json`` (git-ignored): every local build. An image ID means something only to
  the engine that built it, so it is observed state of this machine, not desired state for Git.
* ``registry/<model>/images.yaml`` (committed): every *pushed* image, as ``reference@digest``. A
  registry digest is durable and the same for everyone, so it is reviewed and kept with the version:
  deployments can pin it, and an archived version still names the exact image that served it.

Both are append-only lists, rewritten atomically under a lock. ``images.yaml`` comes from a
commit like any other repository file, so it is read by the bounded YAML parser and checked entry
by entry: a bad one is a :class:`CheckFailed` naming file:line:column, and is never rewritten. A
digest must be ``sha256:`` and 64 hex digits, a reference a plain image reference; and the image
the docker target pulls for a version (:func:`pushed_image`) must be in ``image.registry`` as the
runner's settings name it: an entry naming another registry is refused at its line, never pulled.
``images.json`` is our own state file (written only here), read as plain JSON; the state folder
is checked for symbolic links before anything is written into it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlopsctl.build.references import REFERENCE, repository
from mlopsctl.contract.versions import MAX_VERSION
from mlopsctl.errors import CheckFailed
from mlopsctl.fsio import atomic_write_text, held_lock, refuse_links as refuse_state_links
from mlopsctl.registry.paths import refuse_links
from mlopsctl.registry.records import registry_dir
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.yamlpos import LocatedDoc, load_yaml

LOCAL_FILE = "images.json"
PUSHED_FILE = "images.yaml"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


class ImageEntry(BaseModel):
    """One image built (or pushed) for a model version."""

    model_config = ConfigDict(extra="allow")

    model: str
    version: int = Field(ge=1, le=MAX_VERSION)
    reference: str
    """Repository and tag, e.g. demo/churn:v3 or ghcr.io/acme/demo/churn:v3."""
    image_id: str
    """The engine's image ID (sha256 of the image config)."""
    digest: str | None = Field(default=None, pattern=DIGEST_PATTERN)
    """Registry manifest digest, once pushed: ``sha256:`` and 64 lowercase hex digits."""
    built_at: str
    """UTC time of the build (or of the push, for pushed entries)."""
    base: str = ""
    """Base image reference the image was built from."""
    pushed: bool = False

    @field_validator("reference")
    @classmethod
    def _plain_reference(cls, value: str) -> str:
        if REFERENCE.fullmatch(value) is None:
            raise ValueError("not an image reference such as registry.example.com/acme/churn:v3")
        return value


@dataclass(frozen=True)
class PinnedImage:
    """The image pushed for a version, as ``images.yaml`` names it: pulled by digest, never by tag."""

    name: str
    """The repository, e.g. ``ghcr.io/acme/demo/churn``."""
    digest: str
    where: str
    """``registry/<model>/images.yaml:LINE`` of its entry, for messages."""

    @property
    def pinned(self) -> str:
        """``name@sha256:...``: what is pulled and what the pulled image's RepoDigests must hold."""
        return f"{self.name}@{self.digest}"


def pushed_path(repo: Repo, model: str) -> Path:
    return registry_dir(repo.root, model) / PUSHED_FILE


def read_pushed(root: Path, model: str) -> list[ImageEntry]:
    """The images pushed for ``model``'s versions, from the committed ``registry/<model>/images.yaml``."""
    return [ImageEntry.model_validate(item) for item in _read_pushed(root, registry_dir(root, model) / PUSHED_FILE)]


def record_local(repo: Repo, entries: list[ImageEntry]) -> Path:
    path = refuse_state_links(repo.root, repo.state_dir / LOCAL_FILE)
    with _locked(repo, "images.lock"):
        known = _read_local(path)
        known.extend(entry.model_dump(mode="json", exclude_none=True) for entry in entries)
        atomic_write_text(path, json.dumps({"images": known}, indent=1) + "\n")
    return path


def record_pushed(repo: Repo, model: str, entries: list[ImageEntry]) -> Path:
    """Append to registry/<model>/images.yaml (the caller commits it)."""
    path = pushed_path(repo, model)
    with _locked(repo, "images.lock"):
        known = _read_pushed(repo.root, path)
        known.extend(entry.model_dump(mode="json", exclude_none=True) for entry in entries)
        header = "# Images pushed for this model's versions: appended by mlopsctl build --push, never edited.\n"
        atomic_write_text(path, header + yaml.safe_dump({"images": known}, sort_keys=False))
    return path


def images_for(repo: Repo, model: str, version: int | None = None) -> list[ImageEntry]:
    """Pushed images first (durable), then this machine's builds; newest last within each."""
    pushed = read_pushed(repo.root, model)
    local = [entry for entry in map(_local_entry, _read_local(repo.state_dir / LOCAL_FILE)) if entry is not None]
    return [entry for entry in pushed + local if entry.model == model and (version is None or entry.version == version)]


def pushed_image(repo: Repo, model: str, version: int) -> PinnedImage | None:
    """The newest image pushed for ``model@version`` into ``image.registry``; None when none was pushed.

    Without ``image.registry`` nothing is pulled (the docker target builds, as before any push).
    A version whose pushed images all name another registry is refused at the line of the newest.
    """
    registry = (repo.settings.image.registry or "").strip().rstrip("/")
    path = pushed_path(repo, model)
    if not registry or not path.is_file():
        return None
    doc = load_yaml(path)
    entries = [
        (index, entry)
        for index, entry in enumerate(read_pushed(repo.root, model))
        if (entry.model, entry.version) == (model, version)
    ]
    pushed = [(index, entry) for index, entry in entries if entry.digest is not None]
    inside = [(index, entry) for index, entry in pushed if _name(entry.reference).startswith(registry + "/")]
    if inside:
        index, entry = _preferred(inside, repository(repo, model))
        return PinnedImage(_name(entry.reference), str(entry.digest), _where(repo, doc, index))
    if pushed:
        index, entry = pushed[-1]
        raise _foreign_registry(repo, doc, index, entry, registry)
    return None


def _preferred(found: list[tuple[int, ImageEntry]], own: str) -> tuple[int, ImageEntry]:
    """The newest entry under the version's own repository, else the newest in the registry."""
    mine = [(index, entry) for index, entry in found if _name(entry.reference) == own]
    return (mine or found)[-1]


def _name(reference: str) -> str:
    """``host:5000/a/b:v3`` -> ``host:5000/a/b`` (the tag goes; a digest is never in a reference here)."""
    name, _, tag = reference.rpartition(":")
    return name if name and "/" not in tag else reference


def _where(repo: Repo, doc: LocatedDoc, index: int) -> str:
    line, _column = doc.position(("images", index, "reference"))
    return f"{doc.file.relative_to(repo.root)}:{line}"


def _foreign_registry(repo: Repo, doc: LocatedDoc, index: int, entry: ImageEntry, registry: str) -> CheckFailed:
    line, column = doc.position(("images", index, "reference"))
    where = f"{doc.file.relative_to(repo.root)}:{line}:{column}"
    return CheckFailed(
        f"{where}: images[{index}].reference: {entry.reference} is not in the image registry {registry} "
        "(image.registry); an image is pulled only from the registry this runner's settings name",
        title="Image from another registry",
        hint=f"push the version to {registry}: mlopsctl build {entry.model}@{entry.version} --push; "
        f"see who added the entry with: git log -p -- {doc.file.relative_to(repo.root)}",
    )


def _local_entry(item: dict[str, Any]) -> ImageEntry | None:
    """One of this machine's builds; an entry an older mlopsctl wrote that today's checks refuse is left out."""
    try:
        return ImageEntry.model_validate(item)
    except ValidationError:
        return None


def _read_local(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    images = data.get("images") if isinstance(data, dict) else None
    return [item for item in images or [] if isinstance(item, dict)]


def _read_pushed(root: Path, path: Path) -> list[dict[str, Any]]:
    """The checked entries of an images.yaml, as written (extra keys kept); none when there is no file."""
    refuse_links(root, path)
    if not path.is_file():
        return []
    doc = load_yaml(path)
    if doc.problems:
        raise _invalid_images(path, str(doc.problems[0]))
    images = doc.data.get("images") if isinstance(doc.data, dict) else doc.data
    if images is None:
        return []
    if not isinstance(images, list):
        raise _invalid_images(path, str(doc.problem(("images",), "expected a list of entries such as - version: 3")))
    return [_checked_image(doc, index, item) for index, item in enumerate(images)]


def _checked_image(doc: LocatedDoc, index: int, item: Any) -> dict[str, Any]:
    try:
        ImageEntry.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ("images", index, *(part for part in error["loc"] if isinstance(part, str | int)))
        raise _invalid_images(doc.file, str(doc.problem(where, error["msg"]))) from None
    return dict(item)


def _invalid_images(path: Path, reason: str) -> CheckFailed:
    return CheckFailed(
        f"image list {reason}",
        title="Invalid image list",
        hint=f"images.yaml is written by mlopsctl build --push; see who changed it with: git log -p -- {path}",
    )


@contextlib.contextmanager
def _locked(repo: Repo, name: str) -> Iterator[None]:
    with held_lock(refuse_state_links(repo.root, repo.state_dir / "locks" / name)):
        yield
