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
