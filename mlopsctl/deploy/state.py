"""What apply recorded: ``<state_dir>/deploy/<env>.json`` and the endpoints file monitoring reads.

The deploy state lists every instance apply started and has not stopped yet, for every target,
with what identifies it (pid and start time, or container id), its spec and its log::

    {"format": 1, "env": "staging", "commit": "<applied commit>", "applied_at": "2024-06-11T10:00:00Z",
     "instances": [{"model": "churn", "version": 1, "target": "local", "port": 8100, "strategy": "replace",
                    "candidate": null, "weight": null, "id": "3f2a9c1e", "role": "service",
                    "pid": 4242, "start_ticks": 912345, "log": ".mlops/deploy/logs/staging/churn-3f2a9c1e.log",
                    "started_at": "..."}]}

Every path here is checked before it is read or written (:func:`check_state_folders`): the
environment's name must match the name pattern, and no part of the state folder may be a symbolic
link, so neither a hostile file name nor a committed link can carry a write outside the repository.

It is rewritten atomically after every start and stop, so an apply killed at any point leaves the
last true picture (and the instances it had just started carry a marker that finds them anyway).
The endpoints file, ``<state_dir>/targets/<env>.json``, is the format documented in
:mod:`mlopsctl.monitor.targets` (``{"endpoints": [...]}``), extended with ``target``, ``commit`` and
``applied_at`` keys that readers ignore.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlopsctl.deploy.model import LOCAL_HOST, SERVICE, TIME_FORMAT, Instance
from mlopsctl.errors import CheckFailed
from mlopsctl.fsio import atomic_write_text, refuse_links
from mlopsctl.monitor.targets import state_file as endpoints_file
from mlopsctl.spec.environments import check_environment_name
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import NAME_PATTERN

STATE_FORMAT = 1


@dataclass
class DeployState:
    env: str
    instances: list[Instance] = field(default_factory=list)
    commit: str | None = None
    applied_at: str | None = None

    def targets(self) -> set[str]:
        return {instance.spec.target for instance in self.instances}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "env": self.env,
            "commit": self.commit,
            "applied_at": self.applied_at,
            "instances": [instance.to_state() for instance in self.instances],
        }


def state_path(repo: Repo, env: str) -> Path:
    return _checked(repo, env, Path("deploy") / f"{env}.json")


def log_dir(repo: Repo, env: str) -> Path:
    """``<state_dir>/deploy/logs/<env>``, where service logs go (checked: no link on the way)."""
    return _checked(repo, env, Path("deploy") / "logs" / env)


def endpoints_path(repo: Repo, env: str) -> Path:
    _checked(repo, env, endpoints_file(repo, env).relative_to(repo.state_dir))
    return endpoints_file(repo, env)


def check_state_folders(repo: Repo, env: str) -> None:
    """Refuse before anything is written: a bad environment name, or a symbolic link in the state folder."""
    state_path(repo, env)
    log_dir(repo, env)
    endpoints_path(repo, env)


def _checked(repo: Repo, env: str, relative: Path) -> Path:
    check_environment_name(env)
    return refuse_links(repo.root, repo.state_dir / relative)


def read_state(repo: Repo, env: str) -> DeployState:
    path = state_path(repo, env)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return DeployState(env=env)
    try:
        data = json.loads(text)
        check = _InstanceCheck(repo, env)
        instances = [check(Instance.from_state(row, env)) for row in data.get("instances", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckFailed(
            f"the deploy state {path} is unreadable: {exc}",
            title="Unreadable state",
            hint=f"stop what runs with 'mlopsctl down --env {env}' (it also finds services by their markers), "
            f"or delete {path}",
        ) from exc
    return DeployState(env=env, instances=instances, commit=data.get("commit"), applied_at=data.get("applied_at"))


class _InstanceCheck:
    """Refuses an instance whose model name or log could have been planted (a committed state file): ValueError.

    One per state file read: the log folder is checked for links and resolved once, and each log's
    own folder once (they are all the same), so 500 instances cost 500 ``lstat`` calls, not 500
    walks of every path component.
    """

    def __init__(self, repo: Repo, env: str) -> None:
        self.logs = log_dir(repo, env).resolve()
        self.folders: dict[str, str] = {}

    def __call__(self, instance: Instance) -> Instance:
        if re.fullmatch(NAME_PATTERN, instance.spec.model) is None:
            raise ValueError(f"the model name {instance.spec.model!r} is not a name")
        if instance.log is not None and not Path(self._resolved(instance.log)).is_relative_to(self.logs):
            raise ValueError(f"the log {instance.log!r} of instance {instance.id!r} is not in {self.logs}")
        return instance

    def _resolved(self, log: Any) -> str:
        """``os.path.realpath(log)`` (what ``Path(log).resolve()`` gives), with each folder resolved once."""
        written = os.fspath(Path(log))  # a log that is not a path string is a TypeError, as before
        folder, name = os.path.split(written)
        if name in ("", ".", ".."):
            return os.path.realpath(written)
        real_folder = self.folders.get(folder)
        if real_folder is None:
            real_folder = self.folders[folder] = os.path.realpath(folder or os.curdir)
        resolved = os.path.join(real_folder, name)
        return os.path.realpath(resolved) if os.path.islink(resolved) else resolved


def write_state(repo: Repo, state: DeployState) -> None:
    atomic_write_text(state_path(repo, state.env), json.dumps(state.to_dict(), indent=1) + "\n")


def clear_state(repo: Repo, env: str) -> None:
    state_path(repo, env).unlink(missing_ok=True)


def write_endpoints(repo: Repo, env: str, instances: list[Instance], commit: str | None) -> Path:
    """``<state_dir>/targets/<env>.json``: one endpoint per (model, version, role) of what serves."""
    rows: list[dict[str, Any]] = []
    for instance in instances:
        if instance.role != SERVICE:
            continue
        spec = instance.spec
        base = {"model": spec.model, "host": LOCAL_HOST, "port": spec.port, "target": spec.target}
        rows.append({**base, "version": spec.version, "role": "stable"})
        if spec.candidate is not None:
            role = "canary" if spec.strategy == "canary" else "shadow"
            rows.append({**base, "version": spec.candidate, "role": role})
    path = endpoints_path(repo, env)
    document = {"env": env, "commit": commit, "applied_at": now(), "endpoints": rows}
    atomic_write_text(path, json.dumps(document, indent=1) + "\n")
    return path


def now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)
