from pathlib import Path

from mlopsctl.spec.yamlpos import dotted, load_yaml, parse_yaml


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
