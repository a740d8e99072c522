"""The packages the prediction service imports, for images and slim environments.

``python -m mlopsctl.serve`` imports only these (plus the standard library and mlopsctl's own
serving modules); a test checks ``sys.modules`` in a subprocess. The image builder installs
exactly these, pinned to the versions the model was trained with.
"""

from __future__ import annotations

SERVING_PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "skops",
    "pydantic",
    "pyyaml",
)
"""Distribution names (as pip knows them) the service needs at run time."""

FORBIDDEN_MODULES: tuple[str, ...] = (
    "click",
    "rich",
    "textual",
    "docker",
    "git",
    "prometheus_api_client",
    "jsonschema",
)
"""Top-level modules of the CLI and dashboard that the service must never import."""
