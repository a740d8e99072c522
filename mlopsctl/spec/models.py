"""The declarative specs: project settings (``mlops.yaml``), model specs and environments.

These pydantic models are the single source of truth for the YAML files: validation, defaults,
the published JSON Schema (``mlopsctl schema``) and the field descriptions editors show all come
from here. Every field carries a docstring, which becomes its description in the schema.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlopsctl.spec.base import (  # re-exported: faces and domains name them through spec.models
    API_VERSION as API_VERSION,
    DURATION_PATTERN as DURATION_PATTERN,
    GATE_PATTERN as GATE_PATTERN,
    MAX_VERSION as MAX_VERSION,
    ColumnType as ColumnType,
    Duration as Duration,
    Fraction as Fraction,
    Name as Name,
    Spec as Spec,
    Strategy as Strategy,
    Target as Target,
    duration_seconds as duration_seconds,
)
from mlopsctl.spec.kubernetes import KubernetesEnvironment, KubernetesServing
from mlopsctl.spec.locations import OPT_IN, escapes_repository, has_parent_step, outside_allowed, shown
from mlopsctl.spec.names import NAME_PATTERN as NAME_PATTERN  # re-exported: the models name it
from mlopsctl.spec.prediction_log import PredictionLogSpec
from mlopsctl.spec.rollout import RolloutSpec, ShadowSpec

# --------------------------------------------------------------------------- project settings


class PrometheusSettings(Spec):
    """Where live metrics come from. Credentials, TLS settings and a URL that credentials may be sent
    to are the user's (``~/.config/mlopsctl/config.yaml`` or ``MLOPS_PROMETHEUS_*``), never the repository's."""

    url: str | None = None
    """Prometheus server URL, e.g. http://127.0.0.1:9090. Empty: scrape the services directly. Sent no credentials."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """Timeout for one query."""


class ImageSettings(Spec):
    base: str = "python:3.11-slim"
    """Base image for model images; it must provide Python 3.11."""
    registry: str | None = None
    """Registry prefix that images are tagged with and pushed to, e.g. ghcr.io/acme. Empty: local only."""
    wheelhouse: str | None = None
    """Folder of wheels to install from instead of an index (air-gapped builds). Empty: prepared by the build."""


class GitSettings(Spec):
    remote: str = "origin"
    """Remote that promotion branches are pushed to."""
    main_branch: str = "main"
    """Branch that holds the desired state; CI applies it on merge."""
    provider: Literal["auto", "github", "gitlab", "none"] = "auto"
    """Where pull requests are opened; auto: from the remote URL."""


class UISettings(Spec):
    refresh_seconds: float = Field(default=2.0, ge=0.2)
    """Seconds between live refreshes of the dashboard."""
    theme: str = "textual-dark"
    """Textual theme name, e.g. textual-dark or textual-light."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id to keys, e.g. {promote: "ctrl+p"}, to remap the dashboard's keys."""


class ProjectSettings(Spec):
    """Project settings: mlops.yaml at the repository root."""

    apiVersion: Literal["mlopsctl/v1"] = "mlopsctl/v1"
    """Spec format version."""
    kind: Literal["Project"] = "Project"
    """Always Project for mlops.yaml."""
    name: Name
    """Project name, lower-case letters, digits and dashes."""
    state_dir: str = ".mlops"
    """Local state folder (git-ignored): runs database, artifacts, process state. A relative path inside
    the repository, without '..'; it must be a real folder (mlopsctl writes through no symbolic link)."""
    artifact_store: str | None = None
    """Folder or file:// URI of the content-addressed artifact store. Empty: <state_dir>/artifacts. A folder
    outside the repository (absolute, ~ or ../, e.g. a team share) is the user's choice, not the
    repository's: set it with MLOPS_ARTIFACT_STORE, or opt in with data.allow_outside_repo in
    ~/.config/mlopsctl/config.yaml (or MLOPS_DATA_ALLOW_OUTSIDE_REPO=1)."""
    metadata_store: str | None = None
    """Where runs are tracked: the path of a SQLite database, or postgresql://HOST[:PORT]/DATABASE for a
    store the team shares. Empty: <state_dir>/runs.db. A path outside the repository needs the user's
    choice, as for artifact_store: MLOPS_METADATA_STORE, or the opt-in. Never a password here: the
    database's credentials come from the environment (PGPASSWORD, ~/.pgpass) or the user's config."""
    data_snapshot_max_bytes: int = Field(default=2_147_483_648, ge=0)
    """Largest training data file that train stores (content-addressed, deduplicated) beside the artifacts so
    that reproduce and data pull work on any machine; past it train stops and says so. 0: data is never stored."""
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    """Where live metrics come from."""
    image: ImageSettings = Field(default_factory=ImageSettings)
    """How model images are built."""
    default_target: Target = "local"
    """Target used by environments that do not name one."""
    git: GitSettings = Field(default_factory=GitSettings)
    """Git remote and pull-request provider."""
    ui: UISettings = Field(default_factory=UISettings)
    """Terminal dashboard settings."""

    @field_validator("state_dir")
    @classmethod
    def _state_dir_inside(cls, value: str) -> str:
        parts = PurePosixPath(value.replace("\\", "/")).parts
        if escapes_repository(value) or has_parent_step(value) or not parts or ".git" in parts:
            raise ValueError(
                f"state_dir {shown(value)} must be a relative path inside the repository, without '..' "
                "(and not the root or .git), e.g. .mlops"
            )
        return value

    @field_validator("artifact_store", "metadata_store")
    @classmethod
    def _store_inside(cls, value: str | None, info: ValidationInfo) -> str | None:
        # An environment variable is set by the runner, not by the repository: it may point anywhere.
        if value is None or not escapes_repository(value) or f"MLOPS_{str(info.field_name).upper()}" in os.environ:
            return value
        if outside_allowed():
            return value
        raise ValueError(
            f"{shown(value)} is outside the repository, which only the user may choose: set "
            f"MLOPS_{str(info.field_name).upper()} instead, or {OPT_IN}"
        )

    @field_validator("metadata_store")
    @classmethod
    def _no_password_in_repository(cls, value: str | None) -> str | None:
        # Everyone who clones reads mlops.yaml: a password there is a published password. The runner's
        # own MLOPS_METADATA_STORE is not published, and may carry one.
        if "MLOPS_METADATA_STORE" in os.environ:
            return value
        if value is not None and value.startswith(("postgresql://", "postgres://")):
            netloc = value.split("://", 1)[1].split("/", 1)[0]
            query = value.split("?", 1)[1] if "?" in value else ""
            in_query = any(part.split("=", 1)[0].strip() == "password" for part in query.split("&"))
            if in_query or ("@" in netloc and ":" in netloc.rsplit("@", 1)[0]):
                raise ValueError(
                    "a password in mlops.yaml is readable by everyone who clones the repository: remove it "
                    "and give it as PGPASSWORD (or in ~/.pgpass) on the machines that use the store"
                )
        return value


# --------------------------------------------------------------------------- model spec


class BusinessSpec(Spec):
    objective: str = ""
    """What the model is for, in business terms."""
    metric: str = ""
    """The business metric it moves, e.g. retained revenue per month."""
    owner: str = ""
    """Team or person to ask about it."""


class DataSpec(Spec):
    source: str
    """Data file relative to the repo root (CSV or Parquet), or a file:// URI. A file outside the repository
    (absolute, ~, ../ above the root) is read only when the user opts in: data.allow_outside_repo in
    ~/.config/mlopsctl/config.yaml, or MLOPS_DATA_ALLOW_OUTSIDE_REPO=1."""
    format: Literal["csv", "parquet"] | None = None
    """File format. Empty: from the file name's suffix."""
    target: str
    """Column holding the label."""
    time_column: str | None = None
    """Column of timestamps, used for time-based splits and timeliness checks."""
    columns: dict[str, ColumnType] = Field(min_length=1)
    """Expected columns and their types (the schema), including the target."""

    @model_validator(mode="after")
    def _target_declared(self) -> DataSpec:
        if self.target not in self.columns:
            raise ValueError(f"target column '{self.target}' is not declared in data.columns")
        if self.time_column is not None and self.columns.get(self.time_column) != "datetime":
            raise ValueError(f"time_column '{self.time_column}' must be declared in data.columns as datetime")
        return self

    @field_validator("source")
    @classmethod
    def _source_inside(cls, value: str) -> str:
        if escapes_repository(value) and not outside_allowed():
            raise ValueError(f"{shown(value)} is outside the repository; data is read only from inside it: {OPT_IN}")
        return value


class Range(Spec):
    min: float | None = None
    """Smallest allowed value (inclusive)."""
    max: float | None = None
    """Largest allowed value (inclusive)."""

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class AccuracySpec(Spec):
    ranges: dict[str, Range] = Field(default_factory=dict)
    """Per column, the inclusive range numeric values must fall in."""
    allowed: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    """Per column, the only values allowed."""
    patterns: dict[str, str] = Field(default_factory=dict)
    """Per column, a regular expression every value must match in full."""

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for column, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for '{column}' is not a valid regular expression: {exc}") from exc
        return value


class CompletenessSpec(Spec):
    required: list[str] | None = None
    """Columns that must be present. Empty: every column in data.columns."""
    max_missing: dict[str, Fraction] = Field(default_factory=dict)
    """Per column, the largest share of missing values allowed (0 to 1)."""
    default_max_missing: Fraction = 0.0
    """Largest share of missing values for columns not named in max_missing."""


class ConsistencySpec(Spec):
    check_types: bool = True
    """Check every column's values against its declared type."""
    unique: list[str] = Field(default_factory=list)
    """Columns whose values must be unique (keys)."""
    no_duplicate_rows: bool = False
    """Fail when two rows are identical."""


class TimelinessSpec(Spec):
    column: str | None = None
    """Timestamp column to check. Empty: data.time_column."""
    max_age: Duration
    """How old the newest value may be, e.g. 2d."""


class QualitySpec(Spec):
    min_rows: int = Field(default=1, ge=1)
    """Fewest rows a data set may have."""
    accuracy: AccuracySpec = Field(default_factory=AccuracySpec)
    """Values are right: ranges, allowed values, patterns."""
    completeness: CompletenessSpec = Field(default_factory=CompletenessSpec)
    """Values are there: required columns and missing shares."""
    consistency: ConsistencySpec = Field(default_factory=ConsistencySpec)
    """Values agree: types, unique keys, duplicate rows."""
    timeliness: TimelinessSpec | None = None
    """Values are recent: the newest timestamp's age."""


class FeatureSpec(Spec):
    name: str
    """Input column this feature is computed from."""
    kind: Literal["numeric", "categorical"]
    """numeric: imputed and scaled; categorical: imputed and encoded."""
    impute: Literal["mean", "median", "most_frequent", "constant", "none"] | None = None
    """How missing values are filled. Empty: median for numeric, most_frequent for categorical."""
    fill_value: str | float | None = None
    """Value used when impute is constant."""
    scale: Literal["standard", "minmax", "robust", "none"] = "none"
    """Scaling for numeric features."""
    encode: Literal["onehot", "ordinal"] = "onehot"
    """Encoding for categorical features."""

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.impute == "constant" and self.fill_value is None:
            raise ValueError("impute: constant needs a fill_value")
        if self.kind == "categorical" and self.scale != "none":
            raise ValueError("scale applies to numeric features only")
        if self.kind == "categorical" and self.impute in ("mean", "median"):
            raise ValueError(f"impute: {self.impute} needs a numeric feature")
        return self


class FeatureSelectionSpec(Spec):
    method: Literal["correlation", "importance"]
    """correlation: keep the k columns most correlated with the target; importance: by a forest's importances."""
    k: int = Field(ge=1)
    """How many transformed columns to keep."""


class SplitSpec(Spec):
    method: Literal["stratified", "random", "time"] = "stratified"
    """stratified (classification), random, or time (the newest rows are held out)."""
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of rows held out for evaluation."""
    seed: int = 42
    """Random seed, recorded with every run."""


class TrainingSpec(Spec):
    task: Literal["classification", "regression"]
    """What the estimator predicts."""
    estimator: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
    """Import path of a scikit-learn estimator class, e.g. sklearn.ensemble.RandomForestClassifier."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyperparameters passed to the estimator."""
    grid: dict[str, list[Any]] | None = None
    """Hyperparameter grid for train --grid: each name to the values to try."""
    cv_folds: int = Field(default=3, ge=2, le=20)
    """Cross-validation folds used by --grid."""
    split: SplitSpec = Field(default_factory=SplitSpec)
    """How the held-out set is chosen."""

    @field_validator("grid")
    @classmethod
    def _grid_not_empty(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        for name, values in (value or {}).items():
            if not values:
                raise ValueError(f"grid entry '{name}' has no values")
        return value


CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "balanced_accuracy")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
SERVING_METRICS = ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")


class EvaluationSpec(Spec):
    metrics: list[str] = Field(min_length=1)
    """Metrics computed on the held-out set; the first is the primary one (used to rank a grid)."""
    gates: list[Annotated[str, Field(pattern=GATE_PATTERN)]] = Field(default_factory=list)
    """Conditions a version must meet to be registered, e.g. "roc_auc >= 0.85", "p95_latency_ms <= 50"."""
    champion: Name | None = None
    """Environment whose running version a new version must not be worse than on the primary metric
    (e.g. production); empty: train only prints the comparison."""
    champion_margin: float = Field(default=0.0, ge=0.0)
    """How much worse than the champion the primary metric may be before the version is refused."""


class ServingSpec(Spec):
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted; larger gets HTTP 413."""
    max_batch_rows: int = Field(default=10_000, ge=1)
    """Most rows one request may carry."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Port to listen on when served locally. Empty: chosen by the environment."""
    unknown_fields: Literal["reject", "ignore"] = "reject"
    """Request fields the spec never declared: reject (HTTP 422 naming them) or ignore (counted)."""
    prediction_log: PredictionLogSpec = Field(default_factory=PredictionLogSpec)
    """The rotating log of requests and answers, with request ids, that feedback labels join to."""
    kubernetes: KubernetesServing = Field(default_factory=KubernetesServing)
    """What one instance needs in a cluster (kubernetes target)."""


class Thresholds(Spec):
    warn: float
    """At or past this value the state is WARN."""
    crit: float
    """At or past this value the state is CRIT."""


class PerformanceMonitoring(Spec):
    metric: str
    """Metric computed from labels that flow back, e.g. roc_auc."""
    warn_below: float
    """WARN when the live metric falls below this."""
    crit_below: float
    """CRIT when the live metric falls below this."""


class MonitoringSpec(Spec):
    window: Duration = "1h"
    """Window over which live distributions are compared with the reference."""
    min_observations: int = Field(default=500, ge=1)
    """Fewest observations in a window before drift is judged (below: not enough data)."""
    bins: int = Field(default=10, ge=2, le=50)
    """Quantile bins per numeric feature for drift."""
    drift_psi: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.1, crit=0.25))
    """Population stability index thresholds per feature."""
    prediction_drift_psi: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.1, crit=0.25))
    """PSI thresholds for the distribution of predictions."""
    p95_latency_ms: Thresholds = Field(default_factory=lambda: Thresholds(warn=50.0, crit=200.0))
    """95th percentile latency thresholds in milliseconds."""
    error_rate: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.01, crit=0.05))
    """Share of requests answered with a 5xx."""
    cpu_cores: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.8, crit=0.95))
    """CPU used by one instance, in cores (1.0 is one core fully busy)."""
    memory_bytes: Thresholds = Field(default_factory=lambda: Thresholds(warn=1_073_741_824, crit=2_147_483_648))
    """Resident memory of one instance, in bytes."""
    performance: PerformanceMonitoring | None = None
    """Live performance from ground-truth labels, when they flow back."""
    shadow: ShadowSpec = Field(default_factory=ShadowSpec)
    """How a shadow's or canary's answers are compared with the stable version's; when agreement is WARN or CRIT."""


class RetrainingSpec(Spec):
    on_drift: bool = True
    """Retrain when any feature's drift is CRIT."""
    on_performance: bool = True
    """Retrain when live performance is CRIT."""
    schedule: str | None = None
    """Cron expression for scheduled retraining in CI, e.g. "0 3 * * 1"."""
    promote_to: Name = "staging"
    """Environment the retrained version is proposed for (as a pull request)."""


class PromotionSpec(Spec):
    requires: dict[str, list[str]] = Field(default_factory=lambda: {"production": ["staging"]})
    """Per environment, the environments a version must have been in first."""
    max_canary_weight: int = Field(default=50, ge=1, le=99)
    """Largest share of traffic (percent) a canary may take."""


class ModelSpec(Spec):
    """A model: models/<name>/model.yaml."""

    apiVersion: Literal["mlopsctl/v1"] = "mlopsctl/v1"
    """Spec format version."""
    kind: Literal["Model"] = "Model"
    """Always Model for model specs."""
    name: Name
    """Model name; must equal the folder name under models/."""
    description: str = ""
    """One line on what the model does."""
    business: BusinessSpec = Field(default_factory=BusinessSpec)
    """The business objective and metric."""
    data: DataSpec
    """Training data and its schema."""
    quality: QualitySpec = Field(default_factory=QualitySpec)
    """Data quality expectations on accuracy, completeness, consistency and timeliness."""
    features: list[FeatureSpec] = Field(min_length=1)
    """Feature definitions, compiled into the same scikit-learn pipeline for training and serving."""
    feature_selection: FeatureSelectionSpec | None = None
    """Optional feature selection after the transforms."""
    training: TrainingSpec
    """Estimator, hyperparameters, grid and split."""
    evaluation: EvaluationSpec
    """Metrics and the gates a version must pass."""
    serving: ServingSpec = Field(default_factory=ServingSpec)
    """Prediction service limits."""
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    """Thresholds for live health."""
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    """When to retrain."""
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    """Promotion policy."""
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    """Canary steps and the checks that judge each. Opt-in: ``mlopsctl rollout`` drives only the
    canaries of models whose spec writes this block (``rollout: {}`` takes the defaults)."""

    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]


# --------------------------------------------------------------------------- environments


class Deployment(Spec):
    version: int = Field(ge=1, le=MAX_VERSION)
    """Stable version: the one that answers requests."""
    strategy: Strategy = "replace"
    """replace: the version alone; canary: candidate takes weight percent; shadow: candidate sees every request."""
    candidate: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    """Candidate version for canary and shadow."""
    weight: int | None = Field(default=None, ge=1, le=99)
    """Percent of requests the canary candidate answers."""
    target: Target | None = None
    """Where it runs. Empty: the environment's target."""
    replicas: int = Field(default=1, ge=1, le=100)
    """Copies of the service (kubernetes; local and docker run one)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Host port for local and docker targets. Empty: assigned from the environment's base_port."""

    @model_validator(mode="after")
    def _strategy_fields(self) -> Deployment:
        if self.strategy == "replace" and (self.candidate is not None or self.weight is not None):
            raise ValueError("strategy replace takes no candidate or weight")
        if self.strategy in ("canary", "shadow") and self.candidate is None:
            raise ValueError(f"strategy {self.strategy} needs a candidate version")
        if self.strategy == "canary" and self.weight is None:
            raise ValueError("strategy canary needs a weight (percent of traffic, 1 to 99)")
        if self.strategy == "shadow" and self.weight is not None:
            raise ValueError("strategy shadow takes no weight: the candidate sees every request")
        if self.candidate is not None and self.candidate == self.version:
            raise ValueError("candidate must differ from version")
        return self


class Environment(Spec):
    """Desired state of one environment: environments/<name>.yaml."""

    apiVersion: Literal["mlopsctl/v1"] = "mlopsctl/v1"
    """Spec format version."""
    kind: Literal["Environment"] = "Environment"
    """Always Environment for environment files."""
    name: Name
    """Environment name; must equal the file name."""
    target: Target | None = None
    """Where deployments run. Empty: the project's default_target."""
    base_port: int = Field(default=8100, ge=1024, le=65000)
    """First host port handed to deployments without one (local and docker targets)."""
    namespace: str | None = None
    """Kubernetes namespace for rendered manifests. Empty: mlops-<name>."""
    kubernetes: KubernetesEnvironment = Field(default_factory=KubernetesEnvironment)
    """How deployments are rendered for a cluster (kubernetes target)."""
    deployments: dict[Name, Deployment] = Field(default_factory=dict)
    """Model name (lower-case letters, digits and dashes: it names folders and files) to what runs for it."""
