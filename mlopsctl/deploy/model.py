"""The reconciler's words: a service as Git wants it, an instance as it runs, and a change between them.

A **service** is one model of one environment on one target: a stable version and, for canary
or shadow, a candidate, answering on one port. An **instance** is one running copy of a service
(a process or a container) with an id, found in the state file, by its marker or by its labels.
Two specs are equal exactly when the same service process would be started for both, so "in
sync" is plain equality.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

LOCAL_HOST = "127.0.0.1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SERVICE, PREFLIGHT = "service", "preflight"
Role = Literal["service", "preflight"]
ChangeAction = Literal["start", "stop", "update", "restart"]


@dataclass(frozen=True)
class ServiceSpec:
    """What one model of an environment runs: versions, strategy, weight, target and port."""

    model: str
    version: int
    target: str
    port: int
    strategy: str = "replace"
    candidate: int | None = None
    weight: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    def versions(self) -> list[int]:
        return [self.version] if self.candidate is None else [self.version, self.candidate]

    def on_port(self, port: int) -> ServiceSpec:
        return replace(self, port=port)

    def label(self) -> str:
        """``v1``, ``v1 + v2 canary 20%``, ``v1 + v2 shadow``: the versions and how traffic goes."""
        if self.candidate is None:
            return f"v{self.version}"
        share = f" {self.weight}%" if self.strategy == "canary" else ""
        return f"v{self.version} + v{self.candidate} {self.strategy}{share}"

    def describe(self) -> str:
        """``churn v1 + v2 canary 20% on local :8100``."""
        return f"{self.model} {self.label()} on {self.target} :{self.port}"

    def differences(self, other: ServiceSpec) -> list[str]:
        """What changes from ``self`` to ``other``, in words: ``version v1 -> v2``, ``weight 10% -> 20%``."""
        found = []
        for name in ("target", "version", "strategy", "candidate", "weight", "port"):
            before, after = getattr(self, name), getattr(other, name)
            if before != after:
                found.append(f"{name} {_word(name, before)} -> {_word(name, after)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceSpec:
        return cls(
            model=str(data["model"]),
            version=int(data["version"]),
            target=str(data["target"]),
            port=int(data["port"]),
            strategy=str(data.get("strategy") or "replace"),
            candidate=_int_or_none(data.get("candidate")),
            weight=_int_or_none(data.get("weight")),
        )


@dataclass(frozen=True)
class Health:
    """What an instance looked like when observed."""

    alive: bool
    """The process or container exists and runs."""
    ready: bool = False
    """``/health/ready`` said 200 for the expected model and version."""
    starting: bool = False
    """Alive and still loading its versions (503 ``loading``): not a problem yet."""
    problem: str | None = None
    """Why it is not alive or not ready, for people."""
    listening: bool = True
    """Something answered on its port (False: connection refused or timed out)."""

    @property
    def ok(self) -> bool:
        return self.alive and (self.ready or self.starting)


@dataclass(eq=False)
class Instance:
    """One running (or recorded) copy of a service (compared by identity: each is one thing that runs)."""

    spec: ServiceSpec
    id: str
    env: str
    role: str = SERVICE
    pid: int | None = None
    start_ticks: int | None = None
    """Process start time in clock ticks since boot (/proc/<pid>/stat field 22): detects pid reuse."""
    container: str | None = None
    log: str | None = None
    started_at: str = ""
    recorded: bool = True
    """False when found only by its marker or labels (started by an apply that was killed)."""
    health: Health = field(default_factory=lambda: Health(alive=True))

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since it started, from ``started_at``; None when unknown."""
        try:
            started = datetime.strptime(self.started_at, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        return (now - started).total_seconds()

    @property
    def where(self) -> str:
        if self.container:
            return f"container {self.container[:12]}"
        return f"process {self.pid}"

    def to_state(self) -> dict[str, Any]:
        """The entry in ``<state_dir>/deploy/<env>.json``."""
        data: dict[str, Any] = {**self.spec.to_dict(), "id": self.id, "role": self.role, "started_at": self.started_at}
        if self.pid is not None:
            data.update(pid=self.pid, start_ticks=self.start_ticks)
        if self.container is not None:
            data["container"] = self.container
        if self.log is not None:
            data["log"] = self.log
        return data

    def to_dict(self) -> dict[str, Any]:
        health = asdict(self.health)
        return {**self.to_state(), "recorded": self.recorded, "health": health, "url": self.spec.url}

    @classmethod
    def from_state(cls, data: dict[str, Any], env: str) -> Instance:
        return cls(
            spec=ServiceSpec.from_dict(data),
            id=str(data["id"]),
            env=env,
            role=str(data.get("role") or SERVICE),
            pid=_int_or_none(data.get("pid")),
            start_ticks=_int_or_none(data.get("start_ticks")),
            container=data.get("container"),
            log=data.get("log"),
            started_at=str(data.get("started_at") or ""),
        )


@dataclass(frozen=True)
class Change:
    """One step of a plan: what runs for one model before and after, and why."""

    action: ChangeAction
    model: str
    before: ServiceSpec | None
    after: ServiceSpec | None
    reasons: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()
    """The running instances this change stops or replaces."""

    @property
    def target(self) -> str:
        spec = self.after or self.before
        return spec.target if spec is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "model": self.model,
            "target": self.target,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "reasons": list(self.reasons),
            "instances": [instance.to_dict() for instance in self.instances],
        }


def _word(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if name in ("version", "candidate"):
        return f"v{value}"
    if name == "weight":
        return f"{value}%"
    if name == "port":
        return f":{value}"
    return str(value)


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)
