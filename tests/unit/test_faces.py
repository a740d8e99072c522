"""One API, many faces: the CLI, the dashboard and the demo reach the domains only through ``api`` modules.

Walks the syntax tree of every CLI and dashboard module and of the demo, function-local and
``TYPE_CHECKING`` imports included, and checks what they import from mlopsctl. The import-linter
contract ``faces-through-api`` (pyproject.toml) enforces the same in CI; scripts/test.sh runs it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import mlopsctl

PACKAGE = Path(mlopsctl.__file__).parent
ROOT = PACKAGE.parent
API = re.compile(r"^mlopsctl\.\w+\.api$")
ALLOWED = {
    "mlopsctl",  # __version__
    "mlopsctl.errors",
    "mlopsctl.spec.models",
    "mlopsctl.demo",  # another face, which `mlopsctl demo` runs
    "mlopsctl.tui.app",  # the dashboard, another face, which `mlopsctl ui` and the demo open
}
OWN_MODULES = ("mlopsctl.cli.", "mlopsctl.tui.")
"""A face's own modules: the CLI's commands share cli.common, the dashboard's views its state."""


def is_module(name: str) -> bool:
    """Whether ``name`` (``mlopsctl.x.y``) is a module or package of mlopsctl, not a name inside one."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every absolute module ``path`` imports, wherever the import statement sits.

    ``from mlopsctl.gitops import api`` imports the module ``mlopsctl.gitops.api``, not the package.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found.update({name for name in submodules if is_module(name)} or {node.module})
    return found


def allowed(module: str) -> bool:
    if not module.startswith("mlopsctl.") and module != "mlopsctl":
        return True  # the standard library, click, rich, textual
    return module in ALLOWED or API.match(module) is not None or module.startswith(OWN_MODULES)


def face_files() -> list[Path]:
    return [*sorted((PACKAGE / "cli").glob("*.py")), *sorted((PACKAGE / "tui").glob("*.py")), PACKAGE / "demo.py"]


def reaches_into_domains() -> set[tuple[str, str]]:
    return {
        (str(path.relative_to(PACKAGE)), module)
        for path in face_files()
        for module in imported_modules(path)
        if not allowed(module)
    }


def test_faces_import_only_domain_apis_errors_and_spec_models() -> None:
    assert reaches_into_domains() == set()


def test_the_walk_covers_the_cli_the_dashboard_and_the_demo() -> None:
    names = {str(path.relative_to(PACKAGE)) for path in face_files()}
    assert {"cli/gitops.py", "cli/main.py", "tui/app.py", "tui/present.py", "tui/actions.py", "demo.py"} <= names


def test_the_demo_does_not_import_the_cli() -> None:
    assert not {m for m in imported_modules(PACKAGE / "demo.py") if m.startswith("mlopsctl.cli")}


def test_the_core_does_not_import_a_face() -> None:
    faces = ("mlopsctl.cli", "mlopsctl.tui", "mlopsctl.demo")
    not_core = {"cli", "tui", "demo.py", "__main__.py"}  # the faces and the entry point that runs the CLI
    core = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in not_core]
    reaching = {(str(p.relative_to(PACKAGE)), m) for p in core for m in imported_modules(p) if m.startswith(faces)}
    assert reaching == set()


def test_the_walk_sees_function_local_and_type_checking_imports(tmp_path: Path) -> None:
    module = tmp_path / "face.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mlopsctl.tracking.store import Run\n"
        "def f() -> None:\n    import mlopsctl.monitor.health\n"
    )
    assert {"mlopsctl.tracking.store", "mlopsctl.monitor.health"} <= imported_modules(module)
    assert not allowed("mlopsctl.tracking.store") and allowed("mlopsctl.tracking.api")


def test_the_walk_resolves_a_module_imported_from_its_package(tmp_path: Path) -> None:
    module = tmp_path / "face.py"
    module.write_text("from mlopsctl.gitops import api\nfrom mlopsctl import oplog\nfrom mlopsctl import __version__\n")
    assert imported_modules(module) == {"mlopsctl.gitops.api", "mlopsctl.oplog", "mlopsctl"}
    assert not allowed("mlopsctl.oplog") and not allowed("mlopsctl.textsafe")


def test_the_import_contract_of_the_faces_holds_and_ci_enforces_it() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", "--contract", "faces-through-api"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    enforced = re.search(r"^enforced_contracts=\((.*)\)$", (ROOT / "scripts" / "test.sh").read_text(), re.M)
    assert enforced is not None and "faces-through-api" in enforced.group(1).split()
