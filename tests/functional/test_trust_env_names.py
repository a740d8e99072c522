"""An environment's file name becomes a path and a label: validate refuses an odd one before reading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize("stem", ["Bad Name", "..", "a;rm -rf"])
def test_validate_names_an_odd_environment_file(cli: Any, model_repo: Path, stem: str) -> None:
    environments = model_repo / "environments"
    (environments / f"{stem}.yaml").write_text((environments / "staging.yaml").read_text())
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert (
        f"environments/{stem}.yaml:1:1: (file name): environment file name must be lower-case letters, digits and dashes, starting with a letter (got '{stem}')"
        in result.stdout
    )


def test_a_version_past_the_registry_cap_is_a_problem(cli: Any, model_repo: Path) -> None:
    from mlopsctl.contract.versions import MAX_VERSION
    from mlopsctl.spec.models import MAX_VERSION as SPEC_MAX_VERSION

    assert SPEC_MAX_VERSION == MAX_VERSION
    (model_repo / "environments" / "staging.yaml").write_text(
        "apiVersion: mlopsctl/v1\nkind: Environment\ndeployments:\n  churn:\n    version: 1000000000\n"
    )
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert (
        "environments/staging.yaml:5:14: deployments.churn.version: Input should be less than or equal to 999999999 (got 1000000000)"
        in result.stdout
    )
