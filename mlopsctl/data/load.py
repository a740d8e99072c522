"""Reading a model's data set once: the typed frame and its fingerprint from the same bytes.

The file is read into memory once. Its sha256 is computed in a background thread (hashlib releases
the GIL) while pyarrow's multi-threaded CSV or Parquet reader parses the same bytes with the
column types the spec declares, so the fingerprint and the typing cost almost nothing on top of
the parse. A column whose values do not all fit the declared type is kept as text, so the
consistency checks can say which values and rows are wrong; everything else arrives typed (see
:mod:`mlopsctl.data.types`). Columns the spec does not declare are kept as the parser infers them.

Bad files are refused with one message naming the file, and the line or byte where it applies:
missing, empty, only a header, not UTF-8, a row with the wrong number of fields, a Parquet file
that is not one. Text taken from the file (a column name) is quoted short, control characters
escaped, so a file that is not data never has its content echoed.

``data.source`` comes from a committed spec, so it is read only from inside the repository (as
written, and once symbolic links are followed) unless the user opts in (:mod:`mlopsctl.spec.locations`);
a path given on the command line is the user's own choice and is read wherever it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlopsctl.contract.records import DataFingerprint
from mlopsctl.data import wording
from mlopsctl.data.types import coerce
from mlopsctl.errors import CheckFailed, NotFound, PolicyRefused, UsageError
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.locations import (
    OPT_IN,
    escapes_repository,
    outside_allowed,
    resolved_outside,
    shown as quoted_location,
)
from mlopsctl.spec.models import ColumnType, ModelSpec
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import load_yaml

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
UNREADABLE = "Unreadable data"
OUTSIDE = "Data outside the repository"
_ARROW_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "category": pa.large_string(),  # the storage pandas' str dtype uses: no cast on the way in
    "string": pa.large_string(),
    "datetime": pa.timestamp("ns"),
    "boolean": pa.bool_(),
}
_COLUMN_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error")
_FIELD_COUNT_ERROR = "CSV parse error: Expected"
_NOT_SPACE = re.compile(rb"\S")
_TEXT = pa.large_string()


@dataclass(frozen=True)
class Dataset:
    """A data set as loaded for checks and training."""

    frame: pd.DataFrame
    """Columns typed per spec.data.columns (see mlopsctl.data.types); undeclared columns as inferred."""
    path: Path
    """The file it was read from."""
    fingerprint: DataFingerprint
    """Content hash, rows, columns and schema hash."""


def load_dataset(repo: Repo, spec: ModelSpec, path: Path | None = None, *, named: str | None = None) -> Dataset:
    """Read spec.data.source (or ``path``), CSV or Parquet (from data.format or the suffix).

    ``named``: the name the bytes go by when the file's own name says nothing (a data snapshot is
    stored under its digest): used for the format, in messages and as the fingerprint's uri.
    """
    file = data_file(repo, spec, path)
    shown = named if named is not None else display_path(repo.root, file)
    where = "the path given" if path is not None else f"data.source in models/{spec.name}/model.yaml"
    raw = _read_bytes(file, shown, where)
    fmt = data_format(spec, Path(named) if named is not None else file, shown)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlopsctl-sha256") as pool:
        digest = pool.submit(_sha256, raw)
        frame = parse(raw, fmt, spec.data.columns, shown)
        sha256 = digest.result()
    return Dataset(frame=frame, path=file, fingerprint=_fingerprint(sha256, frame, shown))


def fingerprint(raw: bytes | Path, frame: pd.DataFrame, uri: str) -> DataFingerprint:
    """sha256 of the file's bytes, rows, columns, schema_sha256 = sha256 of sorted 'name:dtype' lines."""
    if isinstance(raw, Path):
        digest = hashlib.sha256()
        with raw.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return _fingerprint(digest.hexdigest(), frame, uri)
    return _fingerprint(_sha256(raw), frame, uri)


def schema_sha256(frame: pd.DataFrame) -> str:
    """Hash of the sorted ``name:dtype`` lines, with dtype names that do not depend on the pandas version."""
    lines = sorted(f"{name}:{dtype_name(frame[name])}" for name in frame.columns)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def dtype_name(series: pd.Series) -> str:
    """int64, float64, bool, datetime64 or string (object and str alike), else pandas' own name."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime64"
    if isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object):
        return "string"
    return str(dtype)


def display_path(root: Path, file: Path) -> str:
    """The path relative to the repo root when inside it (also the fingerprint's uri), else absolute."""
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(file.resolve())


def data_format(spec: ModelSpec, file: Path, shown: str) -> str:
    """csv or parquet: data.format when set, else the file name's suffix."""
    fmt = spec.data.format or FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {shown}",
            hint="name the file .csv or .parquet, or set data.format to csv or parquet",
        )
    return fmt


def parse(raw: bytes, fmt: str, columns: dict[str, ColumnType], shown: str) -> pd.DataFrame:
    """The frame in ``raw``, declared columns typed (or kept as text when some values do not fit)."""
    frame = _parse_parquet(raw, shown) if fmt == "parquet" else _parse_csv(raw, columns, shown)
    if len(frame) == 0:
        raise CheckFailed(f"{shown} has no rows", title=UNREADABLE, hint="add data rows to the file")
    return _typed(frame, columns)


# --------------------------------------------------------------------------- reading


def data_file(repo: Repo, spec: ModelSpec, path: Path | None = None) -> Path:
    """The file :func:`load_dataset` reads: ``path``, else data.source (refused when it leads outside the repo)."""
    if path is None:
        file = repo.resolve(spec.data.source)
        require_inside(repo, spec, file)
        return file
    return path if path.is_absolute() else Path.cwd() / path


def require_inside(repo: Repo, spec: ModelSpec, file: Path) -> None:
    """Refuse ``data.source`` (resolved to ``file``) when it leads outside the repository, unless the user opted in."""
    source = spec.data.source
    if escapes_repository(source):
        why = "is outside the repository"
    elif resolved_outside(repo.root, file):
        why = "leads outside the repository through a symbolic link"
    else:
        return
    if outside_allowed():
        return
    problem = _source_problem(repo, spec, f"{quoted_location(source)} {why}; data is read only from inside it")
    raise PolicyRefused(str(problem), title=OUTSIDE, hint=OPT_IN)


def _source_problem(repo: Repo, spec: ModelSpec, message: str) -> Problem:
    """``message`` located at data.source in the model's spec file (read again for positions when needed)."""
    spec_file = repo.model_file(spec.name)
    doc = repo.doc_for(spec_file)
    if doc is None or ("data", "source") not in doc.positions:
        doc = load_yaml(spec_file)
    line, column = doc.position(("data", "source"))
    return Problem(display_path(repo.root, spec_file), line, column, "data.source", message)


def _read_bytes(file: Path, shown: str, where: str) -> bytes:
    if not file.exists():
        raise NotFound(f"no data file at {shown}", hint=f"check {where}")
    if not file.is_file():
        raise CheckFailed(f"{shown} is not a file", title=UNREADABLE, hint=f"point {where} at a CSV or Parquet file")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise CheckFailed(f"cannot read {shown}: {exc.strerror}", title=UNREADABLE) from exc
    if not raw:
        raise CheckFailed(f"{shown} is empty (0 bytes)", title=UNREADABLE, hint="write a header and data rows")
    return raw


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _fingerprint(sha256: str, frame: pd.DataFrame, uri: str) -> DataFingerprint:
    return DataFingerprint(
        uri=uri,
        sha256=sha256,
        rows=len(frame),
        columns=frame.shape[1],
        schema_sha256=schema_sha256(frame),
    )


# --------------------------------------------------------------------------- CSV


def _parse_csv(raw: bytes, columns: dict[str, ColumnType], shown: str) -> pd.DataFrame:
    names = _header(raw, shown)
    types = {name: _ARROW_TYPES[declared] for name, declared in columns.items() if name in names}
    # A declared type that some value does not fit fails the whole read: read that column as text
    # and read again, so the checks can name the values (only bad files pay for a second read).
    for _ in range(len(types) + 1):
        try:
            table = _read_csv(raw, types)
        except pa.ArrowInvalid as exc:
            _require_utf8(raw, shown)  # a byte that is not UTF-8 fails any column: name where it is
            column = _failed_column(str(exc), names)
            if column is None or column not in types or types[column] == _TEXT:
                raise _csv_error(exc, raw, shown) from None
            types[column] = _TEXT
            continue
        if any(pa.types.is_binary(field.type) for field in table.schema):
            _require_utf8(raw, shown)  # pyarrow reads an undeclared column of non-UTF-8 bytes as binary
        return _to_pandas(table)
    raise CheckFailed(f"cannot parse {shown}", title=UNREADABLE)  # unreachable: each retry drops a typed column


def _read_csv(raw: bytes, types: dict[str, pa.DataType]) -> pa.Table:
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    return pacsv.read_csv(pa.BufferReader(raw), convert_options=convert)


def _require_utf8(raw: bytes, shown: str) -> None:
    if raw.isascii():  # checked at memory speed
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        hint = "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT"
        if raw.startswith(b"PAR1"):
            hint = "this looks like a Parquet file: set data.format to parquet or name it .parquet"
        raise CheckFailed(
            f"{shown} is not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} (line {line}, column {column})",
            title=UNREADABLE,
            hint=hint,
        ) from None


def _header(raw: bytes, shown: str) -> list[str]:
    end = raw.find(b"\n")
    first = raw if end < 0 else raw[: end + 1]
    if not first.strip():
        raise CheckFailed(f"{shown} has no header line", title=UNREADABLE, hint="the first line must name the columns")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        _require_utf8(raw, shown)
        raise
    if _NOT_SPACE.search(raw, len(first)) is None:  # searched in place: the file is never copied
        raise CheckFailed(
            f"{shown} has no rows, only a header line", title=UNREADABLE, hint="add data rows below the header"
        )
    names = next(csv.reader([text.rstrip("\r\n")]))
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CheckFailed(
                f"{shown}: column {wording.value(name)} appears more than once in the header",
                title=UNREADABLE,
                hint="give every column a distinct name",
            )
        seen.add(name)
    return names


def _failed_column(message: str, names: list[str]) -> str | None:
    match = _COLUMN_ERROR.search(message)
    if match is None or int(match[1]) >= len(names):
        return None
    return names[int(match[1])]


def _csv_error(exc: pa.ArrowInvalid, raw: bytes, shown: str) -> CheckFailed:
    message = str(exc)
    if message.startswith(_FIELD_COUNT_ERROR):
        located = _ragged_row(raw)
        if located is not None:
            line, expected, found = located
            return CheckFailed(
                f"{shown} line {line}: expected {expected} fields like the header, found {found}",
                title=UNREADABLE,
                hint="quote values that contain the delimiter, or fix the row",
            )
    # Arrow quotes the offending row after its last colon: say what went wrong, never the file's content.
    reason = wording.text(":".join(message.split(":")[:2]), limit=120)
    return CheckFailed(f"cannot parse {shown}: {reason}", title=UNREADABLE)


def _ragged_row(raw: bytes) -> tuple[int, int, int] | None:
    """(line, expected fields, found fields) of the first row whose field count differs from the header's."""
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    expected: int | None = None
    for row in reader:
        if not row:
            continue
        if expected is None:
            expected = len(row)
        elif len(row) != expected:
            return reader.line_num, expected, len(row)
    return None


# --------------------------------------------------------------------------- Parquet


def _parse_parquet(raw: bytes, shown: str) -> pd.DataFrame:
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        hint = "set data.format to csv, or write the data with pandas' to_parquet"
        raise CheckFailed(f"{shown} is not a Parquet file (or it is damaged)", title=UNREADABLE, hint=hint) from exc
    return _to_pandas(table)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Booleans with gaps become pandas' nullable boolean rather than objects."""
    frame: pd.DataFrame = table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    return frame


# --------------------------------------------------------------------------- typing


def _typed(frame: pd.DataFrame, columns: dict[str, ColumnType]) -> pd.DataFrame:
    """Declared columns in their declared dtype; a column with values that do not fit stays as read."""
    converted: dict[str, pd.Series] = {}
    for name, declared in columns.items():
        if name not in frame.columns:
            continue
        series = frame[name]
        result = coerce(series, declared)
        if result.bad is None and result.values is not series:
            converted[name] = result.values
    if not converted:
        return frame
    return frame.assign(**converted)
