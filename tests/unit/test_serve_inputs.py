"""Request bodies: every accepted shape becomes the same batch; every bad input names field and row."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mlopsctl.contract.records import InputColumn, Signature
from mlopsctl.serve.inputs import RequestError, Schema, parse_json

SIGNATURE = Signature(
    inputs=[
        InputColumn(name="age", type="integer"),
        InputColumn(name="income", type="float", nullable=True),
        InputColumn(name="plan", type="category", categories=["basic", "pro"]),
        InputColumn(name="active", type="boolean", nullable=True),
    ],
    task="classification",
    target="churned",
    classes=[0, 1],
)
ROW = {"age": 41, "income": 1250.5, "plan": "pro", "active": True}
ROW2 = {"age": 52, "income": None, "plan": "basic", "active": None}


@pytest.fixture
def schema() -> Schema:
    return Schema(SIGNATURE, max_rows=3)


def refused(schema: Schema, document: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        schema.predict_batch(document)
    return caught.value


def same(a: list[Any], b: list[Any]) -> bool:
    return all(
        (x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


EXPECTED = {
    "age": [41.0, 52.0],
    "income": [1250.5, math.nan],
    "plan": ["pro", "basic"],
    "active": [1.0, math.nan],
}


@pytest.mark.parametrize(
    "document",
    [
        {"records": [ROW, ROW2]},
        {"dataframe_records": [ROW, ROW2]},
        {"instances": [ROW, ROW2]},
        {"columns": {k: [ROW[k], ROW2[k]] for k in ROW}},
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values()), list(ROW2.values())]}},
    ],
    ids=["records", "dataframe_records", "instances", "columns", "dataframe_split"],
)
def test_every_shape_gives_the_same_batch(schema: Schema, document: Any) -> None:
    batch = schema.predict_batch(document)
    assert batch.rows == 2
    assert list(batch.columns) == ["age", "income", "plan", "active"]
    for name, values in EXPECTED.items():
        assert same(batch.columns[name], values), name


def test_one_record(schema: Schema) -> None:
    batch = schema.predict_batch({"record": ROW})
    assert batch.rows == 1 and batch.columns["plan"] == ["pro"]


def test_split_columns_may_come_in_any_order(schema: Schema) -> None:
    names = ["plan", "age", "active", "income"]
    batch = schema.predict_batch({"dataframe_split": {"columns": names, "data": [[ROW[n] for n in names]]}})
    assert batch.columns["age"] == [41.0] and batch.columns["plan"] == ["pro"]


def test_whole_floats_are_integers_and_json_nan_is_missing_where_nullable(schema: Schema) -> None:
    batch = schema.predict_batch(parse_json(b'{"record": {"age": 41.0, "income": NaN, "plan": "x", "active": false}}'))
    assert batch.columns["age"] == [41.0]
    assert math.isnan(batch.columns["income"][0])
    assert batch.columns["active"] == [0.0]


@pytest.mark.parametrize(
    ("row", "error", "problem"),
    [
        (
            {**ROW, "age": "41"},
            "row 0: field 'age': expected an integer, got a string (\"41\")",
            {"field": "age", "row": 0, "message": 'expected an integer, got a string ("41")'},
        ),
        (
            {**ROW, "age": 41.5},
            "row 0: field 'age': expected an integer, got 41.5",
            {"field": "age", "row": 0, "message": "expected an integer, got 41.5"},
        ),
        (
            {**ROW, "age": True},
            "row 0: field 'age': expected an integer, got a boolean (true)",
            {"field": "age", "row": 0, "message": "expected an integer, got a boolean (true)"},
        ),
        (
            {**ROW, "income": "lots"},
            "row 0: field 'income': expected a number, got a string (\"lots\")",
            {"field": "income", "row": 0, "message": 'expected a number, got a string ("lots")'},
        ),
        (
            {**ROW, "income": [1]},
            "row 0: field 'income': expected a number, got a list",
            {"field": "income", "row": 0, "message": "expected a number, got a list"},
        ),
        (
            {**ROW, "age": None},
            "row 0: field 'age': null is not allowed: the field is not nullable",
            {"field": "age", "row": 0, "message": "null is not allowed: the field is not nullable"},
        ),
        (
            {**ROW, "plan": 3},
            "row 0: field 'plan': expected a string, got a number (3)",
            {"field": "plan", "row": 0, "message": "expected a string, got a number (3)"},
        ),
        (
            {**ROW, "plan": None},
            "row 0: field 'plan': null is not allowed: the field is not nullable",
            {"field": "plan", "row": 0, "message": "null is not allowed: the field is not nullable"},
        ),
        (
            {**ROW, "active": "yes"},
            "row 0: field 'active': expected true or false, got a string (\"yes\")",
            {"field": "active", "row": 0, "message": 'expected true or false, got a string ("yes")'},
        ),
        (
            {k: v for k, v in ROW.items() if k != "plan"},
            "row 0: field 'plan': missing field 'plan'",
            {"field": "plan", "row": 0, "message": "missing field 'plan'"},
        ),
        (
            {**ROW, "agee": 3},
            "row 0: field 'agee': unknown field 'agee'; did you mean 'age'?",
            {"field": "agee", "row": 0, "message": "unknown field 'agee'; did you mean 'age'?"},
        ),
        (
            {**ROW, "zzz": 3},
            "row 0: field 'zzz': unknown field 'zzz'; fields are: age, income, plan, active",
            {"field": "zzz", "row": 0, "message": "unknown field 'zzz'; fields are: age, income, plan, active"},
        ),
    ],
)
def test_bad_values_name_the_field_and_the_row(
    schema: Schema, row: dict[str, Any], error: str, problem: dict[str, Any]
) -> None:
    caught = refused(schema, {"records": [ROW, row][1:]})
    assert caught.status == 422
    assert caught.body() == {"error": error, "problems": [problem]}


def test_problems_in_later_rows_carry_their_index(schema: Schema) -> None:
    caught = refused(schema, {"records": [ROW, {**ROW, "age": "x"}, {**ROW, "plan": 1}]})
    assert (
        caught.body()["error"] == "row 1: field 'age': expected an integer, got a string (\"x\") (and 1 more problem)"
    )
    assert [(p["row"], p["field"]) for p in caught.body()["problems"]] == [(1, "age"), (2, "plan")]


def test_nan_and_infinity_from_json(schema: Schema) -> None:
    nan = refused(schema, parse_json(b'{"record": {"age": NaN, "income": 1, "plan": "pro", "active": true}}'))
    assert nan.body()["error"] == "row 0: field 'age': NaN is not allowed: the field is not nullable"
    inf = refused(schema, parse_json(b'{"record": {"age": 1, "income": Infinity, "plan": "pro", "active": true}}'))
    assert inf.body()["error"] == "row 0: field 'income': expected a finite number, got inf"
    big = refused(schema, parse_json(b'{"record": {"age": 1, "income": 1e999, "plan": "pro", "active": true}}'))
    assert big.body()["error"] == "row 0: field 'income': expected a finite number, got inf"
    huge = refused(schema, {"record": {**ROW, "age": 10**400}})
    assert huge.body()["error"] == "row 0: field 'age': the number is too large"


@pytest.mark.parametrize(
    ("document", "status", "error"),
    [
        (
            [ROW],
            422,
            "expected a JSON object with one of: records, dataframe_records, instances, record, columns, dataframe_split",
        ),
        ({}, 422, "send exactly one of: records, dataframe_records, instances, record, columns, dataframe_split"),
        (
            {"records": [ROW], "record": ROW},
            422,
            "send exactly one of: records, dataframe_records, instances, record, columns, dataframe_split",
        ),
        (
            {"rows": [ROW]},
            422,
            "unknown key 'rows'; send one of: records, dataframe_records, instances, record, columns, dataframe_split",
        ),
        ({"records": ROW}, 422, "'records' must be a list of objects"),
        ({"records": []}, 422, "no rows to predict"),
        ({"records": [ROW] * 4}, 413, "4 rows is more than this service's limit of 3 per request"),
        ({"records": [ROW, 7]}, 422, "row 1: expected an object of field values, got a number (7)"),
        ({"record": [ROW]}, 422, "'record' must be an object of field values"),
        ({"columns": [1]}, 422, "'columns' must be an object of column name to list of values"),
        (
            {"columns": {k: 1 for k in ROW}},
            422,
            "field 'age': expected a list of values, got a number (1) (and 3 more problems)",
        ),
        (
            {"columns": {"age": [1, 2], "income": [1.0], "plan": ["a"], "active": [True]}},
            422,
            "columns have different lengths (age: 2, income: 1, plan: 1, active: 1)",
        ),
        ({"columns": {k: [] for k in ROW}}, 422, "no rows to predict"),
        ({"dataframe_split": {"data": []}}, 422, "'dataframe_split' must be an object with 'columns' and 'data'"),
        (
            {"dataframe_split": {"columns": list(ROW), "data": [[1, 2]]}},
            422,
            "row 0: expected a list of 4 values, got a list",
        ),
        (
            {"dataframe_split": {"columns": ["age", "age"], "data": []}},
            422,
            "'dataframe_split.columns' must be distinct field names",
        ),
    ],
)
def test_bad_shapes(schema: Schema, document: Any, status: int, error: str) -> None:
    caught = refused(schema, document)
    assert (caught.status, caught.body()["error"]) == (status, error)


def test_413_body_has_no_problem_list(schema: Schema) -> None:
    assert refused(schema, {"records": [ROW] * 4}).body() == {
        "error": "4 rows is more than this service's limit of 3 per request"
    }


def test_problem_list_stops_at_twenty(schema: Schema) -> None:
    wide = Schema(SIGNATURE, max_rows=100)
    caught = refused(wide, {"records": [{**ROW, "age": "x"}] * 50})
    assert len(caught.problems) == 20
    assert caught.body()["error"].endswith("(and 19 more problems)")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "the request has no body; send a JSON object"),
        (b"{", "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"\xff\xfe\xfa", "malformed JSON: the body is not UTF-8 (byte 0xff at position 0)"),
        (b'{"a": 1' + b"1" * 5000 + b"}", "malformed JSON: a number has too many digits"),
        (b"[" * 100_000, "malformed JSON: nested too deeply"),
    ],
    ids=["empty", "syntax", "not-utf8", "long-integer", "deep"],
)
def test_malformed_json_is_a_400(body: bytes, error: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_json(body)
    assert (caught.value.status, caught.value.body()) == (400, {"error": error})


# --- Open Inference Protocol ---------------------------------------------------------------


def tensor(name: str, data: list[Any], datatype: str = "FP64", shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


def v2_columns(age: list[Any], plan: list[Any]) -> list[dict[str, Any]]:
    return [
        tensor("age", age, "INT64"),
        tensor("income", [1.5] * len(age)),
        tensor("plan", plan, "BYTES"),
        tensor("active", [True] * len(age), "BOOL"),
    ]


def test_v2_one_tensor_per_column(schema: Schema) -> None:
    batch = schema.v2_batch(v2_columns([41, 52], ["pro", "basic"]))
    assert batch.rows == 2 and batch.columns["age"] == [41.0, 52.0] and batch.columns["plan"] == ["pro", "basic"]


def test_v2_one_matrix_in_column_order(schema: Schema) -> None:
    flat = [*ROW.values(), 52, 10.0, "basic", False]
    batch = schema.v2_batch([tensor("input-0", flat, "BYTES", [2, 4])])
    assert batch.columns["age"] == [41.0, 52.0] and batch.columns["active"] == [1.0, 0.0]
    nested = schema.v2_batch([tensor("input-0", [list(ROW.values())], "BYTES", [1, 4])])
    assert nested.columns["plan"] == ["pro"]


@pytest.mark.parametrize(
    ("tensors", "error"),
    [
        ([], "'inputs' must be a non-empty list of tensors"),
        ([7], "inputs[0] must be an object with name, shape, datatype and data"),
        ([{"shape": [1], "datatype": "FP64", "data": [1]}], "inputs[0].name must be a string"),
        ([tensor("age", [1], "INT64", [-1])], "field 'age': shape must be a list of non-negative integers"),
        (
            [tensor("age", [1], "FLOAT")],
            "field 'age': unknown datatype 'FLOAT'; one of BOOL, BYTES, FP16, FP32, FP64, INT16, INT32, INT64, INT8, UINT16, UINT32, UINT64, UINT8",
        ),
        ([tensor("age", [1, 2], "INT64", [3])], "field 'age': shape [3] needs 3 values, data has 2"),
        ([tensor("age", "12", "INT64", [2])], "field 'age': data must be a list (flat or nested) of values"),
        (
            [tensor("x", [1, 2], "FP64", [1, 2])],
            "field 'x': input tensor 'x' is not a column of this model; send one tensor per column "
            "(age, income, plan, active) or one tensor of shape [rows, 4] in that order",
        ),
        (v2_columns([1], ["pro"])[:3], "field 'active': missing input tensor 'active'"),
        (
            [*v2_columns([1], ["pro"]), tensor("extra", [1])],
            "field 'extra': unknown input tensor 'extra'; input tensors are: age, income, plan, active",
        ),
        (
            [tensor("age", [1], "BYTES"), *v2_columns([1], ["pro"])[1:]],
            "field 'age': datatype BYTES does not fit a integer column; use FP64 or INT64",
        ),
        (
            [*v2_columns([1], ["pro"])[:2], tensor("plan", [1], "INT64"), v2_columns([1], ["pro"])[3]],
            "field 'plan': datatype INT64 does not fit a category column; use BYTES",
        ),
        (
            [*v2_columns([1, 2], ["pro", "pro"])[:3], tensor("active", [True], "BOOL")],
            "input tensors have different numbers of rows",
        ),
        (v2_columns([1, "x"], ["pro", "pro"]), "row 1: field 'age': expected an integer, got a string (\"x\")"),
        (
            [*v2_columns([1], ["pro"])[:3], tensor("active", [True, False], "BOOL", [1, 2])],
            "field 'active': shape [1, 2] is not one column: use [rows] or [rows, 1]",
        ),
    ],
)
def test_v2_bad_tensors(schema: Schema, tensors: Any, error: str) -> None:
    with pytest.raises(RequestError) as caught:
        schema.v2_batch(tensors)
    assert (caught.value.status, caught.value.body()["error"]) == (422, error)
