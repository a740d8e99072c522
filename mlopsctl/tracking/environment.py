"""The environment a run happened in: Python, platform and the versions of the packages that shape a model."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

TRACKED_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "skops", "mlopsctl")


def capture_environment() -> dict[str, Any]:
    """Python version, platform and package versions, as recorded with every run and version."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": {name: _version(name) for name in TRACKED_PACKAGES},
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
