"""Test modules do not import each other: what tests share lives in tests/support/.

A helper imported from a test module drags that module's tests into the importer's namespace and
hides the dependency; ``tests/support/`` makes it explicit. The benches follow the same rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_MODULE = re.compile(r"^tests(\.\w+)*\.test_\w+$")


def imported_modules(source: str) -> Iterator[str]:
    """Every absolute module an ``import`` or ``from ... import`` names, at any depth in the file."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def imports_of_test_modules(source: str) -> set[str]:
    return {module for module in imported_modules(source) if TEST_MODULE.match(module)}


def python_files() -> Iterator[Path]:
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not any(part.startswith(".venv") for part in path.relative_to(ROOT).parts):
                yield path


def test_no_test_module_or_bench_imports_a_test_module() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in python_files()
        if (found := imports_of_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_shared_helpers_live_in_tests_support() -> None:
    support = ROOT / "tests" / "support"
    assert (support / "__init__.py").is_file()
    assert not [path.name for path in support.glob("test_*.py")]


def test_an_import_of_a_test_module_is_found_however_it_is_written() -> None:
    source = (
        "from tests.functional.test_promote import git\n"
        "import tests.unit.test_serve_support as serve\n"
        "from tests.unit import test_registry_drafts\n"
        "def later():\n    from tests.test_top import x\n"
        "from tests.support.gitops_repo import git\n"
        "from tests.conftest import run_cli_process\n"
    )
    assert imports_of_test_modules(source) == {
        "tests.functional.test_promote",
        "tests.unit.test_serve_support",
        "tests.unit.test_registry_drafts",
        "tests.test_top",
    }
