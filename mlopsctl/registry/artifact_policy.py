"""What a model artifact may name, decided from its ``schema.json`` before anything is built.

A skops file is a tree of nodes; each names a type (``__module__`` + ``__class__``) and a node kind
(``__loader__``) that says how the type is rebuilt. Whoever commits a version record also writes
its artifact, so every name is hostile until this module accepts it:

- a class must be *defined* in scikit-learn, NumPy or SciPy (exact top-level package) under the
  very name the file uses: ``f"{cls.__module__}.{cls.__qualname__}"``. Re-exports
  (``scipy.cluster.vq.deque`` is ``collections.deque``) and attribute walks are refused, as are
  testing, I/O and build modules;
- the only functions are :data:`SCORE_FUNCTIONS`, the only builtins :data:`BUILTIN_TYPES`;
- node kinds are those mlopsctl writes (:data:`NODE_KINDS`). Kinds that *call* a class
  (``TreeNode``, ``LossNode``, the random nodes) may name only the classes listed for them in
  :data:`CALLED_CLASSES`; every other class is rebuilt with ``__new__`` and its state, never called.

The whole file is refused when any name fails, listing each with its reason.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

TRUSTED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})
DENIED_WORDS = (
    "test",
    "conftest",
    "distutils",
    "f2py",
    "ctypeslib",
    "datasets",
    "memmap",
    "datasource",
    "npyio",
    "externals",
    "build",
)
"""Module or class names starting with these (after leading underscores) are never loaded: they
test, build, vendor other code, or read and write files (``numpy.memmap``, ``DataSource``)."""
DENIED_PARTS = frozenset({"io"})
"""Whole name parts never loaded (``scipy.io``, ``sklearn.utils._io`` read files)."""

SCORE_FUNCTIONS = frozenset(
    f"sklearn.feature_selection._univariate_selection.{name}" for name in ("f_classif", "f_regression")
)
"""The only functions trusted: the pure scoring functions a spec's correlation feature selection stores."""

BUILTIN_TYPES: dict[str, type] = {
    "builtins.str": str,
    "builtins.int": int,
    "builtins.float": float,
    "builtins.bool": bool,
    "builtins.list": list,
    "builtins.tuple": tuple,
    "builtins.dict": dict,
    "builtins.set": set,
    "builtins.slice": slice,
}
"""Builtin scalars and containers: the only names outside the three libraries."""

_LOSSES = (
    "CyAbsoluteError",
    "CyExponentialLoss",
    "CyHalfBinomialLoss",
    "CyHalfGammaLoss",
    "CyHalfMultinomialLoss",
    "CyHalfPoissonLoss",
    "CyHalfSquaredError",
    "CyHalfTweedieLoss",
    "CyHalfTweedieLossIdentity",
    "CyHuberLoss",
    "CyPinballLoss",
)
BIT_GENERATORS: dict[str, str] = {
    "MT19937": "numpy.random._mt19937.MT19937",
    "PCG64": "numpy.random._pcg64.PCG64",
    "PCG64DXSM": "numpy.random._pcg64.PCG64DXSM",
    "Philox": "numpy.random._philox.Philox",
    "SFC64": "numpy.random._sfc64.SFC64",
}
"""A ``Generator``'s state names its bit generator by a bare name; these are the ones rebuilt."""
SEED_SEQUENCE = "numpy.random.bit_generator.SeedSequence"
TREE = "sklearn.tree._tree.Tree"

CALLED_CLASSES: dict[str, frozenset[str]] = {
    "TreeNode": frozenset({TREE}),
    "LossNode": frozenset(f"sklearn._loss._loss.{name}" for name in _LOSSES),
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
    "BitGenerator": frozenset(BIT_GENERATORS.values()),
}
"""Node kinds whose classes are rebuilt by calling them (their reduce arguments, or no arguments
then their state), each with the exact classes it may call."""

NODE_KINDS = frozenset(
    {
        "JsonNode",
        "ListNode",
        "TupleNode",
        "SetNode",
        "DictNode",
        "TypeNode",
        "FunctionNode",
        "SliceNode",
        "NdArrayNode",
        "DTypeNode",
        "ObjectNode",
        "CachedNode",
        *CALLED_CLASSES,
    }
)
"""The node kinds mlopsctl's artifacts are made of. Others (``ReduceNode``,
``ConstructorFromReduceNode``, ``MethodNode``, ``PartialNode``, ``OperatorFuncNode``, ...) call
or bind arbitrary objects and are refused."""

ARRAY_KINDS = frozenset({"NdArrayNode", "DTypeNode"})
DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
MAX_DEPTH = 200


class Unreadable(Exception):
    """A schema whose shape cannot even be listed (not nodes, or nested too deep)."""


def refused_names(schema: Any) -> dict[str, str]:
    """Every name in ``schema`` the policy refuses, each with its reason (empty: all accepted)."""
    refused: dict[str, str] = {}
    for name, kind in sorted(set(named_types(schema))):
        reason = refusal(name, kind)
        if reason is not None and name not in refused:
            refused[name] = reason
    return refused


def named_types(schema: Any) -> Iterator[tuple[str, str]]:
    """``(dotted name, node kind)`` for every node of the tree, and for a generator's bit generator."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unreadable(f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if "__loader__" in node:
            yield node_name(node), str(node["__loader__"])
        if node.get("__loader__") == "RandomGeneratorNode":
            yield bit_generator_name(node), "BitGenerator"
        stack.extend((value, depth + 1) for value in node.values() if isinstance(value, dict | list))


def node_name(node: dict[str, Any]) -> str:
    """The dotted name a node asks for (its module and class)."""
    module, cls = node.get("__module__"), node.get("__class__")
    return f"{module}.{cls}" if isinstance(module, str) and isinstance(cls, str) else f"{module!r}.{cls!r}"


def bit_generator_name(node: dict[str, Any]) -> str:
    """The bit generator class a ``RandomGeneratorNode`` would call (numpy keeps only its bare name)."""
    try:
        raw = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return "numpy.random.<missing bit generator>"
    return BIT_GENERATORS.get(raw, f"numpy.random.{raw}") if isinstance(raw, str) else f"numpy.random.{raw!r}"


@functools.lru_cache(maxsize=4096)
def refusal(name: str, kind: str) -> str | None:
    """Why ``name`` stored as ``kind`` must not be loaded, or None when it may (cached: a model
    names the same few dozen classes thousands of times)."""
    if kind not in NODE_KINDS:
        own = class_refusal(name, function=False)  # the class's own reason, when it has one, says more
        return own or f"stored as {kind}, a node kind that calls or binds objects; mlopsctl never writes it"
    if kind in CALLED_CLASSES:
        if name not in CALLED_CLASSES[kind]:
            return f"{_CALLED_AS.get(kind, f'stored as {kind}')}, which calls its class; " + (
                f"only {', '.join(sorted(CALLED_CLASSES[kind]))} may be"
            )
        return class_refusal(name, function=False)
    if kind == "FunctionNode":
        return class_refusal(name, function=True)
    if kind in ARRAY_KINDS:
        return _array_refusal(name, kind)
    return class_refusal(name, function=False)


_CALLED_AS = {"BitGenerator": "named as a random generator's bit generator"}


def class_refusal(name: str, *, function: bool) -> str | None:
    """Why ``name`` is not a class (or allowed score function) defined under exactly that name."""
    if name in BUILTIN_TYPES and not function:
        return None
    if not DOTTED_NAME.fullmatch(name):
        return "not a dotted Python name"
    if name.split(".")[0] not in TRUSTED_PACKAGES:
        return "not from scikit-learn, NumPy or SciPy"
    if _denied(name):
        return "from a testing, I/O or build module"
    found = defined_object(name)
    if found is None:
        return "cannot be found in the installed libraries"
    actual = qualified_name(found)
    if actual != name:
        return f"re-exported from {actual}; only the name it is defined under is accepted"
    if function:
        return None if name in SCORE_FUNCTIONS else "a function other than the allowed score functions"
    return None if isinstance(found, type) else "a function, not a class"


def _array_refusal(name: str, kind: str) -> str | None:
    """A dtype is ``numpy.dtype``; an array is ``numpy.ndarray`` or a NumPy scalar type wrapping one."""
    if name in ("numpy.ndarray", "numpy.dtype"):
        return None if kind == "NdArrayNode" or name == "numpy.dtype" else f"stored as {kind}, not numpy.dtype"
    reason = class_refusal(name, function=False)
    if reason is not None:
        return reason
    import numpy as np

    found = defined_object(name)
    scalar = kind == "NdArrayNode" and isinstance(found, type) and issubclass(found, np.generic)
    return None if scalar else f"stored as {kind}, but not a NumPy scalar type"


def _denied(name: str) -> bool:
    parts = [part.lstrip("_").lower() for part in name.split(".")]
    return any(part in DENIED_PARTS or part.startswith(DENIED_WORDS) for part in parts)


def defined_object(name: str) -> Any:
    """The object bound to the last part of ``name`` in the module named by the rest, or None.

    Only the module's own namespace is read (no attribute walk, no module ``__getattr__`` hook);
    whether the object is *defined* there is :func:`qualified_name`'s to say.
    """
    module_name, _, attribute = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # ImportError, or a module that fails while importing: either way it is not loadable
        return None
    return vars(module).get(attribute)


def qualified_name(found: Any) -> str:
    module = getattr(found, "__module__", None)
    qualname = getattr(found, "__qualname__", None)
    return f"{module}.{qualname}"


def resolve(name: str) -> Any:
    """The class or function for an accepted ``name``; ValueError if it is not defined there."""
    if name in BUILTIN_TYPES:
        return BUILTIN_TYPES[name]
    found = defined_object(name)
    if found is None or qualified_name(found) != name:
        raise ValueError(f"{name} is not defined under that name")
    return found
