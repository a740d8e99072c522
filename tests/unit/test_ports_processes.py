"""The processes port with a real ``sleep``: spawned detached, stopped by signal, both recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlopsctl import oplog
from mlopsctl.ports import processes


def test_spawn_and_stop_a_real_process_are_recorded(tmp_path: Path) -> None:
    sleep = shutil.which("sleep") or "/bin/sleep"
    operations: list[oplog.Operation] = []
    unsubscribe = oplog.subscribe(operations.append)
    try:
        pid = processes.spawn([sleep, "30"], tmp_path / "sleep.log", {"PATH": "/usr/bin:/bin"})
        started = processes.proc_stat(pid)
        assert started is not None and started.state in "RSD"

        def gone() -> bool:
            stat = processes.proc_stat(pid)
            if stat is None or stat.state in ("Z", "X"):
                processes.reap(pid)
                return True
            return False

        assert processes.stop(pid, f"stop process {pid} (sleep)", gone, grace=5, kill_wait=5)
    finally:
        unsubscribe()
    assert [(op.kind, op.command, op.ok) for op in operations] == [
        ("process", f"{sleep} 30", True),
        ("process", f"stop process {pid} (sleep)", True),
    ]
    assert operations[0].detail == f"pid {pid}, log {tmp_path / 'sleep.log'}"
    assert processes.proc_stat(pid) is None


def test_a_program_that_cannot_start_is_recorded_as_failed(tmp_path: Path) -> None:
    operations: list[oplog.Operation] = []
    unsubscribe = oplog.subscribe(operations.append)
    missing = str(tmp_path / "no-such-program")
    try:
        try:
            processes.spawn([missing], tmp_path / "log", {})
        except OSError:
            pass
        else:
            raise AssertionError("spawning a missing program should fail")
    finally:
        unsubscribe()
    assert [(op.kind, op.command, op.ok) for op in operations] == [("process", missing, False)]
