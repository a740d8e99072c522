"""The version record's data model: what a registered model version is, below every domain.

A record (``registry/<model>/v<N>.yaml``) names the run, the data fingerprint, the artifact, the
gates, the serving signature and the drift reference of one version. Training writes it, serving
and monitoring read it; reading and writing the files is the registry's
(:mod:`mlopsctl.registry.records`), the shape is shared here so no domain imports another for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlopsctl.contract.versions import MAX_VERSION


class Record(BaseModel):
    """Base of registry files: unknown keys are kept, so newer writers do not break older readers."""

    model_config = ConfigDict(extra="allow")


class GateResult(Record):
    gate: str
    """The gate as written in the spec, e.g. roc_auc >= 0.85."""
    value: float | None
    """The measured value, or empty when the metric was not measured."""
    passed: bool
    """Whether the gate held."""


class DataFingerprint(Record):
    uri: str
    """Where the data was read from, relative to the repo root when inside it."""
    sha256: str
    """Content hash of the file's bytes."""
    rows: int
    """Number of rows."""
    columns: int
    """Number of columns."""
    schema_sha256: str
    """Hash of the column names and types."""
    stored: bool = False
    """Whether train stored this exact file (content-addressed by sha256) in the artifact store's data
    snapshots, for data pull and reproduce on any machine; False for versions trained before data
    snapshots or with data_snapshot_max_bytes: 0."""


class ArtifactRef(Record):
    uri: str
    """Location of the artifact in the artifact store."""
    sha256: str
    """Digest checked before the artifact is ever loaded."""
    size: int
    """Size in bytes."""
    format: str = "skops"
    """Serialisation format."""


class InputColumn(Record):
    name: str
    """Column name as requests must send it."""
    type: str
    """Declared type: integer, float, category, string, datetime or boolean."""
    nullable: bool = False
    """Whether a missing value (null/NaN) is accepted."""
    categories: list[str] | None = None
    """For categorical features, the categories seen in training (others are still accepted)."""


class Signature(Record):
    """What the prediction service accepts and returns."""

    inputs: list[InputColumn]
    """Feature columns, in the order the pipeline expects them."""
    task: str
    """classification or regression."""
    target: str
    """Name of the label column (the prediction's name)."""
    classes: list[Any] | None = None
    """Class labels in predict_proba column order (classification)."""
    data_columns: list[str] = Field(default_factory=list)
    """Every column data.columns declared at training (target and time column included): a request may
    carry them, and those that are not inputs are ignored."""


class BinnedReference(Record):
    """Training distribution of one feature (or of the predictions), for drift.

    numeric: ``edges`` are the interior bin edges (training quantiles, deduplicated); bin ``i``
    holds ``edges[i-1] < x <= edges[i]``, with open ends, so there are ``len(edges) + 1`` bins.
    categorical: ``categories`` name the bins, plus a last ``__other__`` bin for unseen values.
    ``shares`` sum to 1 over the bins and exclude missing values, whose share is ``missing_share``.
    """

    kind: str
    """numeric or categorical."""
    edges: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    shares: list[float]
    missing_share: float = 0.0
    count: int = 0
    """Observations the shares were computed from."""


class Reference(Record):
    features: dict[str, BinnedReference] = Field(default_factory=dict)
    prediction: BinnedReference | None = None


class VersionRecord(Record):
    """registry/<model>/v<N>.yaml"""

    apiVersion: str = "mlopsctl/v1"
    kind: str = "ModelVersion"
    model: str
    version: int = Field(ge=1, le=MAX_VERSION)
    created_at: str
    run_id: str
    spec_commit: str
    spec_dirty: bool = False
    spec_sha256: str
    task: str
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    gates_passed: bool
    data: DataFingerprint
    environment: dict[str, Any] = Field(default_factory=dict)
    artifact: ArtifactRef
    signature: Signature
    """Inputs and outputs of the prediction service."""
    reference: Reference = Field(default_factory=Reference)
    """Training-data distributions (bins and shares per feature, and of predictions) for drift."""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"
