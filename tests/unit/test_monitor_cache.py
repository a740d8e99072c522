"""The health cache: references and monitoring blocks, re-read when their file changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlopsctl.monitor.cache import HealthCache, open_for_health
from tests.support.status_repo import make_reference, set_monitoring, training_data, write_record


def test_reference_is_cached_and_reread_when_the_record_changes(model_repo: Path) -> None:
    state = model_repo / ".mlops"
    write_record(model_repo, "churn", 1, make_reference(training_data(model_repo), bins=10))
    cache = HealthCache(model_repo, state)
    first, problem = cache.reference("churn", 1)
    assert problem == "" and first is not None
    cache.save()
    assert (state / "cache" / "health.json").is_file()

    again = HealthCache(model_repo, state)
    assert again.reference("churn", 1)[0] == first
    assert not again.changed  # served from the cache

    write_record(model_repo, "churn", 1, make_reference(training_data(model_repo), bins=4))
    record = model_repo / "registry" / "churn" / "v1.yaml"
    os.utime(record, ns=(1, 1))  # a different stamp even within the clock's resolution
    changed, _ = HealthCache(model_repo, state).reference("churn", 1)
    assert changed is not None
    assert len(changed.features["age"].edges) < len(first.features["age"].edges)


def test_missing_record_and_corrupt_cache(model_repo: Path) -> None:
    state = model_repo / ".mlops"
    (state / "cache").mkdir(parents=True)
    (state / "cache" / "health.json").write_text("{not json")
    cache = HealthCache(model_repo, state)
    assert cache.reference("churn", 7) == (None, "no registry record for churn@7: drift not judged")


def test_monitoring_follows_the_spec(model_repo: Path) -> None:
    state = model_repo / ".mlops"
    assert HealthCache(model_repo, state).monitoring("churn").window == "1h"  # type: ignore[union-attr]
    set_monitoring(model_repo, window="5m")
    os.utime(model_repo / "models" / "churn" / "model.yaml", ns=(2, 2))
    assert HealthCache(model_repo, state).monitoring("churn").window == "5m"  # type: ignore[union-attr]
    assert HealthCache(model_repo, state).monitoring("fraud") is None


def test_invalid_spec_reports_where(cli: Any, model_repo: Path) -> None:
    spec = model_repo / "models" / "churn" / "model.yaml"
    spec.write_text(spec.read_text().replace("  min_observations: 500", "  min_observations: many"))
    (model_repo / "environments" / "staging.yaml").write_text(
        "apiVersion: mlopsctl/v1\nkind: Environment\nname: staging\ndeployments:\n  churn: {version: 1, port: 9}\n"
    )
    line = spec.read_text().splitlines().index("  min_observations: many") + 1
    result = cli("status", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr.splitlines()[:2] == [
        "error: Invalid specs: the repository's specs have problems:",
        f"{spec}:{line}:21: monitoring.min_observations: Input should be a valid integer, unable to parse string as an "
        "integer (got 'many')",
    ]


def test_open_for_health_reads_settings_and_environments(model_repo: Path) -> None:
    repo = open_for_health(model_repo)
    assert sorted(repo.environments) == ["production", "staging"]
    assert repo.models == {}
