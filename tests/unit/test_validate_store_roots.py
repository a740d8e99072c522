"""validate skips reading records when no artifact store can hold an artifact (issue 13 item 15).

It looks in :func:`mlopsctl.registry.validate.possible_store_roots` without loading the store's
code (GitPython), so those roots must be where ``artifact_store_for`` puts every kind of store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.registry.store import artifact_store_for
from mlopsctl.registry.validate import possible_store_roots
from mlopsctl.spec.loader import scan_repo


@pytest.mark.parametrize(
    "setting",
    ["", "artifact_store: shared-artifacts\n", "artifact_store: file://shared-artifacts\n", "artifact_store: s3://bucket/prefix\n",
     "artifact_store: oci://registry.example.com/models\n"],
    ids=["state-folder", "folder", "file-uri", "s3", "oci"],
)  # fmt: skip
def test_every_store_keeps_its_files_under_a_root_validate_looks_at(model_repo: Path, setting: str) -> None:
    settings = model_repo / "mlops.yaml"
    settings.write_text(settings.read_text() + setting)
    repo = scan_repo(model_repo)
    assert repo.problems == []
    assert artifact_store_for(repo).root in possible_store_roots(repo)
