"""The port every target implements, and what starting a service needs.

A target answers four questions for one environment of one repository: what runs (``observe``),
start this (``start``), is it still alive (``gone``), stop it (``stop``), plus the last lines of
its log for error messages. ``local`` (:mod:`mlopsctl.deploy.processes`) runs processes;
``docker`` (:mod:`mlopsctl.deploy.containers`) runs containers.

A target that can hand a port from one instance to the next without refusing a connection says
so with ``hands_over = True`` and answers :meth:`HandoverRuntime.holds_port`; apply then replaces
a version on the same port by a takeover (the local target; docker when its engine runs on this
machine); others get the stop-then-start swap. Three optional methods refine it: ``handover_refusal
(spec, old)`` says why this one swap cannot be a takeover (docker: a remote engine, an image built
before handovers), and ``release(old)`` / ``keep(old)`` run before a takeover and after a failed
one (docker: the old container's restart policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlopsctl.deploy.model import Instance, ServiceSpec

Say = Callable[[str], None]


@dataclass(frozen=True)
class VersionFiles:
    """A version's record file and its artifact in the store."""

    record: Path
    artifact: Path
    artifact_sha256: str


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one instance of a service."""

    spec: ServiceSpec
    """The service; ``spec.port`` is where this instance listens (a scratch port for a preflight)."""
    env: str
    role: str
    instance_id: str
    stable: VersionFiles
    candidate: VersionFiles | None
    max_body_bytes: int
    max_batch_rows: int
    unknown_fields: str = "reject"
    """serving.unknown_fields; the declared columns travel in the version record (signature.data_columns)."""
    take_over_from: str | None = None
    """The id of the instance whose listening socket this one takes (a swap on the same port), if any."""

    prediction_log: str | None = None
    """Folder of the prediction log (and labels) as the service sees it; None: nothing logged."""
    log_sample: float = 1.0
    """serving.prediction_log.sample."""
    log_max_bytes: int = 67_108_864
    """serving.prediction_log.max_bytes."""
    log_keep_files: int = 8
    """serving.prediction_log.keep_files."""
    performance_metric: str | None = None
    """monitoring.performance.metric (one the service computes), exported as mlops_live_performance."""
    performance_window: float = 3600.0
    """monitoring.window in seconds: the labels the live metric covers."""
    shadow_tolerance: float = 0.0
    """monitoring.shadow.tolerance: a candidate's regression answer this close to the stable one agrees."""

    def candidate_arguments(self, record: str, artifact: str) -> list[str]:
        """``--candidate-record ... --strategy canary --weight 20`` (nothing without a candidate)."""
        if self.candidate is None:
            return []
        args = ["--candidate-record", record, "--candidate-artifact", artifact, "--strategy", self.spec.strategy]
        if self.spec.strategy == "canary" and self.spec.weight is not None:
            args += ["--weight", str(self.spec.weight)]
        if self.shadow_tolerance:  # only when set: an image built before the option keeps starting
            args += ["--shadow-tolerance", repr(self.shadow_tolerance)]
        return args

    def limit_arguments(self) -> list[str]:
        args = ["--max-body-bytes", str(self.max_body_bytes), "--max-batch-rows", str(self.max_batch_rows)]
        # Only when set: an image built before the option existed keeps starting with the default.
        args += ["--unknown-fields", self.unknown_fields] if self.unknown_fields != "reject" else []
        return args + self.log_arguments()

    def log_arguments(self) -> list[str]:
        """The prediction log and the live metric (nothing when neither is set)."""
        args: list[str] = []
        if self.prediction_log is not None:
            args += ["--prediction-log", self.prediction_log, "--log-sample", repr(self.log_sample)]
            args += ["--log-max-bytes", str(self.log_max_bytes), "--log-keep-files", str(self.log_keep_files)]
        if self.performance_metric is not None:
            args += ["--performance-metric", self.performance_metric]
            args += ["--performance-window", repr(self.performance_window)]
        return args


class Runtime(Protocol):
    """One target's processes or containers, for one repository."""

    target: str

    def observe(self, env: str) -> list[Instance]:
        """Every instance of ``env`` that exists (alive or not), recorded or found by its marker."""
        ...

    def prepare(self, specs: list[ServiceSpec], files: dict[tuple[str, int], VersionFiles], say: Say) -> None:
        """Make ready what starting these specs needs (docker: build the images the engine lacks)."""
        ...

    def start(self, launch: Launch) -> Instance:
        """Start one instance and return it at once (not waiting for it to be ready)."""
        ...

    def gone(self, instance: Instance) -> str | None:
        """None while the instance runs; else why it does not (exited, its code)."""
        ...

    def stop(self, instance: Instance) -> None:
        """Stop it gracefully (SIGTERM, then SIGKILL after a grace period) and remove what is left."""
        ...

    def log_tail(self, instance: Instance, lines: int = 20) -> str:
        """The last lines of what it printed."""
        ...


class HandoverRuntime(Runtime, Protocol):
    """A target whose instances take the listening socket over from their predecessor."""

    hands_over: bool

    def holds_port(self, instance: Instance) -> bool:
        """Whether ``instance`` accepts on its port and a successor may take the port from it."""
        ...


def hands_over(runtime: Runtime) -> bool:
    """Whether ``runtime`` replaces an instance on the same port by a takeover."""
    return bool(getattr(runtime, "hands_over", False))
