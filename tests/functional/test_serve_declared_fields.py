"""Serving the rows users have (issue 13, item 6): declared data columns are accepted and ignored.

A digits model trained with ``mlopsctl train`` on the 61 pixels that vary is served by ``mlopsctl
serve``; a client sends rows as they are stored (id, capture time, all 64 pixels, the label), in
every body shape and as V2 tensors, and gets the pipeline's own predictions. A name the spec never
declared keeps its 422 with a did-you-mean, unless the spec says ``serving.unknown_fields: ignore``:
then it is answered, and counted in ``mlops_ignored_fields_total`` (no label per name).
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlopsctl.registry.store import load_version
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import scan_repo
from tests.conftest import isolate_git_home, run_cli_process
from tests.support.serve_process import read_json_object, start_serve
from tests.support.serving import Client, ServiceProcess, churn_fitted, records_of, write_version
from tests.support.serving_declared import FEATURES, add_digits_model, stored_rows, write_spec

pytestmark = pytest.mark.slow

ROWS = 20


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, pd.DataFrame]]:
    """A repository where ``mlopsctl train digits`` registered digits@1."""
    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        root = init_repo(tmp_path_factory.mktemp("digits") / "repo", "digits").root
        frame = add_digits_model(root)
        trained = run_cli_process("--repo", str(root), "train", "digits")
        assert trained.code == 0, trained.stdout + trained.stderr
        yield root, frame


@pytest.fixture(scope="module")
def expected(digits: tuple[Path, pd.DataFrame]) -> list[int]:
    root, frame = digits
    _, pipeline = load_version(scan_repo(root), "digits", 1)
    return [int(v) for v in pipeline.predict(frame.iloc[:ROWS][FEATURES])]


class Served:
    """``mlopsctl serve digits@1`` in the repository, with a keep-alive client."""

    def __init__(self, root: Path) -> None:
        self.process = start_serve(root, "digits@1", 0)
        self.client = Client(read_json_object(self.process)["url"])

    def stop(self) -> int:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def metric(self, name: str) -> str:
        text = self.client.get("/metrics")[2].decode()
        return next(line for line in text.splitlines() if line.startswith(name + "{"))


@pytest.fixture
def served(digits: tuple[Path, pd.DataFrame]) -> Iterator[Served]:
    running = Served(digits[0])
    yield running
    assert running.stop() == 0


@pytest.fixture
def served_ignoring(digits: tuple[Path, pd.DataFrame]) -> Iterator[Served]:
    root = digits[0]
    write_spec(root, "ignore")
    try:
        running = Served(root)
        yield running
        assert running.stop() == 0
    finally:
        subprocess.run(["git", "checkout", "--", "models/digits/model.yaml"], cwd=root, check=True)


def v2_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One V2 tensor per stored column, with the datatype a client would pick for it."""
    tensors = []
    for name in rows[0]:
        values = [row[name] for row in rows]
        datatype = "BYTES" if isinstance(values[0], str) else "INT64"
        tensors.append({"name": name, "shape": [len(rows)], "datatype": datatype, "data": values})
    return tensors


def test_rows_as_stored_are_answered_in_every_shape(
    served: Served, digits: tuple[Path, pd.DataFrame], expected: list[int]
) -> None:
    rows = stored_rows(digits[1], ROWS)
    assert len(rows[0]) == 67  # id, time, 64 pixels, label: six declared columns the model does not use
    names = list(rows[0])
    bodies = {
        "records": {"records": rows},
        "instances": {"instances": rows},
        "columns": {"columns": {name: [row[name] for row in rows] for name in names}},
        "dataframe_split": {"dataframe_split": {"columns": names, "data": [list(row.values()) for row in rows]}},
    }
    for shape, body in bodies.items():
        status, _, answer = served.client.post("/predict", body)
        assert (shape, status, answer["predictions"]) == (shape, 200, expected)
    status, _, answer = served.client.post("/predict", {"record": rows[0]})
    assert (status, answer["predictions"]) == (200, expected[:1])
    status, _, answer = served.client.post("/v2/models/digits/infer", {"inputs": v2_inputs(rows)})
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == expected
    assert served.metric("mlops_ignored_fields_total") == (
        'mlops_ignored_fields_total{model="digits",version="1",role="stable"} 0'
    )
    fields = json.loads(served.client.get("/metadata")[2])["fields"]
    assert fields == {"declared": names, "unknown_fields": "reject"}


def test_a_name_the_spec_never_declared_keeps_its_422(served: Served, digits: tuple[Path, pd.DataFrame]) -> None:
    row = {**stored_rows(digits[1], 1)[0], "pixel_64": 0}
    status, _, answer = served.client.post("/predict", {"records": [row]})
    assert (status, answer["error"]) == (
        422,
        "row 0: field 'pixel_64': unknown field 'pixel_64'; did you mean 'pixel_6'?",
    )
    columns = {name: [value] for name, value in row.items()}
    status, _, answer = served.client.post("/predict", {"columns": columns})
    assert (status, answer["error"]) == (422, "field 'pixel_64': unknown field 'pixel_64'; did you mean 'pixel_6'?")
    tensors = v2_inputs([row])
    status, _, answer = served.client.post("/v2/models/digits/infer", {"inputs": tensors})
    assert (status, answer["error"]) == (
        422,
        "field 'pixel_64': unknown input tensor 'pixel_64'; did you mean 'pixel_6'?",
    )


def test_unknown_fields_ignore_answers_and_counts_without_a_label_per_name(
    served_ignoring: Served, digits: tuple[Path, pd.DataFrame], expected: list[int]
) -> None:
    rows = [{**row, "camera": "lab-2", "pixel_64": 0} for row in stored_rows(digits[1], ROWS)]
    status, _, answer = served_ignoring.client.post("/predict", {"records": rows})
    assert (status, answer["predictions"]) == (200, expected)
    status, _, answer = served_ignoring.client.post("/v2/models/digits/infer", {"inputs": v2_inputs(rows)})
    assert (status, answer["outputs"][0]["data"]) == (200, expected)
    assert served_ignoring.metric("mlops_ignored_fields_total") == (
        'mlops_ignored_fields_total{model="digits",version="1",role="stable"} 4'
    )
    missing = {name: value for name, value in rows[0].items() if name != "pixel_7"}
    status, _, answer = served_ignoring.client.post("/predict", {"record": missing})
    assert (status, answer["error"]) == (422, "row 0: field 'pixel_7': missing field 'pixel_7'")


# --- the service process as deploy and the images run it ---------------------------------------


def test_the_service_process_takes_the_declared_columns_and_the_policy(tmp_path: Path) -> None:
    churn = churn_fitted(version=1)
    record, artifact, _ = write_version(tmp_path, churn)
    rows = [
        {**row, "customer_id": "c-1", "signup_date": "2024-01-01", "churned": 0}
        for row in records_of(churn.frame.iloc[:5])
    ]
    files = (
        "--record",
        str(record),
        "--artifact",
        str(artifact),
        "--declared-columns",
        "customer_id,signup_date,churned",
    )
    with ServiceProcess(*files) as service:
        client = Client(service.url)
        status, _, answer = client.post("/predict", {"records": rows})
        assert (status, len(answer["predictions"])) == (200, 5)
        status, _, answer = client.post("/predict", {"record": {**rows[0], "coupon": "x"}})
        assert (status, answer["error"]) == (
            422,
            "row 0: field 'coupon': unknown field 'coupon'; fields are: tenure_months, monthly_charges, support_calls, age, contract, payment_method",
        )
        client.close()
    with ServiceProcess(*files, "--unknown-fields", "ignore") as service:
        client = Client(service.url)
        status, _, answer = client.post("/predict", {"record": {**rows[0], "coupon": "x"}})
        metrics = client.get("/metrics")[2].decode()
        client.close()
    assert (status, len(answer["predictions"])) == (200, 1)
    assert 'mlops_ignored_fields_total{model="churn",version="1",role="stable"} 1\n' in metrics
