"""Who registered each version (:mod:`mlopsctl.registry.provenance`) on real git histories: the oldest
addition wins, a rewritten history is read again, and a broken index only costs a slower answer."""

from __future__ import annotations

from pathlib import Path

from mlopsctl.registry.index import INDEX_NAME
from mlopsctl.registry.provenance import registrars
from mlopsctl.registry.store import register_version
from mlopsctl.spec.loader import open_repo
from tests.support.registry_authors import commit_as, git
from tests.support.registry_drafts import make_draft


def names(root: Path) -> dict[str, str]:
    repo = open_repo(root)
    return {key: who.label() for key, who in registrars(repo.root, repo.state_dir).items()}


def test_each_record_names_the_author_of_the_commit_that_added_it(model_repo: Path) -> None:
    register_version(open_repo(model_repo), make_draft("churn", run_id="run-1"))
    commit_as(model_repo, "Ada Lovelace", "ada@example.com")
    register_version(open_repo(model_repo), make_draft("churn", c=0.1, run_id="run-2"))
    assert names(model_repo) == {
        "churn/v1.yaml": "Test User <test@example.com>",
        "churn/v2.yaml": "Ada Lovelace <ada@example.com>",
    }


def test_a_later_edit_or_a_removal_and_restore_keeps_the_first_registrar(model_repo: Path) -> None:
    register_version(open_repo(model_repo), make_draft("churn", run_id="run-1"))
    assert names(model_repo) == {"churn/v1.yaml": "Test User <test@example.com>"}  # cached at this HEAD
    commit_as(model_repo, "Mallory", "mallory@example.com")
    git(model_repo, "rm", "-q", "registry/churn/v1.yaml")
    git(model_repo, "commit", "-q", "-m", "remove")
    git(model_repo, "revert", "--no-edit", "HEAD")
    assert names(model_repo) == {"churn/v1.yaml": "Test User <test@example.com>"}


def test_a_rewritten_history_is_read_again(model_repo: Path) -> None:
    register_version(open_repo(model_repo), make_draft("churn", run_id="run-1"))
    assert names(model_repo) == {"churn/v1.yaml": "Test User <test@example.com>"}
    git(model_repo, "commit", "-q", "--amend", "--no-edit", "--author", "Ada Lovelace <ada@example.com>")
    assert names(model_repo) == {"churn/v1.yaml": "Ada Lovelace <ada@example.com>"}


def test_an_unusable_index_still_answers(model_repo: Path) -> None:
    register_version(open_repo(model_repo), make_draft("churn", run_id="run-1"))
    index = model_repo / ".mlops" / INDEX_NAME
    index.parent.mkdir(exist_ok=True)
    index.write_bytes(b"not a database at all" * 100)
    assert names(model_repo) == {"churn/v1.yaml": "Test User <test@example.com>"}
    git(model_repo, "reset", "-q", "--soft", "HEAD~1")
    assert names(model_repo) == {}  # registered, not committed yet


def test_no_commit_yet_names_no_one(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert registrars(tmp_path, tmp_path / ".mlops") == {}
