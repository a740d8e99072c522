"""Names and labels of the metrics the prediction service exports.

One contract for the three parties that must agree on it: the service (which exports), the
monitoring code (which queries Prometheus or scrapes directly) and the rendered Prometheus rules
and Grafana dashboard. Names follow Prometheus conventions: ``mlops_`` prefix, base units
(seconds, bytes), ``_total`` for counters.

Every series carries ``model``, ``version`` and ``role`` (stable, canary or shadow), so stable
and candidate can be compared and reference shares, which change with each version, never mix.
The environment is not exported by the service; the scrape configuration adds it as the ``env``
target label.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "mlops_"

# Labels on every model series
MODEL: Final = "model"
VERSION: Final = "version"
ROLE: Final = "role"
ENV: Final = "env"  # added by the scrape configuration, not by the service
ROLES: Final = ("stable", "canary", "shadow")

# Traffic
REQUESTS_TOTAL: Final = "mlops_requests_total"
"""Counter: requests by model, version, role, route and HTTP status code (label ``code``)."""
REQUEST_DURATION: Final = "mlops_request_duration_seconds"
"""Histogram: request latency in seconds, by model, version, role and route."""
BATCH_ROWS: Final = "mlops_batch_rows"
"""Histogram: rows per prediction request."""
PREDICTION_ERRORS_TOTAL: Final = "mlops_prediction_errors_total"
"""Counter: requests that failed inside the model (5xx), by model, version and role."""
IGNORED_FIELDS_TOTAL: Final = "mlops_ignored_fields_total"
"""Counter: request fields the spec never declared, ignored under ``serving.unknown_fields: ignore``
(each name once per answered request), by model, version and role; no label per field name."""

# Statistical health
FEATURE_BIN_TOTAL: Final = "mlops_feature_bin_total"
"""Counter: observed values per feature and bin (label ``bin``); every bin exists from start-up."""
FEATURE_REFERENCE_SHARE: Final = "mlops_feature_reference_share"
"""Gauge: the training data's share of each feature bin (same labels as the counter)."""
FEATURE_MISSING_TOTAL: Final = "mlops_feature_missing_total"
"""Counter: missing (null/NaN) values per feature; they land in no bin."""
PREDICTION_BIN_TOTAL: Final = "mlops_prediction_bin_total"
"""Counter: predictions per class (classification) or per bin (regression), label ``bin``."""
PREDICTION_REFERENCE_SHARE: Final = "mlops_prediction_reference_share"
"""Gauge: the training predictions' share of each prediction bin."""
FEEDBACK_TOTAL: Final = "mlops_feedback_total"
"""Counter: ground-truth labels received, by model, version and role."""
LIVE_PERFORMANCE: Final = "mlops_live_performance"
"""Gauge: the spec's live metric (label ``metric``: accuracy, f1, roc_auc, rmse or mae) over the
labels received in the last ``monitoring.window``, joined to the answers of this version and role;
absent until it can be computed."""
LIVE_LABELS: Final = "mlops_live_labels"
"""Gauge: labelled rows behind ``mlops_live_performance`` (the floor ``min_observations`` applies to)."""
PREDICTION_LOG_DROPPED_TOTAL: Final = "mlops_prediction_log_dropped_total"
"""Counter: answers not written to the prediction log because its queue was full (no model labels)."""
PREDICTION_LOG_WRITTEN_TOTAL: Final = "mlops_prediction_log_written_total"
"""Counter: answers written to the prediction log (no model labels)."""
MODEL_INFO: Final = "mlops_model_info"
"""Gauge, always 1: model, version, role, artifact_sha256 and spec_commit labels."""
# Shadow and canary comparison with the stable version on the same rows (issue 16): counted under the
# candidate's model/version/role, with the stable version in STABLE_VERSION.
COMPARED_ROWS_TOTAL: Final = "mlops_compared_rows_total"
"""Rows both the candidate and the stable version answered (shadow: every row; canary: the canary's rows)."""
AGREED_ROWS_TOTAL: Final = "mlops_agreed_rows_total"
"""Of those, rows where the candidate agreed: same class, or within ``monitoring.shadow.tolerance``."""
ANSWER_DIFFERENCE: Final = "mlops_answer_difference"
"""Histogram per row: classification, the largest absolute difference of a class probability;
regression, the absolute difference of the answers."""
STABLE_VERSION: Final = "stable_version"
"""Label on the comparison series: the stable version the candidate was compared with."""
DIFFERENCE_BUCKETS: Final = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Upper bounds of ``mlops_answer_difference`` (probabilities reach 1; regression differences go further)."""

FEATURE: Final = "feature"
METRIC: Final = "metric"
BIN: Final = "bin"
ROUTE: Final = "route"
CODE: Final = "code"

# Standard process metrics (same names as the official client libraries)
PROCESS_CPU_SECONDS: Final = "process_cpu_seconds_total"
PROCESS_RESIDENT_MEMORY: Final = "process_resident_memory_bytes"
PROCESS_START_TIME: Final = "process_start_time_seconds"

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
