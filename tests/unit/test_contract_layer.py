"""The model contract stays below the domains: ``contract`` imports none, ``train`` never imports ``serve``.

An AST walk over the source (function-local imports included, which import-linter's cycle check
alone would let through as long as no cycle forms).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mlopsctl"
ALLOWED_BELOW_CONTRACT = frozenset({"contract", "errors"})


def imported_modules(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every absolute module name imported anywhere in ``folder``'s source files."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


def mlopsctl_package(module: str) -> str | None:
    """``mlopsctl.registry.records`` -> ``registry``; None outside mlopsctl."""
    parts = module.split(".")
    return parts[1] if parts[0] == "mlopsctl" and len(parts) > 1 else None


def test_the_contract_imports_no_domain_package() -> None:
    offending = [
        f"{path.relative_to(PACKAGE.parent)}: {module}"
        for path, module in imported_modules(PACKAGE / "contract")
        if mlopsctl_package(module) not in (None, *ALLOWED_BELOW_CONTRACT)
    ]
    assert offending == []


def test_train_does_not_import_serve() -> None:
    offending = [
        f"{path.relative_to(PACKAGE.parent)}: {module}"
        for path, module in imported_modules(PACKAGE / "train")
        if mlopsctl_package(module) == "serve"
    ]
    assert offending == []


def test_the_walk_sees_function_local_imports(tmp_path: Path) -> None:
    (tmp_path / "late.py").write_text("def f() -> None:\n    from mlopsctl.serve import app\n", encoding="utf-8")
    assert [module for _, module in imported_modules(tmp_path)] == ["mlopsctl.serve"]
