"""Semantic checks that the schema alone cannot express.

The schema says a field is a string; these checks say the string names a class that imports, a
column that exists, a version that was registered. Every problem is collected (never only the
first) and located at the file, line and column of the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from mlopsctl.spec.estimators import (
    accepted_params,
    did_you_mean as _did_you_mean,
    estimator_kind,
    known_estimator,
    load_estimator_class as load_estimator_class,  # train and features use it
)
from mlopsctl.spec.loader import Repo, scan_repo
from mlopsctl.spec.locations import OPT_IN, escapes_repository, outside_allowed, resolved_outside, shown
from mlopsctl.spec.models import (
    CLASSIFICATION_METRICS,
    GATE_PATTERN,
    REGRESSION_METRICS,
    SERVING_METRICS,
    Environment,
    ModelSpec,
)
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import LocatedDoc, PathKey

Report = Callable[[PathKey, str], None]


def validate_specs(root: Path) -> tuple[Repo, list[Problem]]:
    """Schema plus semantic checks of every spec; returns every problem found, in file order.

    What needs the registry (deployed versions, refused artifacts) is checked by
    :mod:`mlopsctl.registry.validate`; :func:`mlopsctl.project.api.validate` runs both.
    """
    repo = scan_repo(root)
    problems = list(repo.problems)
    for folder, spec in {**repo.partial_models, **repo.models}.items():
        doc = repo.doc_for(repo.model_file(folder))
        if doc is not None:
            problems.extend(collect_problems(doc, partial(_check_model_and_data_link, repo, folder, spec)))
    for stem, env in repo.environments.items():
        doc = repo.doc_for(repo.environment_file(stem))
        if doc is not None:
            problems.extend(collect_problems(doc, partial(check_environment, repo, stem, env)))
    problems.extend(_missing_folders(repo))
    return repo, in_file_order(problems)


def in_file_order(problems: list[Problem]) -> list[Problem]:
    """``problems`` by file, line and column (stable: problems at one place keep their order)."""
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def collect_problems(doc: LocatedDoc, run: Callable[[Report], None]) -> list[Problem]:
    """What ``run`` reports, each located in ``doc`` at the field it names."""
    found: list[Problem] = []
    run(lambda path, message: found.append(doc.problem(path, message)))
    return found


def _missing_folders(repo: Repo) -> list[Problem]:
    if repo.models or (repo.root / "models").is_dir():
        return []
    return [Problem(str(repo.root / "models"), 1, 1, "(folder)", "no models/ folder: add models/<name>/model.yaml")]


# --------------------------------------------------------------------------- models


def check_model(repo: Repo, folder: str, spec: ModelSpec, report: Report) -> None:
    """Semantic checks of one model; ``spec`` may be partial (blocks that failed the schema unset)."""
    has = {name for name in ("name", "data", "features", "quality", "training", "evaluation") if hasattr(spec, name)}
    if "name" in has and spec.name != folder:
        report(("name",), f"name '{spec.name}' must equal its folder name '{folder}'")
    if "data" in has:
        _check_data_source(repo, spec, report)
    if {"data", "features"} <= has:
        _check_features(spec, report)
    if {"data", "quality"} <= has:
        _check_quality_columns(spec, report)
    if {"data", "training"} <= has:
        _check_split(spec, report)
    if "training" in has:
        _check_estimator(spec, report)
    if {"training", "evaluation"} <= has:
        _check_metrics(spec, report)


def _check_data_source(repo: Repo, spec: ModelSpec, report: Report) -> None:
    path = repo.resolve(spec.data.source)
    if not path.is_file():
        report(("data", "source"), f"data file not found: {path}")
    suffix = (spec.data.format or path.suffix.lstrip(".")).lower()
    if suffix not in ("csv", "parquet", "pq"):
        report(("data", "source"), f"cannot tell the format of '{spec.data.source}': set data.format to csv or parquet")


def _check_model_and_data_link(repo: Repo, folder: str, spec: ModelSpec, report: Report) -> None:
    """:func:`check_model`, and for ``validate`` also a ``data.source`` that is a symbolic link out of the repository.

    ``train`` and ``data check`` refuse such a link themselves when they read the data, with their own
    message (``data.load.require_inside``); ``validate`` reads no data, so it reports the link here.
    """
    check_model(repo, folder, spec, report)
    if hasattr(spec, "data"):
        _check_data_link(repo, spec, report)


def _check_data_link(repo: Repo, spec: ModelSpec, report: Report) -> None:
    source = spec.data.source
    if escapes_repository(source):
        return  # written outside the repository: a schema problem already (or the user's opt-in)
    if resolved_outside(repo.root, repo.resolve(source)) and not outside_allowed():
        report(
            ("data", "source"),
            f"{shown(source)} leads outside the repository through a symbolic link; data is read only from inside it: "
            f"{OPT_IN}",
        )


def _check_features(spec: ModelSpec, report: Report) -> None:
    seen: set[str] = set()
    columns = spec.data.columns
    for i, feature in enumerate(spec.features):
        where = ("features", i, "name")
        if feature.name in seen:
            report(where, f"duplicate feature '{feature.name}'")
        seen.add(feature.name)
        if feature.name == spec.data.target:
            report(where, f"'{feature.name}' is the target column and cannot be a feature")
        elif feature.name not in columns:
            report(where, f"feature '{feature.name}' is not in data.columns{_did_you_mean(feature.name, columns)}")
        elif feature.kind == "numeric" and columns[feature.name] not in ("integer", "float", "boolean"):
            report(("features", i, "kind"), f"numeric feature '{feature.name}' is declared {columns[feature.name]}")


def _check_quality_columns(spec: ModelSpec, report: Report) -> None:
    columns = spec.data.columns
    quality = spec.quality
    named: list[tuple[PathKey, str]] = [(("quality", "accuracy", "ranges", c), c) for c in quality.accuracy.ranges]
    named += [(("quality", "accuracy", "allowed", c), c) for c in quality.accuracy.allowed]
    named += [(("quality", "accuracy", "patterns", c), c) for c in quality.accuracy.patterns]
    named += [(("quality", "completeness", "max_missing", c), c) for c in quality.completeness.max_missing]
    named += [
        (("quality", "completeness", "required", i), c) for i, c in enumerate(quality.completeness.required or [])
    ]
    named += [(("quality", "consistency", "unique", i), c) for i, c in enumerate(quality.consistency.unique)]
    for path, column in named:
        if column not in columns:
            report(path, f"column '{column}' is not in data.columns{_did_you_mean(column, columns)}")
    for column in quality.accuracy.ranges:
        if columns.get(column) not in (None, "integer", "float"):
            report(
                ("quality", "accuracy", "ranges", column),
                f"a range needs a numeric column; '{column}' is {columns[column]}",
            )
    timeliness = quality.timeliness
    if timeliness is not None:
        time_column = timeliness.column or spec.data.time_column
        if time_column is None:
            report(
                ("quality", "timeliness"),
                "timeliness needs a column: set quality.timeliness.column or data.time_column",
            )
        elif columns.get(time_column) != "datetime":
            report(("quality", "timeliness", "column"), f"timeliness column '{time_column}' must be declared datetime")


def _check_split(spec: ModelSpec, report: Report) -> None:
    if spec.training.split.method == "time" and spec.data.time_column is None:
        report(("training", "split", "method"), "a time split needs data.time_column")
    if spec.training.split.method == "stratified" and spec.training.task == "regression":
        report(("training", "split", "method"), "stratified splits need a classification task; use random or time")


def _check_estimator(spec: ModelSpec, report: Report) -> None:
    """The estimator, its parameter names, its kind and its parameter values.

    The cached table (:mod:`mlopsctl.spec.estimators`) answers when it knows the estimator and
    vouches for every value; otherwise scikit-learn is imported and asked, as it always was.
    """
    known = known_estimator(spec.training.estimator)
    if known is None:
        _check_imported_estimator(spec, report)
        return
    accepted = set(known.params)
    _check_param_names(spec, known.name, accepted, report)
    _check_kind(spec, known.name, known.kind, report)
    if spec.training.params and not known.vouches_for(spec.training.params):
        estimator = load_estimator_class(spec.training.estimator)
        if isinstance(estimator, type):
            _check_param_values(spec, estimator, accepted, report)


def _check_imported_estimator(spec: ModelSpec, report: Report) -> None:
    estimator = load_estimator_class(spec.training.estimator)
    if isinstance(estimator, str):
        report(("training", "estimator"), estimator)
        return
    accepted = accepted_params(estimator)
    _check_param_names(spec, estimator.__name__, accepted, report)
    _check_kind(spec, estimator.__name__, estimator_kind(estimator), report)
    _check_param_values(spec, estimator, accepted, report)


def _check_param_names(spec: ModelSpec, estimator: str, accepted: set[str], report: Report) -> None:
    for name in spec.training.params:
        if name not in accepted:
            report(("training", "params", name), _unknown_param(name, estimator, accepted))
    for name in spec.training.grid or {}:
        if name not in accepted:
            report(("training", "grid", name), _unknown_param(name, estimator, accepted))


def _check_kind(spec: ModelSpec, estimator: str, kind: str | None, report: Report) -> None:
    wanted = "classifier" if spec.training.task == "classification" else "regressor"
    if kind not in (None, wanted):
        report(("training", "estimator"), f"{estimator} is a {kind} but training.task is {spec.training.task}")


def _check_param_values(spec: ModelSpec, estimator: type, accepted: set[str], report: Report) -> None:
    """scikit-learn's own constraints on the values (``_validate_params``), on an instance built from them."""
    if not spec.training.params:
        return
    try:
        instance = estimator(**{k: v for k, v in spec.training.params.items() if k in accepted})
        check = getattr(instance, "_validate_params", None)
        if callable(check):
            check()
    except (TypeError, ValueError) as exc:
        report(("training", "params", *_param_named(str(exc), spec.training.params)), _one_line(str(exc)))


def _param_named(message: str, params: dict[str, Any]) -> tuple[str, ...]:
    named = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)' parameter", message)
    return (named[1],) if named and named[1] in params else ()


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _unknown_param(name: str, estimator: str, accepted: Iterable[str]) -> str:
    return f"{estimator} has no parameter '{name}'{_did_you_mean(name, accepted)}"


def _check_metrics(spec: ModelSpec, report: Report) -> None:
    allowed = CLASSIFICATION_METRICS if spec.training.task == "classification" else REGRESSION_METRICS
    for i, metric in enumerate(spec.evaluation.metrics):
        if metric not in allowed:
            report(
                ("evaluation", "metrics", i),
                f"unknown {spec.training.task} metric '{metric}'{_did_you_mean(metric, allowed)}",
            )
    measurable = set(spec.evaluation.metrics) | set(SERVING_METRICS)
    for i, gate in enumerate(spec.evaluation.gates):
        match = re.fullmatch(GATE_PATTERN, gate)
        if match and match[1] not in measurable:
            report(
                ("evaluation", "gates", i),
                f"gate on '{match[1]}', which is not measured: add it to evaluation.metrics "
                f"or use one of {', '.join(sorted(measurable))}",
            )


# --------------------------------------------------------------------------- environments


def check_environment(repo: Repo, stem: str, env: Environment, report: Report) -> None:
    if env.name != stem:
        report(("name",), f"name '{env.name}' must equal the file name '{stem}'")
    ports: dict[int, str] = {}
    for model, deployment in env.deployments.items():
        where: PathKey = ("deployments", model)
        if model not in repo.models:
            if not repo.model_file(model).is_file():
                report(where, f"no model '{model}' in models/{_did_you_mean(model, repo.models)}")
            continue
        spec = repo.models[model]
        limit = spec.promotion.max_canary_weight
        if deployment.weight is not None and deployment.weight > limit:
            report(
                (*where, "weight"), f"canary weight {deployment.weight}% is over the model's max_canary_weight {limit}%"
            )
        if deployment.port is not None:
            if deployment.port in ports:
                report((*where, "port"), f"port {deployment.port} is also used by '{ports[deployment.port]}'")
            ports[deployment.port] = model
