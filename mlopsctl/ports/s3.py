"""An S3 bucket (or any S3-compatible endpoint) as a content-addressed blob store, through boto3.

Blobs live at ``s3://BUCKET/PREFIX/<kind>/sha256/<hex>``. Credentials and the endpoint come from
boto3's own chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles,
``AWS_ENDPOINT_URL`` for an S3-compatible server), never from the repository. Large files go up
in parts (boto3's transfer manager). Every call is recorded in the operation log (kind ``s3``).

The same rule as the OCI store: requests are signed with the user's credentials only for a bucket
the runner chose (``MLOPS_ARTIFACT_STORE``). A bucket that ``mlops.yaml`` alone names is reached
with unsigned (anonymous) requests, which only a public bucket answers: a hostile commit cannot
make a teammate's or a CI runner's identity write the team's models into a bucket it picked (or
read one with their rights), and a refusal says how to choose the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, StoreUnreachable, UsageError
from mlopsctl.ports.store_errors import STORE_VARIABLE, CredentialsRefused

KIND = "s3"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    """``s3://BUCKET[/PREFIX]``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        if not bucket or any(part in (".", "..") for part in prefix.split("/")):
            raise UsageError(f"'{uri}' is not an S3 store location", hint="write s3://BUCKET/PREFIX")
        return cls(bucket, prefix)

    def key(self, kind: str, sha256: str) -> str:
        return "/".join(part for part in (self.prefix, kind, "sha256", sha256) if part)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class S3Bucket:
    """Push, find and pull blobs by sha256 under one bucket prefix."""

    def __init__(self, location: S3Location, *, sign_requests: bool = True) -> None:
        self.location = location
        self.sign_requests = sign_requests  # False when a repository file chose the bucket
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
            if not self.sign_requests:
                from botocore import UNSIGNED

                config = config.merge(Config(signature_version=UNSIGNED))
            self._client = boto3.session.Session().client("s3", config=config)
        return self._client

    def has(self, kind: str, sha256: str, size: int | None = None) -> bool:
        key = self.location.key(kind, sha256)

        def head() -> bool:
            from botocore.exceptions import ClientError

            try:
                found = self.client().head_object(Bucket=self.location.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return size is None or int(found["ContentLength"]) == size

        result: bool = self._call(f"head {self._uri(key)}", head)
        return result

    def push(self, kind: str, path: Path, sha256: str, media_type: str) -> None:
        key = self.location.key(kind, sha256)
        extra = {"ContentType": media_type, "Metadata": {"sha256": sha256}}
        self._call(
            f"put {self._uri(key)}",
            lambda: self.client().upload_file(str(path), self.location.bucket, key, ExtraArgs=extra),
        )

    def pull(self, kind: str, sha256: str) -> bytes:
        key = self.location.key(kind, sha256)

        def get() -> bytes:
            body = self.client().get_object(Bucket=self.location.bucket, Key=key)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data

        data: bytes = self._call(f"get {self._uri(key)}", get)
        return data

    def pull_to(self, kind: str, sha256: str, path: Path) -> str:
        """Stream the object into ``path``, hashing as it arrives; returns the sha256 of what was written."""
        key = self.location.key(kind, sha256)

        def get() -> str:
            body = self.client().get_object(Bucket=self.location.bucket, Key=key)["Body"]
            digest = hashlib.sha256()
            try:
                with path.open("wb") as out:
                    for chunk in body.iter_chunks(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            finally:
                body.close()
            return digest.hexdigest()

        digest: str = self._call(f"get {self._uri(key)}", get)
        return digest

    def _refused(self, detail: str) -> CredentialsRefused:
        if not self.sign_requests:
            return CredentialsRefused(
                f"the S3 store {self.location} refused an anonymous request ({detail}); it is named by "
                "mlops.yaml, and mlopsctl signs requests only for a store you chose",
                hint=f"choose it on this machine: export {STORE_VARIABLE}={self.location}",
            )
        return CredentialsRefused(
            f"the S3 store {self.location} refused this machine's credentials ({detail})",
            hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket's permissions",
        )

    def _uri(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{key}"

    def _call(self, command: str, action: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as NoConnection, HTTPClientError

        try:
            result = action()
        except (NoConnection, HTTPClientError, ConnectionError) as exc:  # refused, reset, closed, timed out
            oplog.record(KIND, command, False, type(exc).__name__)
            raise StoreUnreachable(
                f"the S3 store {self.location} does not answer: {exc}",
                hint="check AWS_ENDPOINT_URL (for an S3-compatible server) and the network",
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            detail = f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
            oplog.record(KIND, command, False, detail)
            if error.get("Code") in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise self._refused(detail) from None
            raise MlopsError(
                f"the S3 store {self.location} refused '{command}': {detail}",
                hint="check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and the bucket's permissions",
            ) from None
        except BotoCoreError as exc:
            oplog.record(KIND, command, False, type(exc).__name__)
            raise StoreUnreachable(f"the S3 store {self.location}: {exc}", hint="check the S3 settings") from None
        oplog.record(KIND, command, True)
        return result
