"""Request bodies: JSON parsing, the accepted shapes, and validation against the version's signature.

``POST /predict`` accepts, as one JSON object, exactly one of:

- ``{"records": [{"age": 41, ...}, ...]}`` (also MLflow's ``dataframe_records`` and ``instances``),
- ``{"record": {"age": 41, ...}}``, one row,
- ``{"columns": {"age": [41, 52], ...}}``,
- ``{"dataframe_split": {"columns": ["age", ...], "data": [[41, ...], ...]}}`` (MLflow's split form).

The Open Inference Protocol (V2) body carries named tensors: one tensor per column (MLServer's
pandas codec) or one ``[rows, columns]`` tensor in the signature's column order.

Every value is checked against its column's declared type; every problem names the field and the
row. A field that is not a feature but a column the spec declares (``data.columns``: ids, the time
column, the target, pixels the model dropped) is accepted and ignored, so a row can be sent as it is
stored. A name the spec never declared is refused with a did-you-mean, unless the spec says
``serving.unknown_fields: ignore``: then it is ignored too and counted (:attr:`Batch.ignored`).

A body that is not JSON is a 400, a body of the wrong shape or with wrong values a 422, and
more rows than ``max_batch_rows`` a 413 (the batch is too large, whatever its bytes).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mlopsctl.contract.batch import Batch
from mlopsctl.contract.records import InputColumn, Signature

MAX_PROBLEMS = 20
RECORD_KEYS = ("records", "dataframe_records", "instances")
PREDICT_KEYS = (*RECORD_KEYS, "record", "columns", "dataframe_split")
V2_NUMERIC = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)
V2_DATATYPES = V2_NUMERIC | {"BYTES"}


@dataclass(frozen=True)
class Problem:
    message: str
    field: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return ": ".join([*where, self.message])

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "row": self.row, "message": self.message}


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and the problems found."""

    def __init__(self, status: int, problems: list[Problem]) -> None:
        super().__init__(str(problems[0]))
        self.status = status
        self.problems = problems

    @classmethod
    def one(cls, status: int, message: str, *, field: str | None = None, row: int | None = None) -> RequestError:
        return cls(status, [Problem(message, field, row)])

    def body(self) -> dict[str, Any]:
        first = str(self.problems[0])
        more = len(self.problems) - 1
        summary = first if not more else f"{first} (and {more} more problem{'s' if more > 1 else ''})"
        if self.status != 422:
            return {"error": summary}
        return {"error": summary, "problems": [p.to_dict() for p in self.problems]}


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; a 400 naming the syntax error otherwise."""
    if not body.strip():
        raise RequestError.one(400, "the request has no body; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{exc.object[exc.start]:02x} at position {exc.start}"
        raise RequestError.one(400, f"malformed JSON: the body is not UTF-8 ({where})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise RequestError.one(400, "malformed JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise RequestError.one(400, f"malformed JSON: {exc}") from None
    except ValueError:  # an integer literal longer than Python converts (sys.get_int_max_str_digits)
        raise RequestError.one(400, "malformed JSON: a number has too many digits") from None


UnknownFields = Literal["reject", "ignore"]


@dataclass(frozen=True)
class FieldPolicy:
    """Which request fields besides the features a version accepts, and what becomes of the others."""

    declared: tuple[str, ...] = ()
    """The spec's data columns (``data.columns``, in order): accepted, and ignored when not features."""
    unknown_fields: UnknownFields = "reject"
    """Names the spec never declared: reject (422 with a did-you-mean) or ignore (counted)."""

    def with_record(self, signature: Signature) -> FieldPolicy:
        """This policy plus the data columns the version's record carries (``signature.data_columns``)."""
        recorded = getattr(signature, "data_columns", None)  # a declared field, or kept as an extra key
        if not isinstance(recorded, list) or not all(isinstance(n, str) for n in recorded):
            return self
        return FieldPolicy((*recorded, *(n for n in self.declared if n not in recorded)), self.unknown_fields)


class Problems:
    """Problems found so far; stops the check once enough are collected to be useful."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, message: str, field: str | None = None, row: int | None = None) -> None:
        self.found.append(Problem(message, field, row))
        if len(self.found) >= MAX_PROBLEMS:
            raise RequestError(422, self.found)

    def raise_any(self) -> None:
        if self.found:
            raise RequestError(422, self.found)


Checker = Callable[[str, list[Any], Problems], list[Any]]


class Schema:
    """The signature's columns, and the conversion of each accepted body shape into a :class:`Batch`."""

    def __init__(self, signature: Signature, max_rows: int, policy: FieldPolicy | None = None) -> None:
        self.columns = list(signature.inputs)
        self.names = [c.name for c in self.columns]
        self.name_set = frozenset(self.names)
        self.max_rows = max_rows
        self.checkers: dict[str, Checker] = {c.name: _checker(c) for c in self.columns}
        self.policy = (policy or FieldPolicy()).with_record(signature)
        self.accepted = self.name_set | frozenset(self.policy.declared)
        self.ignore_unknown = self.policy.unknown_fields == "ignore"

    # --- /predict ---------------------------------------------------------------------------

    def predict_batch(self, document: Any) -> Batch:
        if not isinstance(document, dict):
            raise RequestError.one(422, f"expected a JSON object with one of: {', '.join(PREDICT_KEYS)}")
        keys = [k for k in document if k in PREDICT_KEYS]
        unknown = [k for k in document if k not in PREDICT_KEYS]
        if unknown:
            raise RequestError.one(422, f"unknown key '{unknown[0]}'; send one of: {', '.join(PREDICT_KEYS)}")
        if len(keys) != 1:
            raise RequestError.one(422, f"send exactly one of: {', '.join(PREDICT_KEYS)}")
        key = keys[0]
        value = document[key]
        if key in RECORD_KEYS:
            return self.from_records(value, key)
        if key == "record":
            if not isinstance(value, dict):
                raise RequestError.one(422, "'record' must be an object of field values")
            return self.from_records([value], key)
        if key == "columns":
            return self.from_columns(value)
        return self.from_split(value)

    def from_records(self, rows: Any, key: str = "records") -> Batch:
        if not isinstance(rows, list):
            raise RequestError.one(422, f"'{key}' must be a list of objects")
        self._check_rows(len(rows))
        problems = Problems()
        ignored: set[str] = set()
        names: Any = self.name_set
        for index, row in enumerate(rows):
            if type(row) is not dict:
                problems.add(f"expected an object of field values, got {_describe(row)}", row=index)
            elif row.keys() != names and not self._key_problems(row.keys(), problems, index, ignored):
                names = row.keys()  # the next rows likely carry the same extra fields: one comparison
        problems.raise_any()
        raw = {name: [row[name] for row in rows] for name in self.names}
        return self._batch(len(rows), raw, problems, len(ignored))

    def from_columns(self, columns: Any) -> Batch:
        if not isinstance(columns, dict):
            raise RequestError.one(422, "'columns' must be an object of column name to list of values")
        problems = Problems()
        ignored: set[str] = set()
        if columns.keys() != self.name_set:
            self._key_problems(columns.keys(), problems, None, ignored)
        features = {name: values for name, values in columns.items() if name in self.name_set}
        for name, values in features.items():
            if not isinstance(values, list):
                problems.add(f"expected a list of values, got {_describe(values)}", field=name)
        problems.raise_any()
        lengths = {len(v) for v in features.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{n}: {len(v)}" for n, v in features.items())
            raise RequestError.one(422, f"columns have different lengths ({shown})")
        rows = lengths.pop() if lengths else 0
        self._check_rows(rows)
        return self._batch(rows, {name: columns[name] for name in self.names}, problems, len(ignored))

    def from_split(self, split: Any) -> Batch:
        if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
            raise RequestError.one(422, "'dataframe_split' must be an object with 'columns' and 'data'")
        names, data = split["columns"], split.get("data")
        if not isinstance(data, list):
            raise RequestError.one(422, "'dataframe_split.data' must be a list of rows")
        if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise RequestError.one(422, "'dataframe_split.columns' must be distinct field names")
        self._check_rows(len(data))
        problems = Problems()
        ignored: set[str] = set()
        if set(names) != self.name_set:
            self._key_problems(names, problems, None, ignored)
        for index, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(names):
                problems.add(f"expected a list of {len(names)} values, got {_describe(row)}", row=index)
        problems.raise_any()
        position = {n: i for i, n in enumerate(names)}
        raw = {n: [row[position[n]] for row in data] for n in self.names}
        return self._batch(len(data), raw, problems, len(ignored))

    # --- Open Inference Protocol -------------------------------------------------------------

    def v2_batch(self, tensors: Any) -> Batch:
        if not isinstance(tensors, list) or not tensors:
            raise RequestError.one(422, "'inputs' must be a non-empty list of tensors")
        problems = Problems()
        checked = [_v2_tensor(t, i, problems) for i, t in enumerate(tensors)]
        problems.raise_any()
        parsed = [t for t in checked if t is not None]
        if len(parsed) == 1 and parsed[0].name not in self.accepted:
            return self._v2_matrix(parsed[0])
        return self._v2_columns(parsed)

    def _v2_columns(self, tensors: list[Tensor]) -> Batch:
        problems = Problems()
        ignored: set[str] = set()
        names = [t.name for t in tensors]
        if len(set(names)) != len(names):
            raise RequestError.one(422, "input tensor names must be distinct")
        if set(names) != self.name_set:
            self._key_problems(names, problems, None, ignored, noun="input tensor")
        tensors = [t for t in tensors if t.name in self.name_set]
        for tensor in tensors:
            if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
                problems.add(f"shape {tensor.shape} is not one column: use [rows] or [rows, 1]", field=tensor.name)
            self._v2_datatype(tensor, problems)
        problems.raise_any()
        rows = {t.shape[0] for t in tensors}
        if len(rows) > 1:
            raise RequestError.one(422, "input tensors have different numbers of rows")
        count = rows.pop()
        self._check_rows(count)
        return self._batch(count, {t.name: t.data for t in tensors}, problems, len(ignored))

    def _v2_matrix(self, tensor: Tensor) -> Batch:
        width = len(self.names)
        if len(tensor.shape) != 2 or tensor.shape[1] != width:
            raise RequestError.one(
                422,
                f"input tensor '{tensor.name}' is not a column of this model; send one tensor per column "
                f"({', '.join(self.names)}) or one tensor of shape [rows, {width}] in that order",
                field=tensor.name,
            )
        rows = tensor.shape[0]
        self._check_rows(rows)
        data = tensor.data
        return self._batch(rows, {n: data[i::width] for i, n in enumerate(self.names)}, Problems())

    def _v2_datatype(self, tensor: Tensor, problems: Problems) -> None:
        column = next((c for c in self.columns if c.name == tensor.name), None)
        if column is None:
            return
        numeric = column.type in ("integer", "float", "boolean")
        if numeric and tensor.datatype == "BYTES":
            problems.add(f"datatype BYTES does not fit a {column.type} column; use FP64 or INT64", field=tensor.name)
        if not numeric and tensor.datatype != "BYTES":
            problems.add(
                f"datatype {tensor.datatype} does not fit a {column.type} column; use BYTES", field=tensor.name
            )

    # --- shared ------------------------------------------------------------------------------

    def _check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise RequestError.one(413, f"{rows} rows is more than this service's limit of {self.max_rows} per request")
        if rows == 0:
            raise RequestError.one(422, "no rows to predict")

    def _key_problems(
        self, keys: Any, problems: Problems, row: int | None, ignored: set[str], noun: str = "field"
    ) -> bool:
        """Missing features and undeclared names as problems (or into ``ignored``); True if any problem."""
        given = set(keys)
        before = len(problems.found)
        for name in self.names:
            if name not in given:
                problems.add(f"missing {noun} '{name}'", field=name, row=row)
        unknown = given - self.accepted
        if unknown and self.ignore_unknown:
            ignored.update(str(k) for k in unknown)
            unknown = set()
        for name in sorted(str(k) for k in unknown):
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; {noun}s are: {', '.join(self.names)}"
            problems.add(f"unknown {noun} '{name}'{hint}", field=name, row=row)
        return len(problems.found) > before

    def _batch(self, rows: int, raw: dict[str, list[Any]], problems: Problems, ignored: int = 0) -> Batch:
        columns = {name: self.checkers[name](name, raw[name], problems) for name in self.names}
        problems.raise_any()
        return Batch(rows, columns, ignored)


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


def _v2_tensor(raw: Any, index: int, problems: Problems) -> Tensor | None:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        problems.add(f"{where} must be an object with name, shape, datatype and data")
        return None
    name, shape, datatype, data = (raw.get(k) for k in ("name", "shape", "datatype", "data"))
    if not isinstance(name, str):
        problems.add(f"{where}.name must be a string")
        return None
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        problems.add("shape must be a list of non-negative integers", field=name)
        return None
    if datatype not in V2_DATATYPES:
        problems.add(f"unknown datatype {datatype!r}; one of {', '.join(sorted(V2_DATATYPES))}", field=name)
        return None
    flat = _flatten(data)
    if flat is None:
        problems.add("data must be a list (flat or nested) of values", field=name)
        return None
    if len(flat) != math.prod(shape):
        problems.add(f"shape {shape} needs {math.prod(shape)} values, data has {len(flat)}", field=name)
        return None
    return Tensor(name, shape, datatype, flat)


def _flatten(data: Any) -> list[Any] | None:
    if not isinstance(data, list):
        return None
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    for value in data:
        if isinstance(value, list):
            inner = _flatten(value)
            if inner is None:
                return None
            flat.extend(inner)
        else:
            flat.append(value)
    return flat


# --- value checks per declared type ---------------------------------------------------------


def _checker(column: InputColumn) -> Checker:
    nullable = column.nullable
    if column.type in ("integer", "float"):
        integer = column.type == "integer"
        return lambda name, values, problems: _numbers(name, values, problems, nullable, integer)
    if column.type == "boolean":
        return lambda name, values, problems: _booleans(name, values, problems, nullable)
    return lambda name, values, problems: _strings(name, values, problems, nullable)


def _numbers(name: str, values: list[Any], problems: Problems, nullable: bool, integer: bool) -> list[Any]:
    out: list[float] = []
    append = out.append
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float and math.isfinite(value) and (not integer or value.is_integer()):
            append(value)
        elif kind is int:
            try:
                append(float(value))
            except OverflowError:
                problems.add("the number is too large", name, row)
        else:
            _number_problem(name, row, value, problems, nullable, integer, append)
    return out


def _number_problem(
    name: str, row: int, value: Any, problems: Problems, nullable: bool, integer: bool, append: Callable[[float], None]
) -> None:
    if value is None or (type(value) is float and math.isnan(value)):
        if nullable:
            append(math.nan)
        else:
            shown = "null" if value is None else "NaN"
            problems.add(f"{shown} is not allowed: the field is not nullable", name, row)
    elif type(value) is float and math.isinf(value):
        problems.add(f"expected a finite number, got {value}", name, row)
    elif type(value) is float:
        problems.add(f"expected an integer, got {value!r}", name, row)
    else:
        problems.add(f"expected {'an integer' if integer else 'a number'}, got {_describe(value)}", name, row)


def _booleans(name: str, values: list[Any], problems: Problems, nullable: bool) -> list[Any]:
    out: list[float] = []
    for row, value in enumerate(values):
        if type(value) is bool:
            out.append(1.0 if value else 0.0)
        elif value is None and nullable:
            out.append(math.nan)
        elif value is None:
            problems.add("null is not allowed: the field is not nullable", name, row)
        else:
            problems.add(f"expected true or false, got {_describe(value)}", name, row)
    return out


def _strings(name: str, values: list[Any], problems: Problems, nullable: bool) -> list[Any]:
    out: list[str | None] = []
    for row, value in enumerate(values):
        if type(value) is str:
            out.append(value)
        elif value is None or (type(value) is float and math.isnan(value)):
            if nullable:
                out.append(None)
            else:
                problems.add(
                    f"{'null' if value is None else 'NaN'} is not allowed: the field is not nullable", name, row
                )
        else:
            problems.add(f"expected a string, got {_describe(value)}", name, row)
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({json.dumps(shown)})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    return "an object"
