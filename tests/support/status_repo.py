"""Test support for monitoring: a registered version's record and a contract-shaped exporter.

Until the real prediction service (``mlopsctl serve``) lands, :class:`ContractExporter` stands in
for it: it counts rows into the version's reference bins with the same functions the service
uses (``bin_index``, ``category_index``, ``bin_labels``), creates every bin at start-up, counts
missing values separately, and serves the text format on 127.0.0.1.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import yaml

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.binning import (
    bin_index,
    bin_labels,
    categorical_reference,
    category_index,
    numeric_reference,
)
from mlopsctl.contract.records import (
    ArtifactRef,
    BinnedReference,
    DataFingerprint,
    InputColumn,
    Reference,
    Signature,
    VersionRecord,
)
from mlopsctl.registry.records import record_path

FEATURES = {
    "tenure_months": "numeric",
    "monthly_charges": "numeric",
    "support_calls": "numeric",
    "age": "numeric",
    "contract": "categorical",
    "payment_method": "categorical",
}
PREDICTION_SHARES = [0.79, 0.21]


def training_data(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data" / "churn.csv")


def make_reference(data: pd.DataFrame, bins: int = 10) -> Reference:
    features = {
        name: numeric_reference(data[name], bins) if kind == "numeric" else categorical_reference(data[name])
        for name, kind in FEATURES.items()
    }
    prediction = BinnedReference(
        kind="categorical", categories=["0", "1"], shares=[*PREDICTION_SHARES, 0.0], count=2000
    )
    return Reference(features=features, prediction=prediction)


def write_record(root: Path, model: str, version: int, reference: Reference) -> VersionRecord:
    """A registry record as ``train`` writes it (the fields monitoring reads are real)."""
    record = VersionRecord(
        model=model,
        version=version,
        created_at="2026-01-01T00:00:00Z",
        run_id=f"run-{version}",
        spec_commit="0" * 40,
        spec_sha256="0" * 64,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        gates_passed=True,
        data=DataFingerprint(uri="data/churn.csv", sha256="0" * 64, rows=2000, columns=9, schema_sha256="0" * 64),
        artifact=ArtifactRef(uri="file:///nowhere", sha256="0" * 64, size=1),
        signature=Signature(
            inputs=[InputColumn(name=n, type="float" if k == "numeric" else "category") for n, k in FEATURES.items()],
            task="classification",
            target="churned",
            classes=[0, 1],
        ),
        reference=reference,
    )
    path = record_path(root, model, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))
    return record


def set_environment(root: Path, env: str, deployments: dict[str, dict[str, Any]], base_port: int = 8100) -> None:
    doc = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Environment",
        "name": env,
        "target": "local",
        "base_port": base_port,
        "deployments": deployments,
    }
    (root / "environments" / f"{env}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def set_monitoring(root: Path, **values: Any) -> None:
    """Change the churn spec's monitoring block (e.g. a short test window)."""
    path = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["monitoring"].update(values)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def shifted(rows: pd.DataFrame, feature: str, by: float) -> pd.DataFrame:
    out = rows.copy()
    out[feature] = out[feature] + by
    return out


class ContractExporter:
    """The metrics of one prediction service, as ``mlopsctl/contract/metrics.py`` names them."""

    def __init__(self, model: str, versions: dict[tuple[int, str], Reference]) -> None:
        self.model = model
        self.versions = versions
        self.started = time.time()
        self.lock = threading.Lock()
        self.bins: dict[tuple[int, str, str, str], float] = {}
        self.missing: dict[tuple[int, str, str], float] = {}
        self.predictions: dict[tuple[int, str, str], float] = {}
        self.requests: dict[tuple[int, str, str], float] = defaultdict(float)
        self.latency: dict[tuple[int, str], list[float]] = {}
        for (version, role), reference in versions.items():
            self._create_series(version, role, reference)

    def _create_series(self, version: int, role: str, reference: Reference) -> None:
        for feature, binned in reference.features.items():
            for label in bin_labels(binned):
                self.bins[(version, role, feature, label)] = 0.0
            self.missing[(version, role, feature)] = 0.0
        if reference.prediction is not None:
            for label in bin_labels(reference.prediction):
                self.predictions[(version, role, label)] = 0.0
        self.latency[(version, role)] = [0.0] * (len(mc.LATENCY_BUCKETS) + 1) + [0.0]  # buckets, +Inf, sum

    def restart(self) -> None:
        """A process restart: every counter back to zero, a new start time."""
        with self.lock:
            self.started = time.time()
            for table in (self.bins, self.missing, self.predictions):
                for key in table:
                    table[key] = 0.0
            self.requests.clear()
            for key in self.latency:
                self.latency[key] = [0.0] * len(self.latency[key])

    def observe(
        self,
        rows: pd.DataFrame,
        version: int,
        role: str = "stable",
        predictions: list[str] | None = None,
        code: str = "200",
        seconds: float = 0.004,
    ) -> None:
        reference = self.versions[(version, role)]
        with self.lock:
            for feature, binned in reference.features.items():
                self._count_feature(version, role, feature, binned, rows[feature])
            for label in predictions or []:
                self.predictions[(version, role, label)] += 1
            self.requests[(version, role, code)] += 1
            self._time(version, role, seconds)

    def _count_feature(self, version: int, role: str, feature: str, binned: BinnedReference, values: pd.Series) -> None:
        labels = bin_labels(binned)
        present = values[values.notna()]
        self.missing[(version, role, feature)] += float(values.isna().sum())
        if binned.kind == "numeric":
            index = bin_index(binned.edges, present.to_numpy(dtype=float))
        else:
            index = np.asarray(category_index(binned.categories, list(present)))
        for position, count in zip(*np.unique(index, return_counts=True), strict=True):
            self.bins[(version, role, feature, labels[int(position)])] += float(count)

    def _time(self, version: int, role: str, seconds: float) -> None:
        counts = self.latency[(version, role)]
        for position, bound in enumerate(mc.LATENCY_BUCKETS):
            if seconds <= bound:
                counts[position] += 1
        counts[len(mc.LATENCY_BUCKETS)] += 1
        counts[-1] += seconds

    def text(self) -> str:
        with self.lock:
            return "\n".join(self._lines()) + "\n"

    def _lines(self) -> Iterator[str]:
        yield f"# TYPE {mc.PROCESS_START_TIME} gauge"
        yield f"{mc.PROCESS_START_TIME} {self.started}"
        yield f"# TYPE {mc.PROCESS_CPU_SECONDS} counter"
        yield f"{mc.PROCESS_CPU_SECONDS} {0.01 * (time.time() - self.started)!r}"  # a steady 0.01 cores
        yield f"# TYPE {mc.PROCESS_RESIDENT_MEMORY} gauge"
        yield f"{mc.PROCESS_RESIDENT_MEMORY} 52428800"
        yield f"# TYPE {mc.REQUESTS_TOTAL} counter"
        for (version, role, code), value in sorted(self.requests.items()):
            yield f'{mc.REQUESTS_TOTAL}{{{self._labels(version, role)},route="/predict",code="{code}"}} {value}'
        yield f"# TYPE {mc.REQUEST_DURATION} histogram"
        for (version, role), counts in self.latency.items():
            base = f'{self._labels(version, role)},route="/predict"'
            for bound, value in zip([*mc.LATENCY_BUCKETS, math.inf], counts, strict=False):
                le = "+Inf" if math.isinf(bound) else repr(bound)
                yield f'{mc.REQUEST_DURATION}_bucket{{{base},le="{le}"}} {value}'
            yield f"{mc.REQUEST_DURATION}_sum{{{base}}} {counts[-1]}"
            yield f"{mc.REQUEST_DURATION}_count{{{base}}} {counts[len(mc.LATENCY_BUCKETS)]}"
        yield from self._drift_lines()

    def _drift_lines(self) -> Iterator[str]:
        yield f"# TYPE {mc.FEATURE_BIN_TOTAL} counter"
        for (version, role, feature, label), value in self.bins.items():
            yield f'{mc.FEATURE_BIN_TOTAL}{{{self._labels(version, role)},feature="{feature}",bin="{label}"}} {value}'
        yield f"# TYPE {mc.FEATURE_REFERENCE_SHARE} gauge"
        for (version, role), reference in self.versions.items():
            for feature, binned in reference.features.items():
                for label, share in zip(bin_labels(binned), binned.shares, strict=True):
                    labels = f'{self._labels(version, role)},feature="{feature}",bin="{label}"'
                    yield f"{mc.FEATURE_REFERENCE_SHARE}{{{labels}}} {share!r}"
        yield f"# TYPE {mc.FEATURE_MISSING_TOTAL} counter"
        for (version, role, feature), value in self.missing.items():
            yield f'{mc.FEATURE_MISSING_TOTAL}{{{self._labels(version, role)},feature="{feature}"}} {value}'
        yield f"# TYPE {mc.PREDICTION_BIN_TOTAL} counter"
        for (version, role, label), value in self.predictions.items():
            yield f'{mc.PREDICTION_BIN_TOTAL}{{{self._labels(version, role)},bin="{label}"}} {value}'
        yield f"# TYPE {mc.PREDICTION_REFERENCE_SHARE} gauge"
        for (version, role), reference in self.versions.items():
            if reference.prediction is not None:
                for label, share in zip(bin_labels(reference.prediction), reference.prediction.shares, strict=True):
                    yield f'{mc.PREDICTION_REFERENCE_SHARE}{{{self._labels(version, role)},bin="{label}"}} {share!r}'

    def _labels(self, version: int, role: str) -> str:
        return f'model="{self.model}",version="{version}",role="{role}"'


class Exposition(Protocol):
    def text(self) -> str: ...


@contextmanager
def serving(exporter: Exposition, port: int = 0, poll_interval: float = 0.5) -> Iterator[int]:
    """Serve ``exporter.text()`` at http://127.0.0.1:PORT/metrics from a thread; yields the port.

    ``poll_interval``: how often the idle server thread wakes (raise it when serving hundreds).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.text().encode()
            self.send_response(200 if self.path.startswith("/metrics") else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def send_traffic(
    exporter: ContractExporter, data: pd.DataFrame, rows: int, *, version: int = 1, seed: int = 0, batch: int = 50
) -> None:
    """``rows`` rows drawn from ``data``, in batches, with predictions at the reference shares."""
    rng = np.random.default_rng(seed)
    for start in range(0, rows, batch):
        size = min(batch, rows - start)
        sample = data.iloc[rng.integers(0, len(data), size)]
        labels = rng.choice(["0", "1"], size=size, p=PREDICTION_SHARES).tolist()
        exporter.observe(sample, version, predictions=labels)
