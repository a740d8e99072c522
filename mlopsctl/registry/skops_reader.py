"""A lean reader for the skops files mlopsctl writes, so a service starts without importing skops.

Importing ``skops.io`` costs about half a second before anything is read: at import time it lists
every scikit-learn estimator (importing all of scikit-learn's modules) and walks NumPy and SciPy
for their public names, only to build its default trust lists. mlopsctl does not use those lists:
it has its own policy (:func:`mlopsctl.registry.artifacts.trusted_types`). This module reads the
same format (skops protocol 2: a zip of ``schema.json`` and ``.npy`` members) for the node kinds
that fitted scikit-learn pipelines are made of, importing only the modules the file names.

It is stricter than skops, never looser:

- every name the file holds, wherever it appears, is checked against the caller's policy
  (:func:`mlopsctl.registry.artifact_policy.refusal`, given the name and its node kind) *before*
  anything is built or imported beyond the policy's own lookups; one refusal refuses the file;
- a name is resolved only as the policy resolved it: the class defined under exactly that name
  (:func:`mlopsctl.registry.artifact_policy.resolve`), never a re-export or an attribute walk;
- arrays are read with ``allow_pickle=False``; nothing is ever unpickled or evaluated;
- anything it does not know (another protocol, a node shape it does not read) raises
  :class:`Unsupported`, and the caller may hand the file to skops under skops' default trust only.

Objects are built the way skops builds them: ``cls.__new__`` then ``__setstate__`` or the instance
``__dict__``. Only the node kinds the policy lists in ``CALLED_CLASSES`` call a class (a tree or a
loss through its reduce arguments, a random state or generator from its state), and each checks
the exact class first. Shared objects stay shared (``__id__``). Tests check that what it builds
has the same state, all the way down, as what skops builds, for the estimator families in
``tests/unit/test_skops_reader.py``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from mlopsctl.registry import artifact_policy
from mlopsctl.registry.artifact_policy import BUILTIN_TYPES, CALLED_CLASSES, MAX_DEPTH, TREE

PROTOCOL = 2
SCHEMA_MEMBER = "schema.json"

Policy = Callable[[str, str], "str | None"]
"""Given a dotted name and its node kind, the reason it is refused, or None when it may be loaded."""

KEY_TYPES = ("builtins.str", "builtins.int", "builtins.float", "builtins.bool")
_BUILDING = object()


class Unsupported(Exception):
    """The file uses something this reader does not read: load it with skops instead."""


class Refused(Exception):
    """The file names types the policy refuses (``refused`` maps each name to its reason)."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name} ({reason})" for name, reason in sorted(refused.items())))
        self.refused = refused


def loads(data: bytes, policy: Policy, schema: Any = None) -> Any:
    """The object stored in skops bytes, after every name it holds passed ``policy``.

    ``schema`` is the file's ``schema.json`` when the caller has already parsed it (it is the
    largest part of the file; parsing it once keeps a service's start fast).
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = _known_protocol(json.loads(archive.read(SCHEMA_MEMBER)) if schema is None else schema)
        refuse_unless_allowed(schema, policy)
        return _Builder(archive).build(schema, 0)


def _known_protocol(schema: Any) -> dict[str, Any]:
    """``schema`` if it is the protocol this reader knows."""
    if not isinstance(schema, dict) or schema.get("protocol") != PROTOCOL:
        raise Unsupported(f"skops protocol {schema.get('protocol') if isinstance(schema, dict) else '?'}")
    return schema


def refuse_unless_allowed(schema: Any, policy: Policy) -> None:
    """Raise :class:`Refused` listing every name ``policy`` refuses; nothing is built before this."""
    try:
        named = sorted(set(artifact_policy.named_types(schema)))
    except artifact_policy.Unreadable as exc:
        raise Unsupported(str(exc)) from None
    refused: dict[str, str] = {}
    for name, kind in named:
        reason = policy(name, kind)
        if reason is not None:
            refused.setdefault(name, reason)
    if refused:
        raise Refused(refused)


def _name(node: dict[str, Any]) -> str:
    return artifact_policy.node_name(node)


def _import(node: dict[str, Any]) -> Any:
    """The object a node names, resolved exactly as the policy resolved it (no re-exports)."""
    try:
        return artifact_policy.resolve(_name(node))
    except ValueError as exc:
        raise Unsupported(str(exc)) from None


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
        if loader not in _LOADERS:
            raise Unsupported(f"skops node kind {loader!r}")
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
        out[BUILTIN_TYPES[_name(kind)](key)] = builder.build(value, depth)
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
        return _object_array(items, shape)
    raise Unsupported(f"an array stored as {kind!r}")


def _object_array(items: list[Any], shape: Any) -> Any:
    """An object array of ``shape`` filled from nested lists, one cell at a time.

    Cell by cell rather than ``np.array(items)``: NumPy would probe the items for ``__array__`` and
    the sequence protocol, calling methods of objects the file chose.
    """
    import numpy as np

    if not isinstance(shape, tuple | list) or not shape or not all(type(size) is int for size in shape):
        raise Unsupported("an object array without a shape")
    out = np.empty(tuple(shape), dtype=object)
    for index in np.ndindex(*shape):
        cell: Any = items
        for position in index:
            if not isinstance(cell, list) or len(cell) <= position:
                raise Unsupported("an object array whose items do not match its shape")
            cell = cell[position]
        out[index] = cell
    if len(items) != shape[0]:
        raise Unsupported("an object array whose items do not match its shape")
    return out


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


def _called(node: dict[str, Any]) -> Any:
    """The class a calling node kind names, if it is one the policy lets that kind call."""
    if _name(node) not in CALLED_CLASSES[node["__loader__"]]:
        raise Unsupported(f"{_name(node)} stored as {node['__loader__']}")
    return _import(node)


def _reduce_args(builder: _Builder, node: dict[str, Any], depth: int) -> tuple[Any, ...]:
    reduce = node.get("__reduce__")
    if not isinstance(reduce, dict):
        raise Unsupported(f"a {node['__loader__']} without its constructor arguments")
    args = builder.build(reduce.get("args"), depth)
    if not isinstance(args, tuple):
        raise Unsupported(f"a {node['__loader__']} whose constructor arguments are not a tuple")
    return args


def _tree(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    _exactly(node, TREE)  # skops builds a Tree whatever the node names; only a Tree is called here
    return _called_with_state(builder, node, depth)


def _loss(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    """A gradient boosting loss (one of scikit-learn's Cython losses), as skops rebuilds it."""
    return _called_with_state(builder, node, depth)


def _called_with_state(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    """The allowed class called with the node's arguments, then given its state (a Cython type's restore)."""
    instance = _called(node)(*_reduce_args(builder, node, depth))
    attrs = builder.content(node, depth)
    if attrs:
        instance.__setstate__(attrs)
    return instance


def _random_state(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    instance = _called(node)()
    instance.set_state(builder.content(node, depth))
    return instance


def _random_generator(builder: _Builder, node: dict[str, Any], depth: int) -> Any:
    """A NumPy ``Generator``: its seed sequence, then its bit generator, then their states."""
    cls = _called(node)
    content = node.get("content")
    if not isinstance(content, dict):
        raise Unsupported("a random generator without its state")
    seed_state = builder.build(content.get("seed_seq"), depth)
    bit_state = builder.build(content.get("bit_generator"), depth)
    if not isinstance(seed_state, dict) or not isinstance(bit_state, dict):
        raise Unsupported("a random generator whose states are not dicts")
    bit_generator_cls = artifact_policy.resolve(artifact_policy.bit_generator_name(node))
    seed_seq = artifact_policy.resolve(artifact_policy.SEED_SEQUENCE)(**seed_state)
    bit_generator = bit_generator_cls(seed_seq)
    bit_generator.state = bit_state
    return cls(bit_generator=bit_generator)


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
    "LossNode": _loss,
    "RandomStateNode": _random_state,
    "RandomGeneratorNode": _random_generator,
}
"""How each node kind is built. ``CachedNode`` (a reference to an object built earlier) has no
builder: :meth:`_Builder.build` answers it from the memo, or refuses it."""
