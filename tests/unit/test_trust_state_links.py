"""The registry index's line scanner reads a record's summary exactly as the YAML parser does.

A committed record can hold any text; where the scanner and the parser disagree, ``registry list``
would show one thing and ``registry show`` another. Found by the scanner's fuzz test: a no-break
space is text to YAML, but blank to ``str.strip``.
"""

from __future__ import annotations

import pytest
import yaml

from mlopsctl.registry.index import scan_summary_fields


@pytest.mark.parametrize("estimator", ["\xa0", "x\xa0", "\xa0x", "\u2007", "\u3000x"])
def test_a_no_break_space_is_text_to_the_scanner_as_to_the_parser(estimator: str) -> None:
    text = f"model: churn\nversion: 3\nestimator: {estimator}\n"
    assert yaml.safe_load(text)["estimator"] == estimator
    fields = scan_summary_fields(text)
    assert fields is not None
    assert fields["estimator"] == estimator
