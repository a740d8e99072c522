"""Skops artifacts with hostile payloads: a marker file shows whether any code ran while they were read."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlopsctl.registry.artifact_policy import qualified_name
from mlopsctl.registry.artifacts import dump_pipeline

REEXPORTED = "only the name it is defined under is accepted"


LISTENER = "sklearn.callback._transport.Listener"


def assert_untouched(marker: Path) -> None:
    """Nothing was created in the marker's folder, not even for a moment."""
    assert list(marker.parent.iterdir()) == []
    assert marker.parent.stat().st_mtime_ns == 0


def small_pipeline() -> bytes:
    """A real skops dump of a small fitted pipeline."""
    rows = np.random.default_rng(0).normal(size=(40, 3))
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return dump_pipeline(pipeline.fit(rows, (rows[:, 0] > 0).astype(int)))


def with_payload(payload: dict[str, Any], base: bytes | None = None) -> bytes:
    """``base`` (a dumped pipeline) with ``payload`` stored as one more attribute of the Pipeline."""
    with zipfile.ZipFile(io.BytesIO(base or small_pipeline())) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members.pop("schema.json"))
    attributes = schema["content"]
    attributes["content"]["payload"] = payload
    attributes["key_types"]["content"].append(node("TypeNode", "builtins.str"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def node(loader: str, name: str, **rest: Any) -> dict[str, Any]:
    module, _, cls = name.rpartition(".")
    return {"__loader__": loader, "__module__": module, "__class__": cls, **rest}


def text(value: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins.str", content=json.dumps(value), is_json=True)


def tuple_of(*items: dict[str, Any]) -> dict[str, Any]:
    return node("TupleNode", "builtins.tuple", content=list(items))


def call(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """skops' ``ConstructorFromReduceNode``: skops builds it as ``cls(*args)``."""
    return node("ConstructorFromReduceNode", name, content=tuple_of(*args))


def listener(marker: Path) -> dict[str, Any]:
    """Built, this binds a Unix socket at ``marker``: the file appears."""
    return call(LISTENER, text(str(marker)))


def reexport(name: str) -> str:
    module, _, attribute = name.rpartition(".")
    return f"re-exported from {qualified_name(vars(importlib.import_module(module))[attribute])}; {REEXPORTED}"
