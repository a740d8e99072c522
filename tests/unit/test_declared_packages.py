"""pyproject.toml declares exactly the third-party packages mlopsctl imports, and the tests' too.

Every import in ``mlopsctl/`` (module level or inside a function, ``TYPE_CHECKING`` included) is
mapped from its top-level name to the distribution that provides it, through the installed
packages' metadata. A runtime dependency must be imported somewhere in ``mlopsctl/``; what only
the tests import belongs to the ``test`` extras.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _distribution_names(requirements: Iterable[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in requirements}


def runtime_dependencies() -> set[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return _distribution_names(project["dependencies"])


def declared_test_extras() -> set[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return _distribution_names(project["optional-dependencies"]["test"])


def _top_level_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0]


def third_party_imports(folder: Path, own: set[str]) -> dict[str, set[str]]:
    """Top-level third-party names imported under ``folder``, each with the files importing it."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _top_level_imports(tree):
            if name in sys.stdlib_module_names or name in own or name == "__future__":
                continue
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def distributions_of(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each imported top-level name mapped to the canonical names of the distributions providing it."""
    providers = importlib.metadata.packages_distributions()
    return {name: {canonicalize_name(dist) for dist in providers.get(name, [])} for name in imports}


def undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, str]:
    """Imported names none of whose distributions is declared, with one file that imports each."""
    return {
        name: f"{min(imports[name])} (distributions: {sorted(dists) or 'not installed'})"
        for name, dists in distributions_of(imports).items()
        if not dists & declared
    }


def test_every_import_in_mlopsctl_is_a_declared_runtime_dependency() -> None:
    imports = third_party_imports(ROOT / "mlopsctl", own={"mlopsctl"})
    assert undeclared(imports, runtime_dependencies()) == {}


def test_every_declared_runtime_dependency_is_imported_by_mlopsctl() -> None:
    imports = third_party_imports(ROOT / "mlopsctl", own={"mlopsctl"})
    imported = set().union(*distributions_of(imports).values())
    assert sorted(runtime_dependencies() - imported) == []


def test_every_import_in_the_tests_is_declared_for_runtime_or_tests() -> None:
    imports = third_party_imports(ROOT / "tests", own={"mlopsctl", "tests"})
    assert undeclared(imports, runtime_dependencies() | declared_test_extras()) == {}


def test_packages_only_the_tests_use_are_not_runtime_dependencies() -> None:
    assert "jsonschema" in declared_test_extras()
    assert "jsonschema" not in runtime_dependencies()


def test_an_undeclared_import_is_reported_with_the_file_that_imports_it() -> None:
    imports = {
        "yaml": {"mlopsctl/errors.py"},
        "requests": {"mlopsctl/b.py", "mlopsctl/a.py"},
        "no_such_xyz": {"mlopsctl/x.py"},
    }
    assert undeclared(imports, {"pyyaml"}) == {
        "requests": "mlopsctl/a.py (distributions: ['requests'])",
        "no_such_xyz": "mlopsctl/x.py (distributions: not installed)",
    }
