"""Version numbers and model version references (``churn@3``), shared by every domain that names a version.

Version numbers are capped (:data:`MAX_VERSION`), so a file name or reference with thousands of
digits is refused instead of turned into a huge integer. Kept free of heavy imports: ``history``
reads registry file names through it.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from mlopsctl.errors import UsageError

VERSION_DIGITS = 9
MAX_VERSION = 10**VERSION_DIGITS - 1
"""The highest version number mlopsctl reads or writes."""
VERSION_TEXT = rf"[1-9][0-9]{{0,{VERSION_DIGITS - 1}}}"
REF_PATTERN = re.compile(rf"^(?P<model>[a-z][a-z0-9-]{{0,62}})@v?(?P<version>{VERSION_TEXT}|latest)$")
MAX_REF_SHOWN = 80


def is_version(value: Any) -> TypeGuard[int]:
    """A version number as records hold it: an int (never a bool) from 1 to MAX_VERSION."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_VERSION


def parse_ref(text: str) -> tuple[str, int | None]:
    """``churn@3`` / ``churn@v3`` -> ("churn", 3); ``churn@latest`` -> ("churn", None)."""
    match = REF_PATTERN.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= MAX_REF_SHOWN else text[: MAX_REF_SHOWN - 3] + "..."
        raise UsageError(
            f"'{shown}' is not a model version reference",
            hint="write MODEL@VERSION, e.g. churn@3, churn@v3 or churn@latest",
        )
    version = match["version"]
    return match["model"], None if version == "latest" else int(version)
