"""Loading CSV and Parquet files into frames typed by the spec, and refusing bad files clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlopsctl.data import load_dataset
from mlopsctl.data.quality import run_quality_checks
from mlopsctl.errors import CheckFailed, MlopsError, NotFound, UsageError
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec, ProjectSettings
from tests.support.data_specs import NOW, find, make_spec

COLUMNS = {
    "id": "string",
    "n": "integer",
    "gap": "integer",
    "x": "float",
    "plan": "category",
    "at": "datetime",
    "flag": "boolean",
    "maybe": "boolean",
    "y": "integer",
}
CSV = (
    "id,n,gap,x,plan,at,flag,maybe,y,note\n"
    "a1,1,5,1.5,basic,2024-05-01,true,,0,hello\n"
    "a2,2,,2.25,pro,2024-05-02 10:30:00,false,false,1,\n"
    "a3,3,7,,,2024-05-03T00:00:00,True,1,0,x\n"
)


def repo_at(root: Path) -> Repo:
    return Repo(root=root, settings=ProjectSettings(name="t"))


def write(root: Path, name: str, content: str | bytes) -> Path:
    path = root / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def spec_for(source: str, columns: dict[str, str] | None = None, fmt: str | None = None) -> ModelSpec:
    return make_spec(columns or COLUMNS, target="y", source=source, fmt=fmt)


def load_error(root: Path, source: str, content: str | bytes, fmt: str | None = None) -> MlopsError:
    write(root, source.removeprefix("data/"), content)
    with pytest.raises(MlopsError) as caught:
        load_dataset(repo_at(root), spec_for(source, fmt=fmt))
    return caught.value


def test_csv_columns_arrive_in_their_declared_types(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", CSV)
    frame = load_dataset(repo_at(tmp_path), spec_for("data/d.csv")).frame
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes == {
        "id": "str",
        "n": "int64",
        "gap": "float64",
        "x": "float64",
        "plan": "str",
        "at": "datetime64[ns]",
        "flag": "bool",
        "maybe": "boolean",
        "y": "int64",
        "note": "str",
    }
    assert frame["at"].tolist() == [
        pd.Timestamp("2024-05-01"),
        pd.Timestamp("2024-05-02 10:30"),
        pd.Timestamp("2024-05-03"),
    ]
    assert frame["plan"].isna().tolist() == [False, False, True]
    assert frame["note"].isna().tolist() == [False, True, False]
    assert frame["maybe"].tolist() == [pd.NA, False, True]


def test_parquet_columns_arrive_in_their_declared_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a1", "a2"],
            "n": pa.array([1, 2], pa.int32()),
            "gap": [5, None],
            "x": [1.5, 2.0],
            "plan": pa.array(["basic", "pro"]).dictionary_encode(),
            "at": pa.array([0, 3_600_000_000], pa.timestamp("us", tz="Europe/Paris")),
            "flag": [True, False],
            "maybe": [None, True],
            "y": [0, 1],
        }
    )
    path = tmp_path / "data" / "d.parquet"
    path.parent.mkdir()
    pq.write_table(table, path)
    frame = load_dataset(repo_at(tmp_path), spec_for("data/d.parquet")).frame
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "id": "str",
        "n": "int64",
        "gap": "float64",
        "x": "float64",
        "plan": "str",
        "at": "datetime64[ns]",
        "flag": "bool",
        "maybe": "boolean",
        "y": "int64",
    }
    assert frame["plan"].tolist() == ["basic", "pro"]
    assert frame["at"].tolist() == [pd.Timestamp("1970-01-01 00:00"), pd.Timestamp("1970-01-01 01:00")]


def test_format_comes_from_the_spec_before_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data" / "export.dat"
    path.parent.mkdir()
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_parquet(path)
    spec = spec_for("data/export.dat", {"x": "float", "y": "integer"}, fmt="parquet")
    assert load_dataset(repo_at(tmp_path), spec).frame["x"].tolist() == [1.0, 2.0]


def test_a_column_whose_values_do_not_fit_stays_text_for_the_checks(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", "n,x,y\n1,1.5,0\nforty,2.5,1\n3,abc,0\n")
    spec = spec_for("data/d.csv", {"n": "integer", "x": "float", "y": "integer"})
    frame = load_dataset(repo_at(tmp_path), spec).frame
    assert frame["n"].tolist() == ["1", "forty", "3"]
    assert frame["y"].dtype == np.dtype("int64")
    report = run_quality_checks(spec, frame, now=NOW)
    assert find(report, "type", "n").observed == "1 value not integer, e.g. 'forty' at row 2"
    assert find(report, "type", "x").observed == "1 value not float, e.g. 'abc' at row 3"


def test_timestamps_with_offsets_are_read_as_utc(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", "at,y\n2024-05-01T10:00:00+02:00,0\n2024-05-01T10:00:00Z,1\n")
    spec = spec_for("data/d.csv", {"at": "datetime", "y": "integer"})
    frame = load_dataset(repo_at(tmp_path), spec).frame
    assert frame["at"].tolist() == [pd.Timestamp("2024-05-01 08:00"), pd.Timestamp("2024-05-01 10:00")]


def test_a_byte_order_mark_and_crlf_lines_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", b"\xef\xbb\xbfx,y\r\n1.5,0\r\n2.5,1\r\n")
    spec = spec_for("data/d.csv", {"x": "float", "y": "integer"})
    frame = load_dataset(repo_at(tmp_path), spec).frame
    assert list(frame.columns) == ["x", "y"]
    assert frame["y"].tolist() == [0, 1]


def test_missing_declared_columns_are_left_for_the_checks(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", "x\n1.5\n")
    spec = spec_for("data/d.csv", {"x": "float", "y": "integer"})
    assert list(load_dataset(repo_at(tmp_path), spec).frame.columns) == ["x"]


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        load_dataset(repo_at(tmp_path), spec_for("data/none.csv"))
    assert caught.value.message == "no data file at data/none.csv"
    assert caught.value.hint == "check data.source in models/m/model.yaml"


def test_a_path_outside_the_repo_is_shown_absolute(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    with pytest.raises(NotFound) as caught:
        load_dataset(repo_at(tmp_path / "repo"), spec_for("data/d.csv"), outside)
    assert caught.value.message == f"no data file at {outside.resolve()}"
    assert caught.value.hint == "check the path given"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "data/d.csv is empty (0 bytes)"),
        ("x,y\n", "data/d.csv has no rows, only a header line"),
        ("x,y", "data/d.csv has no rows, only a header line"),
        ("x,y\n\n\n", "data/d.csv has no rows, only a header line"),
        ("\n\nx,y\n", "data/d.csv has no header line"),
        ("x,x\n1,2\n", "data/d.csv: column 'x' appears more than once in the header"),
        ("x,y\n1,0\n2,1\n3,0,9\n", "data/d.csv line 4: expected 2 fields like the header, found 3"),
        ('x,y\n"multi\nline",0\n3,0,9\n', "data/d.csv line 4: expected 2 fields like the header, found 3"),
        (
            "x,y\n1,0\ncaf\xe9,1\n".encode("latin-1"),
            "data/d.csv is not UTF-8: byte 0xe9 at offset 11 (line 3, column 4)",
        ),
        (
            "x,y,note\n1,0,caf\xe9\n".encode("latin-1"),
            "data/d.csv is not UTF-8: byte 0xe9 at offset 16 (line 2, column 8)",
        ),
        ("caf\xe9,y\n1,0\n".encode("latin-1"), "data/d.csv is not UTF-8: byte 0xe9 at offset 3 (line 1, column 4)"),
    ],
)
def test_bad_csv_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    error = load_error(tmp_path, "data/d.csv", content)
    assert isinstance(error, CheckFailed)
    assert (error.title, error.message) == ("Unreadable data", message)


def test_a_parquet_file_that_is_not_one(tmp_path: Path) -> None:
    error = load_error(tmp_path, "data/d.parquet", "x,y\n1,0\n")
    assert (error.title, error.message) == (
        "Unreadable data",
        "data/d.parquet is not a Parquet file (or it is damaged)",
    )
    assert error.exit_code == 1


def test_a_parquet_file_read_as_csv_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "data" / "d.csv"
    path.parent.mkdir()
    pd.DataFrame({"x": ["é" * 3], "y": [0]}).to_parquet(path)
    with pytest.raises(CheckFailed) as caught:
        load_dataset(repo_at(tmp_path), spec_for("data/d.csv", {"x": "string", "y": "integer"}))
    assert caught.value.message.startswith("data/d.csv is not UTF-8: byte 0x")
    assert caught.value.hint == "this looks like a Parquet file: set data.format to parquet or name it .parquet"


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, "data/d.txt", "x,y\n1,0\n")
    assert isinstance(error, UsageError)
    assert (error.message, error.exit_code) == ("cannot tell the format of data/d.txt", 2)
    assert error.hint == "name the file .csv or .parquet, or set data.format to csv or parquet"


def test_a_folder_is_not_a_data_file(tmp_path: Path) -> None:
    (tmp_path / "data" / "d.csv").mkdir(parents=True)
    with pytest.raises(CheckFailed) as caught:
        load_dataset(repo_at(tmp_path), spec_for("data/d.csv"))
    assert caught.value.message == "data/d.csv is not a file"
