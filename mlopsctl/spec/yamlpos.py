"""YAML loading that remembers where every key and value stands, so errors can name file:line:column.

PyYAML's safe loader turns a document into plain Python and forgets positions. Here the document is
composed into nodes first and built by hand, recording the 1-based line and column of every path
(a tuple of mapping keys and list indexes). Duplicate keys, which PyYAML silently accepts with the
last one winning, are reported as problems instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.spec.problems import Problem

PathKey = tuple[str | int, ...]


@dataclass
class LocatedDoc:
    """A parsed YAML document with the position of every path in it."""

    file: Path
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: PathKey) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return (1, 1)

    def problem(self, path: PathKey, message: str, *, severity: str = "error") -> Problem:
        line, column = self.position(path)
        return Problem(str(self.file), line, column, dotted(path), message, severity)


def dotted(path: PathKey) -> str:
    """``("features", 2, "name")`` -> ``features[2].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


class _Builder:
    def __init__(self, doc: LocatedDoc) -> None:
        self.doc = doc
        self.scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self.scalars.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalars.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                key = str(key)
            if key in out:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                self.doc.problems.append(
                    Problem(str(self.doc.file), line, col, dotted((*path, str(key))), f"duplicate key '{key}'")
                )
            child = (*path, key if isinstance(key, str) else str(key))
            out[key] = self.build(value_node, child)
            if not isinstance(value_node, yaml.ScalarNode):
                # A block value starts on a later line: point at the key the user wrote instead.
                self.doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out


def parse_yaml(text: str, file: Path) -> LocatedDoc:
    """Parse one YAML document; syntax errors become problems rather than exceptions."""
    doc = LocatedDoc(file=file, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or "invalid YAML"
        doc.problems.append(Problem(str(file), line, col, "(document)", f"invalid YAML: {reason}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(str(file), 1, 1, "(document)", f"invalid YAML: {exc}"))
        return doc
    if node is not None:
        doc.data = _Builder(doc).build(node, ())
    return doc


def load_yaml(file: Path) -> LocatedDoc:
    """Read and parse ``file``; unreadable or non-UTF-8 files become problems."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        doc = LocatedDoc(file=file, data=None)
        doc.problems.append(Problem(str(file), 1, 1, "(document)", f"cannot read file: {exc.strerror}"))
        return doc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        doc = LocatedDoc(file=file, data=None)
        doc.problems.append(Problem(str(file), line, 1, "(document)", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"))
        return doc
    return parse_yaml(text, file)


def dump_yaml(data: Any, *, header: str = "") -> str:
    """Serialise plain data as block-style YAML, keys in the order given."""
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return header + body


_FastLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_fast(file: Path) -> LocatedDoc:
    """Parse with libyaml and record no positions; on any problem, fall back to :func:`load_yaml`.

    For reading many specs quickly (the dashboard, plan). Callers that report problems must
    re-read a file whose data fails validation with :func:`load_yaml` to get positions and the
    duplicate-key check, which libyaml does not do.
    """
    try:
        data = yaml.load(file.read_bytes().decode("utf-8"), Loader=_FastLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return load_yaml(file)
    return LocatedDoc(file=file, data=data)
