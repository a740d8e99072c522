"""JSON Schemas for the YAML specs, generated from the pydantic models.

Editors (through the yaml-language-server ``$schema`` comment the template's files carry) use
them to complete and check the YAML as it is typed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlopsctl.spec.models import Environment, ModelSpec, ProjectSettings

SCHEMA_KINDS: dict[str, type[BaseModel]] = {
    "project": ProjectSettings,
    "model": ModelSpec,
    "environment": Environment,
}
SCHEMA_ID_BASE = "https://mlopsctl.dev/schemas/v1"


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one spec kind: project, model or environment."""
    schema = SCHEMA_KINDS[kind].model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID_BASE}/{kind}.schema.json",
        **schema,
    }


def schema_text(kind: str) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write ``<kind>.schema.json`` for every kind into ``folder``."""
    from mlopsctl.fsio import atomic_write_text

    written = []
    for kind in SCHEMA_KINDS:
        path = folder / f"{kind}.schema.json"
        atomic_write_text(path, schema_text(kind))
        written.append(path)
    return written
