"""The service's API under fuzzing, shadow failures, big batches, and ``mlopsctl serve`` on a real registry."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.contract.records import InputColumn
from mlopsctl.serve.app import OFFLOAD_ROWS
from mlopsctl.serve.runner import ServerThread, make_app
from mlopsctl.serve.service import LoadedVersion, ServedModel, Service
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.serving import Client, Fitted, churn_fitted, records_of, serve_in_thread


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted()


@pytest.fixture(scope="module")
def server(churn: Fitted) -> Iterator[ServerThread]:
    running = serve_in_thread(churn, max_rows=50)
    yield running
    running.stop()


# --- fuzzing: whatever arrives, never a 5xx ---------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["tenure_months", "monthly_charges", "support_calls", "age", "contract", "payment_method"]


@st.composite
def near_valid_record(draw: st.DrawFn) -> dict[str, Any]:
    """A valid row with some fields replaced by anything, dropped, or joined by unknown ones."""
    row: dict[str, Any] = {
        "tenure_months": 5,
        "monthly_charges": 42.5,
        "support_calls": 1,
        "age": 40,
        "contract": "one-year",
        "payment_method": "card",
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        action = draw(st.sampled_from(["replace", "drop"]))
        if action == "drop":
            row.pop(name, None)
        else:
            row[name] = draw(JSON)
    if draw(st.booleans()):
        row[draw(st.text(max_size=6))] = draw(JSON)
    return row


@st.composite
def v2_document(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from([*FIELDS, "x", "input-0"]), max_size=7))
    tensors = [
        {
            "name": name,
            "shape": draw(st.lists(st.integers(-1, 4), min_size=0, max_size=3)),
            "datatype": draw(st.sampled_from(["FP64", "INT64", "BYTES", "BOOL", "FLOAT", 3])),
            "data": draw(st.lists(JSON, max_size=6) | JSON),
        }
        for name in names
    ]
    return {
        "inputs": tensors,
        **draw(st.dictionaries(st.sampled_from(["id", "outputs", "parameters"]), JSON, max_size=2)),
    }


BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.lists(near_valid_record(), min_size=0, max_size=3).map(lambda rows: json.dumps({"records": rows}).encode()),
    near_valid_record().map(lambda row: json.dumps({"record": row}).encode()),
    v2_document().map(lambda doc: json.dumps(doc).encode()),
    st.binary(max_size=64),
)
PATHS = st.sampled_from(
    [
        "/predict",
        "/v2/models/churn/infer",
        "/v2/models/churn/versions/1/infer",
        "/v2/models/x/infer",
        "/metadata",
        "/metrics",
    ]
) | st.text(alphabet="/abcv2-_.%", min_size=1, max_size=20).map(lambda p: "/" + p)
METHODS = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS"])


def test_fuzzed_requests_never_get_a_5xx(server: ServerThread) -> None:
    client = Client(server.url)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(method=METHODS, path=PATHS, body=BODIES)
    def check(method: str, path: str, body: bytes) -> None:
        status, _, raw = client.request(method, path, body if method != "GET" else None)
        assert status < 500, (status, raw[:300])
        if method != "HEAD" and path != "/metrics" and status != 200:
            assert "error" in json.loads(raw)

    try:
        check()
    finally:
        client.close()
    still = Client(server.url)
    assert still.get("/health/ready")[0] == 200
    still.close()


# --- shadow failures, big batches, versioned V2 routes ----------------------------------------


class Boom:
    description = "always fails"

    def predict(self, batch: Batch) -> Prediction:
        raise RuntimeError("candidate is broken")


def test_a_failing_shadow_never_changes_answers_and_is_counted(churn: Fitted) -> None:
    stable = ServedModel(LoadedVersion(churn.record, churn.pipeline), "stable", 100)
    candidate_record = churn.record.model_copy(update={"version": 2})
    broken = ServedModel(LoadedVersion(candidate_record, churn.pipeline), "shadow", 100, predictor=Boom())
    rows = records_of(churn.frame.iloc[:20])
    with ServerThread(make_app(Service(stable, broken, "shadow"))) as running:
        client = Client(running.url)
        for i, row in enumerate(rows):
            status, headers, body = client.post("/predict", {"record": row})
            assert (status, headers["x-model-version"]) == (200, "1")
            assert body["predictions"] == churn.pipeline.predict(churn.frame.iloc[i : i + 1]).tolist()
        metrics = client.get("/metrics")[2].decode()
        client.close()
    assert f'{mc.PREDICTION_ERRORS_TOTAL}{{model="churn",version="2",role="shadow"}} 20' in metrics
    assert f'{mc.REQUESTS_TOTAL}{{model="churn",version="2",role="shadow",route="/predict",code="500"}} 20' in metrics
    assert f'{mc.PREDICTION_ERRORS_TOTAL}{{model="churn",version="1",role="stable"}} 0' in metrics


def test_a_shadow_with_another_schema_gets_its_own_validation(churn: Fitted) -> None:
    record = churn.record.model_copy(deep=True, update={"version": 2})
    record.signature.inputs.append(InputColumn(name="region", type="category"))
    stable = ServedModel(LoadedVersion(churn.record, churn.pipeline), "stable", 100)
    shadow = ServedModel(LoadedVersion(record, churn.pipeline), "shadow", 100)
    with ServerThread(make_app(Service(stable, shadow, "shadow"))) as running:
        client = Client(running.url)
        status, _, body = client.post("/predict", {"records": records_of(churn.frame.iloc[:3])})
        metrics = client.get("/metrics")[2].decode()
        client.close()
    assert (status, body["version"]) == (200, 1)
    assert f'{mc.REQUESTS_TOTAL}{{model="churn",version="2",role="shadow",route="/predict",code="422"}} 1' in metrics


def test_a_primary_model_failure_is_a_500_and_the_service_lives_on(churn: Fitted) -> None:
    broken = ServedModel(LoadedVersion(churn.record, churn.pipeline), "stable", 100, predictor=Boom())
    with ServerThread(make_app(Service(broken))) as running:
        client = Client(running.url)
        status, _, body = client.post("/predict", {"records": records_of(churn.frame.iloc[:1])})
        assert (status, body) == (500, {"error": "churn@1 failed to predict: RuntimeError: candidate is broken"})
        assert client.get("/health/live")[0] == 200
        metrics = client.get("/metrics")[2].decode()
        client.close()
    assert f'{mc.PREDICTION_ERRORS_TOTAL}{{model="churn",version="1",role="stable"}} 1' in metrics


def test_big_batches_are_predicted_off_the_event_loop_with_the_same_answers(churn: Fitted) -> None:
    frame = churn.frame.iloc[[i % len(churn.frame) for i in range(OFFLOAD_ROWS + 500)]]
    with serve_in_thread(churn) as running:
        client = Client(running.url)
        status, _, body = client.post("/predict", {"records": records_of(frame)})
        metrics = client.get("/metrics")[2].decode()
        client.close()
    assert status == 200
    assert body["predictions"] == churn.pipeline.predict(frame).tolist()
    assert body["probabilities"] == churn.pipeline.predict_proba(frame).tolist()
    assert f'{mc.BATCH_ROWS}_sum{{model="churn",version="1",role="stable"}} {float(OFFLOAD_ROWS + 500)!r}' in metrics


def test_versioned_v2_route_reaches_the_canary_directly(churn: Fitted) -> None:
    candidate = churn_fitted(version=2, scale="minmax")
    with serve_in_thread(churn, candidate, strategy="canary", weight=0) as running:
        client = Client(running.url)
        inputs = [
            {
                "name": "input-0",
                "shape": [1, 6],
                "datatype": "BYTES",
                "data": list(records_of(churn.frame.iloc[:1])[0].values()),
            }
        ]
        status, headers, body = client.post("/v2/models/churn/versions/2/infer", {"inputs": inputs})
        assert (status, headers["x-model-version"], body["model_version"]) == (200, "2", "2")
        assert body["parameters"] == {"role": "canary"}
        status, _, body = client.post("/v2/models/churn/infer", {"inputs": inputs})
        assert body["model_version"] == "1"  # weight 0: the canary gets nothing unless addressed
        metadata = json.loads(client.get("/v2/models/churn")[2])
        assert metadata["versions"] == ["1", "2"]
        client.close()


# --- mlopsctl serve on a real registry --------------------------------------------------------


def test_mlopsctl_serve_latest_through_the_registry(model_repo: Path, churn: Fitted) -> None:
    register(model_repo, churn)
    version = register(model_repo, churn_fitted(version=2, scale="robust"))
    process = start_serve(model_repo, "churn@latest", 0)
    try:
        info = read_json_object(process)
        assert (info["model"], info["version"], info["candidate"]) == ("churn", version, None)
        assert info["example"].startswith(f"curl -s {info['url']}/predict -H 'Content-Type: application/json' -d ")
        client = Client(info["url"])
        example = json.loads(info["example"].split(" -d ", 1)[1].strip("'"))
        status, headers, body = client.post("/predict", example)
        assert (status, headers["x-model-version"], body["version"]) == (200, str(version), version)
        rows = records_of(churn.frame.iloc[:50])
        status, _, body = client.post("/predict", {"records": rows})
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0
    assert len(body["predictions"]) == 50


def test_serve_errors_have_exit_codes(
    model_repo: Path, churn: Fitted, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_repo)
    missing = cli("serve", "churn@latest")
    assert missing.code == 1
    assert "error: Not found: churn has no registered versions in" in missing.stderr
    assert "hint: train and register one with: mlopsctl train churn" in missing.stderr
    register(model_repo, churn)
    bad_ref = cli("serve", "churn@three")
    assert (bad_ref.code, bad_ref.stderr.splitlines()[0]) == (
        2,
        "error: Usage error: 'churn@three' is not a model version reference",
    )
    same = cli("serve", "churn@1", "--candidate", "1")
    assert (same.code, same.stderr.splitlines()[0]) == (
        2,
        "error: Usage error: --candidate 1 is the version being served",
    )
    absent = cli("serve", "churn@1", "--candidate", "7")
    assert absent.code == 1 and "no version churn@7" in absent.stderr
    artifact = next((model_repo / ".mlops").rglob("*.skops"))
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    swapped = cli("serve", "churn@1")
    assert swapped.code == 1
    assert "artifact digest mismatch" in swapped.stderr
