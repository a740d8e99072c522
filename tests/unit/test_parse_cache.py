"""The content-keyed cache of located YAML parses (mlopsctl.spec.parse_cache, used by load_yaml).

A kept parse must be exactly what a fresh parse gives (data, positions, problems), for any document;
an entry that is corrupt, foreign or holds what the parser never builds is ignored and replaced.
"""

from __future__ import annotations

import datetime as dt
import marshal
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from mlopsctl.spec import parse_cache
from mlopsctl.spec.yamlpos import MAX_ALIAS_NODES, MAX_DEPTH, load_yaml
from tests.support.hostile_yaml import BOMB
from tests.support.parse_cache import as_fresh, cache_of, entries, entry_path, fresh, git_repository

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "0x1F", "1e3", "~", "null", "2020-01-02", "-0.0", ".nan", "'q'", "&a", "*a"]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
)
KEYS = st.one_of(st.text(min_size=1, max_size=8), st.integers(-5, 5), st.booleans())
DATA = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=20,
)
FRAGMENTS = [
    "",
    "name: a\nname: b\n",
    "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\nd: [*b, *b]\n",
    "d: 2020-13-45\ne: !!int abc\nf: !foo x\n",
    "t: 2024-05-06T07:08:09+02:00\n",
    "bin: !!binary aGVsbG8=\n",
    "a: [1, 2\nb: 3\n",
    "a: \x01\n",
    "a: &a [*a]\n",
    "? [a, b]\n: 1\n",
    "deep: " + "[" * 70 + "]" * 70 + "\n",
    BOMB,
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repository(tmp_path / "repo")


def _dumped(data: Any, flow: bool | None) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=DATA, flow=st.sampled_from([None, True, False]), fragment=st.sampled_from(FRAGMENTS))
def test_a_kept_parse_is_identical_to_a_fresh_one(repo: Path, data: Any, flow: bool | None, fragment: str) -> None:
    file = repo / "models" / "m" / "model.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    for text in (_dumped(data, flow), fragment, _dumped({"doc": data}, flow) + fragment):
        file.write_text(text, encoding="utf-8")
        expected = fresh(file)
        assert as_fresh(load_yaml(file)) == expected  # cold, or kept by an earlier example
        kept = cache_of(file).get(cache_of(file).key(file.read_bytes()) or "")
        has_timestamp = "datetime" in expected[0] or "date(" in expected[0]
        assert (kept is not None) == (not has_timestamp), text
        assert as_fresh(load_yaml(file)) == expected  # from the cache (positions computed on demand)


def test_every_read_after_the_first_is_answered_by_the_cache(repo: Path) -> None:
    file = repo / "model.yaml"
    file.write_text("name: churn\nparams: {a: 1, b: [x, y]}\n")
    assert entries(repo) == []
    first = load_yaml(file)
    assert entries(repo) == [entry_path(file)]
    second = load_yaml(file)
    assert second.data == first.data == {"name": "churn", "params": {"a": 1, "b": ["x", "y"]}}
    assert second.position(("params", "b", 1)) == (2, 23)
    assert second.data is not first.data  # each read gets its own tree to change


def test_problems_come_back_with_the_file_they_are_read_from(repo: Path) -> None:
    one, two = repo / "one.yaml", repo / "two.yaml"
    for file in (one, two):
        file.write_text("a: 1\na: 2\n")
    assert [str(p) for p in load_yaml(one).problems] == [f"{one}:2:1: a: duplicate key 'a'"]
    assert len(entries(repo)) == 1  # same content, one entry
    assert [str(p) for p in load_yaml(two).problems] == [f"{two}:2:1: a: duplicate key 'a'"]


def _kept_then(file: Path, blob: bytes) -> None:
    load_yaml(file)
    entry_path(file).write_bytes(blob)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob, key: blob[: len(blob) // 2], id="truncated"),
        pytest.param(lambda blob, key: b"\0" * len(blob), id="zeroed"),
        pytest.param(lambda blob, key: b"", id="empty"),
        pytest.param(lambda blob, key: marshal.dumps((1, "0" * 40, {"name": "other"}, [])), id="foreign key"),
        pytest.param(lambda blob, key: marshal.dumps((99, key, {"name": "other"}, [])), id="other format"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, {"name": {1, 2}}, [])), id="a set"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, {"name": ("a",)}, [])), id="a tuple"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, {"f": (lambda: 0).__code__}, [])), id="code"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, {"name": "x"}, [(1, 1, "f", 3, "error")])), id="problem"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, _nested(MAX_DEPTH + 1), [])), id="too deep"),
        pytest.param(lambda blob, key: marshal.dumps((1, key, _laughs(60), [])), id="shared 2^60"),
        pytest.param(lambda blob, key: b"x" * (parse_cache.MAX_ENTRY_BYTES + 1), id="too large"),
    ],
)
def test_a_damaged_or_foreign_entry_is_ignored_and_replaced(repo: Path, damage: Any) -> None:
    file = repo / "model.yaml"
    file.write_text("name: churn\nlist: [1, 2.5, true, null]\n")
    expected = fresh(file)
    key = entry_path(file).name
    load_yaml(file)
    good = entry_path(file).read_bytes()
    entry_path(file).write_bytes(damage(good, entry_path(file).parent.name + key))
    assert as_fresh(load_yaml(file)) == expected
    assert entry_path(file).read_bytes() == good  # parsed again and kept again


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def _laughs(levels: int) -> Any:
    """A tree that marshal writes in a few hundred bytes and that has 2**levels leaves when walked."""
    value: Any = ["lol"]
    for _ in range(levels):
        value = [value, value]
    return {"a": value}


def test_a_date_is_parsed_every_time_and_never_kept(repo: Path) -> None:
    file = repo / "spec.yaml"
    file.write_text("since: 2024-01-02\n")
    assert load_yaml(file).data == {"since": dt.date(2024, 1, 2)}
    assert entries(repo) == []
    assert load_yaml(file).data == {"since": dt.date(2024, 1, 2)}


def test_outside_a_git_repository_nothing_is_kept(tmp_path: Path) -> None:
    file = tmp_path / "loose" / "spec.yaml"
    file.parent.mkdir()
    file.write_text("a: 1\n")
    assert load_yaml(file).data == {"a": 1}
    assert parse_cache.cache_for(file, MAX_DEPTH, MAX_ALIAS_NODES) is None
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["loose", "spec.yaml"]


def test_a_git_file_is_not_followed(tmp_path: Path) -> None:
    """A worktree's or submodule's ``.git`` file names a folder elsewhere: a repository's content never chooses."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {elsewhere}\n")
    (checkout / "spec.yaml").write_text("a: 1\n")
    assert load_yaml(checkout / "spec.yaml").data == {"a": 1}
    assert list(elsewhere.iterdir()) == []


def test_a_removed_git_folder_is_not_created_again(repo: Path) -> None:
    file = repo / "spec.yaml"
    file.write_text("a: 1\n")
    load_yaml(file)
    shutil.rmtree(repo / ".git")
    file.write_text("a: 2\n")
    assert load_yaml(file).data == {"a": 2}
    assert not (repo / ".git").exists()


def test_a_read_only_cache_only_costs_the_parse(repo: Path) -> None:
    (repo / ".git" / "mlopsctl").mkdir()
    (repo / ".git" / "mlopsctl" / "yaml-parse").write_text("not a folder")
    file = repo / "spec.yaml"
    file.write_text("a: [1, 2]\n")
    assert as_fresh(load_yaml(file)) == fresh(file)


def test_a_shard_over_its_bounds_loses_its_oldest_entries_first(tmp_path: Path) -> None:
    shard = tmp_path / "ab"
    shard.mkdir()
    for age, name in enumerate(["newest", "newer", "older", "oldest"]):
        (shard / name).write_bytes(b"x" * 10)
        os.utime(shard / name, (1_000_000 - age, 1_000_000 - age))
    listed = parse_cache.shard_entries(shard)
    assert [name for _, _, name in listed] == ["oldest", "older", "newer", "newest"]
    parse_cache.prune(shard, listed, max_entries=3, max_bytes=1_000)
    assert sorted(p.name for p in shard.iterdir()) == ["newer", "newest", "older"]
    parse_cache.prune(shard, listed, max_entries=3, max_bytes=15)
    assert sorted(p.name for p in shard.iterdir()) == ["newest"]


def test_the_whole_cache_is_bounded() -> None:
    assert 256 * parse_cache.MAX_SHARD_BYTES == 256 << 20
    assert 256 * parse_cache.MAX_SHARD_ENTRIES == 32_768
    assert parse_cache.MAX_ENTRY_BYTES <= parse_cache.MAX_SHARD_BYTES
