"""Registration under real concurrency and real crashes: separate processes, SIGKILL, git fsck.

Workers are real Python processes registering through the public API. After every scenario the
registry must be consistent: only ``v<N>.yaml`` names in the model's folder, every record complete
and parseable, every record's artifact present with its registered digest, git's object store clean.
An artifact without a record is allowed (content-addressed, harmless); a record without its
artifact is not.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlopsctl.registry.records import RECORD_NAME, read_record, version_numbers
from mlopsctl.registry.store import artifact_store_for, register, register_version
from mlopsctl.spec.loader import open_repo
from tests.support.registry_drafts import artifact_bytes, make_draft

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys, time
from pathlib import Path
from mlopsctl.registry.store import register_version
from mlopsctl.spec.loader import open_repo
from tests.support.registry_drafts import make_draft

root, tag, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
repo = open_repo(root)
make_draft(c=1.0)  # fit and import everything before the start line
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
i = 0
while count < 0 or i < count:
    record = register_version(repo, make_draft(c=1.0 / (1 + i % 7), run_id=f"{tag}-{i}"))
    print(record.version, flush=True)
    i += 1
"""


def start_worker(root: Path, tag: str, count: int, go: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(root), tag, str(count), str(go)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def wait_for(condition: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def assert_consistent(root: Path) -> list[int]:
    """The registry invariants; returns the version numbers on disk."""
    wait_for(lambda: not (root / ".git" / "index.lock").exists(), timeout=30)  # an orphaned git may finish
    folder = root / "registry" / "churn"
    names = sorted(os.listdir(folder))
    assert all(RECORD_NAME.match(name) for name in names), names  # no temp or half-written files
    store = artifact_store_for(open_repo(root))
    versions = version_numbers(root, "churn")
    for number in versions:
        record = read_record(root, "churn", number)
        assert record.version == number
        assert store.get(record.artifact)  # present, right size and digest
    fsck = git(root, "fsck", "--full", "--strict")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert not [line for line in fsck.stdout.splitlines() if not line.startswith("dangling")]
    # committed records are untouched; one killed between `git add` and `git commit` may be staged
    assert git(root, "diff", "--quiet", "--diff-filter=MD", "HEAD", "--", "registry").returncode == 0
    return versions


def committed_versions(root: Path) -> list[int]:
    listed = git(root, "ls-files", "registry/churn").stdout.split()
    return sorted(int(RECORD_NAME.match(Path(p).name)[1]) for p in listed if RECORD_NAME.match(Path(p).name))  # type: ignore[index]


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_versions_and_all_are_committed(model_repo: Path) -> None:
    go = model_repo.parent / "go"
    workers = [start_worker(model_repo, f"w{n}", 4, go) for n in range(3)]
    go.touch()
    outputs = [proc.communicate(timeout=300) for proc in workers]
    assert [proc.returncode for proc in workers] == [0, 0, 0], [err for _, err in outputs]
    taken = sorted(int(line) for out, _ in outputs for line in out.split())
    assert taken == list(range(1, 13))
    assert assert_consistent(model_repo) == list(range(1, 13))
    assert committed_versions(model_repo) == list(range(1, 13))
    runs = sorted(read_record(model_repo, "churn", n).run_id for n in range(1, 13))
    assert runs == sorted(f"w{w}-{i}" for w in range(3) for i in range(4))
    subjects = git(model_repo, "log", "--format=%s").stdout.splitlines()
    assert sorted(s for s in subjects if s.startswith("Register ")) == sorted(
        f"Register churn@{n}" for n in range(1, 13)
    )
    assert git(model_repo, "status", "--porcelain").stdout == ""


@pytest.mark.slow
def test_kill_9_at_random_points_of_registration_leaves_a_consistent_registry(model_repo: Path) -> None:
    go = model_repo.parent / "go"
    go.touch()
    chance = random.Random(20261122)
    for _ in range(4):
        before = len(version_numbers(model_repo, "churn"))
        proc = start_worker(model_repo, "crash", -1, go)
        wait_for(lambda before=before: len(version_numbers(model_repo, "churn")) >= before + 2)
        time.sleep(chance.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        assert_consistent(model_repo)
    on_disk = assert_consistent(model_repo)
    assert len(on_disk) >= 8
    # everything committed is on disk, and at most one record per kill is left uncommitted
    committed = committed_versions(model_repo)
    assert set(committed) <= set(on_disk)
    assert len(set(on_disk) - set(committed)) <= 4

    # registration carries on after the crashes, committing only its own record
    after = register(open_repo(model_repo), make_draft(run_id="after"))
    assert after.record.version == on_disk[-1] + 1
    shown = git(model_repo, "show", "--name-only", "--format=", str(after.commit)).stdout.split()
    assert shown == [f"registry/churn/v{after.record.version}.yaml"]


def test_kill_9_after_the_record_is_created_leaves_a_complete_uncommitted_record(model_repo: Path) -> None:
    repo = open_repo(model_repo)
    register_version(repo, make_draft(run_id="first"))
    go = model_repo.parent / "go"
    go.touch()
    lock = repo.state_dir / "locks" / "git.lock"
    with lock.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # the worker creates its record, then waits to commit
        proc = start_worker(model_repo, "killed", 1, go)
        wait_for(lambda: (model_repo / "registry" / "churn" / "v2.yaml").exists())
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    assert assert_consistent(model_repo) == [1, 2]
    assert committed_versions(model_repo) == [1]
    assert read_record(model_repo, "churn", 2).run_id == "killed-0"
    # the dead process's lock died with it: the next registration commits at once
    third = register(repo, make_draft(run_id="third"))
    assert third.record.version == 3
    assert committed_versions(model_repo) == [1, 3]


def test_an_orphan_artifact_is_harmless_and_reused(model_repo: Path) -> None:
    repo = open_repo(model_repo)
    store = artifact_store_for(repo)
    orphan = store.put(artifact_bytes(0.01))  # what a registration killed before its record leaves
    path = store.path_for(orphan.sha256)
    inode = path.stat().st_ino
    assert version_numbers(model_repo, "churn") == []
    record = register_version(repo, make_draft(c=0.01))
    assert record.artifact == orphan
    assert path.stat().st_ino == inode
    assert_consistent(model_repo)
