"""The service process (``python -m mlopsctl.serve``) over real HTTP on loopback.

Predictions must equal the scikit-learn pipeline's own on the same rows, whatever the request
shape; bad input gets its 4xx with a body naming the field; the V2 protocol round-trips; canary
and shadow behave; metrics pass promtool; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlopsctl.contract import metrics as mc
from tests.support.services import promtool_check_metrics, require_prometheus
from tests.support.serving import (
    Client,
    Fitted,
    ServiceProcess,
    cancer_fitted,
    churn_fitted,
    records_of,
    write_version,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def churn_v1() -> Fitted:
    return churn_fitted(version=1)


@pytest.fixture(scope="module")
def churn_v2() -> Fitted:
    return churn_fitted(LogisticRegression(max_iter=1000), version=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, churn_v1: Fitted, churn_v2: Fitted) -> dict[int, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("versions")
    return {fit.record.version: write_version(folder, fit)[:2] for fit in (churn_v1, churn_v2)}


def args(files: dict[int, tuple[Path, Path]], version: int = 1, *extra: str) -> list[str]:
    record, artifact = files[version]
    return ["--record", str(record), "--artifact", str(artifact), *extra]


@pytest.fixture(scope="module")
def service(files: dict[int, tuple[Path, Path]]) -> Iterator[ServiceProcess]:
    with ServiceProcess(*args(files), "--max-batch-rows", "500", "--max-body-bytes", "200000") as running:
        yield running


@pytest.fixture
def client(service: ServiceProcess) -> Iterator[Client]:
    http = Client(service.url)
    yield http
    http.close()


def expected(fit: Fitted, rows: slice) -> tuple[list[Any], list[list[float]]]:
    frame = fit.frame.iloc[rows]
    return fit.pipeline.predict(frame).tolist(), fit.pipeline.predict_proba(frame).tolist()


def test_records_columns_and_one_record_equal_the_pipeline(client: Client, churn_v1: Fitted) -> None:
    labels, proba = expected(churn_v1, slice(0, 200))
    rows = records_of(churn_v1.frame.iloc[:200])
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    for document in ({"records": rows}, {"columns": columns}):
        status, headers, body = client.post("/predict", document)
        assert (status, headers["x-model-version"], headers["x-model-role"]) == (200, "1", "stable")
        assert (body["model"], body["version"], body["role"]) == ("churn", 1, "stable")
        assert body["predictions"] == labels
        assert body["probabilities"] == proba
        assert body["classes"] == [0, 1]
    for i in range(0, 200, 25):
        status, _, body = client.post("/predict", {"record": rows[i]})
        assert (status, body["predictions"], body["probabilities"]) == (200, labels[i : i + 1], proba[i : i + 1])


def test_v2_round_trip(client: Client, churn_v1: Fitted) -> None:
    labels, proba = expected(churn_v1, slice(0, 30))
    rows = records_of(churn_v1.frame.iloc[:30])
    inputs = []
    for column in churn_v1.record.signature.inputs:
        datatype = "BYTES" if column.type == "category" else ("INT64" if column.type == "integer" else "FP64")
        inputs.append(
            {"name": column.name, "shape": [30], "datatype": datatype, "data": [r[column.name] for r in rows]}
        )
    status, headers, body = client.post("/v2/models/churn/infer", {"id": "req-7", "inputs": inputs})
    assert (status, headers["x-model-version"]) == (200, "1")
    assert body == {
        "model_name": "churn",
        "model_version": "1",
        "outputs": [
            {"name": "predict", "shape": [30], "datatype": "INT64", "data": labels},
            {"name": "predict_proba", "shape": [30, 2], "datatype": "FP64", "data": list(np.ravel(proba))},
        ],
        "id": "req-7",
        "parameters": {"role": "stable"},
    }
    only = {"inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    status, _, body = client.post("/v2/models/churn/versions/1/infer", only)
    assert [o["name"] for o in body["outputs"]] == ["predict_proba"]
    status, _, metadata = client.request("GET", "/v2/models/churn")
    assert json.loads(metadata)["inputs"][0] == {"name": "tenure_months", "datatype": "INT64", "shape": [-1]}
    assert client.get("/v2/models/churn/ready")[0] == 200
    assert json.loads(client.get("/v2/health/ready")[2])["ready"] is True
    assert json.loads(client.get("/v2")[2])["name"] == "mlopsctl"


@pytest.mark.parametrize(
    ("path", "document", "status", "error"),
    [
        (
            "/predict",
            {"record": {"tenure_months": 1}},
            422,
            "row 0: field 'monthly_charges': missing field 'monthly_charges' (and 4 more problems)",
        ),
        (
            "/v2/models/other/infer",
            {"inputs": []},
            404,
            "model 'other' is not served here; this service serves 'churn'",
        ),
        (
            "/v2/models/churn/versions/9/infer",
            {"inputs": []},
            404,
            "version '9' of churn is not served here; versions: 1",
        ),
        (
            "/v2/models/churn/infer",
            {"inputs": [{"name": "x"}]},
            422,
            "field 'x': shape must be a list of non-negative integers",
        ),
        (
            "/v2/models/churn/infer",
            {"id": 1},
            422,
            "missing 'inputs': a list of tensors with name, shape, datatype and data",
        ),
    ],
)
def test_bad_requests_over_http(client: Client, path: str, document: Any, status: int, error: str) -> None:
    got, _, body = client.post(path, document)
    assert (got, body["error"]) == (status, error)


def test_wrong_types_name_field_and_row(client: Client, churn_v1: Fitted) -> None:
    rows = records_of(churn_v1.frame.iloc[:3])
    rows[2]["age"] = "forty"
    status, _, body = client.post("/predict", {"records": rows})
    assert status == 422
    assert body == {
        "error": "row 2: field 'age': expected an integer, got a string (\"forty\")",
        "problems": [{"field": "age", "row": 2, "message": 'expected an integer, got a string ("forty")'}],
    }


def test_limits_methods_routes_and_malformed_json(client: Client, churn_v1: Fitted) -> None:
    row = records_of(churn_v1.frame.iloc[:1])[0]
    status, _, body = client.post("/predict", {"records": [row] * 501})
    assert (status, body["error"]) == (413, "501 rows is more than this service's limit of 500 per request")
    status, _, raw = client.request("POST", "/predict", b"{not json")
    assert (status, json.loads(raw)) == (
        400,
        {"error": "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"},
    )
    status, headers, raw = client.request("GET", "/predict")
    assert (status, headers["allow"], json.loads(raw)) == (
        405,
        "POST",
        {"error": "GET is not allowed on /predict; use POST"},
    )
    status, _, raw = client.request("GET", "/nothing/here")
    assert (status, json.loads(raw)) == (404, {"error": "no route /nothing/here"})
    status, _, body = client.post("/predict", {"record": {**row, "contract": "x" * 250_000}})
    assert (status, body["error"]) == (413, "request body is larger than this service's limit of 200000 bytes")


def test_metadata_has_schema_and_lineage(client: Client, churn_v1: Fitted, files: dict[int, tuple[Path, Path]]) -> None:
    status, headers, raw = client.get("/metadata")
    body = json.loads(raw)
    assert (status, body["name"], body["version"], body["role"]) == (200, "churn", 1, "stable")
    assert [c["name"] for c in body["inputs"]] == [c.name for c in churn_v1.record.signature.inputs]
    assert body["lineage"]["run_id"] == "run-churn-1"
    assert body["lineage"]["artifact"]["sha256"] == files[1][1].stem
    assert body["lineage"]["spec_commit"] == churn_v1.record.spec_commit
    assert headers["x-model-version"] == "1"
    assert body["predictor"].startswith("fast path: 6 features, RandomForestClassifier")
    assert body["limits"] == {"max_body_bytes": 200000, "max_batch_rows": 500}
    assert (body["candidate"], body["strategy"]) == (None, None)


def test_health(client: Client) -> None:
    assert client.get("/health/live")[0] == 200
    status, _, raw = client.get("/health/ready")
    assert (status, json.loads(raw)) == (200, {"status": "ready", "ready": True, "model": "churn", "version": 1})


@pytest.mark.prometheus
def test_metrics_pass_promtool_with_every_bin_at_zero_before_traffic(files: dict[int, tuple[Path, Path]]) -> None:
    require_prometheus()
    with ServiceProcess(*args(files)) as fresh:
        http = Client(fresh.url)
        before = http.get("/metrics")
        assert before[1]["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = before[2].decode()
        ok, output = promtool_check_metrics(text)
        assert ok, output
        bins = [line for line in text.splitlines() if line.startswith(mc.FEATURE_BIN_TOTAL + "{")]
        assert len(bins) > 20 and all(line.endswith(" 0") for line in bins)
        http.post(
            "/predict",
            {
                "record": {
                    "tenure_months": 3,
                    "monthly_charges": None,
                    "support_calls": 1,
                    "age": 30,
                    "contract": "one-year",
                    "payment_method": "card",
                }
            },
        )
        after = http.get("/metrics")[2].decode()
        ok, output = promtool_check_metrics(after)
        assert ok, output
        assert (
            'mlops_feature_missing_total{model="churn",version="1",role="stable",feature="monthly_charges"} 1' in after
        )
        assert (
            'mlops_feature_bin_total{model="churn",version="1",role="stable",feature="contract",bin="one-year"} 1'
            in after
        )
        http.close()


def test_canary_share_over_2000_requests(
    files: dict[int, tuple[Path, Path]], churn_v1: Fitted, churn_v2: Fitted
) -> None:
    candidate = ["--candidate-record", str(files[2][0]), "--candidate-artifact", str(files[2][1])]
    rows = records_of(churn_v1.frame.iloc[:50])
    want = {1: expected(churn_v1, slice(0, 50))[0], 2: expected(churn_v2, slice(0, 50))[0]}
    with ServiceProcess(*args(files), *candidate, "--strategy", "canary", "--weight", "30", "--seed", "5") as running:
        http = Client(running.url)
        answered = {1: 0, 2: 0}
        for i in range(2000):
            status, headers, body = http.post("/predict", {"record": rows[i % 50]})
            version = body["version"]
            assert (status, headers["x-model-version"], body["role"]) == (
                200,
                str(version),
                "stable" if version == 1 else "canary",
            )
            assert body["predictions"] == want[version][i % 50 : i % 50 + 1]
            answered[version] += 1
        metrics = http.get("/metrics")[2].decode()
        http.close()
    # 30% of 2000 = 600; four standard deviations of a binomial draw is about +-82
    assert 518 <= answered[2] <= 682, answered
    assert (
        f'{mc.REQUESTS_TOTAL}{{model="churn",version="2",role="canary",route="/predict",code="200"}} {answered[2]}'
        in metrics
    )
    assert (
        f'{mc.REQUESTS_TOTAL}{{model="churn",version="1",role="stable",route="/predict",code="200"}} {answered[1]}'
        in metrics
    )


def test_shadow_never_changes_answers(files: dict[int, tuple[Path, Path]], churn_v1: Fitted) -> None:
    candidate = ["--candidate-record", str(files[2][0]), "--candidate-artifact", str(files[2][1])]
    labels, proba = expected(churn_v1, slice(0, 100))
    rows = records_of(churn_v1.frame.iloc[:100])
    with ServiceProcess(*args(files), *candidate, "--strategy", "shadow") as running:
        http = Client(running.url)
        for i, row in enumerate(rows):
            status, headers, body = http.post("/predict", {"record": row})
            assert (status, headers["x-model-version"], body["version"], body["role"]) == (200, "1", 1, "stable")
            assert (body["predictions"], body["probabilities"]) == (labels[i : i + 1], proba[i : i + 1])
        status, _, body = http.post("/predict", {"records": rows})
        assert (body["predictions"], body["probabilities"]) == (labels, proba)
        metrics = http.get("/metrics")[2].decode()
        http.close()
    assert f'{mc.REQUESTS_TOTAL}{{model="churn",version="2",role="shadow",route="/predict",code="200"}} 101' in metrics
    assert f'{mc.BATCH_ROWS}_count{{model="churn",version="2",role="shadow"}} 101' in metrics


def test_sigterm_stops_cleanly(files: dict[int, tuple[Path, Path]]) -> None:
    running = ServiceProcess(*args(files)).wait_ready()
    assert running.stop() == 0


def test_a_swapped_artifact_is_refused(files: dict[int, tuple[Path, Path]], tmp_path: Path) -> None:
    swapped = tmp_path / "swapped.skops"
    swapped.write_bytes(files[2][1].read_bytes())
    process = ServiceProcess("--record", str(files[1][0]), "--artifact", str(swapped))
    assert process.process.wait(120) == 1
    stderr = process.process.stderr.read()  # type: ignore[union-attr]
    assert "error: Artifact refused: artifact digest mismatch for artifact: expected sha256:" in stderr
    assert "hint: the stored file is not the registered artifact (swapped or corrupted); it was not loaded." in stderr


def test_bad_arguments_exit_2(files: dict[int, tuple[Path, Path]]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlopsctl.serve", *args(files), "--candidate-record", str(files[2][0])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "error: --candidate-record and --candidate-artifact go together" in proc.stderr


def test_the_process_imports_only_serving_dependencies(files: dict[int, tuple[Path, Path]]) -> None:
    record, artifact = files[1]
    # The CLI's packages are made unimportable, as in an image that does not install them.
    script = f"""
import sys
from mlopsctl.serve.requirements import FORBIDDEN_MODULES
for name in FORBIDDEN_MODULES:
    sys.modules[name] = None
import mlopsctl.serve.__main__
from mlopsctl.serve.runner import ServerThread, load_files, make_app
from mlopsctl.serve.service import build_service
from pathlib import Path
import urllib.request
service = build_service(load_files(Path({str(record)!r}), Path({str(artifact)!r})))
with ServerThread(make_app(service)) as server:
    print(urllib.request.urlopen(server.url + "/health/ready").status)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "200"), proc.stderr


def test_linear_model_on_ten_features(tmp_path: Path) -> None:
    fit = cancer_fitted()
    record, artifact, _ = write_version(tmp_path, fit)
    with ServiceProcess("--record", str(record), "--artifact", str(artifact)) as running:
        http = Client(running.url)
        status, _, body = http.post("/predict", {"records": records_of(fit.frame)})
        http.close()
    assert status == 200
    assert body["predictions"] == fit.pipeline.predict(fit.frame).tolist()
    assert body["probabilities"] == fit.pipeline.predict_proba(fit.frame).tolist()
