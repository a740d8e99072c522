"""The summary scanner agrees with the YAML parser on every record, or steps aside for it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from mlopsctl.contract.records import ArtifactRef, VersionRecord
from mlopsctl.registry.index import read_summary, scan_summary_fields, summary_from
from mlopsctl.registry.store import record_yaml
from tests.support.registry_drafts import make_draft


def record(**changes: Any) -> VersionRecord:
    draft = make_draft()
    fields = {name: getattr(draft, name) for name in draft.__dataclass_fields__ if name != "artifact"}
    artifact = ArtifactRef(uri="sha256/ab/" + "ab" * 32 + ".skops", sha256="ab" * 32, size=1234)
    return VersionRecord(version=3, created_at="2026-11-22T00:00:00Z", artifact=artifact, **{**fields, **changes})


def comparable(data: dict[str, Any]) -> str:
    """A summary as text, with NaN written out so that equal summaries compare equal."""
    summary = summary_from(data).to_dict()
    summary["metrics"] = {k: "nan" if math.isnan(v) else v for k, v in summary["metrics"].items()}
    return json.dumps(summary, sort_keys=True)


def full_parse(text: str) -> dict[str, Any]:
    loaded = yaml.load(text, Loader=yaml.CSafeLoader)
    assert isinstance(loaded, dict)
    return loaded


def test_records_mlopsctl_writes_are_scanned_without_the_parser() -> None:
    for run_id in ["run-1", "20261122-0001", "2026-11-22T00:00:00Z", "a: b", "yes", "0x1f", "1e5"]:
        text = record_yaml(record(run_id=run_id))
        fields = scan_summary_fields(text)
        assert fields is not None, run_id
        assert comparable(fields) == comparable(full_parse(text))
        assert fields["run_id"] == run_id


def test_special_metric_values_are_read_like_yaml_reads_them() -> None:
    metrics = {"roc_auc": math.nan, "loss": math.inf, "gain": -math.inf, "tiny": 1e-12, "big": 1e300, "zero": 0.0}
    text = record_yaml(record(metrics=metrics))
    fields = scan_summary_fields(text)
    assert fields is not None
    assert comparable(fields) == comparable(full_parse(text))


scalars = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["yes", "No", "on", "~", "null", "1:30", "0o17", "0x1F", "1_000", ".5", "1e5", "- x", "#x", "x #y"]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_id=scalars,
    estimator=scalars,
    metrics=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6),
        max_size=5,
    ),
    rows=st.integers(0, 10**9),
)
def test_the_scanner_never_disagrees_with_the_parser(
    run_id: str, estimator: str, metrics: dict[str, float], rows: int
) -> None:
    base = record()
    data = base.data.model_copy(update={"rows": rows})
    text = record_yaml(record(run_id=run_id, estimator=estimator, metrics=metrics, data=data))
    fields = scan_summary_fields(text)
    if fields is not None:
        assert comparable(fields) == comparable(full_parse(text))


def test_hand_written_layouts_fall_back_to_the_parser(tmp_path: Path) -> None:
    text = record_yaml(record())
    start = text.index("metrics:\n")
    end = text.index("gates:\n")
    flow = text[:start] + "metrics: {roc_auc: 0.5, accuracy: 0.25}\n" + text[end:]
    assert scan_summary_fields(flow) is None
    path = tmp_path / "v3.yaml"
    path.write_text(flow)
    assert read_summary(str(path)).metrics == {"roc_auc": 0.5, "accuracy": 0.25}

    continued = text.replace("run_id: run-1\n", "run_id: a very long\n  run id\n")
    assert scan_summary_fields(continued) is None
    path.write_text(continued)
    assert read_summary(str(path)).run_id == "a very long run id"
