"""A lean reader for the skops files mlopsctl writes, so a service starts without importing skops.

Importing ``skops.io`` costs about half a second before anything is read: at import time it lists
every scikit-learn estimator (importing all of scikit-learn's modules) and walks NumPy and SciPy
for their public names, only to build its default trust lists. mlopsctl does not use those lists:
it has its own policy (:func:`mlopsctl.registry.artifacts.trusted_types`). This module reads the
same format (skops protocol 2: a zip of ``schema.json`` and ``.npy`` members) for the node kinds
that fitted scikit-learn pipelines are made of, importing only the modules the file names.

It is stricter than skops, never looser:

- every type the file names, wherever it appears (objects, types, dtypes, array scalars, the
  tree constructor, functions) is checked against the caller's policy *before* anything is built;
  only plain builtin containers and scalars pass without the policy;
- arrays are read with ``allow_pickle=False``; nothing is ever unpickled or evaluated;
- anything it does not know (another protocol, a node kind such as ``MethodNode`` or
  ``ReduceNode``, a named tuple, a non-builtin mapping) raises :class:`Unsupported`, and the caller
  falls back to skops itself, with its own audit.

Objects are built the way skops builds them (``cls.__new__`` then ``__setstate__`` or the
instance ``__dict__``; trees through their reduce arguments), and shared objects stay shared
(``__id__``). Tests check that what it builds has the same state, all the way down, as what skops
builds, for the estimator families in ``tests/unit/test_skops_reader.py``; gradient boosting
(its loss objects) goes to skops.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

PROTOCOL = 2
SCHEMA_MEMBER = "schema.json"
MAX_DEPTH = 200

Policy = Callable[[str], "str | None"]
"""Given a dotted type name, the reason it is refused, or None when it may be loaded."""

BUILTIN_VALUES: dict[str, type] = {
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
"""Types taken without asking the policy: builtin scalars and containers, never callables."""

TREE = "sklearn.tree._tree.Tree"
KEY_TYPES = ("builtins.str", "builtins.int", "builtins.float", "builtins.bool")
_BUILDING = object()


class Unsupported(Exception):
    """The file uses something this reader does not read: load it with skops instead."""


class Refused(Exception):
    """The file names types the policy refuses (``refused`` maps each name to its reason)."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name} ({reason})" for name, reason in sorted(refused.items())))
        self.refused = refused


def loads(data: bytes, policy: Policy) -> Any:
    """The object stored in skops bytes, after every type it names passed ``policy``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read(SCHEMA_MEMBER))
        if not isinstance(schema, dict) or schema.get("protocol") != PROTOCOL:
            raise Unsupported(f"skops protocol {schema.get('protocol') if isinstance(schema, dict) else '?'}")
        names = type_names(schema)
        refused = {name: reason for name in sorted(names) if (reason := _check(name, policy)) is not None}
        if refused:
            raise Refused(refused)
        return _Builder(archive).build(schema, 0)


def type_names(schema: Any) -> set[str]:
    """Every dotted type name the schema would import, wherever it sits in the tree."""
    found: set[str] = set()
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unsupported(f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        loader = node.get("__loader__")
        if loader is not None and loader not in _LOADERS and loader != "CachedNode":
            raise Unsupported(f"skops node kind {loader!r}")
        if loader is not None and loader not in ("JsonNode", "SliceNode", "CachedNode"):
            found.add(_name(node))
        stack.extend((value, depth + 1) for key, value in node.items() if isinstance(value, dict | list))
    return found


def _check(name: str, policy: Policy) -> str | None:
    if name in BUILTIN_VALUES or name in ("numpy.ndarray", "numpy.dtype"):
        return None
    return policy(name)


def _name(node: dict[str, Any]) -> str:
    module, cls = node.get("__module__"), node.get("__class__")
    if not isinstance(module, str) or not isinstance(cls, str) or not module or not cls:
        raise Unsupported("a node without its module and class")
    return f"{module}.{cls}"


def _import(node: dict[str, Any]) -> Any:
    """The object a node's module and class name (already allowed by the policy)."""
    name = _name(node)
    if name in BUILTIN_VALUES:
        return BUILTIN_VALUES[name]
    module = importlib.import_module(node["__module__"])
    try:
        return getattr(module, node["__class__"])
    except AttributeError:
        raise Unsupported(f"{name} is not in the installed libraries") from None


class _Builder:
    """Builds the objects of one schema, each ``__id__`` once."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.memo: dict[int, Any] = {}

    def build(self, node: Any, depth: int) -> Any:
        if not isinstance(node, dict) or not isinstance(node.get("__loader__"), str):
            raise Unsupported("a node that is not a skops node")
        if depth > MAX_DEPTH:
            raise Unsupported(f"nesting deeper than {MAX_DEPTH}")
        saved = node.get("__id__")
        if saved and saved in self.memo:
            found = self.memo[saved]
            if found is _BUILDING:
                raise Unsupported("an object that contains itself")
            return found
        loader = node["__loader__"]
        if loader == "CachedNode":
            raise Unsupported("a cached node before the object it names")
        if saved:
            self.memo[saved] = _BUILDING
        value = _LOADERS[loader](self, node, depth + 1)
        if saved:
            self.memo[saved] = value
        return value

    def content(self, node: dict[str, Any], depth: int) -> Any:
        return self.build(node.get("content"), depth)

    def items(self, node: dict[str, Any], depth: int) -> list[Any]:
        content = node.get("content")
        if not isinstance(content, list):
            raise Unsupported(f"{node['__loader__']} without a list of items")
        return [self.build(item, depth) for item in content]

    def member(self, node: dict[str, Any]) -> bytes:
        name = node.get("file")
        if not isinstance(name, str):
            raise Unsupported("an array without its file")
        try:
            return self.archive.read(name)
        except KeyError:
            raise Unsupported(f"the file names a missing member {name!r}") from None


def _exactly(node: dict[str, Any], name: str) -> None:
    if _name(node) != name:
        raise Unsupported(f"{_name(node)} stored as {node['__loader__']}")


def _json(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    content = node.get("content")
    if not isinstance(content, str):
        raise Unsupported("a JSON node without text")
    return json.loads(content)


def _list(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "builtins.list")
    return builder.items(node, depth)


def _tuple(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "builtins.tuple")
    return tuple(builder.items(node, depth))


def _set(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "builtins.set")
    return set(builder.items(node, depth))


def _dict(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "builtins.dict")
    content = node.get("content")
    key_types = node.get("key_types")
    if not isinstance(content, dict) or not isinstance(key_types, dict):
        raise Unsupported("a dict node without content and key types")
    kinds = key_types.get("content")
    if not isinstance(kinds, list) or len(kinds) != len(content):
        raise Unsupported("a dict node whose key types do not match its keys")
    out: dict[Any, Any] = {}
    for kind, (key, value) in zip(kinds, content.items(), strict=True):
        if not isinstance(kind, dict) or kind.get("__loader__") != "TypeNode" or _name(kind) not in KEY_TYPES:
            raise Unsupported("a dict key that is not a str, int, float or bool")
        out[BUILTIN_VALUES[_name(kind)](key)] = builder.build(value, depth)
    return out


def _type(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    return _import(node)


def _function(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    return _import(node)


def _slice(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "builtins.slice")
    content = node.get("content")
    if not isinstance(content, dict):
        raise Unsupported("a slice without bounds")
    bounds = [content.get(key) for key in ("start", "stop", "step")]
    if not all(bound is None or (isinstance(bound, int) and not isinstance(bound, bool)) for bound in bounds):
        raise Unsupported("a slice with bounds that are not integers")
    return slice(*bounds)


def _array(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    import numpy as np

    kind = node.get("type")
    if kind == "numpy":
        array = np.load(io.BytesIO(builder.member(node)), allow_pickle=False)
        if _name(node) == "numpy.ndarray":
            return array
        scalar = _import(node)
        if not (isinstance(scalar, type) and issubclass(scalar, np.generic)):
            raise Unsupported(f"an array stored as {_name(node)}, which is not a NumPy scalar type")
        return scalar(array)  # a NumPy scalar such as numpy.float64, stored as a 0-d array
    if kind == "json":
        _exactly(node, "numpy.ndarray")
        items = builder.items(node, depth)
        shape = builder.build(node.get("shape"), depth)
        if not isinstance(shape, tuple | list) or len(shape) != 1:
            raise Unsupported("an object array that is not one-dimensional")
        out = np.empty(len(items), dtype=object)
        for index, item in enumerate(items):
            out[index] = item
        return out
    raise Unsupported(f"an array stored as {kind!r}")


def _dtype(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, "numpy.dtype")
    return builder.content(node, depth).dtype


def _object(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    cls = _import(node)
    if not isinstance(cls, type):
        raise Unsupported(f"{_name(node)} is not a class")
    new: Any = cls.__new__
    instance = new(cls)
    if node.get("content") is None:
        return instance
    attrs = builder.content(node, depth)
    if attrs is None:
        return instance
    if hasattr(instance, "__setstate__"):
        instance.__setstate__(attrs)
    elif isinstance(attrs, dict):
        instance.__dict__.update(attrs)
    else:
        raise Unsupported(f"{_name(node)} with a state that is not a dict")
    return instance


def _tree(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    reduce = node.get("__reduce__")
    if not isinstance(reduce, dict):
        raise Unsupported("a tree without its constructor arguments")
    _exactly(node, TREE)  # skops builds a Tree whatever the node names; only a Tree is called here
    cls = _import(node)
    args = builder.build(reduce.get("args"), depth)
    if not isinstance(args, tuple):
        raise Unsupported("a tree whose constructor arguments are not a tuple")
    instance = cls(*args)
    attrs = builder.content(node, depth)
    if attrs:
        instance.__setstate__(attrs)
    return instance


def _random_state(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    import numpy as np

    cls = _import(node)
    if not (isinstance(cls, type) and issubclass(cls, np.random.RandomState)):
        raise Unsupported(f"{_name(node)} stored as a random state")
    instance = cls()
    instance.set_state(builder.content(node, depth))
    return instance


_LOADERS: dict[str, Callable[[_Builder, dict[str, Any], int], Any]] = {
    "JsonNode": _json,
    "ListNode": _list,
    "TupleNode": _tuple,
    "SetNode": _set,
    "DictNode": _dict,
    "TypeNode": _type,
    "FunctionNode": _function,
    "SliceNode": _slice,
    "NdArrayNode": _array,
    "DTypeNode": _dtype,
    "ObjectNode": _object,
    "TreeNode": _tree,
    "RandomStateNode": _random_state,
}
"""How each node kind is built. ``CachedNode`` (a reference to an object built earlier) has no
builder: :meth:`_Builder.build` answers it from the memo, or refuses it."""
