"""NVIDIA's ``tritonclient[http]``, unchanged, against the service (issue 13, item 8).

The binary tensor data extension (``Inference-Header-Content-Length``): inputs and outputs as raw
little-endian bytes after the JSON, BYTES as length-prefixed strings, listed in the server
metadata's ``extensions``. Predictions must equal the pipeline's own, in binary and in JSON. Bad
framing is a 400 naming what is wrong, the body limit still answers 413, and V2 features the
service does not implement are refused by name.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support.serving import (
    CHURN_CATEGORICAL,
    CHURN_NUMERIC,
    Fitted,
    ServiceProcess,
    cancer_fitted,
    churn_fitted,
    write_version,
)

pytestmark = pytest.mark.slow

ROWS = 40
BODY_LIMIT = 200_000


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted(version=1)


@pytest.fixture(scope="module")
def cancer() -> Fitted:
    return cancer_fitted(version=1)


def serve(folder: Path, fit: Fitted) -> ServiceProcess:
    record, artifact, _ = write_version(folder, fit)
    return ServiceProcess("--record", str(record), "--artifact", str(artifact), "--max-body-bytes", str(BODY_LIMIT))


@pytest.fixture(scope="module")
def churn_service(tmp_path_factory: pytest.TempPathFactory, churn: Fitted) -> Iterator[ServiceProcess]:
    with serve(tmp_path_factory.mktemp("churn"), churn) as running:
        yield running


@pytest.fixture(scope="module")
def cancer_service(tmp_path_factory: pytest.TempPathFactory, cancer: Fitted) -> Iterator[ServiceProcess]:
    with serve(tmp_path_factory.mktemp("cancer"), cancer) as running:
        yield running


def client_of(service: ServiceProcess) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=service.url.removeprefix("http://"))


def complete_rows(fit: Fitted) -> pd.DataFrame:
    """Rows without missing values (a BYTES tensor has no null)."""
    return fit.frame.dropna().iloc[:ROWS].reset_index(drop=True)


def churn_inputs(rows: pd.DataFrame, binary: bool) -> list[triton.InferInput]:
    """One tensor per column, as a Triton user writes them: INT64/FP64 numbers, BYTES categories."""
    inputs = []
    for name, declared in CHURN_NUMERIC.items():
        datatype, dtype = ("INT64", np.int64) if declared == "integer" else ("FP64", np.float64)
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(rows[name].to_numpy(dtype=dtype), binary_data=binary)
        inputs.append(tensor)
    for name in CHURN_CATEGORICAL:
        tensor = triton.InferInput(name, [len(rows)], "BYTES")
        tensor.set_data_from_numpy(rows[name].to_numpy(dtype=object), binary_data=binary)
        inputs.append(tensor)
    return inputs


def outputs(binary: bool) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=binary) for name in ("predict", "predict_proba")]


def assert_same(result: Any, fit: Fitted, frame: pd.DataFrame) -> None:
    assert result.as_numpy("predict").tolist() == fit.pipeline.predict(frame).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), fit.pipeline.predict_proba(frame), rtol=1e-9)


# --- the client, unchanged ---------------------------------------------------------------------


def test_the_server_lists_the_binary_tensor_data_extension(churn_service: ServiceProcess) -> None:
    client = client_of(churn_service)
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert client.is_model_ready("churn")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tensors_per_column_with_bytes_categories(churn_service: ServiceProcess, churn: Fitted, binary: bool) -> None:
    rows = complete_rows(churn)
    result = client_of(churn_service).infer("churn", churn_inputs(rows, binary), outputs=outputs(binary))
    assert_same(result, churn, rows[list(churn.frame.columns)])
    kinds = {o["name"]: "parameters" in o for o in result.get_response()["outputs"]}
    assert kinds == {"predict": binary, "predict_proba": binary}


def test_no_outputs_named_means_every_output_in_binary(churn_service: ServiceProcess, churn: Fitted) -> None:
    rows = complete_rows(churn)
    result = client_of(churn_service).infer("churn", churn_inputs(rows, True))
    assert_same(result, churn, rows[list(churn.frame.columns)])
    sizes = [o["parameters"]["binary_data_size"] for o in result.get_response()["outputs"]]
    assert sizes == [ROWS * 8, ROWS * 2 * 8]


def test_one_fp32_matrix_in_binary(cancer_service: ServiceProcess, cancer: Fitted) -> None:
    frame = cancer.frame.iloc[:ROWS].astype(np.float32)
    tensor = triton.InferInput("input-0", list(frame.shape), "FP32")
    tensor.set_data_from_numpy(frame.to_numpy(), binary_data=True)
    result = client_of(cancer_service).infer("cancer", [tensor], outputs=outputs(True))
    assert_same(result, cancer, frame.astype(np.float64))  # the service predicts in float64, as JSON numbers


# --- what the service refuses, by name ---------------------------------------------------------


def refusal(call: Any) -> tuple[str | None, str | None]:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value.status(), caught.value.message()


def test_v2_features_it_does_not_implement_are_refused_by_name(churn_service: ServiceProcess, churn: Fitted) -> None:
    client = client_of(churn_service)
    rows = complete_rows(churn).iloc[:2]
    assert refusal(lambda: client.infer("churn", churn_inputs(rows, True), request_compression_algorithm="gzip")) == (
        "415",
        "Content-Encoding 'gzip' is not supported: send the body uncompressed",
    )
    assert refusal(lambda: client.infer("churn", churn_inputs(rows, True), sequence_id=7)) == (
        "400",
        "request parameter 'sequence_id' (the sequence extension) is not supported by this service",
    )
    classified = [triton.InferRequestedOutput("predict", class_count=2)]
    assert refusal(lambda: client.infer("churn", churn_inputs(rows, False), outputs=classified)) == (
        "400",
        "output 'predict' parameter 'classification' (the classification extension) is not supported by this service",
    )
    shared = churn_inputs(rows, False)
    shared[0].set_shared_memory("region0", 16)
    assert refusal(lambda: client.infer("churn", shared)) == (
        "400",
        "input 'tenure_months' parameter 'shared_memory_region' (the shared-memory "
        "extension) is not supported by this service",
    )


def post(service: ServiceProcess, body: bytes, header: int | str | None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    headers = {"Content-Type": "application/octet-stream"}
    if header is not None:
        headers["Inference-Header-Content-Length"] = str(header)
    connection.request("POST", "/v2/models/cancer/infer", body=body, headers=headers)
    answer = connection.getresponse()
    status, document = answer.status, json.loads(answer.read())
    connection.close()
    return status, document


def matrix_request(size: int, rows: int = 2) -> bytes:
    tensor = {"name": "input-0", "shape": [rows, 10], "datatype": "FP32", "parameters": {"binary_data_size": size}}
    return json.dumps({"inputs": [tensor]}).encode()


def test_bad_framing_is_a_400_naming_what_is_wrong(cancer_service: ServiceProcess) -> None:
    head = matrix_request(80)
    assert post(cancer_service, head + bytes(80), len(head) + 100) == (
        400,
        {
            "error": f"Inference-Header-Content-Length {len(head) + 100} is past the end of the {len(head) + 80}-byte body"
        },
    )
    assert post(cancer_service, head + bytes(80), "12x") == (
        400,
        {"error": "Inference-Header-Content-Length must be a number of bytes, got '12x'"},
    )
    short = matrix_request(79)
    assert post(cancer_service, short + bytes(79), len(short)) == (
        400,
        {"error": "input 'input-0': binary_data_size 79 does not match shape [2, 10] x FP32 (80 bytes)"},
    )
    assert post(cancer_service, head + bytes(40), len(head)) == (
        400,
        {"error": "input 'input-0': binary_data_size 80 runs past the end of the body (40 bytes left)"},
    )
    assert post(cancer_service, head + bytes(88), len(head)) == (
        400,
        {"error": "8 bytes after the JSON are not claimed by any input's binary_data_size"},
    )


def test_the_body_limit_still_applies_to_binary_bodies(cancer_service: ServiceProcess) -> None:
    rows = BODY_LIMIT // 40
    head = matrix_request(rows * 40, rows)
    assert post(cancer_service, head + bytes(rows * 40), len(head)) == (
        413,
        {"error": f"request body is larger than this service's limit of {BODY_LIMIT} bytes"},
    )
