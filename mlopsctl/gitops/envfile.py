"""Surgical edits of YAML files that people also edit by hand: comments, order and layout survive.

``environments/<env>.yaml`` is reviewed in pull requests, so a promotion must change the lines
that matter and nothing else: the header comments, a comment beside ``port:``, the order of keys
and the other deployments stay byte for byte. PyYAML's composer gives every node its character
span; edits replace spans (a value), delete whole lines (a key) or insert lines after an entry.

Every edit is checked: the result is parsed again and must equal the intended data exactly. When
a layout is too unusual to edit in place (a flow mapping spanning lines, anchors...), the file is
re-dumped with its leading comment block kept, which is always correct, only less pretty.

The text comes from a repository anyone may commit to, so it is always parsed by the bounded
loader first (:func:`mlopsctl.spec.yamlpos.safe_load`): an alias bomb or nesting thousands deep
is refused as a ``yaml.YAMLError`` before PyYAML's composer, which recurses per level, sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from mlopsctl.errors import MlopsError
from mlopsctl.spec.yamlpos import safe_load

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CannotEdit(Exception):
    """This layout is not edited in place; fall back to a re-dump."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def load(text: str, file: str = "<text>") -> Any:
    """The data in ``text``; a document the bounded loader refuses raises ``yaml.YAMLError`` naming ``file``."""
    return safe_load(text, file)


def _compose(text: str) -> yaml.Node | None:
    """PyYAML's node tree of ``text``, for its character spans; only after the bounded loader accepted it."""
    safe_load(text)
    return yaml.compose(text, Loader=_Loader)


def set_deployment(text: str, model: str, fields: dict[str, Any]) -> str:
    """``text`` with ``deployments.<model>`` set to exactly ``fields`` (in that order), the rest untouched."""
    data = load(text)
    if not isinstance(data, dict):
        raise MlopsError("the environment file is not a mapping of keys", title="Cannot edit")
    expected = dict(data)
    deployments = dict(expected.get("deployments") or {})
    deployments[model] = fields
    expected["deployments"] = deployments
    try:
        edited = _apply(text, _deployment_edits(text, model, fields))
        if load(edited) == expected:
            return edited
    except (_CannotEdit, yaml.YAMLError):
        pass
    return redump(text, expected)


def remove_deployment(text: str, model: str) -> str:
    """``text`` without ``deployments.<model>`` (its lines go; the last one leaves ``deployments: {}``)."""
    data = load(text)
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), dict):
        raise MlopsError("the environment file has no mapping of deployments", title="Cannot edit")
    expected = dict(data)
    expected["deployments"] = {k: v for k, v in data["deployments"].items() if k != model}
    try:
        edited = _apply(text, _removal_edits(text, model))
        if load(edited) == expected:
            return edited
    except (_CannotEdit, yaml.YAMLError):
        pass
    return redump(text, expected)


def append_list_item(text: str, key: str, item: dict[str, Any]) -> str:
    """``text`` with ``item`` appended to the top-level list under ``key`` (created when missing)."""
    data = load(text) if text.strip() else {}
    if not isinstance(data, dict):
        data = {}
    expected = dict(data)
    expected[key] = [*(expected.get(key) or []), item]
    try:
        edited = _append_item(text, key, item)
        if load(edited) == expected:
            return edited
    except (_CannotEdit, yaml.YAMLError):
        pass
    return redump(text, expected)


def redump(text: str, data: Any) -> str:
    """``data`` as block YAML under the leading comment block of ``text``."""
    header = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            header.append(line)
        else:
            break
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    return "".join(header) + body


def scalar(value: Any) -> str:
    """One YAML scalar as it must be written to read back as ``value`` (quotes when needed: 'yes', 'on')."""
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1000)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _flow(fields: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in fields.items()) + "}"


# --------------------------------------------------------------------------- planning edits


def _deployment_edits(text: str, model: str, fields: dict[str, Any]) -> list[_Edit]:
    root = _compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise _CannotEdit
    found = _entry(root, "deployments")
    if found is None:
        block = "deployments:\n" + _block_entry(model, fields, "  ")
        return [_Edit(len(text), len(text), ("" if text.endswith("\n") or not text else "\n") + block)]
    key_node, value = found
    if _is_empty(value):
        return [_replace_empty(text, key_node, value, model, fields)]
    if not isinstance(value, yaml.MappingNode) or value.flow_style:
        raise _CannotEdit
    entry = _entry(value, model)
    if entry is None:
        indent = " " * value.value[0][0].start_mark.column
        at = _line_after(text, _last_line(value.value[-1][1]))
        return [_Edit(at, at, _block_entry(model, fields, indent))]
    return _field_edits(text, entry[1], fields)


def _removal_edits(text: str, model: str) -> list[_Edit]:
    root = _compose(text)
    found = _entry(root, "deployments") if isinstance(root, yaml.MappingNode) else None
    deployments = found[1] if found is not None else None
    if found is None or not isinstance(deployments, yaml.MappingNode) or deployments.flow_style:
        raise _CannotEdit
    key_node = found[0]
    entry = _entry(deployments, model)
    if entry is None:
        return []
    end = _line_after(text, _last_line(entry[1]))
    if len(deployments.value) == 1:  # the mapping would be empty, which reads as null: say {}
        return [_Edit(key_node.end_mark.index, end, ": {}\n")]
    return [_Edit(_line_start(text, entry[0].start_mark.index), end, "")]


def _field_edits(text: str, node: yaml.Node, fields: dict[str, Any]) -> list[_Edit]:
    if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
        if isinstance(node, yaml.MappingNode) and node.start_mark.line != node.end_mark.line:
            raise _CannotEdit
        return [_Edit(node.start_mark.index, node.end_mark.index, _flow(fields))]
    edits: list[_Edit] = []
    present = {}
    for key_node, value_node in node.value:
        key = key_node.value
        present[key] = value_node
        if key not in fields:
            start = _line_start(text, key_node.start_mark.index)
            edits.append(_Edit(start, _line_after(text, _last_line(value_node)), ""))
        elif not isinstance(value_node, yaml.ScalarNode):
            raise _CannotEdit
        elif load(text[value_node.start_mark.index : value_node.end_mark.index]) != fields[key]:
            edits.append(_Edit(value_node.start_mark.index, value_node.end_mark.index, scalar(fields[key])))
    indent = " " * node.value[0][0].start_mark.column
    added = "".join(f"{indent}{scalar(k)}: {scalar(v)}\n" for k, v in fields.items() if k not in present)
    if added:
        at = _line_after(text, _last_line(node))
        edits.append(_Edit(at, at, added))
    return edits


def _replace_empty(text: str, key_node: yaml.Node, value: yaml.Node, model: str, fields: dict[str, Any]) -> _Edit:
    """``deployments: {}`` or ``deployments:`` becomes a block mapping holding one entry."""
    indent = " " * (key_node.start_mark.column + 2)
    start = key_node.end_mark.index
    colon = text.index(":", start)
    if isinstance(value, yaml.MappingNode):
        end = value.end_mark.index
    else:
        end = colon + 1 + len(text[colon + 1 :].split("\n", 1)[0].split("#", 1)[0].rstrip())
    rest = text[end:]
    comment = rest.split("\n", 1)[0]
    if comment.strip() and not comment.strip().startswith("#"):
        raise _CannotEdit
    line_end = end + len(comment)
    newline = "\n" if line_end < len(text) else ""
    block = ":" + (comment.rstrip() if comment.strip() else "") + "\n" + _block_entry(model, fields, indent)
    return _Edit(colon, line_end + len(newline), block)


def _is_empty(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.tag == "tag:yaml.org,2002:null"
    return isinstance(node, yaml.MappingNode) and not node.value and bool(node.flow_style)


def _block_entry(model: str, fields: dict[str, Any], indent: str) -> str:
    lines = [f"{indent}{scalar(model)}:\n"]
    lines += [f"{indent}  {scalar(key)}: {scalar(value)}\n" for key, value in fields.items()]
    return "".join(lines)


def _append_item(text: str, key: str, item: dict[str, Any]) -> str:
    root = _compose(text) if text.strip() else None
    lines = [("- " if i == 0 else "  ") + f"{scalar(k)}: {scalar(v)}\n" for i, (k, v) in enumerate(item.items())]
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise _CannotEdit
    found = _entry(root, key) if root is not None else None
    if found is None:
        return _apply(text, [_Edit(len(text), len(text), f"{key}:\n" + "".join(lines))])
    _key, value = found
    if not isinstance(value, yaml.SequenceNode) or value.flow_style or not value.value:
        raise _CannotEdit
    indent = " " * value.start_mark.column
    at = _line_after(text, _last_line(value))
    return _apply(text, [_Edit(at, at, "".join(indent + line for line in lines))])


# --------------------------------------------------------------------------- positions


def _entry(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _last_line(node: yaml.Node) -> int:
    """0-based line of the last character that belongs to ``node`` (trailing comments excluded)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return max(_last_line(node.value[-1][0]), _last_line(node.value[-1][1]))
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_after(text: str, line: int) -> int:
    """Index just past the end of 0-based ``line`` (after its newline)."""
    position = 0
    for _ in range(line + 1):
        found = text.find("\n", position)
        if found < 0:
            return len(text)
        position = found + 1
    return position


def _apply(text: str, edits: list[_Edit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        insert = edit.text
        if edit.start == edit.end == len(text) and text and not text.endswith("\n") and not insert.startswith("\n"):
            insert = "\n" + insert
        text = text[: edit.start] + insert + text[edit.end :]
    return text


def deployment_in(data: Any, model: str) -> dict[str, Any] | None:
    """``deployments.<model>`` of a parsed environment file, or None."""
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), dict):
        return None
    found = data["deployments"].get(model)
    return dict(found) if isinstance(found, dict) else None


def deployment_in_text(text: str | None, model: str) -> dict[str, Any] | None:
    """``deployments.<model>`` of an environment file's committed text; None when the file is absent,
    does not name the model, or does not parse (the bounded loader refused it)."""
    if text is None:
        return None
    try:
        return deployment_in(load(text), model)
    except yaml.YAMLError:
        return None
