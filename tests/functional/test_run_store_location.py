"""Where the run store is, and what a URI in mlops.yaml may say: refused before any connection is tried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


def name_store(root: Path, uri: str) -> None:
    settings_file = root / "mlops.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["metadata_store"] = uri
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("passfile=/root/.pgpass", "passfile"),
        ("sslkey=/root/.ssh/id_rsa&sslmode=require", "sslkey"),
        ("service=prod&sslpassword=x", "service, sslpassword"),
    ],
)
def test_a_uri_in_mlops_yaml_cannot_name_the_runners_files_or_secrets(
    cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch, query: str, named: str
) -> None:
    name_store(model_repo, f"postgresql://mlops@db.team.example/runs?{query}")
    monkeypatch.setenv("MLOPS_METADATA_TRUSTED_HOSTS", "db.team.example")  # even a trusted host
    result = cli("--repo", str(model_repo), "runs", "list")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: Run store setting refused: metadata_store in mlops.yaml sets {named}, which only the runner may "
        "choose (files and secrets of the machine that runs mlopsctl)\n"
        "hint: remove it from mlops.yaml; set it in MLOPS_METADATA_STORE or the PG* environment instead\n"
    )


def test_a_uri_libpq_cannot_parse_is_a_usage_error(cli: Any, model_repo: Path) -> None:
    name_store(model_repo, "postgresql://db.team.example/runs?colour=blue")
    result = cli("--repo", str(model_repo), "runs", "list")
    assert result.code == 2
    assert result.stderr == (
        "error: Unknown run store: metadata_store 'postgresql://db.team.example/runs?colour=blue' is not a valid "
        'PostgreSQL URI: invalid URI query parameter: "colour"\n'
        "hint: write postgresql://[USER@]HOST[:PORT]/DATABASE[?sslmode=require]\n"
    )


def test_runs_push_names_the_missing_shared_store(cli: Any, model_repo: Path) -> None:
    result = cli("--repo", str(model_repo), "runs", "push")
    assert result.code == 2
    assert result.stderr.startswith("error: No shared run store: runs push copies this machine's runs")


@pytest.mark.parametrize(
    "uri",
    ["postgresql://mlops:hunter2@db.team.example/runs", "postgresql://mlops@db.team.example/runs?password=hunter2"],
)
def test_validate_refuses_a_password_in_mlops_yaml_wherever_the_uri_puts_it(
    cli: Any, model_repo: Path, uri: str
) -> None:
    name_store(model_repo, uri)
    result = cli("--repo", str(model_repo), "validate")
    assert result.code == 1
    assert "a password in mlops.yaml is readable by everyone who clones the repository" in result.stdout + result.stderr


def test_the_runners_own_store_variable_may_carry_a_password(
    cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_METADATA_STORE", "postgresql://mlops:hunter2@db.team.example/runs")
    result = cli("--repo", str(model_repo), "validate")
    assert "password in mlops.yaml" not in result.stdout + result.stderr
    assert result.code == 0, result.stdout + result.stderr
