"""The git port: GitPython does the work, every call lands in the operation log, reads read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl import oplog
from mlopsctl.errors import GitRemoteUnreachable, MlopsError
from mlopsctl.gitops.git import Git as ReExportedGit
from mlopsctl.ports.git import Git

BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    port = Git(root)
    port.run("init", "-q", "-b", "main")
    (root / "model.yaml").write_text("name: churn\n")
    (root / "logo.png").write_bytes(BINARY)
    port.commit(["model.yaml", "logo.png"], "first")
    return root


def commands(operations: list[oplog.Operation]) -> list[str]:
    return [op.command for op in operations if op.kind == "git"]


def test_a_commit_records_every_git_command_it_ran(repo: Path, operations: list[oplog.Operation]) -> None:
    (repo / "model.yaml").write_text("name: churn\nversion: 2\n")

    commit = Git(repo).commit(["model.yaml"], "Second")

    assert commands(operations) == [
        "git add -- model.yaml",
        "git config user.name",
        "git config user.email",
        "git commit -q -m Second -- model.yaml",
        "git rev-parse HEAD",
    ]
    assert all(op.ok for op in operations)
    assert len(commit) == 40


def test_a_failed_command_is_recorded_with_what_git_said(repo: Path, operations: list[oplog.Operation]) -> None:
    with pytest.raises(MlopsError, match="git rev-parse --verify nowhere failed"):
        Git(repo).run("rev-parse", "--verify", "nowhere")

    assert [(op.command, op.ok) for op in operations] == [("git rev-parse --verify nowhere", False)]
    assert operations[0].detail == "fatal: Needed a single revision"


def test_the_log_callback_still_sees_each_command(repo: Path) -> None:
    seen: list[tuple[str, bool]] = []

    Git(repo, log=lambda command, ok: seen.append((command, ok))).run("status", "--porcelain")

    assert seen == [("git status --porcelain", True)]


def test_read_blobs_returns_texts_for_existing_missing_and_binary_paths(
    repo: Path, operations: list[oplog.Operation]
) -> None:
    names = ["HEAD:model.yaml", "HEAD:no-such-file.yaml", "HEAD:logo.png", "0000000:model.yaml", "HEAD:model.yaml"]

    texts = Git(repo).read_blobs(names)

    binary = BINARY.decode("utf-8", errors="replace")
    assert texts == ["name: churn\n", None, binary, None, "name: churn\n"]
    assert commands(operations) == ["git cat-file --batch (5 objects)"]
    assert Git(repo).read_blobs([]) == []


def test_show_file_reads_one_committed_file_or_none(repo: Path, operations: list[oplog.Operation]) -> None:
    port = Git(repo)

    assert port.show_file("HEAD", "model.yaml") == "name: churn\n"
    assert port.show_file("HEAD", "missing.yaml") is None
    assert port.show_bytes("HEAD", "logo.png") == BINARY
    assert [(op.command, op.ok) for op in operations] == [
        ("git cat-file blob HEAD:model.yaml", True),
        ("git cat-file blob HEAD:missing.yaml", False),
        ("git cat-file blob HEAD:logo.png", True),
    ]


def test_gitpython_does_the_work_and_keeps_one_cat_file_process(repo: Path) -> None:
    port = Git(repo)

    port.read_blobs(["HEAD:model.yaml"])
    persistent = port.repo.git.cat_file_all
    port.show_file("HEAD", "model.yaml")

    assert type(port.repo).__module__.startswith("git.")
    assert persistent is not None and port.repo.git.cat_file_all is persistent
    assert ReExportedGit is Git
    port.close()
    assert port.repo.git.cat_file_all is None  # reopened without the old process


def test_output_is_kept_as_git_wrote_it(repo: Path) -> None:
    output = Git(repo).run("log", "--format=%H%x1f%s%x1e").stdout

    assert output.endswith("\x1ffirst\x1e\n")


def test_input_reaches_git_and_writes_a_commit_off_the_work_tree(repo: Path) -> None:
    port = Git(repo)
    head = port.head()
    assert head is not None

    commit = port.commit_file(head, "environments/staging.yaml", "deployments: {}\n", "Promote\n\nAction: promote\n")

    assert port.show_file(commit, "environments/staging.yaml") == "deployments: {}\n"
    assert port.out("log", "-1", "--format=%B", commit) == "Promote\n\nAction: promote"
    assert port.head() == head


def test_a_directory_before_git_init_is_no_repository(tmp_path: Path) -> None:
    port = Git(tmp_path)

    assert not port.is_repo()
    assert port.read_blobs(["HEAD:x"]) == [None]
    with pytest.raises(MlopsError, match="is not in a git repository"):
        _ = port.repo


def test_an_unreachable_remote_maps_to_its_error(repo: Path, tmp_path: Path) -> None:
    port = Git(repo)
    port.run("remote", "add", "origin", str(tmp_path / "gone"))

    with pytest.raises(GitRemoteUnreachable, match="git push -q origin main failed"):
        port.run("push", "-q", "origin", "main")
