"""YAML loading that remembers where every key and value stands, so errors can name file:line:column.

PyYAML's safe loader turns a document into plain Python and forgets positions. Here the document is
composed into nodes first (by libyaml, PyYAML's C parser, when it is installed) and built by hand,
recording the 1-based line and column of every path (a tuple of mapping keys and list indexes).
Duplicate keys, which PyYAML silently accepts with the last one winning, are reported as problems
instead.

Every file in a model repository may come from someone we do not fully trust, so loading is
bounded: nesting deeper than :data:`MAX_DEPTH` levels and alias expansion beyond
:data:`MAX_ALIAS_NODES` nodes (a "billion laughs" document is a few hundred bytes) stop early with
a problem at file:line, and a value that cannot be constructed (``2020-13-45``, ``!!int abc``, an
unknown or ``!!python/...`` tag) is a problem naming the value, never an exception. Merge keys
(``<<: *anchor``, or a list of anchors) follow YAML 1.1: explicit keys win, then earlier anchors.

Composing with libyaml is 5-7x faster than PyYAML's pure-Python composer (bench/RESULTS.md,
"Re-implementations against their libraries"). libyaml refuses nesting beyond 1,000 levels itself;
a libyaml without that limit (older than 0.2.6), or none at all, leaves composing to the pure-Python
composer, which stops at :data:`MAX_DEPTH`. A document libyaml refuses is composed again by the
pure-Python composer, so that every problem is worded and placed as it always was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from mlopsctl.spec.problems import Problem

if TYPE_CHECKING:
    from mlopsctl.spec import parse_cache

PathKey = tuple[str | int, ...]

MAX_DEPTH = 64
"""Nesting levels a document may have; real specs and records use fewer than ten."""
MAX_ALIAS_NODES = 10_000
"""Nodes that aliases may expand to in one document (each visit through an alias counts)."""
INVALID_YAML = "invalid YAML"
"""How a problem with the YAML syntax itself begins (as opposed to content the parser refuses)."""
MAX_VALUE_SHOWN = 40
"""Characters of a bad value quoted in a problem."""

_TAG_PREFIX = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG_PREFIX + "merge"
_STR_TAG = _TAG_PREFIX + "str"
_SCALAR_TAGS = frozenset(_TAG_PREFIX + name for name in ("null", "bool", "int", "float", "binary", "timestamp", "str"))
_SCALAR_CONSTRUCTORS = {tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _SCALAR_TAGS}
_SCALAR_LOADER = yaml.SafeLoader("")
"""Lends its scalar constructors their settings (boolean words, the timestamp pattern); never loads."""
_LIBYAML_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_KINDS = {"int": "an integer", "float": "a number", "bool": "a boolean", "timestamp": "a timestamp"}


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


class YamlRefused(yaml.YAMLError):
    """A document the bounded loader refuses; ``problem`` says what and where.

    A subclass of ``yaml.YAMLError`` so that code written for PyYAML's loaders handles it unchanged.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def dotted(path: PathKey) -> str:
    """``("features", 2, "name")`` -> ``features[2].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


class _Stop(Exception):
    """The document is refused as a whole (too deep, too many alias expansions)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's composer recurses once per level: stop before Python's recursion limit does."""

    def __init__(self, stream: str, file: Path) -> None:
        super().__init__(stream)
        self.file = file
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Stop(_at(self.file, mark, "(document)", f"nesting deeper than {MAX_DEPTH} levels"))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Plain data from a composed node tree, recording positions and problems in ``doc`` on the way."""

    def __init__(self, doc: LocatedDoc, *, duplicates_are_problems: bool = True) -> None:
        self.doc = doc
        self.seen: set[int] = set()
        self.expanded = 0
        self.duplicates_are_problems = duplicates_are_problems

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self._visit(node, path)
        self.doc.positions[path] = _position(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, path, _TAG_PREFIX + "seq")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _visit(self, node: yaml.Node, path: PathKey) -> None:
        """Count nodes reached again through an alias, and the depth reached, against the limits."""
        again = id(node) in self.seen
        if len(path) >= MAX_DEPTH:  # the document's own node is level 1, as the pure-Python composer counts
            self._too_deep(node, path, through_alias=again)
        if not again:
            self.seen.add(id(node))
            return
        self.expanded += 1
        if self.expanded > MAX_ALIAS_NODES:
            message = f"alias expansion exceeds {MAX_ALIAS_NODES} nodes"
            raise _Stop(_at(self.doc.file, node.start_mark, dotted(path[:1]), message))

    def _too_deep(self, node: yaml.Node, path: PathKey, *, through_alias: bool) -> NoReturn:
        """Stop: nesting as written reads as the pure-Python composer words it; an alias loop names its path."""
        field_name = dotted(path[:3]) if through_alias else "(document)"
        raise _Stop(_at(self.doc.file, node.start_mark, field_name, f"nesting deeper than {MAX_DEPTH} levels"))

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        """The scalar's value; one that cannot be constructed is a problem naming it (and None)."""
        if node.tag == _STR_TAG:
            return node.value  # what the safe loader's str constructor returns, for most scalars of a spec
        construct = _SCALAR_CONSTRUCTORS.get(node.tag)
        if construct is None:
            self._problem(node, path, f"unsupported tag '{_short_tag(node.tag)}' on {_shown(node.value)}")
            return None
        try:  # the safe loader's own constructor, without construct_object's bookkeeping (scalars hold no nodes)
            return construct(_SCALAR_LOADER, node)
        except Exception as exc:  # PyYAML raises ValueError, AttributeError... for bad scalars
            self._problem(node, path, _construct_message(node, exc))
            return None

    def _check_tag(self, node: yaml.Node, path: PathKey, expected: str) -> None:
        if node.tag != expected:
            self._problem(node, path, f"unsupported tag '{_short_tag(node.tag)}'")

    def _problem(self, node: yaml.Node, path: PathKey, message: str) -> None:
        self.doc.problems.append(_at(self.doc.file, node.start_mark, dotted(path), message))

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        self._check_tag(node, path, _TAG_PREFIX + "map")
        chosen: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in self._merged_pairs(node, path, 0):
            key = self._key(key_node, path)
            if key is not None:
                chosen[key] = (key_node, value_node)
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in explicit and self.duplicates_are_problems:
                self._problem(key_node, (*path, str(key)), f"duplicate key '{key}'")
            explicit.add(key)
            chosen[key] = (key_node, value_node)
        return {key: self._value(key, key_node, value_node, path) for key, (key_node, value_node) in chosen.items()}

    def _value(self, key: Any, key_node: yaml.Node, value_node: yaml.Node, path: PathKey) -> Any:
        child = (*path, key if isinstance(key, str) else str(key))
        value = self.build(value_node, child)
        if not isinstance(value_node, yaml.ScalarNode):
            # A block value starts on a later line: point at the key the user wrote instead.
            self.doc.positions[child] = _position(key_node)
        return value

    def _key(self, key_node: yaml.Node, path: PathKey) -> Any:
        """A mapping key as a plain value; a mapping or list as a key is a problem (None)."""
        self._visit(key_node, path)
        if not isinstance(key_node, yaml.ScalarNode):
            self._problem(key_node, path, "a key must be a single value, not a mapping or a list")
            return None
        key = self._scalar(key_node, path)
        return key if isinstance(key, str | int | float | bool) else str(key)

    def _merged_pairs(self, node: yaml.MappingNode, path: PathKey, depth: int) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key-value pairs ``<<`` brings into ``node``, lowest priority first (later ones overwrite).

        YAML 1.1: the mapping's own keys win over merged ones, and of a list of merged mappings the
        earlier wins; a merged mapping's own merges rank below its own keys.
        """
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            for source in reversed(self._merge_sources(key_node, value_node, path)):
                self._visit(source, path)
                if depth >= MAX_DEPTH:
                    raise _Stop(_at(self.doc.file, source.start_mark, dotted(path), "merge keys nest too deep"))
                pairs.extend(self._merged_pairs(source, path, depth + 1))
                pairs.extend((k, v) for k, v in source.value if k.tag != _MERGE_TAG)
        return pairs

    def _merge_sources(self, key_node: yaml.Node, value_node: yaml.Node, path: PathKey) -> list[yaml.MappingNode]:
        if isinstance(value_node, yaml.MappingNode):
            return [value_node]
        if isinstance(value_node, yaml.SequenceNode) and all(isinstance(n, yaml.MappingNode) for n in value_node.value):
            return list(value_node.value)
        self._problem(key_node, path, "a merge key '<<' takes a mapping or a list of mappings (e.g. <<: *defaults)")
        return []


def _position(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _at(file: Path, mark: Any, field_name: str, message: str) -> Problem:
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return Problem(str(file), line, column, field_name, message)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN] + "...")


def _construct_message(node: yaml.Node, exc: Exception) -> str:
    name = node.tag[len(_TAG_PREFIX) :] if node.tag.startswith(_TAG_PREFIX) else node.tag
    message = f"cannot read {_shown(node.value)} as {_KINDS.get(name, _short_tag(node.tag))}"
    if name == "int" and str(node.value).lstrip("+-").isdigit():
        return f"{message}: more digits than a number may have"
    reason = getattr(exc, "problem", None) if isinstance(exc, yaml.YAMLError) else None
    if name == "timestamp" and isinstance(exc, ValueError):
        reason = str(exc)  # datetime says which part is out of range: "month must be in 1..12"
    return f"{message}: {reason}" if reason else message


def parse_yaml(text: str, file: Path, *, duplicates_are_problems: bool = True) -> LocatedDoc:
    """Parse one YAML document; syntax errors and refused content become problems, never exceptions.

    With ``duplicates_are_problems=False`` a repeated key is not a problem and the last one wins,
    as with ``yaml.safe_load``.
    """
    doc = LocatedDoc(file=file, data=None)
    node = _compose(text, doc)
    if node is None:
        return doc
    try:
        doc.data = _Builder(doc, duplicates_are_problems=duplicates_are_problems).build(node, ())
    except _Stop as stop:
        doc.data = None
        doc.problems.append(stop.problem)
    return doc


def _compose(text: str, doc: LocatedDoc) -> yaml.Node | None:
    """The document's node tree (None when empty or refused: then ``doc.problems`` says why)."""
    if _libyaml_bounds_nesting():
        try:
            return yaml.compose(text, Loader=_LIBYAML_LOADER)
        except yaml.YAMLError:
            pass  # the pure-Python composer words and places the problem, and stops at MAX_DEPTH levels
    return _compose_bounded(text, doc)


@functools.cache
def _libyaml_bounds_nesting() -> bool:
    """Whether libyaml is installed and refuses deep nesting itself (libyaml 0.2.6 stops at 1,000 levels).

    An older libyaml composes any depth by recursing in C, which a hostile file could crash.
    """
    if _LIBYAML_LOADER is None:
        return False
    beyond_any_limit = 1_001
    try:
        yaml.compose("[" * beyond_any_limit + "]" * beyond_any_limit, Loader=_LIBYAML_LOADER)
    except yaml.YAMLError:
        return True
    return False


def _compose_bounded(text: str, doc: LocatedDoc) -> yaml.Node | None:
    """PyYAML's pure-Python composer, stopped at :data:`MAX_DEPTH` levels; problems go to ``doc``."""
    try:
        loader = _DepthLimitedLoader(text, doc.file)  # the reader checks for unprintable characters here
    except yaml.reader.ReaderError as exc:
        doc.problems.append(_reader_problem(text, doc.file, exc))
        return None
    try:
        return loader.get_single_node()
    except _Stop as stop:
        doc.problems.append(stop.problem)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or INVALID_YAML
        doc.problems.append(_at(doc.file, mark, "(document)", f"{INVALID_YAML}: {reason}"))
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(str(doc.file), 1, 1, "(document)", f"{INVALID_YAML}: {exc}"))
    finally:
        loader.dispose()
    return None


def _reader_problem(text: str, file: Path, exc: yaml.reader.ReaderError) -> Problem:
    """An unprintable character (a control byte): where it is, and which."""
    before = text[: exc.position]
    line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    return Problem(str(file), line, column, "(document)", f"{INVALID_YAML}: control character #x{exc.character:04x}")


def load_yaml(file: Path) -> LocatedDoc:
    """Read and parse ``file``; unreadable or non-UTF-8 files become problems.

    In a git repository the parse is kept by content (:mod:`mlopsctl.spec.parse_cache`), so a file
    read before is not parsed again; the result is the same either way.
    """
    # Imported here: hashing and the cache's file handling are for located reads only, and plain
    # reads (safe_load: history, plan) start without them.
    from mlopsctl.spec import parse_cache

    raw = _read_bytes(file)
    if isinstance(raw, Problem):
        return _refused(file, raw)
    cache = parse_cache.cache_for(file, MAX_DEPTH, MAX_ALIAS_NODES)
    key = cache.key(raw) if cache is not None else None
    text = _decoded(file, raw)
    if isinstance(text, Problem):
        return _refused(file, text)
    if cache is not None and key is not None:
        kept = cache.get(key)
        if kept is not None:
            return _KeptDoc(file, text, *kept)
    doc = parse_yaml(text, file)
    if cache is not None and key is not None:
        cache.put(key, _to_entry(doc))
    return doc


def _refused(file: Path, problem: Problem) -> LocatedDoc:
    doc = LocatedDoc(file=file, data=None)
    doc.problems.append(problem)
    return doc


def _to_entry(doc: LocatedDoc) -> parse_cache.Entry:
    return doc.data, [(p.line, p.column, p.field, p.message, p.severity) for p in doc.problems]


class _KeptDoc(LocatedDoc):
    """A document whose data and problems come from the parse cache.

    Its positions are computed again, from the same text, the first time something asks for them
    (a problem to place): most files read have none, and the positions are most of a parse.
    """

    def __init__(self, file: Path, text: str, data: Any, problems: list[tuple[int, int, str, str, str]]) -> None:
        kept = [
            Problem(str(file), line, column, name, message, severity)
            for line, column, name, message, severity in problems
        ]
        super().__init__(file=file, data=data, problems=kept)
        del self.positions  # so that the first read reaches __getattr__
        self._text = text

    def __getattr__(self, name: str) -> Any:
        if name != "positions":
            raise AttributeError(name)
        self.positions = parse_yaml(self._text, self.file).positions
        return self.positions


def _read_text(file: Path) -> str | Problem:
    raw = _read_bytes(file)
    return raw if isinstance(raw, Problem) else _decoded(file, raw)


def _read_bytes(file: Path) -> bytes | Problem:
    try:
        return file.read_bytes()
    except OSError as exc:
        return Problem(str(file), 1, 1, "(document)", f"cannot read file: {exc.strerror or exc}")


def _decoded(file: Path, raw: bytes) -> str | Problem:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Problem(str(file), line, 1, "(document)", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})")


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
    text = _read_text(file)
    if isinstance(text, Problem):
        return load_yaml(file)
    return parse_yaml_fast(text, file)


def parse_yaml_fast(text: str, file: Path) -> LocatedDoc:
    """:func:`parse_yaml` through libyaml when that is safe; the bounded parser otherwise.

    Only an anchor can make aliases, so a document without ``&`` cannot expand; libyaml itself
    refuses nesting beyond 1,000 levels, and the depth below that is checked on the result.
    Anything unusual (anchors, an error, too deep) goes to the bounded parser, which says where.
    """
    if "&" in text:
        return parse_yaml(text, file)
    try:
        data = yaml.load(text, Loader=_FastLoader)
    except Exception:  # bad scalars raise ValueError and others: the bounded parser names them
        return parse_yaml(text, file)
    if not _plain_and_shallow(data, MAX_DEPTH):
        return parse_yaml(text, file)
    return LocatedDoc(file=file, data=data)


def safe_load(text: str, file: Path | str = "<text>") -> Any:
    """A bounded drop-in for ``yaml.safe_load``: the data, or :class:`YamlRefused` naming file:line.

    For any YAML read from a model repository (records, environment files, archive lists) where
    positions are not needed: as fast as libyaml for ordinary files, bounded for hostile ones.
    """
    doc = parse_yaml_fast(text, Path(file))
    if doc.problems:
        raise YamlRefused(doc.problems[0])
    return doc.data


def _plain_and_shallow(data: Any, limit: int) -> bool:
    """Whether ``data`` nests at most ``limit`` deep and holds only what the bounded parser builds.

    Iterative, so any depth is safe; sets, bytes and pairs (``!!set``, ``!!binary``, ``!!omap``)
    send the document to the bounded parser, which refuses those tags with their position.
    """
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            if depth >= limit:
                return False
            pending.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            if depth >= limit:
                return False
            pending.extend((child, depth + 1) for child in value)
        elif isinstance(value, set | bytes | tuple):
            return False
    return True
