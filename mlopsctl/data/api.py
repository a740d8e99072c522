"""What the faces ask of the data domain: a model's data checked on the four quality dimensions.

Importing this module loads pandas (through the loader): faces import it when a data command
runs, never at start-up.
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.data.check import DataCheck, check_data
from mlopsctl.data.report import CheckResult
from mlopsctl.spec.loader import open_repo


def check_model_data(root: Path, model: str, data_path: Path | None = None) -> DataCheck:
    """Load ``model``'s data (or ``data_path``), fingerprint it and run the spec's quality checks."""
    return check_data(open_repo(root), model, data_path)


__all__ = ["CheckResult", "DataCheck", "check_model_data"]
