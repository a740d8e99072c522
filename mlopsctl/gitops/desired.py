"""The desired state as Git says it: every environment file at a commit, read in one batch.

``plan`` and ``apply`` compare this with what runs on a target. Reading from a commit (``HEAD`` by
default, or ``origin/main`` in CI) rather than from the working tree means an uncommitted edit is
never applied by accident. All environment files come through one ``git ls-tree`` and one
``git cat-file --batch`` process, whatever their number and size.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlopsctl.errors import CheckFailed, NotFound
from mlopsctl.gitops import envfile
from mlopsctl.gitops.git import Git
from mlopsctl.spec.models import Environment


def read_environments(root: Path, ref: str = "HEAD", names: list[str] | None = None) -> dict[str, Environment]:
    """Environment name to its validated desired state, as committed in ``ref``."""
    git = Git(root)
    commit = git.resolve(ref)
    if commit is None:
        raise NotFound(f"no commit '{ref}' in {root}", hint="commit the environment files first")
    listing = git.out("ls-tree", "--name-only", commit, "environments/").splitlines()
    found = sorted(Path(line).stem for line in listing if line.endswith(".yaml"))
    wanted = found if names is None else names
    missing = [name for name in wanted if name not in found]
    if missing:
        raise NotFound(
            f"no environment {', '.join(missing)} in environments/ at {commit[:12]}",
            hint=f"environments there: {', '.join(found) or 'none'}",
        )
    texts = git.read_blobs([f"{commit}:environments/{name}.yaml" for name in wanted])
    return {name: _validate(name, text or "") for name, text in zip(wanted, texts, strict=True)}


def _validate(name: str, text: str) -> Environment:
    try:
        env = Environment.model_validate(envfile.load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise CheckFailed(
            f"environments/{name}.yaml does not validate: {' '.join(str(exc).split())}",
            title="Invalid environment",
            hint="run 'mlopsctl validate' for the exact line and field",
        ) from exc
    return env
