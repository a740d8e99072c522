"""Data sets: loading with fingerprints, and quality checks on the four dimensions.

``load_dataset`` reads a model's CSV or Parquet file once into a frame typed by the spec, with its
fingerprint (content hash, rows, columns, schema hash). ``run_quality_checks`` checks accuracy,
completeness, consistency and timeliness; ``check_or_raise`` stops a pipeline on a failed report.
"""

from mlopsctl.data.check import DataCheck, check_data
from mlopsctl.data.load import Dataset, fingerprint, load_dataset
from mlopsctl.data.quality import run_quality_checks
from mlopsctl.data.report import CheckResult, QualityReport, check_or_raise
from mlopsctl.data.target import TargetSummary, target_summary

__all__ = [
    "CheckResult",
    "DataCheck",
    "Dataset",
    "QualityReport",
    "TargetSummary",
    "check_data",
    "check_or_raise",
    "fingerprint",
    "load_dataset",
    "run_quality_checks",
    "target_summary",
]
