"""The /metrics page: contract names, every bin from start-up, counts in the reference's own bins."""

from __future__ import annotations

import math
import re

import pytest

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.batch import Batch
from mlopsctl.contract.binning import bin_labels
from mlopsctl.contract.records import BinnedReference
from mlopsctl.serve.metrics import BinCounter, ModelMetrics, render
from mlopsctl.serve.service import LoadedVersion, build_service
from tests.support.services import promtool_check_metrics, require_prometheus
from tests.support.serving import Fitted, churn_fitted

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


@pytest.fixture(scope="module")
def fit() -> Fitted:
    return churn_fitted()


def samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and match["name"] == name:
            found[match["labels"]] = float(match["value"])
    return found


def test_every_bin_of_every_feature_exists_at_zero_before_traffic(fit: Fitted) -> None:
    metrics = ModelMetrics(fit.record, "stable")
    text = render([metrics])
    bins = samples(text, mc.FEATURE_BIN_TOTAL)
    shares = samples(text, mc.FEATURE_REFERENCE_SHARE)
    expected = 0
    for feature, reference in fit.record.reference.features.items():
        for label, share in zip(bin_labels(reference), reference.shares, strict=True):
            key = f'model="churn",version="1",role="stable",feature="{feature}",bin="{label}"'
            assert bins[key] == 0
            assert shares[key] == pytest.approx(share)
            expected += 1
    assert len(bins) == expected
    missing = samples(text, mc.FEATURE_MISSING_TOTAL)
    assert set(missing.values()) == {0.0} and len(missing) == len(fit.record.reference.features)
    predictions = samples(text, mc.PREDICTION_BIN_TOTAL)
    assert predictions == {
        'model="churn",version="1",role="stable",bin="0"': 0,
        'model="churn",version="1",role="stable",bin="1"': 0,
        'model="churn",version="1",role="stable",bin="__other__"': 0,
    }
    info = samples(text, mc.MODEL_INFO)
    assert list(info) == [
        f'model="churn",version="1",role="stable",artifact_sha256="{"01" * 32}",'
        'spec_commit="0123456789abcdef0123456789abcdef01234567"'
    ]


def test_numeric_values_land_in_the_reference_bins_edges_inclusive_above() -> None:
    counter = BinCounter(BinnedReference(kind="numeric", edges=[1.0, 2.0], shares=[0.3, 0.3, 0.4]))
    counter.count_values([0.5, 1.0, 1.0000001, 2.0, 7.0, math.nan])
    assert (counter.labels, counter.counts, counter.missing) == (["1.0", "2.0", "+Inf"], [2, 2, 1], 1)
    counter.count_values([1.5] * 40 + [math.nan] * 3)  # the vectorised path for larger batches
    assert (counter.counts, counter.missing) == ([2, 42, 1], 4)


def test_categories_and_unseen_values_and_missing() -> None:
    counter = BinCounter(BinnedReference(kind="categorical", categories=["a", "b"], shares=[0.5, 0.5, 0.0]))
    counter.count_values(["a", "zzz", None, "b", "b"])
    assert (counter.labels, counter.counts, counter.missing) == (["a", "b", "__other__"], [1, 2, 1], 1)
    counter.count_values(["a"] * 33 + [None])
    assert (counter.counts, counter.missing) == ([34, 2, 1], 2)


def test_observed_batch_counts_features_missing_and_predictions(fit: Fitted) -> None:
    service = build_service(LoadedVersion(fit.record, fit.pipeline))
    model = service.stable
    columns = {c.name: [] for c in fit.record.signature.inputs}
    rows = [("month-to-month", 12.0), ("lifetime", math.nan)]
    for contract, charges in rows:
        for name in columns:
            columns[name].append(1.0)
        columns["contract"][-1] = contract
        columns["payment_method"][-1] = "card"
        columns["monthly_charges"][-1] = charges
    prediction = model.predict(Batch(2, columns))
    text = render([model.metrics])
    base = 'model="churn",version="1",role="stable"'
    bins = samples(text, mc.FEATURE_BIN_TOTAL)
    assert bins[f'{base},feature="contract",bin="month-to-month"'] == 1
    assert bins[f'{base},feature="contract",bin="__other__"'] == 1
    assert samples(text, mc.FEATURE_MISSING_TOTAL)[f'{base},feature="monthly_charges"'] == 1
    counted = samples(text, mc.PREDICTION_BIN_TOTAL)
    for label in prediction.labels.tolist():
        assert counted[f'{base},bin="{label}"'] >= 1
    assert sum(counted.values()) == 2
    assert samples(text, f"{mc.BATCH_ROWS}_count")[base] == 1


def test_requests_latency_and_process_series(fit: Fitted) -> None:
    metrics = ModelMetrics(fit.record, "canary")
    metrics.request("/predict", 200, 0.0007)
    metrics.request("/predict", 200, 0.02)
    metrics.request("/predict", 422, 0.0001)
    metrics.refused("other", 400)
    text = render([metrics])
    base = 'model="churn",version="1",role="canary"'
    assert samples(text, mc.REQUESTS_TOTAL) == {
        f'{base},route="/predict",code="200"': 2,
        f'{base},route="/predict",code="422"': 1,
        f'{base},route="other",code="400"': 1,
    }
    buckets = samples(text, f"{mc.REQUEST_DURATION}_bucket")
    assert buckets[f'{base},route="/predict",le="0.0005"'] == 1
    assert buckets[f'{base},route="/predict",le="0.001"'] == 2
    assert buckets[f'{base},route="/predict",le="+Inf"'] == 3
    assert samples(text, f"{mc.REQUEST_DURATION}_sum")[f'{base},route="/predict"'] == pytest.approx(0.0208)
    for name in (mc.PROCESS_CPU_SECONDS, mc.PROCESS_RESIDENT_MEMORY, mc.PROCESS_START_TIME):
        line = next(line for line in text.splitlines() if line.startswith(f"{name} "))
        assert float(line.split()[1]) > 0


def test_label_values_are_escaped(fit: Fitted) -> None:
    reference = BinnedReference(kind="categorical", categories=['say "hi"\\n'], shares=[1.0, 0.0])
    record = fit.record.model_copy(deep=True)
    record.reference.features = {"contract": reference}
    text = render([ModelMetrics(record, "stable")])
    assert 'feature="contract",bin="say \\"hi\\"\\\\n"} 0' in text


@pytest.mark.prometheus
def test_promtool_accepts_the_page_before_and_after_traffic(fit: Fitted) -> None:
    require_prometheus()
    service = build_service(
        LoadedVersion(fit.record, fit.pipeline), LoadedVersion(fit.record, fit.pipeline), strategy="shadow"
    )
    pages = [render([m.metrics for m in service.models])]
    service.stable.metrics.request("/predict", 200, 0.001)
    pages.append(render([m.metrics for m in service.models]))
    for page in pages:
        ok, output = promtool_check_metrics(page)
        assert ok, output
