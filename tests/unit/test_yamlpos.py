from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.spec import yamlpos
from mlopsctl.spec.yamlpos import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    PathKey,
    YamlRefused,
    dotted,
    load_yaml,
    load_yaml_fast,
    parse_yaml,
    parse_yaml_fast,
    safe_load,
)


def test_positions_are_one_based_line_and_column() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n", Path("f.yaml"))
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": [{"e": 2}]}}
    assert doc.positions[("a",)] == (1, 4)
    assert doc.positions[("b",)] == (2, 1)
    assert doc.positions[("b", "c")] == (3, 3)
    assert doc.positions[("b", "c", 1)] == (3, 10)
    assert doc.positions[("b", "d", 0, "e")] == (5, 10)


def test_position_of_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = parse_yaml("a:\n  b: 1\n", Path("f.yaml"))
    assert doc.position(("a", "zzz", "q")) == doc.positions[("a",)]


def test_duplicate_keys_are_problems_not_silently_overwritten() -> None:
    doc = parse_yaml("name: a\nname: b\n", Path("f.yaml"))
    assert [str(p) for p in doc.problems] == ["f.yaml:2:1: name: duplicate key 'name'"]


def test_syntax_error_names_line_and_column() -> None:
    doc = parse_yaml("a: [1, 2\nb: 3\n", Path("f.yaml"))
    assert doc.data is None
    assert len(doc.problems) == 1
    problem = doc.problems[0]
    assert problem.line == 2 and problem.message.startswith("invalid YAML:")


def test_non_utf8_file_is_a_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    doc = load_yaml(path)
    assert [p.message for p in doc.problems] == ["not UTF-8 text (byte 0xe9)"]
    assert doc.problems[0].line == 2


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    doc = load_yaml(tmp_path / "nope.yaml")
    assert doc.problems[0].message.startswith("cannot read file")


def test_dotted_paths() -> None:
    assert dotted(("features", 2, "name")) == "features[2].name"
    assert dotted(()) == "(document)"


# --------------------------------------------------------------------------- bounded parsing (issue 11)

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def _problems(text: str) -> list[str]:
    return [str(problem) for problem in parse_yaml(text, Path("f.yaml")).problems]


def test_alias_bomb_stops_early_with_a_problem_at_file_line() -> None:
    assert _problems(BOMB) == [f"f.yaml:1:50: e: alias expansion exceeds {MAX_ALIAS_NODES} nodes"]
    assert parse_yaml(BOMB, Path("f.yaml")).data is None


def test_fast_loader_refuses_the_alias_bomb_too(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    doc = load_yaml_fast(tmp_path / "bomb.yaml")
    assert [p.message for p in doc.problems] == [f"alias expansion exceeds {MAX_ALIAS_NODES} nodes"]


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000, "".join(" " * i + "a:\n" for i in range(5000))],
    ids=["flow-list", "flow-map", "block"],
)
def test_nesting_5000_deep_is_a_problem(text: str) -> None:
    for parse in (parse_yaml, parse_yaml_fast):
        doc = parse(text, Path("f.yaml"))
        assert [p.message for p in doc.problems] == [f"nesting deeper than {MAX_DEPTH} levels"]


def test_a_recursive_anchor_is_a_problem() -> None:
    assert _problems("a: &a [*a]\n") == [f"f.yaml:1:4: a[0][0]: nesting deeper than {MAX_DEPTH} levels"]
    assert _problems("a: &a {<<: *a}\n") == ["f.yaml:1:4: a: merge keys nest too deep"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("d: 2020-13-45\n", "f.yaml:1:4: d: cannot read '2020-13-45' as a timestamp: month must be in 1..12"),
        ("a: !!int abc\n", "f.yaml:1:4: a: cannot read 'abc' as an integer"),
        ("a: !!float abc\n", "f.yaml:1:4: a: cannot read 'abc' as a number"),
        ("a: !!timestamp nope\n", "f.yaml:1:4: a: cannot read 'nope' as a timestamp"),
        ("a:\n  b: !foo x\n", "f.yaml:2:6: a.b: unsupported tag '!foo' on 'x'"),
        ("a: !!python/name:os.system ''\n", "f.yaml:1:4: a: unsupported tag '!!python/name:os.system' on ''"),
        (
            "a: !!python/object/apply:os.system [ls]\n",
            "f.yaml:1:4: a: unsupported tag '!!python/object/apply:os.system'",
        ),
        ("a: !!set {x}\n", "f.yaml:1:4: a: unsupported tag '!!set'"),
        (
            "v: " + "9" * 5000 + "\n",
            "f.yaml:1:4: v: cannot read '9999999999999999999999999999999999999999...' as an integer: "
            "more digits than a number may have",
        ),
        ("? [a, b]\n: 1\n", "f.yaml:1:3: (document): a key must be a single value, not a mapping or a list"),
        (
            "<<: 5\n",
            "f.yaml:1:1: (document): a merge key '<<' takes a mapping or a list of mappings (e.g. <<: *defaults)",
        ),
    ],
)
def test_values_that_cannot_be_built_are_problems_naming_the_value(text: str, expected: str) -> None:
    assert _problems(text) == [expected]
    assert [str(p) for p in parse_yaml_fast(text, Path("f.yaml")).problems] == [expected]


def test_merge_keys_follow_yaml_1_1_explicit_keys_win() -> None:
    text = "base: &b {x: 1, y: 2}\nmore: &m {y: 5, z: 6}\nc:\n  <<: [*b, *m]\n  x: 3\n"
    doc = parse_yaml(text, Path("f.yaml"))
    assert doc.problems == []
    assert doc.data["c"] == {"x": 3, "y": 2, "z": 6}
    assert doc.position(("c", "x")) == (5, 6)


def test_merged_keys_are_not_duplicates_and_nested_merges_rank_below_own_keys() -> None:
    text = "a: &a {k: 1, j: 1}\nb: &b {<<: *a, k: 2}\nc:\n  <<: *b\n"
    doc = parse_yaml(text, Path("f.yaml"))
    assert doc.problems == []
    assert doc.data["c"] == {"k": 2, "j": 1}


def test_safe_load_returns_data_or_raises_a_yaml_error_naming_file_and_line() -> None:
    assert safe_load("a: [1, 2]\n") == {"a": [1, 2]}
    with pytest.raises(yaml.YAMLError) as caught:
        safe_load("a:\n  b: !!int abc\n", "env.yaml")
    assert str(caught.value) == "env.yaml:2:6: a.b: cannot read 'abc' as an integer"
    assert isinstance(caught.value, YamlRefused)


# --------------------------------------------------------------------------- composed by libyaml (issue 12)

PARITY_TEXTS = [
    "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n",
    "name: caf\u00e9\nlist: [\u00e9\u00e9, {k: v}]\n? complex\n: 3\n",
    "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\nd: [*b, *b]\n",
    "name: a\nname: b\n",
    "d: 2020-13-45\ne: !!int abc\nf: !foo x\n",
    "a: [1, 2\nb: 3\n",
    "a:\n\tb: 1\n",
    "a: \x01\n",
    "--- 1\n--- 2\n",
    "",
    BOMB,
    "a: &a [*a]\n",
    "[" * 1001 + "]" * 1001,
    "deployments: " + "[" * 100 + "]" * 100 + "\n",
    "a:\n" + "".join("  " * i + "- b:\n" for i in range(1, 80)),
]


def _pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlpos, "_libyaml_bounds_nesting", lambda: False)


def _outcome(text: str) -> tuple[Any, dict[PathKey, tuple[int, int]], list[str]]:
    doc = parse_yaml(text, Path("f.yaml"))
    positions = doc.positions if doc.data is not None else {}  # a refused document's are partial
    return doc.data, positions, [str(p) for p in doc.problems]


def test_this_libyaml_refuses_deep_nesting_itself() -> None:
    assert yamlpos._libyaml_bounds_nesting()


def test_a_valid_document_is_composed_by_libyaml_not_the_pure_python_composer(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> None:
        raise AssertionError("the pure-Python composer ran")

    monkeypatch.setattr(yamlpos, "_DepthLimitedLoader", refuse)
    assert parse_yaml("a: [1, {b: 2}]\n", Path("f.yaml")).data == {"a": [1, {"b": 2}]}


@pytest.mark.parametrize("text", PARITY_TEXTS)
def test_libyaml_and_the_pure_python_composer_give_the_same_data_positions_and_problems(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    with_libyaml = _outcome(text)
    _pure_python(monkeypatch)
    assert _outcome(text) == with_libyaml


DEEP_100K = {
    "flow-list": "[" * 100_000 + "]" * 100_000,
    "flow-map": "{a: " * 100_000 + "1" + "}" * 100_000,
    "block-list": "- " * 100_000 + "x\n",
    "block-map-in-list": "".join("  " * i + "- a:\n" for i in range(2_000)),
}


@pytest.mark.parametrize("text", DEEP_100K.values(), ids=DEEP_100K.keys())
def test_nesting_far_beyond_libyaml_limit_is_a_problem_not_a_crash(text: str) -> None:
    """libyaml stops at 1,000 levels; the problem is then worded and placed by the bounded composer."""
    doc = parse_yaml(text, Path("f.yaml"))
    assert doc.data is None
    assert [p.message for p in doc.problems] == [f"nesting deeper than {MAX_DEPTH} levels"]


def test_block_mappings_5000_deep_indented_by_two_are_a_problem_at_the_limit() -> None:
    text = "".join("  " * i + "a:\n" for i in range(5_000))
    assert _problems(text) == [f"f.yaml:64:127: (document): nesting deeper than {MAX_DEPTH} levels"]


def test_without_a_bounded_libyaml_the_pure_python_composer_still_stops_deep_nesting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _pure_python(monkeypatch)
    for text in DEEP_100K.values():
        assert [p.message for p in parse_yaml(text, Path("f.yaml")).problems] == [
            f"nesting deeper than {MAX_DEPTH} levels"
        ]


def test_repeated_keys_can_be_accepted_last_one_winning() -> None:
    doc = parse_yaml("name: a\nname: b\n", Path("f.yaml"), duplicates_are_problems=False)
    assert (doc.data, doc.problems) == ({"name": "b"}, [])
