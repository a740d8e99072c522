"""An OCI registry as a content-addressed blob store, through the ``oras`` SDK.

Model artifacts (and data snapshots) go to the same registry that holds the images: GHCR, ECR,
GCR, Harbor or a plain distribution registry. Each blob is pushed as a one-layer OCI artifact in
the repository ``NAMESPACE/<kind>`` under the tag ``sha256-<hex>`` (a tag cannot hold ``:``), so
the registry keeps it (a blob no manifest names may be garbage-collected) and the layer's digest is
the artifact's own sha256: what the version record names is what the registry verifies on upload
and what is checked again on download.

The connection is https, except to a loopback host, where a plain local registry speaks http.
Credentials (``MLOPS_OCI_USERNAME`` / ``MLOPS_OCI_PASSWORD``, from the runner's environment, never
from the repository) go only over https, or over loopback http when the user allowed it with
``MLOPS_ALLOW_INSECURE_LOOPBACK=1``, and only to a host the runner chose (``MLOPS_ARTIFACT_STORE``):
a host named by ``mlops.yaml`` alone is reached anonymously, so a hostile commit that points the
store elsewhere gets no password. Every call is recorded in the operation log (kind ``oci``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, StoreUnreachable, UsageError
from mlopsctl.ports import http
from mlopsctl.spec.userconfig import check_credential_url, is_loopback_host

KIND = "oci"
USERNAME_VARIABLE = "MLOPS_OCI_USERNAME"
PASSWORD_VARIABLE = "MLOPS_OCI_PASSWORD"
PROBE_SECONDS = 10.0


@dataclass(frozen=True)
class OciLocation:
    """``oci://HOST[:PORT]/NAMESPACE``: where blobs go."""

    host: str
    namespace: str

    @classmethod
    def parse(cls, uri: str) -> OciLocation:
        rest = uri.removeprefix("oci://")
        host, _, namespace = rest.partition("/")
        namespace = namespace.strip("/")
        if not host or not namespace or any(part in ("", ".", "..") for part in namespace.split("/")):
            raise UsageError(
                f"'{uri}' is not an OCI store location",
                hint="write oci://HOST[:PORT]/NAMESPACE, e.g. oci://ghcr.io/acme/models",
            )
        if namespace != namespace.lower():
            raise UsageError(f"'{uri}': an OCI repository name is lower case", hint=f"use {namespace.lower()}")
        return cls(host, namespace)

    @property
    def hostname(self) -> str:
        return urllib.parse.urlsplit(f"//{self.host}").hostname or self.host

    @property
    def insecure(self) -> bool:
        """Plain http: only a registry on this machine."""
        return is_loopback_host(self.hostname)

    def target(self, kind: str, sha256: str) -> str:
        return f"{self.host}/{self.namespace}/{kind}:sha256-{sha256}"

    def __str__(self) -> str:
        return f"oci://{self.host}/{self.namespace}"


class OciRegistry:
    """Push, find and pull blobs by sha256 in one registry namespace."""

    def __init__(self, location: OciLocation, *, send_credentials: bool = True) -> None:
        self.location = location
        self.send_credentials = send_credentials  # False when a repository file chose the host
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import oras.client

            # oras prints its own errors (a 404 while probing is "manifest unknown"): ours say more, once
            logging.getLogger("oras.logger").setLevel(logging.CRITICAL)
            self._check_answers()
            client = oras.client.OrasClient(hostname=self.location.host, insecure=self.location.insecure)
            username, password = os.environ.get(USERNAME_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
            if username and password and self.send_credentials:
                scheme = "http" if self.location.insecure else "https"
                check_credential_url(f"{scheme}://{self.location.host}/v2/", what=f"the OCI store {self.location}")
                self._call("login", lambda: client.login(username, password, hostname=self.location.host))
            self._client = client
        return self._client

    def _check_answers(self) -> None:
        """One quick request first: oras retries a refused connection for about two minutes."""
        scheme = "http" if self.location.insecure else "https"
        try:
            http.request("GET", f"{scheme}://{self.location.host}/v2/", timeout=PROBE_SECONDS)
        except http.NoAnswer as exc:
            raise StoreUnreachable(
                f"the OCI store {self.location} does not answer: {exc.reason}",
                hint="check the registry address in artifact_store (or MLOPS_ARTIFACT_STORE) and that it runs",
            ) from None

    def has(self, kind: str, sha256: str) -> bool:
        """Whether the registry holds the blob under its tag (a manifest that names it)."""

        def probe() -> bool:
            try:
                manifest = self.client().get_manifest(self.location.target(kind, sha256))
            except ValueError:
                return False  # oras raises ValueError for a 404 manifest
            layers = manifest.get("layers") or []
            return any(layer.get("digest") == f"sha256:{sha256}" for layer in layers)

        result: bool = self._call(f"has {self.location.target(kind, sha256)}", probe)
        return result

    def push(self, kind: str, path: Path, sha256: str, media_type: str) -> None:
        """Upload the file at ``path`` (whose sha256 is ``sha256``) and tag it; the registry checks the digest."""
        target = self.location.target(kind, sha256)

        def upload() -> None:
            response = self.client().push(
                target=target,
                files=[f"{path}:{media_type}"],
                disable_path_validation=True,
                manifest_annotations={"org.opencontainers.image.title": f"{sha256}{path.suffix}"},
                quiet=True,
            )
            if response.status_code not in (200, 201):
                raise MlopsError(f"the registry refused {target}: HTTP {response.status_code}")

        self._call(f"push {target}", upload)

    def pull(self, kind: str, sha256: str) -> bytes:
        """The blob's bytes (not yet checked against the digest: the caller verifies before use)."""
        container = f"{self.location.host}/{self.location.namespace}/{kind}"

        def download() -> bytes:
            with tempfile.TemporaryDirectory(prefix="mlopsctl-oci-") as folder:
                out = Path(folder) / "blob"
                self.client().download_blob(container, f"sha256:{sha256}", str(out))
                return out.read_bytes()

        data: bytes = self._call(f"pull {container}@sha256:{sha256[:12]}", download)
        return data

    def _call(self, command: str, action: Any) -> Any:
        import requests

        try:
            result = action()
        except requests.exceptions.RequestException as exc:
            oplog.record(KIND, command, False, type(exc).__name__)
            raise StoreUnreachable(
                f"the OCI store {self.location} does not answer: {type(exc).__name__}",
                hint="check the registry address and that it runs; credentials come from "
                f"{USERNAME_VARIABLE} and {PASSWORD_VARIABLE}",
            ) from None
        except MlopsError as exc:
            oplog.record(KIND, command, False, str(exc))
            raise
        except Exception as exc:  # oras raises plain exceptions for HTTP refusals (401, 403, 5xx)
            oplog.record(KIND, command, False, str(exc)[:200])
            raise MlopsError(
                f"the OCI store {self.location} refused '{command}': {str(exc)[:300]}",
                hint=f"check {USERNAME_VARIABLE} / {PASSWORD_VARIABLE} and the namespace's permissions",
            ) from None
        oplog.record(KIND, command, True)
        return result
