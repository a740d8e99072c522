"""The ``local`` target: prediction services as detached processes that mlopsctl starts and stops.

Each service is ``python -m mlopsctl.serve`` in its own session (a terminal's Ctrl-C or the end of
``apply`` does not reach it), with stdin closed and its output appended to a log file under
``<state_dir>/deploy/logs/<env>/``. Two things identify it:

* its **pid and start time** (field 22 of ``/proc/<pid>/stat``), recorded in the deploy state: a
  pid that now belongs to another process is never signalled;
* a **marker** in its environment (``MLOPSCTL_SERVICE``: repository, environment, instance id and
  spec), written before the process exists. An apply killed between starting a process and
  recording it leaves no orphan: the next ``plan``/``apply``/``down`` finds it in ``/proc``.

A service that apply started in this same process (the dashboard, tests) is our child: when it
exits it is reaped here, so no zombie is ever taken for a live service. Spawning, signalling and
reading /proc go through :mod:`mlopsctl.ports.processes`, which records every start and stop.

A service also listens at a handover socket of its own (:mod:`mlopsctl.deploy.handover`): its
successor on the same port takes the listening socket from it there, so a swap refuses nothing.

A service gets an environment built from an allow-list (:data:`CHILD_ENV_NAMES`, ``LC_*``), never
a copy of the caller's: the CI job or shell that runs ``apply`` holds ``GITHUB_TOKEN``, cloud keys
and the like, and a service runs a model that came through a pull request.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from mlopsctl.deploy.handover import handover_path, is_socket, remove_left_socket
from mlopsctl.deploy.model import SERVICE, Health, Instance, ServiceSpec
from mlopsctl.deploy.runtime import Launch, Say, VersionFiles
from mlopsctl.deploy.state import log_dir, now, read_state
from mlopsctl.ports import processes
from mlopsctl.ports.processes import PROC, ProcStat, proc_stat, reap

__all__ = ["LocalRuntime", "ProcStat", "inherited_env", "proc_stat", "read_marker", "tail"]
from mlopsctl.spec.loader import Repo

MARKER = "MLOPSCTL_SERVICE"
SERVE_MODULE = "mlopsctl.serve"
GRACE_SECONDS = 15.0
KILL_WAIT_SECONDS = 5.0
CHILD_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        # how the interpreter finds and runs mlopsctl (a source checkout, a pinned hash seed, warnings)
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONWARNINGS",
        # how many threads the numeric libraries use, and OpenBLAS' kernel choice (some CPUs need it)
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
    }
)
"""What a service inherits from whoever started it (plus ``LC_*``). The service reads no MLOPS_ variable."""
CHILD_ENV_PREFIXES = ("LC_",)


class LocalRuntime:
    """Processes on this machine for one repository."""

    target = "local"
    hands_over = True
    """Same-port swaps hand the listening socket over (:mod:`mlopsctl.deploy.handover`)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.root = str(repo.root)
        self._exit_codes: dict[int, int] = {}

    # ------------------------------------------------------------------ observing

    def observe(self, env: str) -> list[Instance]:
        recorded = [i for i in read_state(self.repo, env).instances if i.spec.target == self.target]
        for instance in recorded:
            gone = self.gone(instance)
            instance.health = Health(alive=gone is None, problem=gone)
        known = {(i.pid, i.start_ticks) for i in recorded if i.health.alive}
        found = [i for i in self.marked(env) if (i.pid, i.start_ticks) not in known]
        return recorded + found

    def marked(self, env: str | None = None) -> list[Instance]:
        """Live processes carrying this repository's marker (of ``env``, or of every environment)."""
        found: list[Instance] = []
        for entry in os.scandir(PROC):
            if entry.name.isdigit():
                instance = self._from_marker(int(entry.name), env)
                if instance is not None:
                    found.append(instance)
        return found

    def _from_marker(self, pid: int, env: str | None) -> Instance | None:
        data = read_marker(pid)
        if data is None or data.get("repo") != self.root or (env is not None and data.get("env") != env):
            return None
        stat = proc_stat(pid)
        if stat is None or stat.state in ("Z", "X"):
            reap(pid)
            return None
        instance = Instance.from_state({**data, "pid": pid, "start_ticks": stat.start_ticks}, str(data["env"]))
        instance.recorded = False
        return instance

    def gone(self, instance: Instance) -> str | None:
        pid = instance.pid
        if pid is None:
            return "no process recorded"
        stat = proc_stat(pid)
        if stat is not None and stat.start_ticks != instance.start_ticks:
            return f"process {pid} is gone (the pid now belongs to another process)"
        if stat is None or stat.state in ("Z", "X"):
            code = reap(pid)
            if code is not None:
                self._exit_codes[pid] = code
            code = self._exit_codes.get(pid)
            return f"process {pid} exited" + (f" with code {code}" if code is not None else "")
        return None

    # ------------------------------------------------------------------ starting and stopping

    def prepare(self, specs: list[ServiceSpec], files: dict[tuple[str, int], VersionFiles], say: Say) -> None:
        """Nothing to build: a process runs the registry's files as they are."""

    def start(self, launch: Launch) -> Instance:
        spec = launch.spec
        folder = log_dir(self.repo, launch.env)
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "-preflight" if launch.role == "preflight" else ""
        log = folder / f"{spec.model}-{launch.instance_id}{suffix}.log"
        instance = Instance(
            spec=spec, id=launch.instance_id, env=launch.env, role=launch.role, log=str(log), started_at=now()
        )
        pid = processes.spawn(self._argv(launch), log, self._child_env(instance))
        stat = proc_stat(pid)
        instance.pid = pid
        instance.start_ticks = stat.start_ticks if stat is not None else None
        return instance

    def _argv(self, launch: Launch) -> list[str]:
        stable, candidate = launch.stable, launch.candidate
        args = [sys.executable, "-m", SERVE_MODULE, "--record", str(stable.record), "--artifact", str(stable.artifact)]
        if candidate is not None:
            args += launch.candidate_arguments(str(candidate.record), str(candidate.artifact))
        args += ["--host", "127.0.0.1", "--port", str(launch.spec.port), *launch.limit_arguments()]
        return args + self._handover_arguments(launch)

    def _handover_arguments(self, launch: Launch) -> list[str]:
        """``--handover`` (where a successor takes the port) and ``--take-over`` (the predecessor's), for a service."""
        if launch.role != SERVICE:
            return []  # a preflight on a scratch port is never taken over
        own = handover_path(self.repo, launch.env, launch.instance_id)
        args = ["--handover", str(own)] if own is not None else []
        previous = handover_path(self.repo, launch.env, launch.take_over_from) if launch.take_over_from else None
        return args + (["--take-over", str(previous)] if previous is not None else [])

    def holds_port(self, instance: Instance) -> bool:
        """Its handover socket exists: it accepts on its port (bound, or taken over) and can be replaced."""
        return is_socket(handover_path(self.repo, instance.env, instance.id))

    def _child_env(self, instance: Instance) -> dict[str, str]:
        marker = {"repo": self.root, **instance.to_state(), "env": instance.env}
        return {**inherited_env(), MARKER: json.dumps(marker, separators=(",", ":")), "PYTHONUNBUFFERED": "1"}

    def stop(self, instance: Instance) -> None:
        if self.gone(instance) is None and instance.pid is not None:
            what = f"stop process {instance.pid} ({instance.spec.describe()})"
            processes.stop(
                instance.pid, what, lambda: self.gone(instance) is not None, GRACE_SECONDS, KILL_WAIT_SECONDS
            )
        remove_left_socket(self.repo, instance.env, instance.id)

    def log_tail(self, instance: Instance, lines: int = 20) -> str:
        if not instance.log:
            return ""
        return tail(Path(instance.log), lines)


def inherited_env() -> dict[str, str]:
    """The allow-listed part of this process's environment (no tokens, keys or anything unnamed)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in CHILD_ENV_NAMES or name.startswith(CHILD_ENV_PREFIXES)
    }


def read_marker(pid: int) -> dict[str, Any] | None:
    """The ``MLOPSCTL_SERVICE`` marker of a ``python -m mlopsctl.serve`` process, or None."""
    base = PROC / str(pid)
    try:
        if SERVE_MODULE.encode() not in (base / "cmdline").read_bytes():
            return None
        environ = (base / "environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    prefix = MARKER.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            with contextlib.suppress(ValueError):
                data = json.loads(item[len(prefix) :])
                return data if isinstance(data, dict) else None
    return None


def tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop_child(pid: int, what: str) -> bool:
    """Stop a background process this one started (the demo's traffic replay) and collect its exit status.

    Our own unreaped child cannot have handed its pid to another process, so the pid alone is
    enough. SIGTERM, then SIGKILL after the grace period. True when it was running and is gone
    now, False when it had already exited.
    """
    if _exited(pid):
        return False
    return processes.stop(pid, what, lambda: _exited(pid), GRACE_SECONDS, KILL_WAIT_SECONDS)


def _exited(pid: int) -> bool:
    reap(pid)
    stat = proc_stat(pid)
    return stat is None or stat.state in ("Z", "X")
