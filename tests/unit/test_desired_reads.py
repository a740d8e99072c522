"""Reading the desired state goes through one persistent ``git cat-file --batch`` and nothing else.

Issue 12 measured the desired state 0.027 -> 0.032 s: a ``rev-parse`` and an ``ls-tree`` process
per read, on top of GitPython's ``cat-file`` process (and ``read_desired`` resolved the ref twice).
The commit, the folder's listing and the files now come through that one process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl import oplog
from mlopsctl.deploy.desired import read_environments
from mlopsctl.errors import NotFound
from mlopsctl.ports.git import Git


def test_the_commit_the_listing_and_the_files_come_from_cat_file(
    model_repo: Path, operations: list[oplog.Operation]
) -> None:
    head = Git(model_repo).out("rev-parse", "HEAD")
    operations.clear()
    environments = read_environments(model_repo)
    assert sorted(environments) == ["production", "staging"]
    assert [op.command for op in operations] == [
        "git cat-file --batch HEAD^{commit}",
        f"git cat-file --batch {head}:environments",
        "git cat-file --batch (2 objects)",
    ]


def test_the_listing_matches_ls_tree(model_repo: Path) -> None:
    git = Git(model_repo)
    (model_repo / "environments" / "nested").mkdir()
    (model_repo / "environments" / "nested" / "x.yaml").write_text("name: x\n")
    git.commit(["environments/nested/x.yaml"], "nested")
    head = git.out("rev-parse", "HEAD")
    assert git.tree_names(head, "environments") == git.out("ls-tree", "--name-only", head, "environments/").split()
    assert git.tree_names(head, "no-such-folder") == []
    assert git.tree_names(head, "mlops.yaml") == []  # a file, not a folder


@pytest.mark.parametrize("ref", ["nope", "HEAD\nHEAD", "", "HEAD:mlops.yaml"])
def test_a_ref_that_names_no_commit_is_not_found(model_repo: Path, ref: str) -> None:
    assert Git(model_repo).commit_of(ref) is None
    with pytest.raises(NotFound) as raised:
        read_environments(model_repo, ref)
    assert raised.value.message == f"no commit '{ref}' in {model_repo}"
