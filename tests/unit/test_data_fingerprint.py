"""Data fingerprints: the file's content hash, its shape and a schema hash, stable and sensitive."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from mlopsctl.data import fingerprint, load_dataset
from mlopsctl.data.load import schema_sha256
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ProjectSettings
from tests.support.data_specs import make_spec
from tests.support.sklearn_data import sklearn_data

COLUMNS = {"id": "string", "n": "integer", "x": "float", "y": "integer"}


def setup(tmp_path: Path, text: str = "id,n,x,y\na,1,1.5,0\nb,2,2.5,1\n") -> tuple[Repo, Path]:
    path = tmp_path / "data" / "d.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return Repo(root=tmp_path, settings=ProjectSettings(name="t")), path


def test_fingerprint_of_a_loaded_file(tmp_path: Path) -> None:
    repo, path = setup(tmp_path)
    found = load_dataset(repo, make_spec(COLUMNS, target="y")).fingerprint
    assert found.uri == "data/d.csv"
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (found.rows, found.columns) == (2, 4)
    lines = "id:string\nn:int64\nx:float64\ny:int64"
    assert found.schema_sha256 == hashlib.sha256(lines.encode()).hexdigest()


def test_fingerprint_is_stable_across_loads_and_equals_the_public_function(tmp_path: Path) -> None:
    repo, path = setup(tmp_path)
    spec = make_spec(COLUMNS, target="y")
    first, second = load_dataset(repo, spec), load_dataset(repo, spec)
    assert first.fingerprint == second.fingerprint
    assert fingerprint(path, first.frame, "data/d.csv") == first.fingerprint
    assert fingerprint(path.read_bytes(), first.frame, "data/d.csv") == first.fingerprint


def test_one_changed_byte_changes_the_content_hash_only(tmp_path: Path) -> None:
    repo, _ = setup(tmp_path)
    spec = make_spec(COLUMNS, target="y")
    before = load_dataset(repo, spec).fingerprint
    setup(tmp_path, "id,n,x,y\na,1,1.5,0\nb,2,2.6,1\n")
    after = load_dataset(repo, spec).fingerprint
    assert after.sha256 != before.sha256
    assert (after.rows, after.columns, after.schema_sha256) == (before.rows, before.columns, before.schema_sha256)


def test_the_schema_hash_changes_with_a_declared_type(tmp_path: Path) -> None:
    repo, _ = setup(tmp_path)
    as_number = load_dataset(repo, make_spec(COLUMNS, target="y")).fingerprint
    as_text = load_dataset(repo, make_spec({**COLUMNS, "n": "string"}, target="y")).fingerprint
    assert as_text.sha256 == as_number.sha256
    assert as_text.schema_sha256 != as_number.schema_sha256


def test_the_schema_hash_ignores_column_order_but_not_names() -> None:
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    assert schema_sha256(frame) == schema_sha256(frame[["b", "a"]])
    assert schema_sha256(frame) != schema_sha256(frame.rename(columns={"a": "c"}))


def test_the_schema_hash_does_not_depend_on_how_pandas_stores_text() -> None:
    text = pd.DataFrame({"a": pd.Series(["x"], dtype="str")})
    objects = pd.DataFrame({"a": pd.Series(["x"], dtype=object)})
    assert schema_sha256(text) == schema_sha256(objects)


def test_a_file_outside_the_repo_keeps_its_absolute_uri(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    repo, _ = setup(tmp_path / "repo")
    outside = tmp_path / "other.csv"
    outside.write_text("id,n,x,y\na,1,1.5,0\n")
    found = load_dataset(repo, make_spec(COLUMNS, target="y"), outside).fingerprint
    assert found.uri == str(outside.resolve())


def test_fingerprint_of_a_real_data_set(tmp_path: Path) -> None:
    data = sklearn_data("breast-cancer")
    path = tmp_path / "data" / "d.csv"
    path.parent.mkdir()
    data.frame.to_csv(path, index=False)
    repo = Repo(root=tmp_path, settings=ProjectSettings(name="t"))
    found = load_dataset(repo, make_spec(data.columns, target=data.target)).fingerprint
    assert (found.rows, found.columns) == (569, 31)
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
