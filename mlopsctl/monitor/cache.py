"""What a health refresh reads from the repository, read fast: references and monitoring specs.

``status`` on 200 deployments needs 200 references (bins and shares, in immutable registry
records) and 200 ``monitoring`` blocks (in the model specs). Both are kept in one JSON file in the
state folder, each entry keyed by its source file's size and modification time (as git's index
checks files); a changed or new file is parsed again with libyaml. One JSON read replaces
hundreds of YAML parses.

:func:`open_for_health` loads only what health needs: settings, environments and, through the
cache, the monitoring block of each deployed model. A spec that fails validation falls back to
the full loader, so the error names file, line and field as everywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlopsctl.contract.records import Reference, VersionRecord
from mlopsctl.errors import CheckFailed
from mlopsctl.fsio import atomic_write_text
from mlopsctl.registry.records import record_path
from mlopsctl.spec.loader import PROJECT_FILE, Repo, find_repo_root, load_settings, open_repo
from mlopsctl.spec.models import Environment, ModelSpec, MonitoringSpec
from mlopsctl.spec.yamlpos import load_yaml_fast
from mlopsctl.state_links import refuse_state_links

CACHE_VERSION = 1


class HealthCache:
    """References of registered versions and monitoring blocks of specs; ``save`` writes back new ones."""

    def __init__(self, root: Path, state_dir: Path) -> None:
        self.root = root
        # checked before the first read too: a linked cache would be read from, and saved to, elsewhere
        self.path = refuse_state_links(root, state_dir / "cache" / "health.json")
        self.entries = self._load()
        self.changed = False

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _cached(self, key: str, path: Path) -> tuple[Any, list[int] | None]:
        """The cached value for ``key`` if ``path`` is unchanged, and the path's stamp (None if absent)."""
        try:
            stat = path.stat()
        except OSError:
            return None, None
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == stamp:
            return entry.get("value"), stamp
        return None, stamp

    def _store(self, key: str, stamp: list[int], value: Any) -> None:
        self.entries[key] = {"stamp": stamp, "value": value}
        self.changed = True

    def reference(self, model: str, version: int) -> tuple[Reference | None, str]:
        """The version's reference, or None and why not."""
        key, path = f"reference:{model}@{version}", record_path(self.root, model, version)
        cached, stamp = self._cached(key, path)
        if stamp is None:
            return None, f"no registry record for {model}@{version}: drift not judged"
        if cached is not None:
            return Reference.model_validate(cached), ""
        doc = load_yaml_fast(path)
        try:
            record = VersionRecord.model_validate(doc.data)
        except ValidationError as exc:
            detail = str(doc.problems[0]) if doc.problems else str(exc).splitlines()[0]
            return None, f"registry record of {model}@{version} unreadable: {detail}"
        self._store(key, stamp, record.reference.model_dump(mode="json"))
        return record.reference, ""

    def monitoring(self, model: str) -> MonitoringSpec | None:
        """The spec's monitoring block; None when the model has no spec. An invalid spec raises."""
        key, path = f"monitoring:{model}", self.root / "models" / model / "model.yaml"
        cached, stamp = self._cached(key, path)
        if stamp is None:
            return None
        if cached is not None:
            return MonitoringSpec.model_validate(cached)
        try:
            spec = ModelSpec.model_validate(load_yaml_fast(path).data)
        except ValidationError:
            open_repo(self.root)  # raises the positioned report of every problem
            raise CheckFailed(f"{path} is not a valid model spec", hint="run 'mlopsctl validate'") from None
        self._store(key, stamp, spec.monitoring.model_dump(mode="json"))
        return spec.monitoring

    def save(self) -> None:
        """Write the cache back if anything was parsed; a read-only state folder is not an error."""
        if not self.changed:
            return
        try:
            atomic_write_text(self.path, json.dumps({"version": CACHE_VERSION, "entries": self.entries}))
        except OSError:
            return
        self.changed = False


def open_for_health(start: Path | None = None) -> Repo:
    """Settings and environments only (model specs come through :class:`HealthCache`)."""
    root = start if start is not None and (start / PROJECT_FILE).is_file() else find_repo_root(start)
    root = root.resolve()
    repo = Repo(root=root, settings=load_settings(root))
    for file in sorted((root / "environments").glob("*.yaml")):
        try:
            repo.environments[file.stem] = Environment.model_validate(load_yaml_fast(file).data)
        except ValidationError:
            return open_repo(root)  # raises the positioned report of every problem
    return repo
