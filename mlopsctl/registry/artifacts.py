"""Model artifacts: skops bytes in a content-addressed store, checked before they are ever loaded.

An artifact is the fitted scikit-learn pipeline serialised with skops (never pickle). It is stored
under its own sha256 (``<root>/sha256/<first 2 hex>/<sha256>.skops``), so the same bytes are stored
once, a file can never be silently replaced by different content without its name lying, and a
team or CI can share one store folder. Loading is guarded twice:

1. the bytes' sha256 must equal the digest in the version record, else nothing is deserialised.
   That proves only that the file is the one the record names: whoever commits a record also
   writes its artifact, so
2. every name in the file's ``schema.json`` must pass :mod:`mlopsctl.registry.artifact_policy`
   (classes defined in scikit-learn, NumPy or SciPy under exactly that name, builtin containers,
   two score functions, the node kinds mlopsctl writes) *before* anything is built; one refused
   name refuses the file. The lean reader then builds it; a file it cannot read goes to skops with
   skops' own default trust only, never with names this module accepted.

Dumps are canonical (:func:`canonical_skops`): the same fitted model gives the same bytes, so the
same digest, in any process. A crash while writing leaves either no file or a complete one (temp
file, fsync, rename). An artifact without a record (a registration killed after the artifact was
written) is harmless: it is content-addressed, nothing points at it, and the next identical
registration reuses it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import ArtifactRef
from mlopsctl.errors import MlopsError, NotFound, UsageError
from mlopsctl.fsio import atomic_write_bytes
from mlopsctl.registry import artifact_policy
from mlopsctl.state_links import refuse_state_links

SUFFIX = ".skops"
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
STALE_TEMP_SECONDS = 3600.0
SCHEMA_MEMBER = "schema.json"
MAX_SCHEMA_BYTES = 256 * 1024 * 1024
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArtifactRefused(MlopsError):
    """An artifact that must not be loaded: wrong digest, or types that are not trusted."""

    title = "Artifact refused"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short_digest(sha256: str) -> str:
    return sha256[:12]


def dump_pipeline(pipeline: Any) -> bytes:
    """Serialise a fitted pipeline with skops (no pickle), canonically: the same model gives the same bytes."""
    import skops.io as sio

    data: bytes = sio.dumps(pipeline)
    return canonical_skops(data)


def canonical_skops(data: bytes) -> bytes:
    """skops bytes without what changes from one dump to the next, so a digest identifies a model.

    skops names objects and their array files by ``id()`` (memory addresses) and stamps zip entries
    with the current time. Here ids are renumbered in order of first appearance (equal ids stay
    equal, so shared objects stay shared), files are renamed to match, and every entry gets a fixed
    timestamp. Data that is not a skops zip is returned unchanged.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            schema = json.loads(source.read(SCHEMA_MEMBER))
            members = {name: source.read(name) for name in source.namelist() if name != SCHEMA_MEMBER}
    except (zipfile.BadZipFile, KeyError, ValueError):
        return data
    names = _Renumbering()
    schema = names.apply(schema)
    if set(members) - set(names.files):
        return data  # a member the schema does not name: keep the original rather than guess
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for old, new in names.files.items():
            target.writestr(_fixed_entry(new), members[old])
        target.writestr(_fixed_entry(SCHEMA_MEMBER), json.dumps(schema, indent=2))
    return out.getvalue()


class _Renumbering:
    """Maps skops' memory-address ids and file names to 1, 2, 3... in document order."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.files: dict[str, str] = {}

    def apply(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.apply(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = self._id(value)
            elif key == "file" and isinstance(value, str):
                out[key] = self._file(value)
            else:
                out[key] = self.apply(value)
        return out

    def _id(self, value: int) -> int:
        return self.ids.setdefault(value, len(self.ids) + 1)  # from 1: skops does not memoise id 0

    def _file(self, name: str) -> str:
        if name not in self.files:
            stem, dot, suffix = name.partition(".")
            number = self._id(int(stem)) if stem.isdigit() else len(self.files) + 1
            self.files[name] = f"{number}{dot}{suffix}" if stem.isdigit() else f"f{number}{dot}{suffix}"
        return self.files[name]


def _fixed_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def load_pipeline_bytes(data: bytes, expected_sha256: str) -> Any:
    """Check ``data`` against the registered digest, then rebuild it trusting only what is safe."""
    verify_digest(data, expected_sha256, what="artifact")
    return safe_loads(data, expected_sha256)


def verify_digest(data: bytes, expected_sha256: str, *, what: str) -> None:
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise ArtifactRefused(
            f"artifact digest mismatch for {what}: expected sha256:{expected_sha256} got sha256:{actual}",
            hint="the stored file is not the registered artifact (swapped or corrupted); it was not loaded. "
            "Restore it from the shared store or retrain with: mlopsctl reproduce MODEL@VERSION",
        )


def safe_loads(data: bytes, sha256: str) -> Any:
    """The pipeline in skops bytes, once every name in it passed the artifact policy.

    Any problem, whatever raised it, is an :class:`ArtifactRefused`: a hostile file must not be
    able to choose the error a service dies with.
    """
    from mlopsctl.registry import skops_reader

    schema = read_schema(data, sha256)
    refuse_unless_allowed(schema, sha256)
    try:
        return skops_reader.loads(data, artifact_policy.refusal, schema)
    except skops_reader.Unsupported:
        return _skops_loads(data, sha256)  # a shape the lean reader does not read: skops' default trust only
    except skops_reader.Refused as exc:
        raise _refused(exc.refused, sha256) from None
    except Exception as exc:
        raise _unreadable(sha256, exc) from None


def read_schema(data: bytes, sha256: str) -> Any:
    """The ``schema.json`` of skops bytes, without building anything from it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _schema_of(archive)
    except Exception as exc:  # not a zip, no schema, not JSON, too large: all mean unreadable
        raise _unreadable(sha256, exc) from None


def read_schema_file(path: Path, sha256: str) -> Any:
    """The ``schema.json`` of a stored artifact, reading nothing else of the file (for validate)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _schema_of(archive)
    except Exception as exc:
        raise _unreadable(sha256, exc) from None


def _schema_of(archive: zipfile.ZipFile) -> Any:
    size = archive.getinfo(SCHEMA_MEMBER).file_size
    if size > MAX_SCHEMA_BYTES:  # a schema this large is a decompression bomb, not a model
        raise ValueError(f"{SCHEMA_MEMBER} is {size} bytes, over the {MAX_SCHEMA_BYTES} allowed")
    return json.loads(archive.read(SCHEMA_MEMBER))


def refused_types(schema: Any) -> dict[str, str]:
    """Every name in an artifact's schema the policy refuses, with its reason (empty when loadable)."""
    try:
        return artifact_policy.refused_names(schema)
    except artifact_policy.Unreadable as exc:
        return {"schema.json": str(exc)}


def refuse_unless_allowed(schema: Any, sha256: str) -> None:
    refused = refused_types(schema)
    if refused:
        raise _refused(refused, sha256)


def _skops_loads(data: bytes, sha256: str) -> Any:
    import skops.io as sio

    try:
        return sio.loads(data, trusted=None)  # skops' own defaults: nothing this module accepted is added
    except sio.exceptions.UntrustedTypesFoundException:
        untrusted = sio.get_untrusted_types(data=data)
        raise _refused({name: "not trusted by skops' defaults" for name in untrusted}, sha256) from None
    except Exception as exc:
        raise _unreadable(sha256, exc) from None


def _refused(refused: dict[str, str], sha256: str) -> ArtifactRefused:
    listing = "; ".join(f"{name} ({reason})" for name, reason in sorted(refused.items()))
    return ArtifactRefused(
        f"artifact sha256:{short_digest(sha256)} contains types mlopsctl will not load: {listing}",
        hint="artifacts may hold only scikit-learn, NumPy and SciPy classes; "
        "it was not deserialised. Retrain it with mlopsctl train",
    )


def _unreadable(sha256: str, exc: Exception) -> ArtifactRefused:
    return ArtifactRefused(
        f"artifact sha256:{short_digest(sha256)} is not a readable skops file: {type(exc).__name__}: {exc}",
        hint="the artifact may come from a newer skops or scikit-learn; check the record's environment",
    )


class ArtifactStore:
    """A folder of artifacts named by their sha256 (the repo's state folder, or a shared one)."""

    def __init__(self, root: Path, *, repo_root: Path | None = None) -> None:
        self.root = root
        self.repo_root = repo_root  # a store inside this repository is written only through real folders

    def path_for(self, sha256: str) -> Path:
        if not SHA256_PATTERN.fullmatch(sha256):
            raise UsageError(f"'{sha256}' is not a sha256 digest", hint="a digest is 64 lower-case hex characters")
        return self.root / "sha256" / sha256[:2] / f"{sha256}{SUFFIX}"

    def uri_for(self, sha256: str) -> str:
        """Location recorded in version records: relative to the store, so records stay portable."""
        return self.path_for(sha256).relative_to(self.root).as_posix()

    def put(self, data: bytes) -> ArtifactRef:
        """Store ``data`` under its digest (atomically); storing the same bytes again is a no-op."""
        digest = sha256_hex(data)
        path = self.path_for(digest)
        if self.repo_root is not None:
            refuse_state_links(self.repo_root, path)
        if not self._holds(path, digest, len(data)):
            atomic_write_bytes(path, data)
            _make_read_only(path)
        self._sweep_stale_temps(path.parent)
        return ArtifactRef(uri=self.uri_for(digest), sha256=digest, size=len(data), format="skops")

    def get(self, ref: ArtifactRef) -> bytes:
        """The artifact's bytes, after checking their size and sha256 against ``ref``."""
        path = self.path_for(ref.sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"artifact sha256:{short_digest(ref.sha256)} is missing from the artifact store {self.root}",
                hint="point artifact_store in mlops.yaml at the store it was registered in, "
                "or rebuild it with: mlopsctl reproduce MODEL@VERSION",
            ) from None
        if len(data) != ref.size:
            raise ArtifactRefused(
                f"artifact digest mismatch for {path}: expected sha256:{ref.sha256} ({ref.size} bytes) "
                f"got sha256:{sha256_hex(data)} ({len(data)} bytes)",
                hint="the stored file is not the registered artifact (swapped or corrupted); it was not loaded",
            )
        verify_digest(data, ref.sha256, what=str(path))
        return data

    def local_file(self, sha256: str, size: int) -> Path | None:
        """The file a service loads (a remote store fetches it into its cache first); None when missing.
        Size and digest are checked again where the file is loaded."""
        path = self.path_for(sha256)
        return path if path.is_file() else None

    def describe(self) -> str:
        """Where the store is, as a message names it: relative to the repository when inside it (a
        plan in a pull request reads the same whichever clone computed it)."""
        if self.repo_root is not None and self.root.is_relative_to(self.repo_root):
            return self.root.relative_to(self.repo_root).as_posix()
        return str(self.root)

    def available(self, sha256: str, size: int) -> bool:
        """Whether this machine can get the artifact (a file of that size here; no hashing: loading checks)."""
        try:
            return self.path_for(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def has(self, ref: ArtifactRef) -> bool:
        """Whether the store holds the exact bytes of ``ref`` (reads and hashes the file)."""
        return self._holds(self.path_for(ref.sha256), ref.sha256, ref.size)

    def _holds(self, path: Path, digest: str, size: int) -> bool:
        try:
            if path.stat().st_size != size:
                return False
            return sha256_hex(path.read_bytes()) == digest
        except FileNotFoundError:
            return False

    def _sweep_stale_temps(self, folder: Path) -> None:
        """Temp files of writers killed mid-write (never a visible artifact name): removed after an hour."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue


def _make_read_only(path: Path) -> None:
    """Stored artifacts are immutable; read-only modes keep a stray editor or script off them."""
    try:
        path.chmod(0o444)
    except OSError:
        return  # a shared store may not let us change modes; the digest check still protects loading
