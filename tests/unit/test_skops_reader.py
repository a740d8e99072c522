"""The lean skops reader builds exactly what skops builds, refuses what the policy refuses before
building anything, and hands the shapes it does not read to skops under skops' default trust only."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

from mlopsctl.registry import skops_reader
from mlopsctl.registry.artifact_policy import refusal as _refusal
from mlopsctl.registry.artifacts import ArtifactRefused, dump_pipeline, load_pipeline_bytes

ROOT = Path(__file__).resolve().parents[2]


def frame(rows: int = 120) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    data = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.uniform(0, 10, size=rows),
            "plan": rng.choice(["basic", "pro", "team"], size=rows).astype(object),
        }
    )
    data.loc[::9, "b"] = np.nan
    data.loc[::11, "plan"] = None
    target = (data["a"] + rng.normal(scale=0.5, size=rows) > 0).astype(int).to_numpy()
    return data, target


def pipeline(model: Any, *, encoder: Any = None, select: Any = None) -> Pipeline:
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", encoder or OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    steps: list[tuple[str, Any]] = [
        ("features", ColumnTransformer([("num", numeric, ["a", "b"]), ("cat", categorical, ["plan"])]))
    ]
    if select is not None:
        steps.append(("select", select))
    steps.append(("model", model))
    return Pipeline(steps)


MODELS = {
    "logistic": lambda: pipeline(LogisticRegression(max_iter=200)),
    "forest": lambda: pipeline(RandomForestClassifier(n_estimators=4, random_state=0)),
    "tree-ordinal": lambda: pipeline(DecisionTreeClassifier(random_state=0), encoder=OrdinalEncoder()),
    "svc": lambda: pipeline(SVC(random_state=0)),
    "knn": lambda: pipeline(KNeighborsClassifier(n_neighbors=3)),
    "select-kbest": lambda: pipeline(LogisticRegression(), select=SelectKBest(f_classif, k=3)),
    "variance": lambda: pipeline(LogisticRegression(), select=VarianceThreshold()),
    "minmax-ridge": lambda: Pipeline([("impute", SimpleImputer()), ("scale", MinMaxScaler()), ("model", Ridge())]),
    "extra-trees": lambda: Pipeline(
        [("impute", SimpleImputer()), ("model", ExtraTreesRegressor(n_estimators=3, random_state=0))]
    ),
    "hist-boosting": lambda: pipeline(HistGradientBoostingClassifier(max_iter=5, random_state=0)),
    "boosting": lambda: pipeline(GradientBoostingClassifier(n_estimators=5, random_state=0)),
}


def fitted(name: str) -> Pipeline:
    data, target = frame()
    model = MODELS[name]()
    if name in ("minmax-ridge", "extra-trees"):
        return model.fit(data[["a", "b"]], target.astype(float))
    return model.fit(data, target)


def same(ours: Any, theirs: Any, path: str = "") -> bool:
    """Equal types and equal state all the way down (structured arrays field by field: their
    padding bytes are uninitialised, so comparing dumps byte for byte would be flaky)."""
    assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
    if isinstance(ours, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, path
        if ours.dtype.kind == "O":
            for index, (a, b) in enumerate(zip(ours.flat, theirs.flat, strict=True)):
                same(a, b, f"{path}.flat[{index}]")
            return True
        for field in ours.dtype.names or (None,):
            a, b = (ours, theirs) if field is None else (ours[field], theirs[field])
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{path}.{field}"
    elif isinstance(ours, dict):
        assert list(ours) == list(theirs), path
        for key in ours:
            same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(ours, list | tuple):
        assert len(ours) == len(theirs), path
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            same(a, b, f"{path}[{index}]")
    elif isinstance(ours, Tree) or (type(ours).__module__.startswith("sklearn.") and hasattr(ours, "__dict__")):
        same(ours.__getstate__(), theirs.__getstate__(), f"{path}.state")
    elif isinstance(ours, np.random.RandomState):
        same(ours.get_state(legacy=False), theirs.get_state(legacy=False), f"{path}.random_state")
    elif isinstance(ours, type | str | int | float | bool | np.generic | np.dtype | None) or callable(ours):
        assert ours == theirs or (ours != ours and theirs != theirs), path
    else:  # other library objects (random generators): equal when their pickled states are equal
        assert pickle.dumps(ours) == pickle.dumps(theirs), path
    return True


def by_skops(data: bytes) -> Any:
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builds_what_skops_builds(name: str) -> None:
    data = dump_pipeline(fitted(name))
    ours = skops_reader.loads(data, _refusal)
    theirs = by_skops(data)
    assert same(ours, theirs)
    rows, _ = frame(40)
    rows = rows[["a", "b"]] if name in ("minmax-ridge", "extra-trees") else rows
    assert np.array_equal(ours.predict(rows), theirs.predict(rows))


def test_a_shape_it_does_not_read_goes_to_skops_with_its_default_trust() -> None:
    scaler = StandardScaler().fit(frame()[0][["a"]])
    scaler.by_code = {np.int64(3): "three"}  # type: ignore[attr-defined]  # a dict key the lean reader does not read
    data = dump_pipeline(scaler)
    with pytest.raises(skops_reader.Unsupported, match="a dict key that is not a str, int, float or bool"):
        skops_reader.loads(data, _refusal)
    loaded = load_pipeline_bytes(data, hashlib.sha256(data).hexdigest())
    assert loaded.by_code == {3: "three"}
    assert same(loaded.mean_, scaler.mean_)


def test_the_skops_fallback_never_trusts_what_skops_does_not_trust_by_default() -> None:
    """A tree the lean reader cannot read (its arguments are not a tuple) passes mlopsctl's policy,
    but skops is not told to trust it: skops' default list does not hold ``Tree``."""
    bad_tree = node(
        "TreeNode", "sklearn.tree._tree", "Tree", content=json_node(None), __reduce__={"args": json_node(1)}
    )
    data = skops_file(bad_tree)
    with pytest.raises(skops_reader.Unsupported, match="constructor arguments are not a tuple"):
        skops_reader.loads(data, _refusal)
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(data, hashlib.sha256(data).hexdigest())
    assert caught.value.message == (
        f"artifact sha256:{hashlib.sha256(data).hexdigest()[:12]} contains types mlopsctl will not load: "
        "sklearn.tree._tree.Tree (not trusted by skops' defaults)"
    )


def test_shared_objects_stay_shared() -> None:
    scaler = StandardScaler().fit(frame()[0][["a"]])
    scaler.alias = scaler.mean_  # type: ignore[attr-defined]
    loaded = skops_reader.loads(dump_pipeline(scaler), _refusal)
    assert loaded.alias is loaded.mean_


def test_a_random_state_keeps_its_position_in_the_stream() -> None:
    scaler = StandardScaler().fit(frame()[0][["a"]])
    scaler.rng = np.random.RandomState(3)  # type: ignore[attr-defined]
    scaler.rng.normal(size=5)  # type: ignore[attr-defined]
    data = dump_pipeline(scaler)
    loaded = skops_reader.loads(data, _refusal)
    assert same(loaded, by_skops(data))
    assert loaded.rng.normal() == scaler.rng.normal()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- crafted files


def skops_file(schema: dict[str, Any], members: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps({**schema, "protocol": schema.get("protocol", 2)}))
        for name, blob in (members or {}).items():
            archive.writestr(name, blob)
    return out.getvalue()


def node(loader: str, module: str, cls: str, **rest: Any) -> dict[str, Any]:
    return {"__loader__": loader, "__module__": module, "__class__": cls, **rest}


def json_node(value: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def listing(*items: dict[str, Any]) -> dict[str, Any]:
    return node("ListNode", "builtins", "list", content=list(items))


@pytest.mark.parametrize(
    ("bad", "refused"),
    [
        (node("ObjectNode", "os", "system"), "os.system"),
        (node("FunctionNode", "builtins", "eval"), "builtins.eval"),
        (node("TypeNode", "subprocess", "Popen"), "subprocess.Popen"),
        (node("FunctionNode", "numpy", "load"), "numpy.load"),
        (node("ObjectNode", "numpy.testing", "TestCase"), "numpy.testing.TestCase"),
        (node("MethodNode", "sklearn.base", "BaseEstimator"), "sklearn.base.BaseEstimator"),
        (node("ReduceNode", "builtins", "list"), "builtins.list"),
        (node("DictNode", "sklearn.utils", "Bunch", content={}, key_types=listing()), "sklearn.utils.Bunch"),
    ],
)
def test_a_refused_type_anywhere_stops_the_load_before_anything_is_built(bad: dict[str, Any], refused: str) -> None:
    deep = listing(json_node(1), listing(json_node("x"), bad))
    with pytest.raises(skops_reader.Refused) as caught:
        skops_reader.loads(skops_file(deep), _refusal)
    assert list(caught.value.refused) == [refused]


def test_a_refused_type_is_an_artifact_refusal_with_its_reason() -> None:
    data = skops_file(listing(node("ObjectNode", "os", "system")))
    with pytest.raises(ArtifactRefused, match=r"os\.system \(not from scikit-learn, NumPy or SciPy\)$"):
        load_pipeline_bytes(data, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(
    "schema",
    [
        {**listing(json_node(1)), "protocol": 1},
        node("DictNode", "sklearn.utils._bunch", "Bunch", content={}, key_types=listing()),
        node("ListNode", "builtins", "list", content="not a list"),
        listing({**listing(), "__id__": 5}, node("CachedNode", "builtins", "list", __id__=6)),
        node("NdArrayNode", "numpy", "ndarray", type="numpy", file="missing.npy"),
        node("SliceNode", "builtins", "slice", content={"start": "0", "stop": 1, "step": None}),
    ],
)
def test_what_it_does_not_read_is_unsupported_not_guessed(schema: dict[str, Any]) -> None:
    with pytest.raises(skops_reader.Unsupported):
        skops_reader.loads(skops_file(schema), _refusal)


def test_an_object_that_contains_itself_is_unsupported() -> None:
    inner = node("CachedNode", "builtins", "list", __id__=3)
    with pytest.raises(skops_reader.Unsupported, match="contains itself"):
        skops_reader.loads(skops_file({**listing(inner), "__id__": 3}), _refusal)


def test_every_name_is_asked_for_even_builtin_values_and_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(4.0), allow_pickle=False)
    schema = listing(
        json_node({"k": [1, 2]}),
        node("NdArrayNode", "numpy", "ndarray", type="numpy", file="1.npy"),
        node("SliceNode", "builtins", "slice", content={"start": 1, "stop": None, "step": 2}),
        node("TupleNode", "builtins", "tuple", content=[json_node(1), json_node("a")]),
    )
    asked: list[tuple[str, str]] = []

    def policy(name: str, kind: str) -> str | None:
        asked.append((name, kind))
        return _refusal(name, kind)

    value = skops_reader.loads(skops_file(schema, {"1.npy": buffer.getvalue()}), policy)
    assert value[0] == {"k": [1, 2]}
    assert np.array_equal(value[1], np.arange(4.0))
    assert value[2] == slice(1, None, 2)
    assert value[3] == (1, "a")
    assert sorted(set(asked)) == [
        ("builtins.list", "ListNode"),
        ("builtins.slice", "SliceNode"),
        ("builtins.str", "JsonNode"),
        ("builtins.tuple", "TupleNode"),
        ("numpy.ndarray", "NdArrayNode"),
    ]


LOAD_WITHOUT_SKOPS = """
import sys
from pathlib import Path
from mlopsctl.registry.artifacts import load_pipeline_bytes, sha256_hex
data = Path(sys.argv[1]).read_bytes()
pipeline = load_pipeline_bytes(data, sha256_hex(data))
print(type(pipeline).__name__, "skops" in sys.modules)
"""


def test_a_service_loads_an_mlopsctl_artifact_without_importing_skops(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(dump_pipeline(fitted("forest")))
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_SKOPS, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["Pipeline", "False"]


def test_a_tree_node_calls_only_the_tree_class() -> None:
    args = node("TupleNode", "builtins", "tuple", content=[json_node(10**12)])
    fake = node("TreeNode", "numpy", "ndarray", content=json_node(None), __reduce__={"args": args})
    with pytest.raises(skops_reader.Refused) as caught:
        skops_reader.loads(skops_file(listing(fake)), _refusal)
    assert caught.value.refused == {
        "numpy.ndarray": "stored as TreeNode, which calls its class; only sklearn.tree._tree.Tree may be"
    }


def test_an_array_member_is_wrapped_only_in_a_numpy_scalar_type() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0]]), allow_pickle=False)
    matrix = node("NdArrayNode", "numpy", "matrix", type="numpy", file="1.npy")
    with pytest.raises(skops_reader.Refused) as caught:
        skops_reader.loads(skops_file(listing(matrix), {"1.npy": buffer.getvalue()}), _refusal)
    assert caught.value.refused == {"numpy.matrix": "stored as NdArrayNode, but not a NumPy scalar type"}


@pytest.mark.parametrize("name", ["numpy.memmap", "numpy.lib.npyio.DataSource", "numpy.lib._datasource.DataSource"])
def test_classes_that_open_files_are_refused(name: str) -> None:
    module, _, cls = name.rpartition(".")
    with pytest.raises(skops_reader.Refused) as caught:
        skops_reader.loads(skops_file(listing(node("ObjectNode", module, cls))), _refusal)
    assert caught.value.refused == {name: "from a testing, I/O or build module"}
