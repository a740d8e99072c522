"""Environment files (``environments/<env>.yaml``): their names, their paths, their validated contents.

Reading them at a commit is the reconciler's (:func:`mlopsctl.deploy.desired.read_environments`);
editing them is gitops'. Both parse and name-check them here, below either.

Environment names (the file names) and model names (the keys under ``deployments``) become folder
and file names (state, logs, locks, registry records), so both must match the name pattern before
anything else happens: a file that fails is refused whole, naming its line and field.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlopsctl.errors import CheckFailed
from mlopsctl.spec.loader import validate_doc as validate_located
from mlopsctl.spec.locations import shown
from mlopsctl.spec.models import NAME_PATTERN, Environment
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import parse_yaml, safe_load

INVALID = "Invalid environment"


def env_path(env: str) -> str:
    return f"environments/{env}.yaml"


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
        return Environment.model_validate(safe_load(text))
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
