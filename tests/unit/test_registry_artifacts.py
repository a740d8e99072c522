"""The artifact store and safe loading: content addressing, digest checks, trusted types."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlopsctl.contract.records import ArtifactRef
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.registry.artifacts import (
    ArtifactRefused,
    ArtifactStore,
    canonical_skops,
    dump_pipeline,
    load_pipeline_bytes,
    refused_types,
)
from tests.support.registry_drafts import FEATURES, artifact_bytes, breast_cancer, fitted


class Payload:
    """A class from outside scikit-learn, NumPy and SciPy: loading it would run this module's code."""

    def __init__(self) -> None:
        self.command = "echo owned"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_dump_and_load_round_trip_predicts_the_same() -> None:
    pipeline, _ = fitted()
    data = dump_pipeline(pipeline)
    loaded = load_pipeline_bytes(data, sha(data))
    frame = breast_cancer()[FEATURES]
    assert np.array_equal(loaded.predict_proba(frame), pipeline.predict_proba(frame))


DIGEST_IN_A_NEW_PROCESS = """
from mlopsctl.registry.artifacts import dump_pipeline, sha256_hex
from tests.support.registry_drafts import fitted
print(sha256_hex(dump_pipeline(fitted()[0])))
"""


def test_the_same_model_dumps_to_the_same_bytes_in_any_process() -> None:
    data = dump_pipeline(fitted()[0])
    assert dump_pipeline(fitted()[0]) == data
    root = Path(__file__).resolve().parents[2]
    other = subprocess.run(
        [sys.executable, "-c", DIGEST_IN_A_NEW_PROCESS], cwd=root, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == sha(data)


def test_canonical_dumps_keep_shared_objects_shared() -> None:
    scaler = StandardScaler().fit(breast_cancer()[FEATURES])
    scaler.same_mean = scaler.mean_  # type: ignore[attr-defined]
    data = dump_pipeline(scaler)
    loaded = load_pipeline_bytes(data, sha(data))
    assert loaded.same_mean is loaded.mean_
    assert np.array_equal(loaded.mean_, scaler.mean_)


def test_bytes_that_are_not_skops_are_left_as_they_are() -> None:
    assert canonical_skops(b"plain bytes") == b"plain bytes"


def test_a_tree_model_loads_because_its_untrusted_types_are_scikit_learn_classes() -> None:
    frame = breast_cancer()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame[FEATURES], frame["target"])
    data = dump_pipeline(Pipeline([("model", forest)]))
    loaded = load_pipeline_bytes(data, sha(data))
    assert np.array_equal(loaded.predict(frame[FEATURES]), forest.predict(frame[FEATURES]))


def test_univariate_feature_selection_loads_its_two_allowed_score_functions() -> None:
    frame = breast_cancer()
    pipeline = Pipeline([("select", SelectKBest(f_classif, k=3)), ("model", StandardScaler())])
    pipeline.fit(frame[FEATURES], frame["target"])
    data = dump_pipeline(pipeline)
    loaded = load_pipeline_bytes(data, sha(data))
    assert loaded.named_steps["select"].score_func is f_classif
    assert np.array_equal(loaded.transform(frame[FEATURES]), pipeline.transform(frame[FEATURES]))


def test_wrong_digest_is_refused_before_anything_is_parsed() -> None:
    data = b"not even a zip file"
    expected = "0" * 64
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(data, expected)
    assert (
        caught.value.message
        == f"artifact digest mismatch for artifact: expected sha256:{expected} got sha256:{sha(data)}"
    )
    assert caught.value.title == "Artifact refused"


def test_a_foreign_class_is_refused_even_with_the_right_digest() -> None:
    scaler = StandardScaler().fit(breast_cancer()[FEATURES])
    scaler.payload = Payload()  # type: ignore[attr-defined]
    data = dump_pipeline(scaler)
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(data, sha(data))
    assert caught.value.message == (
        f"artifact sha256:{sha(data)[:12]} contains types mlopsctl will not load: "
        "tests.unit.test_registry_artifacts.Payload (not from scikit-learn, NumPy or SciPy)"
    )
    assert caught.value.hint == (
        "artifacts may hold only scikit-learn, NumPy and SciPy classes; it was not deserialised. "
        "Retrain it with mlopsctl train"
    )


def test_a_shell_function_is_refused() -> None:
    data = dump_pipeline(FunctionTransformer(func=os.system))
    with pytest.raises(ArtifactRefused, match=r"posix\.system \(not from scikit-learn, NumPy or SciPy\)$"):
        load_pipeline_bytes(data, sha(data))


def test_functions_of_trusted_libraries_are_refused_too() -> None:
    data = dump_pipeline(FunctionTransformer(func=np.load))
    with pytest.raises(ArtifactRefused, match=r"numpy\.load \(a function other than the allowed score functions\)$"):
        load_pipeline_bytes(data, sha(data))


def test_the_trust_rules_name_by_name() -> None:
    def node(kind: str, name: str) -> dict[str, str]:
        module, _, cls = name.rpartition(".")
        return {"__loader__": kind, "__module__": module, "__class__": cls}

    accepted = [node("DTypeNode", "numpy.dtype"), node("TreeNode", "sklearn.tree._tree.Tree")]
    assert refused_types({"content": accepted}) == {}
    refused = [
        node("FunctionNode", "numpy.testing._private.utils.assert_equal"),
        node("FunctionNode", "scipy.io.loadmat"),
        node("ObjectNode", "sklearn.NoSuchThing"),
        node("FunctionNode", "builtins.eval"),
        node("ObjectNode", "sklearnpwn.Model"),
        node("ObjectNode", "sklearn.pipeline.Pipeline.__init__"),
        node("ObjectNode", "scipy.cluster.vq.deque"),
    ]
    assert refused_types({"content": refused}) == {
        "builtins.eval": "not from scikit-learn, NumPy or SciPy",
        "numpy.testing._private.utils.assert_equal": "from a testing, I/O or build module",
        "scipy.cluster.vq.deque": "re-exported from collections.deque; only the name it is defined under is accepted",
        "scipy.io.loadmat": "from a testing, I/O or build module",
        "sklearn.NoSuchThing": "cannot be found in the installed libraries",
        "sklearn.pipeline.Pipeline.__init__": "cannot be found in the installed libraries",
        "sklearnpwn.Model": "not from scikit-learn, NumPy or SciPy",
    }


def test_a_corrupt_file_with_a_matching_digest_is_refused_clearly() -> None:
    data = b"PK\x03\x04 truncated zip"
    with pytest.raises(ArtifactRefused, match=r"is not a readable skops file: "):
        load_pipeline_bytes(data, sha(data))


# --------------------------------------------------------------------------- the store


def test_put_is_content_addressed_read_only_and_idempotent(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    data = artifact_bytes()
    digest = sha(data)
    ref = store.put(data)
    assert ref == ArtifactRef(uri=f"sha256/{digest[:2]}/{digest}.skops", sha256=digest, size=len(data), format="skops")
    path = tmp_path / "store" / "sha256" / digest[:2] / f"{digest}.skops"
    assert store.path_for(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    before = path.stat()
    assert store.put(data) == ref
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert store.get(ref) == data


def test_put_repairs_a_corrupted_copy(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = artifact_bytes()
    ref = store.put(data)
    path = store.path_for(ref.sha256)
    path.chmod(0o644)
    path.write_bytes(b"x" * len(data))
    assert not store.has(ref)
    store.put(data)
    assert store.get(ref) == data


def test_get_refuses_a_swapped_file_even_if_it_is_a_valid_model(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    mine, other = artifact_bytes(1.0), artifact_bytes(0.01)
    ref = store.put(mine)
    path = store.path_for(ref.sha256)
    path.chmod(0o644)
    path.write_bytes(other)
    with pytest.raises(ArtifactRefused) as caught:
        store.get(ref)
    assert caught.value.message == (
        f"artifact digest mismatch for {path}: expected sha256:{ref.sha256} ({len(mine)} bytes) "
        f"got sha256:{sha(other)} ({len(other)} bytes)"
    )


def test_get_refuses_a_same_size_corruption(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = artifact_bytes()
    ref = store.put(data)
    path = store.path_for(ref.sha256)
    path.chmod(0o644)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    path.write_bytes(flipped)
    with pytest.raises(ArtifactRefused) as caught:
        store.get(ref)
    assert (
        caught.value.message
        == f"artifact digest mismatch for {path}: expected sha256:{ref.sha256} got sha256:{sha(flipped)}"
    )


def test_get_of_a_missing_artifact_names_the_store_and_what_to_do(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    ref = ArtifactRef(uri="x", sha256="ab" * 32, size=3)
    with pytest.raises(NotFound) as caught:
        store.get(ref)
    assert caught.value.message == f"artifact sha256:{'ab' * 6} is missing from the artifact store {tmp_path / 'store'}"
    assert caught.value.hint == (
        "point artifact_store in mlops.yaml at the store it was registered in, "
        "or rebuild it with: mlopsctl reproduce MODEL@VERSION"
    )


def test_path_for_refuses_anything_but_a_digest(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^'\.\./\.\./etc/passwd' is not a sha256 digest$"):
        ArtifactStore(tmp_path).path_for("../../etc/passwd")


def test_stale_temp_files_of_killed_writers_are_swept(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = artifact_bytes()
    folder = store.path_for(sha(data)).parent
    folder.mkdir(parents=True)
    stale, fresh = folder / ".x.skops.abc.tmp", folder / ".y.skops.def.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (0, 0))
    store.put(data)
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer still running
