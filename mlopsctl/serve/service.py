"""What the service holds: one stable version and, for canary or shadow, a candidate.

Each :class:`ServedModel` is a verified version ready to answer: its schema (validation), its
predictor (the fast path or the pipeline) and its metrics (labelled with its role). The
:class:`Service` decides who answers a request: with ``canary`` a seeded random draw sends
``weight`` percent of requests to the candidate (each request independently, so the share is
unbiased); with ``shadow`` the stable version always answers and the candidate runs on the same
input afterwards, for metrics only; its failures are counted and never reach the client.
Either way the candidate's answers are compared with the stable version's on the same rows
(:mod:`mlopsctl.serve.compare`): the shadow's with what the client got, a canary's with what the
stable version answers for the canary's rows after the response.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Literal

from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.contract.predictor import InputRejected, Predictor, build_predictor
from mlopsctl.contract.records import VersionRecord
from mlopsctl.serve.compare import Agreement, compare
from mlopsctl.serve.feedback import Recorder
from mlopsctl.serve.inputs import FieldPolicy, RequestError, Schema
from mlopsctl.serve.metrics import ModelMetrics

log = logging.getLogger("mlopsctl.serve")

Strategy = Literal["canary", "shadow"]
STRATEGIES: tuple[Strategy, ...] = ("canary", "shadow")


class PredictionFailed(Exception):
    """The model raised on valid input: a 500, counted in mlops_prediction_errors_total."""


@dataclass(frozen=True)
class LoadedVersion:
    """A version record with its fitted pipeline, already digest-verified by whoever loaded it."""

    record: VersionRecord
    pipeline: Any


class ServedModel:
    def __init__(
        self,
        loaded: LoadedVersion,
        role: str,
        max_rows: int,
        predictor: Predictor | None = None,
        fields: FieldPolicy | None = None,
    ) -> None:
        record = loaded.record
        self.record = record
        self.role = role
        self.name = record.model
        self.version = str(record.version)
        self.schema = Schema(record.signature, max_rows, fields)
        self.predictor = predictor or build_predictor(loaded.pipeline, record.signature, record.reference)
        self.metrics = ModelMetrics(record, role)
        self.classes = record.signature.classes

    def predict(self, batch: Batch) -> Prediction:
        """Predict and count the batch in the drift metrics."""
        prediction = self.run(batch)
        self.metrics.observe(batch, prediction)
        return prediction

    def run(self, batch: Batch) -> Prediction:
        """Predict only (safe to call off the event loop thread: touches no metrics)."""
        try:
            return self.predictor.predict(batch)
        except InputRejected as exc:
            raise RequestError.one(422, exc.message, field=exc.field, row=exc.row) from None
        except Exception as exc:
            log.exception("%s@%s failed to predict", self.name, self.version)
            raise PredictionFailed(f"{type(exc).__name__}: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        record = self.record
        return {
            "name": record.model,
            "version": record.version,
            "role": self.role,
            "task": record.signature.task,
            "target": record.signature.target,
            "classes": record.signature.classes,
            "estimator": record.estimator,
            "inputs": [c.model_dump(exclude_none=True) for c in record.signature.inputs],
            "fields": {
                "declared": list(self.schema.policy.declared),
                "unknown_fields": self.schema.policy.unknown_fields,
            },
            "predictor": self.predictor.description,
            "metrics": record.metrics,
            "lineage": lineage(record),
        }


def lineage(record: VersionRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "created_at": record.created_at,
        "spec_commit": record.spec_commit,
        "spec_dirty": record.spec_dirty,
        "spec_sha256": record.spec_sha256,
        "data": record.data.model_dump(),
        "artifact": record.artifact.model_dump(),
        "environment": record.environment,
        "params": record.params,
    }


class Service:
    """The stable version, an optional candidate, and who answers each request."""

    def __init__(
        self,
        stable: ServedModel,
        candidate: ServedModel | None = None,
        strategy: Strategy | None = None,
        weight: float = 0.0,
        seed: int | None = None,
        recorder: Recorder | None = None,
        tolerance: float = 0.0,
    ) -> None:
        if candidate is not None and strategy not in STRATEGIES:
            raise ValueError(f"a candidate needs a strategy: one of {', '.join(STRATEGIES)}")
        if not 0.0 <= weight <= 100.0:
            raise ValueError("weight is a percentage between 0 and 100")
        if not tolerance >= 0.0:
            raise ValueError("tolerance is an absolute difference of 0 or more")
        self.stable = stable
        self.candidate = candidate
        self.strategy = strategy if candidate is not None else None
        self.weight = weight
        self._draw = random.Random(seed).random
        self._share = weight / 100.0
        self.recorder = recorder or Recorder(None)
        """Request ids, the prediction log and feedback (ids only when the log is off)."""
        self.recorder.attach(self.models)
        self.tolerance = tolerance
        """monitoring.shadow.tolerance: a regression answer this close to the stable one agrees."""
        self.same_columns = candidate is None or candidate.schema.columns == stable.schema.columns
        """Whether the candidate reads the stable version's validated rows as they are (compared once
        here: comparing the columns' models costs tens of microseconds, too much for every request)."""
        if candidate is not None:
            candidate.metrics.agreement = Agreement(stable.version, tolerance)

    @property
    def models(self) -> list[ServedModel]:
        return [self.stable] if self.candidate is None else [self.stable, self.candidate]

    @property
    def shadow(self) -> ServedModel | None:
        return self.candidate if self.strategy == "shadow" else None

    def choose(self) -> ServedModel:
        """Who answers this request: the canary for ``weight`` percent of draws, else stable."""
        if self.strategy == "canary" and self.candidate is not None and self._draw() < self._share:
            return self.candidate
        return self.stable

    def count_agreement(self, candidate: Prediction, stable: Prediction) -> None:
        """Count how the candidate's answers agree with the stable version's on the same rows."""
        served = self.candidate
        if served is None or served.metrics.agreement is None:
            return
        found = compare(candidate, stable, (served.classes, self.stable.classes), self.tolerance)
        served.metrics.agreement.count(found)

    def version(self, version: str) -> ServedModel | None:
        text = version[1:] if version.startswith("v") else version
        return next((m for m in self.models if m.version == text), None)


def build_service(
    stable: LoadedVersion,
    candidate: LoadedVersion | None = None,
    *,
    strategy: Strategy | None = None,
    weight: float = 0.0,
    max_rows: int = 10_000,
    seed: int | None = None,
    fields: FieldPolicy | None = None,
    recorder: Recorder | None = None,
    tolerance: float = 0.0,
) -> Service:
    """Verified versions -> a service (compiles each pipeline and checks its fast path).

    ``fields``: the spec's declared data columns and its ``serving.unknown_fields`` policy;
    ``recorder``: the prediction log and feedback (None: request ids only, nothing logged);
    ``tolerance``: monitoring.shadow.tolerance, for comparing a candidate's regression answers.
    """
    served_stable = ServedModel(stable, "stable", max_rows, fields=fields)
    served_candidate = None
    if candidate is not None:
        role = "shadow" if strategy == "shadow" else "canary"
        served_candidate = ServedModel(candidate, role, max_rows, fields=fields)
    return Service(served_stable, served_candidate, strategy, weight, seed, recorder, tolerance)
