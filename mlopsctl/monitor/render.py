"""Prometheus and Grafana files for an environment: scrape config, rules, dashboard.

Drift is a first-class Prometheus series: recording rules compute each feature's PSI in PromQL
from the services' bin counters and reference-share gauges, with the same epsilon clamp as the
Python code (``clamp_min(share, EPS)``), so alerts, Grafana and ``mlopsctl status`` agree::

    mlops:feature_observations:increase  sum by (env, model, version, role, feature) (increase(bins[w]))
    mlops:feature_bin_share:ratio        each bin's increase / the feature's increase (NaN without traffic)
    mlops:feature_psi                    sum over bins of (a - e) * ln(a / e), both clamped at EPS

The same three series exist for the predictions (``mlops:prediction_*``). Every recorded series
carries a ``window`` label with the model's ``monitoring.window``.

Alerts per model, each at the spec's warn and crit: error rate, p95 latency, feature and
prediction drift, and per instance CPU (``monitoring.cpu_cores``) and resident memory
(``monitoring.memory_bytes``), the process series every service exports; with
``monitoring.performance``, the live metric under ``warn_below`` / ``crit_below`` once
``mlops_live_labels`` reaches ``min_observations`` (``MlopsLivePerformance``); per shadow or
canary deployed in the environment, the share of rows agreeing with the stable version under ``monitoring.shadow``'s
``warn_below`` / ``crit_below`` over the window, once ``min_observations`` rows were compared
(``MlopsCandidateAgreement``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.contract import metrics as mc
from mlopsctl.errors import CheckFailed
from mlopsctl.fsio import atomic_write_text
from mlopsctl.monitor.health import NON_PREDICTION_ROUTES
from mlopsctl.monitor.sources import JOB_PREFIX
from mlopsctl.monitor.stats import EPS
from mlopsctl.monitor.targets import Endpoint, deployment_endpoints
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec, MonitoringSpec

CONFIG_FILE = "prometheus.yml"
RULES_FILE = "rules.yml"
DASHBOARD_FILE = "dashboard.json"
ALERT_WINDOW = "5m"
"""Window of the error-rate and latency alerts (short: they should fire within minutes)."""

SERIES = (mc.ENV, mc.MODEL, mc.VERSION, mc.ROLE)
_BY = ", ".join(SERIES)


@dataclass(frozen=True)
class Rendered:
    env: str
    files: dict[str, str]
    """File name to content."""


def render_environment(repo: Repo, env: str, scrape_interval: str = "15s") -> Rendered:
    endpoints = deployment_endpoints(repo, env)
    models = {e.model: repo.models.get(e.model) for e in endpoints}
    config = scrape_config(env, endpoints, scrape_interval)
    candidates = {e.model for e in endpoints if e.role != "stable"}
    rules = rules_document(env, {name: _monitoring(spec) for name, spec in models.items()}, candidates)
    return Rendered(
        env,
        {
            CONFIG_FILE: _yaml(config, f"Prometheus scrape configuration for environment {env}"),
            RULES_FILE: _yaml(rules, f"Recording and alerting rules for environment {env}"),
            DASHBOARD_FILE: json.dumps(dashboard(env), indent=2) + "\n",
        },
    )


def _monitoring(spec: ModelSpec | None) -> MonitoringSpec:
    return spec.monitoring if spec is not None else MonitoringSpec()


def write_rendered(rendered: Rendered, folder: Path) -> list[Path]:
    written = []
    for name, text in rendered.files.items():
        path = folder / name
        atomic_write_text(path, text)
        written.append(path)
    return written


# --------------------------------------------------------------------------- scrape config


def scrape_config(env: str, endpoints: list[Endpoint], scrape_interval: str = "15s") -> dict[str, Any]:
    """One job per environment; every service a target with ``env`` and ``service`` labels."""
    seen: dict[str, str] = {}
    for endpoint in endpoints:
        seen.setdefault(endpoint.instance, endpoint.model)
    static = [{"targets": [instance], "labels": {mc.ENV: env, "service": model}} for instance, model in seen.items()]
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": f"{JOB_PREFIX}{env}", "metrics_path": "/metrics", "static_configs": static},
        ],
    }


# --------------------------------------------------------------------------- rules


def rules_document(env: str, models: dict[str, MonitoringSpec], candidates: Collection[str] = ()) -> dict[str, Any]:
    """Recording rules per model and the environment's alerts; ``candidates``: the models deployed with
    a shadow or canary, which get the agreement alert too."""
    groups = [drift_group(env, model, monitoring) for model, monitoring in sorted(models.items())]
    groups.append(alert_group(env, models, candidates))
    return {"groups": groups}


def drift_group(env: str, model: str, monitoring: MonitoringSpec) -> dict[str, Any]:
    """Recording rules for one model's drift in one environment, over the model's window."""
    labels = {"window": monitoring.window}
    selector = f'{{{mc.ENV}="{env}",{mc.MODEL}="{model}"}}'
    rules = [
        *_psi_rules("feature", mc.FEATURE_BIN_TOTAL, mc.FEATURE_REFERENCE_SHARE, (mc.FEATURE,), selector, monitoring),
        *_psi_rules("prediction", mc.PREDICTION_BIN_TOTAL, mc.PREDICTION_REFERENCE_SHARE, (), selector, monitoring),
    ]
    for rule in rules:
        rule["labels"] = dict(labels)
    return {"name": f"mlopsctl-{env}-{model}-drift", "rules": rules}


def _psi_rules(
    prefix: str, counter: str, gauge: str, extra: tuple[str, ...], selector: str, monitoring: MonitoringSpec
) -> list[dict[str, Any]]:
    group_by = ", ".join((*SERIES, *extra))
    bins_by = ", ".join((*SERIES, *extra, mc.BIN))
    window = monitoring.window
    increase = f"increase({counter}{selector}[{window}])"
    share = f"mlops:{prefix}_bin_share:ratio{selector}"
    reference = f"max by ({bins_by}) ({gauge}{selector})"
    actual, expected = f"clamp_min({share}, {EPS!r})", f"clamp_min({reference}, {EPS!r})"
    return [
        {
            "record": f"mlops:{prefix}_observations:increase",
            "expr": f"sum by ({group_by}) ({increase})",
        },
        {
            "record": f"mlops:{prefix}_bin_share:ratio",
            "expr": f"sum by ({bins_by}) ({increase})\n"
            f"  / on ({group_by}) group_left\n"
            f"sum by ({group_by}) ({increase})",
        },
        {
            "record": f"mlops:{prefix}_psi",
            "expr": f"sum by ({group_by}) (\n  ({actual} - ignoring (window) {expected})\n"
            f"  * ln({actual} / ignoring (window) {expected})\n)",
        },
    ]


def alert_group(env: str, models: dict[str, MonitoringSpec], candidates: Collection[str] = ()) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {
            "alert": "MlopsServiceDown",
            "expr": f'up{{job="{JOB_PREFIX}{env}"}} == 0',
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "service {{ $labels.service }} at {{ $labels.instance }} is down"},
        }
    ]
    for model, monitoring in sorted(models.items()):
        rules.extend(_model_alerts(env, model, monitoring, model in candidates))
    return {"name": f"mlopsctl-{env}-alerts", "rules": rules}


def _model_alerts(env: str, model: str, monitoring: MonitoringSpec, candidate: bool = False) -> list[dict[str, Any]]:
    selector = f'{mc.ENV}="{env}",{mc.MODEL}="{model}"'
    label, op, pattern = NON_PREDICTION_ROUTES
    routes = f'{label}{op}"{pattern}"'
    requests = f"{mc.REQUESTS_TOTAL}{{{selector},{routes}}}"
    errors = f'{mc.REQUESTS_TOTAL}{{{selector},{routes},{mc.CODE}=~"5.."}}'
    error_rate = (
        f"sum by ({_BY}) (rate({errors}[{ALERT_WINDOW}]))\n  / sum by ({_BY}) (rate({requests}[{ALERT_WINDOW}]))"
    )
    buckets = f"{mc.REQUEST_DURATION}_bucket{{{selector},{routes}}}"
    p95_ms = f"1000 * histogram_quantile(0.95, sum by ({_BY}, le) (rate({buckets}[{ALERT_WINDOW}])))"
    alerts = []
    for severity, level in (("critical", "crit"), ("warning", "warn")):
        err = getattr(monitoring.error_rate, level)
        lat = getattr(monitoring.p95_latency_ms, level)
        alerts.append(_alert("MlopsHighErrorRate", f"({error_rate}\n) >= {err!r}", severity, "5m", model, env))
        alerts.append(_alert("MlopsLatencySLO", f"{p95_ms} >= {lat!r}", severity, "5m", model, env))
        alerts.append(_drift_alert("feature", getattr(monitoring.drift_psi, level), severity, selector, monitoring))
        psi = getattr(monitoring.prediction_drift_psi, level)
        alerts.append(_drift_alert("prediction", psi, severity, selector, monitoring))
        alerts.extend(_resource_alerts(env, model, monitoring, severity, level))
        if monitoring.performance is not None:
            alerts.append(_performance_alert(env, model, monitoring, severity, level))
        if candidate:
            alerts.append(_agreement_alert(env, model, monitoring, severity, level))
    return alerts


def _agreement_alert(env: str, model: str, monitoring: MonitoringSpec, severity: str, level: str) -> dict[str, Any]:
    """A shadow's or canary's agreement with the stable version under ``monitoring.shadow``'s bound,
    once enough compared rows back it (the same judgement as ``mlopsctl status``)."""
    bound = monitoring.shadow.crit_below if level == "crit" else monitoring.shadow.warn_below
    selector = f'{mc.ENV}="{env}",{mc.MODEL}="{model}"'
    keys = ", ".join((*SERIES, mc.STABLE_VERSION))
    window = monitoring.window
    compared = f"sum by ({keys}) (increase({mc.COMPARED_ROWS_TOTAL}{{{selector}}}[{window}]))"
    agreed = f"sum by ({keys}) (increase({mc.AGREED_ROWS_TOTAL}{{{selector}}}[{window}]))"
    expr = f"{agreed}\n  / {compared}\n  < {bound!r}\nand on ({keys})\n{compared} >= {monitoring.min_observations}"
    who = "{{ $labels.role }} {{ $labels.model }}@{{ $labels.version }}"
    share = "{{ $value | humanizePercentage }}"
    return {
        "alert": "MlopsCandidateAgreement",
        "expr": expr,
        "for": "5m",
        "labels": {"severity": severity},
        "annotations": {
            "summary": f"{who} in {env} agrees with v{{{{ $labels.stable_version }}}} on {share} of rows "
            f"over {window} < {bound:.1%}"
        },
    }


def _performance_alert(env: str, model: str, monitoring: MonitoringSpec, severity: str, level: str) -> dict[str, Any]:
    """The service's live metric under ``warn_below`` / ``crit_below``, once enough labels back it."""
    wanted = monitoring.performance
    assert wanted is not None
    bound = wanted.crit_below if level == "crit" else wanted.warn_below
    selector = f'{mc.ENV}="{env}",{mc.MODEL}="{model}",{mc.METRIC}="{wanted.metric}"'
    keys = ", ".join((*SERIES, mc.METRIC))
    expr = (
        f"max by ({keys}) ({mc.LIVE_PERFORMANCE}{{{selector}}}) < {bound!r}\n"
        f"and on ({keys})\n"
        f"max by ({keys}) ({mc.LIVE_LABELS}{{{selector}}}) >= {monitoring.min_observations}"
    )
    value = '{{ $value | printf "%.3f" }}'
    return {
        "alert": "MlopsLivePerformance",
        "expr": expr,
        "for": "5m",
        "labels": {"severity": severity},
        "annotations": {
            "summary": f"live {wanted.metric} of {model}@{{{{ $labels.version }}}} ({{{{ $labels.role }}}}) in {env}: "
            f"{value} < {bound:g} over {monitoring.window}"
        },
    }


def _resource_alerts(
    env: str, model: str, monitoring: MonitoringSpec, severity: str, level: str
) -> list[dict[str, Any]]:
    """CPU and resident memory of each instance serving ``model`` (the scrape config's ``service`` label)."""
    instance = f'{mc.ENV}="{env}",service="{model}"'
    cores = getattr(monitoring.cpu_cores, level)
    memory = getattr(monitoring.memory_bytes, level)
    cpu = f"max by ({mc.ENV}, instance) (rate({mc.PROCESS_CPU_SECONDS}{{{instance}}}[{ALERT_WINDOW}]))"
    resident = f"max by ({mc.ENV}, instance) ({mc.PROCESS_RESIDENT_MEMORY}{{{instance}}})"
    where = f"{model} at {{{{ $labels.instance }}}} in {env}"
    return [
        _instance_alert(
            "MlopsHighCpu",
            f"{cpu} >= {cores!r}",
            severity,
            f'CPU of {where}: {{{{ $value | printf "%.2f" }}}} cores >= {cores:g}',
        ),
        _instance_alert(
            "MlopsHighMemory",
            f"{resident} >= {memory!r}",
            severity,
            f"resident memory of {where}: {{{{ $value | humanize1024 }}}}B >= {memory:.0f} bytes",
        ),
    ]


def _instance_alert(name: str, expr: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": "5m",
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def _alert(name: str, expr: str, severity: str, for_: str, model: str, env: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": f"{name} for {model}@{{{{ $labels.version }}}} ({{{{ $labels.role }}}}) in {env}"},
    }


def _drift_alert(
    prefix: str, threshold: float, severity: str, selector: str, monitoring: MonitoringSpec
) -> dict[str, Any]:
    keys = ", ".join((*SERIES, *((mc.FEATURE,) if prefix == "feature" else ())))
    expr = (
        f"mlops:{prefix}_psi{{{selector}}} >= {threshold!r}\n"
        f"and on ({keys})\n"
        f"mlops:{prefix}_observations:increase{{{selector}}} >= {monitoring.min_observations}"
    )
    what = "feature {{ $labels.feature }}" if prefix == "feature" else "predictions"
    return {
        "alert": "MlopsFeatureDrift" if prefix == "feature" else "MlopsPredictionDrift",
        "expr": expr,
        "for": "5m",
        "labels": {"severity": severity},
        "annotations": {
            "summary": f"{what} of {{{{ $labels.model }}}}@{{{{ $labels.version }}}} PSI {{{{ $value | printf "
            f'"%.2f" }}}} >= {threshold:g} over {monitoring.window}'
        },
    }


# --------------------------------------------------------------------------- dashboard


def dashboard(env: str) -> dict[str, Any]:
    """A Grafana dashboard over the same series the rules and ``mlopsctl status`` use."""
    sel = f'{mc.ENV}="{env}",{mc.MODEL}=~"$model"'
    panels = [
        _panel("Up", f'up{{job="{JOB_PREFIX}{env}"}}', "none", 0, 0),
        _panel("Requests per second", f"sum by ({_BY}) (rate({mc.REQUESTS_TOTAL}{{{sel}}}[5m]))", "reqps", 12, 0),
        _panel(
            "Error rate",
            f'sum by ({_BY}) (rate({mc.REQUESTS_TOTAL}{{{sel},code=~"5.."}}[5m]))'
            f" / sum by ({_BY}) (rate({mc.REQUESTS_TOTAL}{{{sel}}}[5m]))",
            "percentunit",
            0,
            8,
        ),
        _panel(
            "p95 latency",
            f"histogram_quantile(0.95, sum by ({_BY}, le) (rate({mc.REQUEST_DURATION}_bucket{{{sel}}}[5m])))",
            "s",
            12,
            8,
        ),
        _panel("Feature drift (PSI)", f"mlops:feature_psi{{{sel}}}", "none", 0, 16),
        _panel("Prediction drift (PSI)", f"mlops:prediction_psi{{{sel}}}", "none", 12, 16),
        _panel("CPU (cores)", f'rate({mc.PROCESS_CPU_SECONDS}{{job="{JOB_PREFIX}{env}"}}[5m])', "none", 0, 24),
        _panel("Memory", f'{mc.PROCESS_RESIDENT_MEMORY}{{job="{JOB_PREFIX}{env}"}}', "bytes", 12, 24),
        _panel("Live performance (labels)", f"{mc.LIVE_PERFORMANCE}{{{sel}}}", "none", 0, 32),
        _panel("Labels in the window", f"{mc.LIVE_LABELS}{{{sel}}}", "none", 12, 32),
    ]
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "title": f"mlopsctl: {env}",
        "uid": f"mlopsctl-{env}",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["mlopsctl", env],
        "templating": {
            "list": [
                {
                    "name": "model",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": f'label_values(mlops_model_info{{{mc.ENV}="{env}"}}, model)',
                    "includeAll": True,
                    "multi": True,
                    "refresh": 2,
                },
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
            ]
        },
        "panels": panels,
    }


def _panel(title: str, expr: str, unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
    }


# --------------------------------------------------------------------------- promtool


def promtool_check(folder: Path) -> str:
    """``promtool check config`` and ``check rules`` on rendered files; raises CheckFailed on a problem."""
    exe = shutil.which("promtool")
    if exe is None:
        return "promtool not found: files not checked"
    for args in (["check", "config", CONFIG_FILE], ["check", "rules", RULES_FILE]):
        proc = subprocess.run([exe, *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False)
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise CheckFailed(
                f"promtool {' '.join(args)} failed in {folder}:\n{output}",
                title="Invalid Prometheus files",
                hint="this is a bug in mlopsctl's rendering; please report it with the files",
            )
    return "checked: promtool check config, promtool check rules"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the rules read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _yaml(document: dict[str, Any], title: str) -> str:
    header = f"# {title}.\n# Rendered by `mlopsctl monitoring render`; edit the specs, not this file.\n"
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=200)
