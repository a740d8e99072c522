"""Errors the remote store ports share (ports/oci.py, ports/s3.py)."""

from __future__ import annotations

from mlopsctl.errors import MlopsError

STORE_VARIABLE = "MLOPS_ARTIFACT_STORE"
"""How a runner chooses the store: the only way credentials go to it."""


class CredentialsRefused(MlopsError):
    """The store answered but will not let this machine in: exit 1 (not 3: the store is up)."""

    title = "Store refused access"
