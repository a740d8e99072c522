"""retrain reaches the domains it uses (train, registry, data, monitor, gitops, spec) only through their ``api`` modules.

Retraining composes other domains' work, so it is the place where reaching into their internals
(train's split and metrics, the registry's store) creeps in first. The AST of every retrain module,
function-local imports included, is walked: besides its own modules it may import another domain's
``api``, and the ground everything stands on (errors, fsio, the spec models, the model contract).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mlopsctl

RETRAIN = Path(mlopsctl.__file__).parent / "retrain"
API = re.compile(r"^mlopsctl\.\w+\.api$")
GROUND = ("mlopsctl.errors", "mlopsctl.fsio", "mlopsctl.spec.models", "mlopsctl.contract.", "mlopsctl.retrain.")


def imported(path: Path) -> set[str]:
    """The mlopsctl modules (or the names' modules) ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("mlopsctl.")}


def allowed(module: str) -> bool:
    return API.match(module) is not None or module.startswith(GROUND) or module in GROUND


def test_retrain_imports_other_domains_only_through_their_api() -> None:
    reaching = {
        (path.name, module) for path in sorted(RETRAIN.glob("*.py")) for module in imported(path) if not allowed(module)
    }
    assert reaching == set()


def test_the_walk_sees_retrains_modules() -> None:
    assert {"api.py", "triggers.py", "gate.py", "fresh.py"} <= {path.name for path in RETRAIN.glob("*.py")}


def test_retrain_hands_its_evidence_to_promote_instead_of_wrapping_the_plan() -> None:
    """The pull request's retraining section goes in through ``promote(extra_body=...)``, not a replaced plan hook."""
    source = (RETRAIN / "api.py").read_text()
    assert "extra_body=evidence_markdown(outcome)" in source
    assert "plan_provider" not in source
