"""An OCI registry as a content-addressed blob store, through the ``oras`` SDK.

Model artifacts (and data snapshots) go to the same registry that holds the images: GHCR, ECR,
GCR, Harbor or a plain distribution registry. Each blob is pushed as a one-layer OCI artifact in
the repository ``NAMESPACE/<kind>`` under the tag ``sha256-<hex>`` (a tag cannot hold ``:``), so
the registry keeps it (a blob no manifest names may be garbage-collected) and the layer's digest is
the artifact's own sha256: what the version record names is what the registry verifies on upload
and what is checked again on download.

The connection is https, except to a loopback host, where a plain local registry speaks http.
Credentials go only to a host the runner chose (``MLOPS_ARTIFACT_STORE``), never to one that
``mlops.yaml`` alone names, so a hostile commit that points the store elsewhere gets no password:

- for a store the runner chose: ``MLOPS_OCI_USERNAME`` / ``MLOPS_OCI_PASSWORD`` when both are set,
  else what ``docker login`` left for that host in the user's docker config (oras's own lookup);
  only over https, or loopback http when ``MLOPS_ALLOW_INSECURE_LOOPBACK=1``;
- for a store named by ``mlops.yaml``: nothing at all. oras would otherwise read ``ORAS_USER`` /
  ``ORAS_PASS`` and the docker config (even run its credential helpers) for any host it is given;
  both are switched off, and a registry that asks for credentials gets a message saying how to
  choose the store.

The registry's challenge on ``/v2/`` picks oras's auth backend: ``Basic`` (a distribution
registry with htpasswd, Harbor's robot accounts) or a bearer token service (GHCR, Docker Hub).
Every call is recorded in the operation log (kind ``oci``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, StoreUnreachable, UsageError
from mlopsctl.ports import http
from mlopsctl.ports.store_errors import STORE_VARIABLE, CredentialsRefused
from mlopsctl.spec.userconfig import check_credential_url, is_loopback_host

KIND = "oci"
USERNAME_VARIABLE = "MLOPS_OCI_USERNAME"
PASSWORD_VARIABLE = "MLOPS_OCI_PASSWORD"
PROBE_SECONDS = 10.0
CHUNK = 1024 * 1024


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
            challenge = self._check_answers()
            backend = "basic" if challenge.lower().startswith("basic") else "token"
            client = oras.client.OrasClient(
                hostname=self.location.host, insecure=self.location.insecure, auth_backend=backend
            )
            if self.send_credentials:
                self._log_in(client)
            else:
                _without_credentials(client)
            if challenge:
                self._check_access(client)
            self._client = client
        return self._client

    def _log_in(self, client: Any) -> None:
        """The runner's credentials from the environment (else oras finds the user's docker login)."""
        username, password = os.environ.get(USERNAME_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
        if not (username and password):
            return
        scheme = "http" if self.location.insecure else "https"
        check_credential_url(f"{scheme}://{self.location.host}/v2/", what=f"the OCI store {self.location}")
        self._call("login", lambda: client.login(username, password, hostname=self.location.host))

    def _check_answers(self) -> str:
        """One quick request first (oras retries a refused connection for about two minutes).

        Returns the registry's authentication challenge ('' when it lets anyone in).
        """
        scheme = "http" if self.location.insecure else "https"
        try:
            answer = http.request("GET", f"{scheme}://{self.location.host}/v2/", timeout=PROBE_SECONDS)
        except http.NoAnswer as exc:
            raise StoreUnreachable(
                f"the OCI store {self.location} does not answer: {exc.reason}",
                hint="check the registry address in artifact_store (or MLOPS_ARTIFACT_STORE) and that it runs",
            ) from None
        if answer.status == 401:
            return answer.header("www-authenticate") or "Basic"
        return ""

    def _check_access(self, client: Any) -> None:
        """A registry that wants credentials: do ours (or the lack of them) open it? One request says."""
        if not client.auth.__class__.__name__.startswith("Basic"):
            return  # a token service may grant anonymous pulls: the first real call tells
        scheme = "http" if self.location.insecure else "https"
        answer = self._call("check access", lambda: client.do_request(f"{scheme}://{self.location.host}/v2/"))
        if answer.status_code in (401, 403):
            raise self._refused_credentials(answer.status_code)

    def _refused_credentials(self, status: int) -> MlopsError:
        """The store asked for credentials and got none, or wrong ones: say which, and what to do."""
        if not self.send_credentials:
            return CredentialsRefused(
                f"the OCI store {self.location} asks for credentials (HTTP {status}); it is named by "
                "mlops.yaml, and mlopsctl sends credentials only to a store you chose",
                hint=f"choose it on this machine: export {STORE_VARIABLE}={self.location} "
                f"(with {USERNAME_VARIABLE} and {PASSWORD_VARIABLE})",
            )
        if not (os.environ.get(USERNAME_VARIABLE) and os.environ.get(PASSWORD_VARIABLE)):
            return CredentialsRefused(
                f"the OCI store {self.location} asks for credentials (HTTP {status}) and none are set",
                hint=f"set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} (or docker login {self.location.host})",
            )
        return CredentialsRefused(
            f"the OCI store {self.location} refused the credentials in {USERNAME_VARIABLE} / "
            f"{PASSWORD_VARIABLE} (HTTP {status})",
            hint="check the user name, the password (or token) and its permissions on the namespace",
        )

    def has(self, kind: str, sha256: str) -> bool:
        """Whether the registry holds the blob under its tag (a manifest that names it)."""

        def probe() -> bool:
            try:
                manifest = self.client().get_manifest(self.location.target(kind, sha256))
            except ValueError as exc:  # oras raises ValueError for any refusal: only a 404 means "not there"
                if "Not Found" in str(exc):
                    return False
                refusal = self._refusal(exc)
                if refusal is None:
                    raise
                raise refusal from None
            layers = manifest.get("layers") or []
            return any(layer.get("digest") == f"sha256:{sha256}" for layer in layers)

        result: bool = self._call(f"has {self.location.target(kind, sha256)}", probe)
        return result

    def push(self, kind: str, path: Path, sha256: str, media_type: str) -> None:
        """Upload the file at ``path`` (whose sha256 is ``sha256``) and tag it; the registry checks the digest.

        oras's own ``push`` hashes the file again to name the layer; the digest is known here, so the
        layer, the empty config and the manifest go up through oras's lower-level calls instead
        (200 MB: half a second less), and the registry still refuses bytes that do not match it.
        """
        target = self.location.target(kind, sha256)

        def upload() -> None:
            import oras.oci
            import oras.provider

            client = self.client()
            container = client.get_container(target)
            client.auth.load_configs(container)  # what oras's push does first: a docker login, when allowed
            title = {"org.opencontainers.image.title": f"{sha256}{path.suffix}"}
            layer = {
                "mediaType": media_type,
                "size": path.stat().st_size,
                "digest": f"sha256:{sha256}",
                "annotations": title,
            }
            _accepted(target, client.upload_blob(str(path), container, layer))
            config, _ = oras.oci.ManifestConfig()
            with oras.provider.temporary_empty_config() as config_file:
                _accepted(target, client.upload_blob(config_file, container, config))
            manifest = {**oras.oci.NewManifest(), "config": config, "layers": [layer], "annotations": title}
            _accepted(target, client.upload_manifest(manifest, container))

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

    def pull_to(self, kind: str, sha256: str, path: Path) -> str:
        """Stream the blob into ``path``, hashing as it arrives; returns the sha256 of what was written
        (the caller compares it: a registry serves a stored file as it is, tampered or not)."""
        container = f"{self.location.host}/{self.location.namespace}/{kind}"

        def download() -> str:
            response = self.client().get_blob(container, f"sha256:{sha256}", stream=True)
            if response.status_code != 200:
                raise ValueError(f"Issue with {container}@sha256:{sha256}: {response.reason}")
            return _write_hashed(response.iter_content(chunk_size=CHUNK), path)

        digest: str = self._call(f"pull {container}@sha256:{sha256[:12]}", download)
        return digest

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
            refusal = self._refusal(exc)
            if refusal is not None:
                raise refusal from None
            raise MlopsError(
                f"the OCI store {self.location} refused '{command}': {str(exc)[:300]}",
                hint=f"check {USERNAME_VARIABLE} / {PASSWORD_VARIABLE} and the namespace's permissions",
            ) from None
        oplog.record(KIND, command, True)
        return result

    def _refusal(self, exc: Exception) -> MlopsError | None:
        """The credential message when oras's error is an HTTP 401 or 403."""
        text = str(exc)
        for status, words in ((401, ("Unauthorized", "authentication required")), (403, ("Forbidden", "denied"))):
            if any(word in text for word in words):
                return self._refused_credentials(status)
        return None


def _accepted(target: str, response: Any) -> None:
    if response.status_code not in (200, 201, 202):
        raise MlopsError(f"the registry refused {target}: HTTP {response.status_code} {response.text[:200]}")


def _write_hashed(chunks: Iterable[bytes], path: Path) -> str:
    """Write ``chunks`` to ``path`` and return their sha256 (one pass: no second read to hash)."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _without_credentials(client: Any) -> None:
    """No credential of any kind for a host the repository chose (oras would look up several)."""
    client.auth._basic_auth = None  # oras's BasicAuth takes ORAS_USER / ORAS_PASS from the environment
    client.auth._auth_config = {"auths": {}}  # non-empty: oras then never loads ~/.docker/config.json
