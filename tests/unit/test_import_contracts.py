"""The import contracts in pyproject.toml cover the whole core, so a new package cannot slip past.

``lint-imports`` (a stage of scripts/test.sh) checks the contracts themselves; this test checks
that their module lists name every top-level package and module of the core: everything in
``mlopsctl/`` except the faces, the entry points and the error tree.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FACES = {"mlopsctl.cli", "mlopsctl.tui", "mlopsctl.demo"}
NOT_CORE = FACES | {"mlopsctl.__init__", "mlopsctl.__main__", "mlopsctl.errors"}


def contract(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(entry for entry in contracts if entry["id"] == contract_id)


def core_modules() -> set[str]:
    """Every top-level package and module of mlopsctl that is neither a face nor an entry point."""
    package = ROOT / "mlopsctl"
    packages = {f"mlopsctl.{path.parent.name}" for path in package.glob("*/__init__.py")}
    modules = {f"mlopsctl.{path.stem}" for path in package.glob("*.py")}
    return (packages | modules) - NOT_CORE


def test_the_faces_contract_forbids_every_core_package_outside_its_doors() -> None:
    faces = contract("faces-through-api")
    assert set(faces["source_modules"]) == FACES
    assert set(faces["forbidden_modules"]) == core_modules()


def test_the_doors_of_the_faces_contract_are_only_the_api_modules_and_the_spec_models() -> None:
    doors = {line.partition(" -> ")[2] for line in contract("faces-through-api")["ignore_imports"]}
    assert doors == {"mlopsctl.*.api", "mlopsctl.spec.models"}


def test_no_core_module_may_import_the_terminal_ui_libraries() -> None:
    no_ui = contract("core-without-terminal-ui")
    assert set(no_ui["source_modules"]) == core_modules() | {"mlopsctl.errors"}
    assert set(no_ui["forbidden_modules"]) == {"textual", "rich", "click"}


def test_cycles_are_checked_between_the_top_level_packages() -> None:
    cycles = contract("no-package-cycles")
    assert (cycles["type"], cycles["ancestors"]) == ("acyclic_siblings", ["mlopsctl"])
