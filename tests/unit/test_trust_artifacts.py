"""Hostile artifacts (issue 11): a committed skops file must never run code while it is loaded.

Each file is a real skops dump of a small pipeline whose ``schema.json`` was edited to carry a
gadget: a class that scikit-learn or SciPy merely re-exports from the standard library, wired so
that building it would create a marker (a ``multiprocessing`` listener binds a Unix socket at the
marker's path). The whole file must be refused, naming the class, before anything is built.

A listener removes its socket when it is collected, so the marker's folder starts with a
modification time of 0: creating *and* removing an entry both set it to now, so
:func:`assert_untouched` proves nothing was ever created, even briefly.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.preprocessing import StandardScaler

from mlopsctl.registry.artifact_policy import SCORE_FUNCTIONS, class_refusal, qualified_name
from mlopsctl.registry.artifacts import ArtifactRefused, dump_pipeline, load_pipeline_bytes
from tests.support.hostile_artifacts import (
    LISTENER,
    assert_untouched,
    call,
    listener,
    node,
    reexport,
    text,
    tuple_of,
    with_payload,
)


@pytest.fixture
def marker() -> Iterator[Path]:
    """A path short enough for a Unix socket (pytest's tmp_path may not be), in an untouched folder."""
    folder = Path(tempfile.mkdtemp(prefix="mk", dir="/tmp"))
    os.utime(folder, ns=(0, 0))
    yield folder / "ran"
    shutil.rmtree(folder)


def replaced_in_schema(data: bytes, old: str, new: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = members.pop("schema.json").decode()
    assert old in schema
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", schema.replace(old, new))
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def state(name: str, **attributes: dict[str, Any]) -> dict[str, Any]:
    """skops' ``ObjectNode``: ``cls.__new__(cls)`` then its state."""
    keys = node("ListNode", "builtins.list", content=[node("TypeNode", "builtins.str") for _ in attributes])
    content = node("DictNode", "builtins.dict", content=attributes, key_types=keys)
    return node("ObjectNode", name, content=content)


GADGETS = {
    "scipy.cluster.vq.deque": lambda m: call(
        "scipy.cluster.vq.deque", node("ListNode", "builtins.list", content=[listener(m)])
    ),
    "scipy.integrate._ivp.common.groupby": lambda m: call("scipy.integrate._ivp.common.groupby", listener(m)),
    "sklearn.feature_selection._base.attrgetter": lambda m: call(
        "sklearn.feature_selection._base.attrgetter", listener(m)
    ),
    "sklearn.feature_extraction.text.itemgetter": lambda m: call(
        "sklearn.feature_extraction.text.itemgetter", listener(m)
    ),
    "sklearn.utils._indexing.compress": lambda m: call("sklearn.utils._indexing.compress", listener(m), text([1])),
    "sklearn.compose._column_transformer.chain": lambda m: call(
        "sklearn.compose._column_transformer.chain", listener(m)
    ),
    "sklearn.utils._available_if.MethodType": lambda m: call(
        "sklearn.utils._available_if.MethodType", node("FunctionNode", LISTENER), listener(m)
    ),
    "scipy.spatial.distance.partial": lambda m: call(
        "scipy.spatial.distance.partial", node("FunctionNode", LISTENER), listener(m)
    ),
    "sklearn.callback._transport.Connection": lambda m: state("sklearn.callback._transport.Connection", x=listener(m)),
    LISTENER: lambda m: listener(m),
}
"""Each gadget, wired so that building it would create the marker."""


@pytest.mark.parametrize("gadget", sorted(GADGETS))
def test_a_reexported_standard_library_class_refuses_the_whole_file_before_anything_runs(
    gadget: str, marker: Path
) -> None:
    data = with_payload(GADGETS[gadget](marker))
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(data, digest)
    listing = "; ".join(f"{name} ({reexport(name)})" for name in sorted({gadget, LISTENER}))
    assert caught.value.message == f"artifact sha256:{digest[:12]} contains types mlopsctl will not load: {listing}"
    assert caught.value.exit_code == 1
    assert_untouched(marker)


def test_an_allowed_class_stored_as_a_constructor_call_is_refused(marker: Path) -> None:
    """A class the policy accepts is still never called with arguments the file chose."""
    data = with_payload(tuple_of(call("sklearn.preprocessing._data.StandardScaler", text(str(marker)))))
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(data, digest)
    assert caught.value.message == (
        f"artifact sha256:{digest[:12]} contains types mlopsctl will not load: "
        "sklearn.preprocessing._data.StandardScaler (stored as ConstructorFromReduceNode, a node kind that "
        "calls or binds objects; mlopsctl never writes it)"
    )


def test_a_generator_whose_bit_generator_is_any_other_name_is_refused() -> None:
    generator = np.random.default_rng(1)
    scaler = StandardScaler().fit(np.arange(6.0).reshape(-1, 1))
    scaler.rng = generator  # type: ignore[attr-defined]
    raw = replaced_in_schema(dump_pipeline(scaler), '"\\"PCG64\\""', '"\\"seed\\""')
    digest = hashlib.sha256(raw).hexdigest()
    with pytest.raises(ArtifactRefused) as caught:
        load_pipeline_bytes(raw, digest)
    assert caught.value.message.endswith(
        "numpy.random.seed (named as a random generator's bit generator, which calls its class; only "
        "numpy.random._mt19937.MT19937, numpy.random._pcg64.PCG64, numpy.random._pcg64.PCG64DXSM, "
        "numpy.random._philox.Philox, numpy.random._sfc64.SFC64 may be)"
    )


# --------------------------------------------------------------------------- the fuzzer


def library_names() -> list[str]:
    """``module.attr`` for every class or callable in the namespace of every loaded module of the
    three libraries (after importing what a fitted pipeline and its loading use)."""
    for module in ("sklearn.pipeline", "sklearn.ensemble", "sklearn.linear_model", "scipy.sparse", "scipy.stats"):
        importlib.import_module(module)
    names = set()
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] not in ("sklearn", "numpy", "scipy") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if callable(value) and attribute.isidentifier():
                names.add(f"{module_name}.{attribute}")
    return sorted(names)


NAMES = library_names()
KINDS = ("ObjectNode", "ReduceNode", "ConstructorFromReduceNode", "TreeNode", "LossNode", "FunctionNode", "TypeNode")


def hostile_nodes(marker: str) -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(
        st.sampled_from([text(marker), text([marker]), text(1)]),
        st.builds(lambda name: node("FunctionNode", name), st.sampled_from(NAMES)),
        st.builds(lambda name: node("TypeNode", name), st.sampled_from(NAMES)),
    )

    def wrap(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        def build(kind: str, name: str, args: list[dict[str, Any]]) -> dict[str, Any]:
            if kind == "ObjectNode":
                return state(name, **{f"a{index}": arg for index, arg in enumerate(args)})
            if kind in ("ReduceNode", "TreeNode", "LossNode"):
                return node(kind, name, __reduce__={"args": tuple_of(*args)}, content=text(None))
            if kind in ("FunctionNode", "TypeNode"):
                return node(kind, name)
            return node(kind, name, content=tuple_of(*args))

        return st.one_of(
            st.builds(build, st.sampled_from(KINDS), st.sampled_from(NAMES), st.lists(children, max_size=3)),
            st.builds(lambda items: node("ListNode", "builtins.list", content=items), st.lists(children, max_size=3)),
        )

    return st.recursive(leaves, wrap, max_leaves=6)


def names_within(value: Any, depth: int = 0) -> Iterator[str]:
    """The qualified names of the classes and functions ``value`` is, is an instance of, or holds
    (in containers, object arrays and instance state)."""
    if isinstance(value, type) or inspect.isroutine(value):
        yield qualified_name(value)  # a class or function the file named (a TypeNode or FunctionNode)
        return
    yield qualified_name(type(value))
    if depth > 40:
        return
    children: list[Any] = []
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set):
        children = list(value)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        children = list(value.flat)
    elif hasattr(value, "__dict__"):
        children = list(vars(value).values())
    for child in children:
        yield from names_within(child, depth + 1)


def allowed(name: str) -> bool:
    return name == "builtins.NoneType" or name in SCORE_FUNCTIONS or class_refusal(name, function=False) is None


FUZZ_MARKER = Path(tempfile.gettempdir()) / "mlopsctl-fuzz-marker"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payload=hostile_nodes(str(FUZZ_MARKER / "ran")))
def test_fuzzed_schemas_load_only_allowed_classes_or_are_refused(payload: dict[str, Any]) -> None:
    FUZZ_MARKER.mkdir(exist_ok=True)
    os.utime(FUZZ_MARKER, ns=(0, 0))
    data = with_payload(payload)
    try:
        loaded = load_pipeline_bytes(data, hashlib.sha256(data).hexdigest())
    except ArtifactRefused:
        loaded = None
    assert_untouched(FUZZ_MARKER / "ran")
    if loaded is not None:
        assert {name for name in names_within(loaded) if not allowed(name)} == set()
