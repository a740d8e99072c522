"""The desired state as Git says it: every environment file at a commit, read in one batch.

``plan`` and ``apply`` compare this with what runs on a target. Reading from a commit (``HEAD`` by
default, or ``origin/main`` in CI) rather than from the working tree means an uncommitted edit is
never applied by accident. All environment files come through one ``git ls-tree`` and one
``git cat-file --batch`` process, whatever their number and size.

Environment names (the file names) and model names (the keys under ``deployments``) become folder
and file names (state, logs, locks, registry records), so both must match the name pattern before
anything else happens: a file that fails is refused whole, naming its line and field.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlopsctl.errors import CheckFailed, NotFound
from mlopsctl.gitops import envfile
from mlopsctl.ports.git import Git
from mlopsctl.spec.loader import validate_doc as validate_located
from mlopsctl.spec.locations import shown
from mlopsctl.spec.models import NAME_PATTERN, Environment
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import parse_yaml

INVALID = "Invalid environment"


def env_path(env: str) -> str:
    return f"environments/{env}.yaml"


def read_environments(root: Path, ref: str = "HEAD", names: list[str] | None = None) -> dict[str, Environment]:
    """Environment name to its validated desired state, as committed in ``ref``."""
    for name in names or []:
        check_environment_name(name)
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
    texts = git.read_blobs([f"{commit}:{env_path(name)}" for name in wanted])
    return {name: parse_environment(name, text or "") for name, text in zip(wanted, texts, strict=True)}


def check_environment_name(name: str) -> None:
    """Refuse an environment whose name (its file name) could not safely name a folder or file."""
    if re.fullmatch(NAME_PATTERN, name) is None:
        raise CheckFailed(
            f"{shown(env_path(name))}: the environment name {shown(name)} (the file name) must be lower-case "
            "letters, digits and dashes, starting with a letter",
            title=INVALID,
            hint="rename the file, e.g. environments/staging.yaml",
        )


def parse_environment(name: str, text: str) -> Environment:
    """The validated environment in ``text`` (``environments/<name>.yaml``); every problem names its line."""
    check_environment_name(name)
    try:
        return Environment.model_validate(envfile.load(text))
    except (yaml.YAMLError, ValueError):
        pass  # parsed again below with positions, so the error says where (only bad files pay for it)
    problems = located_problems(name, text)
    if len(problems) == 1:
        message = str(problems[0])
    else:
        message = f"{env_path(name)} does not validate:\n" + "\n".join(f"  {p}" for p in problems)
    raise CheckFailed(message, title=INVALID, hint="fix the file and commit it; 'mlopsctl validate' checks every file")


def located_problems(name: str, text: str) -> list[Problem]:
    """Every schema problem of ``environments/<name>.yaml`` as file:line:column: field: message."""
    doc = parse_yaml(text, Path(env_path(name)))
    validate_located(Environment, doc)
    return doc.problems or [Problem(env_path(name), 1, 1, "(document)", "does not validate")]
