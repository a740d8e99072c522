"""The part of the ``mlopsctl`` package an image needs: the import closure of the prediction service.

An image carries only the modules that ``python -m mlopsctl.serve`` can import, found by reading the
source (every ``import`` and ``from ... import``, including those inside functions, except the ones
under ``if TYPE_CHECKING:``), so the CLI, the dashboard and their dependencies stay out. The same walk
names the third-party packages the service imports, which the image must install.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVE_ENTRY = ("mlopsctl.serve", "mlopsctl.serve.__main__")


@dataclass
class Closure:
    """Modules of one package reachable from the entry modules."""

    root: Path
    """Folder that holds the package folder (``<root>/mlopsctl/__init__.py``)."""
    modules: dict[str, Path] = field(default_factory=dict)
    """Module name -> source file, for every module of the package in the closure."""
    external: set[str] = field(default_factory=set)
    """Top-level names of the non-standard-library modules they import."""

    def files(self) -> list[tuple[str, Path]]:
        """(path relative to ``root``, source file), sorted: what goes into the image."""
        return sorted((path.relative_to(self.root).as_posix(), path) for path in self.modules.values())


def package_root() -> Path:
    """Folder holding the installed ``mlopsctl`` package."""
    import mlopsctl

    return Path(mlopsctl.__file__).resolve().parent.parent


def import_closure(entries: tuple[str, ...] = SERVE_ENTRY, root: Path | None = None) -> Closure:
    """Walk the imports of ``entries`` (modules of one package) down to every module they reach."""
    closure = Closure(root=root or package_root())
    package = entries[0].split(".")[0]
    pending = list(entries)
    while pending:
        name = pending.pop()
        if name in closure.modules:
            continue
        path = module_file(closure.root, name)
        if path is None:
            continue
        closure.modules[name] = path
        pending.extend(_parents(name))
        for imported in _imports(path, name):
            top = imported.split(".")[0]
            if top == package:
                pending.extend(_candidates(imported))
            elif top not in sys.stdlib_module_names and top != "__future__":
                closure.external.add(top)
    return closure


def module_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _candidates(imported: str) -> list[str]:
    """``a.b.c`` may be a module, or attribute ``c`` of module ``a.b``: try both (missing ones are skipped)."""
    return [imported, imported.rsplit(".", 1)[0]] if "." in imported else [imported]


def _imports(path: Path, module: str) -> Iterator[str]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{node.module}" if node.module else base
