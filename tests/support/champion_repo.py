"""Helpers for the champion tests (issue 13, item 12): what an environment runs, and the rule in a spec."""

from __future__ import annotations

from pathlib import Path

from tests.support.train_repo import commit_all


def place(root: Path, env: str, deployments: str) -> str:
    """Commit ``environments/<env>.yaml`` running ``deployments`` (YAML flow text); returns the commit."""
    (root / "environments" / f"{env}.yaml").write_text(
        f"apiVersion: mlopsctl/v1\nkind: Environment\nname: {env}\ntarget: local\nbase_port: 8200\n"
        f"deployments: {deployments}\n"
    )
    return commit_all(root, f"{env} runs {deployments}")


def require_champion(root: Path, model: str, env: str, margin: float) -> str:
    """Add ``evaluation.champion`` and ``champion_margin`` to ``model``'s spec and commit it."""
    spec = root / "models" / model / "model.yaml"
    text = spec.read_text().replace("evaluation:\n", f"evaluation:\n  champion: {env}\n  champion_margin: {margin}\n")
    spec.write_text(text)
    return commit_all(root, f"{model} may not regress against {env}")
