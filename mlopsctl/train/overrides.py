"""``--set PATH=VALUE``: change one field of a model spec for one run, without editing the file.

The path is dotted (``training.params.max_depth``; list items by index, ``features.0.scale``) and
the value is parsed as YAML (``5`` is a number, ``[1, 2]`` a list, ``null`` empty). Every segment
of the path is checked against the spec's schema, so a typo is named with a "did you mean". The
changed spec is validated again in full, and the estimator's own parameter checks run too.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mlopsctl.errors import UsageError
from mlopsctl.spec.models import ModelSpec
from mlopsctl.spec.yamlpos import INVALID_YAML, parse_yaml

MAX_SHOWN = 80
"""Characters of a ``--set`` quoted in messages."""
MAX_INDEX_DIGITS = 6
"""Digits of a list index in a path; no spec list is anywhere near a million items."""
_VALUE_HINT = "write a plain YAML value, e.g. --set training.params.max_depth=5 or --set training.params.max_depth=null"


@dataclass(frozen=True)
class Override:
    text: str
    """As typed: training.params.max_depth=5"""
    path: tuple[str | int, ...]
    value: Any

    def covers(self, path: tuple[str | int, ...]) -> bool:
        """Whether a problem at ``path`` comes from this override (same field or inside it)."""
        return path[: len(self.path)] == self.path or self.path[: len(path)] == path


def parse_override(typed: str) -> Override:
    text = _shown(typed)
    name, equals, raw = typed.partition("=")
    name = name.strip()
    if not equals or not name:
        raise _invalid(f"{text}: expected PATH=VALUE", hint="for example: --set training.params.max_depth=5")
    value = _parse_value(text, raw) if raw.strip() else None
    path = tuple(_segment(text, part) for part in name.split("."))
    if any(part == "" for part in path):
        raise _invalid(
            f"{text}: '{_shown(name)}' has an empty segment",
            hint="write a dotted path such as training.params.max_depth",
        )
    return Override(text=text, path=path, value=value)


def _shown(text: str) -> str:
    """``text`` as messages quote it: a pasted megabyte stays a one-line error."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _parse_value(text: str, raw: str) -> Any:
    """The value as YAML, through the bounded parser: a bad scalar or an alias bomb is a UsageError."""
    parsed = parse_yaml(raw, Path("--set"))
    if not parsed.problems:
        return parsed.data
    problem = parsed.problems[0]
    if problem.message.startswith(INVALID_YAML):
        raise _invalid(f"{text}: the value is not valid YAML: {problem.message.split(': ', 1)[-1]}")
    raise _invalid(f"{text}: the value cannot be used: {problem.message}", hint=_VALUE_HINT)


def _segment(text: str, part: str) -> str | int:
    """A list index (ASCII digits, at most :data:`MAX_INDEX_DIGITS`) or a key."""
    if not (part.isascii() and part.isdigit()):
        return part
    if len(part) > MAX_INDEX_DIGITS:
        raise _invalid(f"{text}: index {part[:12]}... is out of range (at most {MAX_INDEX_DIGITS} digits)")
    return int(part)


def apply_overrides(data: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """A deep copy of the spec's raw ``data`` with every override set; checks each path against the schema."""
    result = copy.deepcopy(data)
    for override in overrides:
        _check_path(override)
        _assign(result, override)
    return result


def validate_overridden(data: dict[str, Any], overrides: list[Override]) -> ModelSpec:
    """The spec built from overridden ``data``; schema errors name the ``--set`` that caused them."""
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        lines = [_error_line(error, overrides) for error in exc.errors()]
        raise _invalid("\n".join(lines), hint="the value must fit the model schema (mlopsctl schema model)") from exc


def _error_line(error: Any, overrides: list[Override]) -> str:
    location = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    for override in overrides:
        if override.covers(location) or _prefix_of_pydantic_loc(override.path, location):
            return f"{override.text}: {message}"
    return f"{'.'.join(map(str, location))}: {message}"


def _prefix_of_pydantic_loc(path: tuple[str | int, ...], location: tuple[Any, ...]) -> bool:
    """pydantic adds union tags to locations (``str``, ``float``); match the override's path as a subsequence."""
    remaining = list(location)
    for part in path:
        if part not in remaining:
            return False
        remaining = remaining[remaining.index(part) + 1 :]
    return True


def _invalid(message: str, *, hint: str | None = None) -> UsageError:
    return UsageError(message, title="Invalid --set", hint=hint)


# --------------------------------------------------------------------------- path checks


def _check_path(override: Override) -> None:
    annotation: Any = ModelSpec
    walked: list[str] = []
    for part in override.path:
        annotation = _child(annotation, part, override, walked)
        walked.append(str(part))


def _child(annotation: Any, part: str | int, override: Override, walked: list[str]) -> Any:
    """The annotation of ``part`` inside ``annotation``, or a UsageError naming the bad segment."""
    annotation = _unwrap(annotation)
    where = ".".join(walked) or "the model spec"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(str(part))
        if info is None:
            raise _invalid(f"{override.text}: unknown key '{part}' in {where}{_did_you_mean(part, annotation)}")
        return info.annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict:
        return args[1] if len(args) == 2 else Any
    if origin is list:
        if not isinstance(part, int):
            raise _invalid(f"{override.text}: {where} is a list; index it with a number, e.g. {where}.0")
        return args[0] if args else Any
    if annotation is Any:
        return Any
    raise _invalid(f"{override.text}: {where} is a single value and has no key '{part}'")


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional: the model, dict or list type a path can go into, else the type itself."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            inner = _unwrap(arg)
            if typing.get_origin(inner) in (dict, list) or (isinstance(inner, type) and issubclass(inner, BaseModel)):
                return inner
    return annotation


def _did_you_mean(part: str | int, model: type[BaseModel]) -> str:
    close = difflib.get_close_matches(str(part), list(model.model_fields), n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known keys: {', '.join(model.model_fields)}"


def _assign(data: dict[str, Any], override: Override) -> None:
    node: Any = data
    for depth, part in enumerate(override.path[:-1]):
        nxt = override.path[depth + 1]
        node = _descend(node, part, [] if isinstance(nxt, int) else {}, override)
    last = override.path[-1]
    if isinstance(node, list):
        _check_index(node, last, override)
        node[int(last)] = override.value
    elif isinstance(node, dict):
        node[last] = override.value
    else:
        raise _invalid(f"{override.text}: cannot set '{last}' inside a {type(node).__name__}")


def _descend(node: Any, part: str | int, empty: Any, override: Override) -> Any:
    if isinstance(node, list):
        _check_index(node, part, override)
        return node[int(part)]
    if not isinstance(node, dict):
        raise _invalid(f"{override.text}: cannot go into '{part}' of a {type(node).__name__}")
    if node.get(part) is None:
        node[part] = empty
    return node[part]


def _check_index(node: list[Any], part: str | int, override: Override) -> None:
    if not isinstance(part, int) or part >= len(node):
        raise _invalid(f"{override.text}: index {part} is out of range (the list has {len(node)} items)")
