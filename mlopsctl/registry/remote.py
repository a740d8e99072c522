"""Artifact stores that travel: an OCI registry or an S3 bucket behind the local content-addressed cache.

``artifact_store: oci://HOST/NAMESPACE`` or ``s3://BUCKET/PREFIX`` in mlops.yaml (or
``MLOPS_ARTIFACT_STORE`` on a runner) makes every artifact available to whoever clones the
repository: a teammate, a CI runner. The local folder store (``<state_dir>/artifacts``) stays the
cache: what is read comes from it once fetched, what is written goes there first.

Order is what keeps the stores consistent (issue 14): :meth:`RemoteArtifactStore.put` writes the
local file, uploads it, then checks the remote holds it; only then does the registry write and
commit the version record. A kill at any point leaves at worst an unnamed blob (content-addressed,
harmless, reused by the next identical upload), never a record naming a blob that is not there.
Downloads are checked against the record's size and sha256 before they reach the cache, so a
tampered blob in the store is refused and never cached.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from mlopsctl.contract.records import ArtifactRef
from mlopsctl.errors import MlopsError, NotFound, StoreUnreachable, UsageError
from mlopsctl.ports.oci import OciLocation, OciRegistry
from mlopsctl.ports.s3 import S3Bucket, S3Location
from mlopsctl.ports.store_errors import CredentialsRefused
from mlopsctl.registry.artifacts import ArtifactRefused, ArtifactStore, sha256_hex, short_digest
from mlopsctl.spec.locations import remote_scheme as remote_scheme  # re-exported for the registry
from mlopsctl.state_links import refuse_state_links

KIND = "artifacts"
ARTIFACT_STORE_VARIABLE = "MLOPS_ARTIFACT_STORE"
MEDIA_TYPE = "application/vnd.mlopsctl.model.skops.v1+zip"


class BlobStore(Protocol):
    """What a remote store offers (ports/oci.py, ports/s3.py)."""

    def has(self, kind: str, sha256: str) -> bool: ...

    def push(self, kind: str, path: Path, sha256: str, media_type: str) -> None: ...

    def pull(self, kind: str, sha256: str) -> bytes: ...

    def pull_to(self, kind: str, sha256: str, path: Path) -> str:
        """Write the blob to ``path``; return the sha256 of what was written."""
        ...


def chosen_by_runner(uri: str) -> bool:
    """Whether this machine's runner chose ``uri`` (``MLOPS_ARTIFACT_STORE``), not only a repository file."""
    return os.environ.get(ARTIFACT_STORE_VARIABLE, "").strip() == uri.strip()


def open_blob_store(uri: str, *, chosen_by_runner: bool) -> BlobStore:
    """The port for a remote store URI; credentials go only to a store the runner chose (not the repo):
    OCI credentials are sent, S3 requests signed, only then."""
    scheme = remote_scheme(uri)
    if scheme == "oci":
        return OciRegistry(OciLocation.parse(uri), send_credentials=chosen_by_runner)
    if scheme == "s3":
        return S3Bucket(S3Location.parse(uri), sign_requests=chosen_by_runner)
    raise UsageError(f"'{uri}' is not a remote store", hint="use oci://HOST/NAMESPACE or s3://BUCKET/PREFIX")


class RemoteArtifactStore(ArtifactStore):
    """The local cache folder in front of a remote blob store."""

    def __init__(
        self,
        cache: Path,
        uri: str,
        *,
        repo_root: Path | None = None,
        chosen_by_runner: bool = True,
        remote: BlobStore | None = None,
    ) -> None:
        super().__init__(cache, repo_root=repo_root)
        self.uri = uri
        self.remote = remote if remote is not None else open_blob_store(uri, chosen_by_runner=chosen_by_runner)

    def put(self, data: bytes) -> ArtifactRef:
        """Cache the bytes, upload them unless the store has them, and confirm the store holds them."""
        ref = self._cache(data)
        self.upload(ref.sha256)
        return ref

    def _cache(self, data: bytes) -> ArtifactRef:
        """The bytes hashed and written to the cache at once (two cores: a 200 MB artifact's sha256 costs
        no time on top of its write), then renamed to their digest's name unless the cache holds them."""
        staging = self.root / "sha256"
        if self.repo_root is not None:
            refuse_state_links(self.repo_root, staging / "x")
        staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming.", suffix=".tmp", dir=staging)
        staged = Path(name)
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlopsctl-hash") as pool:
                hashing = pool.submit(sha256_hex, data)  # hashlib lets go of the GIL for large buffers
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                digest = hashing.result()
            path = self.path_for(digest)
            if self.repo_root is not None:
                refuse_state_links(self.repo_root, path)
            if not self._holds(path, digest, len(data)):
                path.parent.mkdir(parents=True, exist_ok=True)
                staged.chmod(0o444)
                os.replace(staged, path)
        finally:
            staged.unlink(missing_ok=True)
        self._sweep_stale_temps(staging)  # what a writer killed mid-write left (after an hour)
        return ArtifactRef(uri=self.uri_for(digest), sha256=digest, size=len(data), format="skops")

    def upload(self, sha256: str) -> bool:
        """Upload the cached blob unless the store holds it (True: uploaded; False: it was there)."""
        if self.remote.has(KIND, sha256):
            return False
        path = self.path_for(sha256)
        try:
            self.remote.push(KIND, path, sha256, MEDIA_TYPE)
        except (StoreUnreachable, CredentialsRefused):
            raise
        except MlopsError:
            # Two clones pushing the same bytes at once: the registry may refuse the loser's upload
            # session. Content-addressed: if the store now holds the blob, it is the same blob.
            if not self.remote.has(KIND, sha256):
                self.remote.push(KIND, path, sha256, MEDIA_TYPE)  # once more
        if not self.remote.has(KIND, sha256):
            raise NotFound(
                f"the artifact sha256:{short_digest(sha256)} was uploaded to {self.uri} but the store does not list it",
                hint="nothing was registered; check the store and run the command again",
            )
        return True

    def get(self, ref: ArtifactRef) -> bytes:
        """From the cache, or fetched from the store, checked, then cached."""
        if super().has(ref):
            return super().get(ref)
        return self.fetch(ref).read_bytes()  # just checked while it arrived: not hashed again

    def has(self, ref: ArtifactRef) -> bool:
        return super().has(ref) or self.remote.has(KIND, ref.sha256)

    def describe(self) -> str:
        return self.uri

    def available(self, sha256: str, size: int) -> bool:
        return super().available(sha256, size) or self.remote.has(KIND, sha256)

    def local_file(self, sha256: str, size: int) -> Path | None:
        """The cached file, fetched from the store first when missing (None when the store lacks it)."""
        ref = ArtifactRef(uri=self.uri_for(sha256), sha256=sha256, size=size, format="skops")
        try:
            return self.fetch(ref)
        except NotFound:
            return None

    def fetch(self, ref: ArtifactRef) -> Path:
        """The cached file of ``ref``, downloaded first when missing (size and sha256 checked)."""
        path = self.path_for(ref.sha256)
        if super().has(ref):
            return path
        if not self.remote.has(KIND, ref.sha256):
            raise NotFound(
                f"artifact sha256:{short_digest(ref.sha256)} is not in the artifact store {self.uri}",
                hint="push it from the machine that trained it (mlopsctl registry push MODEL@VERSION), "
                "or rebuild it: mlopsctl reproduce MODEL@VERSION",
            )
        self._download(ref, path)
        return path

    def _download(self, ref: ArtifactRef, path: Path) -> None:
        """Stream the blob into a temp file beside ``path``, hashed as it arrives; renamed into place only
        when its size and sha256 are the record's (a tampered blob never reaches the cache)."""
        if self.repo_root is not None:
            refuse_state_links(self.repo_root, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        partial = Path(name)
        try:
            got = self.remote.pull_to(KIND, ref.sha256, partial)
            size = partial.stat().st_size
            if got != ref.sha256 or size != ref.size:
                raise ArtifactRefused(
                    f"the artifact store {self.uri} returned other bytes for sha256:{ref.sha256}: "
                    f"sha256:{got} ({size} bytes, expected {ref.size})",
                    hint="the stored blob was tampered with or corrupted; it was not cached or loaded",
                )
            partial.chmod(0o444)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
