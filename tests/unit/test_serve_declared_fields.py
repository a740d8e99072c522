"""The request schema's field policy (issue 13, item 6) and the binary tensor decoding (item 8), in-process."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from mlopsctl.contract.records import InputColumn, Signature
from mlopsctl.serve.binary import decode
from mlopsctl.serve.inputs import FieldPolicy, RequestError, Schema


def signature(**extra: Any) -> Signature:
    inputs = [InputColumn(name="age", type="integer"), InputColumn(name="plan", type="category")]
    return Signature(inputs=inputs, task="classification", target="churned", **extra)


def refused(call: Any) -> tuple[int, str]:
    with pytest.raises(RequestError) as caught:
        call()
    return caught.value.status, str(caught.value.body()["error"])


def test_data_columns_in_the_record_are_accepted_like_the_specs() -> None:
    schema = Schema(signature(data_columns=["customer_id", "age", "plan", "churned"]), 100)
    batch = schema.predict_batch({"record": {"customer_id": "c1", "age": 3, "plan": "a", "churned": 1}})
    assert (batch.columns, batch.ignored) == ({"age": [3.0], "plan": ["a"]}, 0)
    assert refused(lambda: schema.predict_batch({"record": {"age": 3, "plan": "a", "plann": 1}})) == (
        422,
        "row 0: field 'plann': unknown field 'plann'; did you mean 'plan'?",
    )


def test_ignored_names_count_once_per_request_whatever_the_rows() -> None:
    schema = Schema(signature(), 100, FieldPolicy(("signup",), "ignore"))
    rows = [{"age": 1, "plan": "a", "x": 1, "signup": "2024"}, {"age": 2, "plan": "b", "x": 2, "y": 3}]
    assert schema.predict_batch({"records": rows}).ignored == 2
    split = {"columns": ["age", "plan", "x"], "data": [[1, "a", 0]]}
    assert schema.predict_batch({"dataframe_split": split}).ignored == 1


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("FP16", [0.5, -2.0]),
        ("FP32", [0.25, 3.0]),
        ("FP64", [1e-300, 2.5]),
        ("INT32", [-7, 9]),
        ("INT64", [2**40, -1]),
        ("UINT8", [0, 255]),
        ("BOOL", [True, False]),
    ],
)
def test_numeric_binary_data_decodes_little_endian(datatype: str, values: list[Any]) -> None:
    dtypes = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1", "BOOL": "?"}
    raw = np.asarray(values, dtype=dtypes[datatype]).tobytes()
    assert decode("x", [2], datatype, raw) == values


def test_bytes_are_length_prefixed_utf8() -> None:
    raw = b"".join(struct.pack("<I", len(v)) + v for v in ("mé".encode(), b""))
    assert decode("plan", [2, 1], "BYTES", raw) == ["mé", ""]
    assert refused(lambda: decode("plan", [3], "BYTES", raw)) == (
        400,
        "input 'plan': binary data holds 2 BYTES elements, shape [3] needs 3",
    )
    assert refused(lambda: decode("plan", [1], "BYTES", b"\x05\x00\x00\x00ab")) == (
        400,
        "input 'plan': a BYTES element runs past its binary data",
    )
    assert refused(lambda: decode("plan", [1], "BYTES", b"\x01\x00\x00\x00\xff")) == (
        400,
        "input 'plan': a BYTES element is not UTF-8 text",
    )


def test_a_datatype_without_a_binary_form_here_is_refused_by_name() -> None:
    assert refused(lambda: decode("x", [1], "BF16", b"\x00\x00")) == (
        400,
        "input 'x': datatype 'BF16' is not supported in binary data; use one of BOOL, UINT8, UINT16, UINT32, "
        "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES",
    )
