"""Whether this machine can get the artifact of every version a plan would start (issue 14).

A fresh clone (a CI runner, a teammate) has the version records from Git but not the artifacts,
which live in the artifact store of whoever trained. ``plan`` must say so, naming the version and
the fix, instead of promising a start that ``apply`` then fails: a remote store (``oci://``,
``s3://``) is asked whether it holds the blob; a folder store must hold the file. A store that does
not answer is the exit-3 :class:`~mlopsctl.errors.StoreUnreachable` its port raises.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlopsctl.deploy.model import ServiceSpec
from mlopsctl.errors import MlopsError
from mlopsctl.registry.artifacts import ArtifactStore
from mlopsctl.registry.records import record_path
from mlopsctl.registry.store import artifact_store_for, parse_record_file
from mlopsctl.spec.loader import Repo

# The block the registry writes; a record laid out otherwise is parsed in full.
ARTIFACT_BLOCK = re.compile(r"^artifact:\n(?:  [a-z_]+: .*\n)*?  sha256: ([0-9a-f]{64})\n  size: (\d+)\n", re.MULTILINE)


def missing_artifacts(repo: Repo, specs: list[ServiceSpec]) -> list[str]:
    """One line per version whose artifact this machine cannot get, with what to do about it."""
    store: ArtifactStore | None = None
    found: list[str] = []
    for spec in specs:
        for version in spec.versions():
            digest = _artifact_of(record_path(repo.root, spec.model, version))
            if digest is None:
                continue  # an unreadable or missing record is refusals()' to report
            store = store or artifact_store_for(repo)
            if not store.available(*digest):
                found.append(_missing(spec.model, version, digest[0], store))
    return list(dict.fromkeys(found))


def _artifact_of(path: Path) -> tuple[str, int] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = ARTIFACT_BLOCK.search(text)
    if match:
        return match[1], int(match[2])
    try:
        artifact = parse_record_file(path)["artifact"]
        return str(artifact["sha256"]), int(artifact["size"])
    except (MlopsError, KeyError, TypeError, ValueError):
        return None


def _missing(model: str, version: int, sha256: str, store: ArtifactStore) -> str:
    return (
        f"the artifact of {model}@{version} (sha256:{sha256[:12]}) is not in the artifact store {store.describe()}: "
        "point MLOPS_ARTIFACT_STORE (or artifact_store in mlops.yaml) at the team's store (oci://HOST/NAMESPACE, "
        f"s3://BUCKET/PREFIX or a shared folder), or train it here: mlopsctl reproduce {model}@{version}"
    )
