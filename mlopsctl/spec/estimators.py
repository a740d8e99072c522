"""What ``validate`` knows of the estimators, without importing scikit-learn each time.

Importing scikit-learn takes seconds (scipy, pandas), and ``validate`` runs in every model
repository's pre-commit hook. So the facts ``validate`` checks (an estimator's class name, the
parameters its ``__init__`` accepts, whether it is a classifier or a regressor, and the
constraints scikit-learn's own ``_validate_params`` puts on each value) are derived once from the
installed scikit-learn (``sklearn.utils.discovery.all_estimators``) and cached as JSON in the
user's cache folder: ``$XDG_CACHE_HOME/mlopsctl/sklearn-params-<version>.json``, written
atomically. The version comes from the package metadata (no import), so an upgrade starts a new
table. A cache file that does not parse, does not match the table's schema or describes another
version is rebuilt, never trusted.

The table only ever *vouches for* a value: a value that satisfies a constraint it understands.
Everything else (an estimator it does not list, a constraint it cannot evaluate, a value that
breaks a constraint) goes to scikit-learn itself, so every message is the one scikit-learn and
``validate`` gave before. When scikit-learn is already imported (``train``, the test suite),
asking it directly costs nothing and the table is not consulted.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import json
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from mlopsctl.fsio import atomic_write_text

ESTIMATOR_PACKAGES = ("sklearn", "xgboost", "lightgbm")
"""Top-level packages an estimator may come from, matched exactly."""

TABLE_FORMAT = 1
"""Bumped when the table's shape or meaning changes, so older cache files are rebuilt."""

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr

PYTHON_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "dict": dict,
    "list": list,
    "Integral": numbers.Integral,
    "Real": numbers.Real,
    "Number": numbers.Number,
}
"""Types a constraint may name in the table: the ones a value read from YAML can be an instance of."""


class Constraint(BaseModel):
    """One of scikit-learn's parameter constraints, as far as the table can evaluate it.

    ``opaque`` stands for any constraint the table cannot evaluate (a callable, an object with
    methods, a numpy type): it never vouches for a value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["none", "type", "interval", "options", "array_like", "opaque"]
    type: str | None = None
    """For type, interval and options: a key of PYTHON_TYPES, or RealNotInt (a real that is not an int)."""
    left: StrictInt | StrictFloat | None = None
    right: StrictInt | StrictFloat | None = None
    closed: Literal["left", "right", "both", "neither"] | None = None
    options: list[Scalar] | None = None

    def vouches_for(self, value: Any) -> bool:
        """True only when scikit-learn's own constraint is certainly satisfied by ``value``."""
        if self.kind == "none":
            return value is None
        if self.kind == "array_like":
            return isinstance(value, list)
        if self.kind == "type":
            return _is_instance(value, self.type)
        if self.kind == "options":
            return _is_instance(value, self.type) and value in (self.options or [])
        if self.kind == "interval":
            return _is_instance(value, self.type) and self._contains(value)
        return False

    def _contains(self, value: Any) -> bool:
        if not isinstance(value, numbers.Integral) and math.isnan(value):
            return False
        left = -math.inf if self.left is None else self.left
        right = math.inf if self.right is None else self.right
        above = value >= left if self.closed in ("left", "both") else value > left
        below = value <= right if self.closed in ("right", "both") else value < right
        return bool(above and below)


def _is_instance(value: Any, name: str | None) -> bool:
    if name == "RealNotInt":
        return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    wanted = PYTHON_TYPES.get(name or "")
    return wanted is not None and isinstance(value, wanted)


class EstimatorFacts(BaseModel):
    """What ``validate`` checks of one estimator class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """The class name, as messages show it."""
    params: list[str]
    """Parameters ``__init__`` accepts."""
    kind: str | None
    """classifier, regressor, ... or None when scikit-learn does not say."""
    required: bool
    """Only building it says whether the spec's params pass (a parameter without a default, say)."""
    constraints: dict[str, list[Constraint] | Literal["no_validation"]] | None
    """scikit-learn's ``_parameter_constraints``, or None when the class does not validate its parameters."""

    def vouches_for(self, params: dict[str, Any]) -> bool:
        """True when every value in ``params`` certainly passes scikit-learn's parameter validation."""
        if self.required:
            return False
        if self.constraints is None:
            return True
        return all(self._accepts(name, value) for name, value in params.items() if name in self.params)

    def _accepts(self, name: str, value: Any) -> bool:
        allowed = (self.constraints or {}).get(name, "no_validation")
        return allowed == "no_validation" or any(c.vouches_for(value) for c in allowed)


Table = dict[str, dict[str, Any]]
"""Dotted path -> the facts of the estimator there, as JSON; each validated when first asked for."""


# --------------------------------------------------------------------------- asking the table


def known_estimator(path: str) -> EstimatorFacts | None:
    """The table's facts about the estimator at ``path``, or None: ask scikit-learn itself."""
    if "sklearn" in sys.modules or path.split(".")[0] != "sklearn":
        return None
    version = installed_sklearn_version()
    if version is None:
        return None
    file = cache_file(version)
    return None if file is None else facts_at(file, version, path)


@cache
def installed_sklearn_version() -> str | None:
    """From the package metadata: no import."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return None


def cache_file(version: str) -> Path | None:
    """``$XDG_CACHE_HOME/mlopsctl/sklearn-params-<version>.json`` (``~/.cache`` without XDG_CACHE_HOME).

    None when there is no home folder to put it in: then scikit-learn is asked directly.
    """
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:
        return None
    return Path(base) / "mlopsctl" / f"sklearn-params-{version}.json"


@cache
def facts_at(file: Path, version: str, path: str) -> EstimatorFacts | None:
    """The facts about ``path`` in the table cached in ``file``, rebuilding the table when it cannot be trusted."""
    table = read_table(file, version)
    if table is not None:
        try:
            return _facts(table, path)
        except ValidationError:
            pass  # a damaged entry: the whole file is rebuilt below
    return _facts(build_and_cache(file, version), path)


def _facts(table: Table, path: str) -> EstimatorFacts | None:
    raw = table.get(path)
    return None if raw is None else EstimatorFacts.model_validate(raw)


@cache
def read_table(file: Path, version: str) -> Table | None:
    """The table in ``file`` when it parses and was derived from scikit-learn ``version``; None otherwise."""
    try:
        doc = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != TABLE_FORMAT or doc.get("sklearn_version") != version:
        return None
    table = doc.get("estimators")
    if not isinstance(table, dict) or not all(isinstance(facts, dict) for facts in table.values()):
        return None
    return table


@cache
def build_and_cache(file: Path, version: str) -> Table:
    """Derive the table from the installed scikit-learn and write it to ``file`` atomically (once per process)."""
    table = {path: facts.model_dump(exclude_defaults=True) for path, facts in build_table().items()}
    doc = {"format": TABLE_FORMAT, "sklearn_version": version, "estimators": table}
    with contextlib.suppress(OSError):  # a read-only cache folder: the table still serves this run
        atomic_write_text(file, json.dumps(doc, separators=(",", ":")))
    return table


# --------------------------------------------------------------------------- building the table


def build_table() -> dict[str, EstimatorFacts]:
    """Every estimator of the installed scikit-learn by its public path (imports all of it: seconds)."""
    from sklearn.utils.discovery import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = all_estimators()
        return {path: facts for _, cls in found for path, facts in _facts_by_path(cls)}


def _facts_by_path(cls: type) -> list[tuple[str, EstimatorFacts]]:
    """The facts of ``cls`` under its public path (else its defining module's), if it resolves to ``cls``.

    A spec naming a private module path is checked by scikit-learn itself.
    """
    for module in (_public_module(cls.__module__), cls.__module__):
        path = f"{module}.{cls.__name__}"
        if load_estimator_class(path) is cls:
            try:
                return [(path, describe_estimator(cls))]
            except (TypeError, ValueError):
                return []  # no signature to inspect: left out, so scikit-learn itself is asked
    return []


def _public_module(module: str) -> str:
    """``sklearn.ensemble._forest`` -> ``sklearn.ensemble``: the module path up to its first private part."""
    parts = module.split(".")
    private = next((i for i, part in enumerate(parts) if part.startswith("_")), len(parts))
    return ".".join(parts[:private])


def describe_estimator(cls: type) -> EstimatorFacts:
    signature = inspect.signature(cls).parameters
    accepted = [name for name in signature if name not in ("args", "kwargs")]
    required = any(p.default is inspect.Parameter.empty for n, p in signature.items() if n in accepted)
    validates = callable(getattr(cls, "_validate_params", None))
    raw = getattr(cls, "_parameter_constraints", None) if validates else None
    return EstimatorFacts(
        name=cls.__name__,
        params=accepted,
        kind=estimator_kind(cls),
        required=required or (validates and not isinstance(raw, dict)),  # only building it says what happens
        constraints=None if not isinstance(raw, dict) else {name: _describe_all(value) for name, value in raw.items()},
    )


def _describe_all(constraints: Any) -> list[Constraint] | Literal["no_validation"]:
    if isinstance(constraints, str) and constraints == "no_validation":
        return "no_validation"
    return [described for constraint in constraints for described in describe_constraint(constraint)]


OPAQUE = Constraint(kind="opaque")


def describe_constraint(constraint: Any) -> list[Constraint]:
    """One scikit-learn constraint as the table's constraints (several for a union such as "random_state")."""
    from sklearn.utils import _param_validation as pv

    try:
        made = constraint if isinstance(constraint, pv._Constraint) else pv.make_constraint(constraint)
    except (TypeError, ValueError):
        return [OPAQUE]  # a constraint this scikit-learn version does not know: never vouched for
    members = getattr(made, "_constraints", None)
    if isinstance(members, list):
        return [described for member in members for described in describe_constraint(member)]
    if isinstance(made, pv._NoneConstraint):
        return [Constraint(kind="none")]
    if isinstance(made, pv._ArrayLikes):
        return [Constraint(kind="array_like")]
    if isinstance(made, pv._InstancesOf):
        return [_typed(made.type, pv.RealNotInt)]
    if isinstance(made, pv.Interval):
        return [_interval(made, pv.RealNotInt)]
    if isinstance(made, pv.Options):
        return [_options(made, pv.RealNotInt)]
    return [OPAQUE]


def _type_name(kind: type, real_not_int: type) -> str | None:
    if kind is real_not_int:
        return "RealNotInt"
    return next((name for name, known in PYTHON_TYPES.items() if known is kind), None)


def _typed(of: type, real_not_int: type) -> Constraint:
    name = _type_name(of, real_not_int)
    return Constraint(kind="type", type=name) if name else OPAQUE


def _interval(made: Any, real_not_int: type) -> Constraint:
    name = _type_name(made.type, real_not_int)
    bounds = (made.left, made.right)
    if name is None or not all(b is None or (type(b) in (int, float) and math.isfinite(b)) for b in bounds):
        return OPAQUE
    return Constraint(kind="interval", type=name, left=made.left, right=made.right, closed=made.closed)


def _options(made: Any, real_not_int: type) -> Constraint:
    name = _type_name(made.type, real_not_int)
    values = sorted(made.options, key=repr)
    if name not in ("str", "int", "float", "Integral", "Real") or not all(_finite_scalar(v) for v in values):
        return OPAQUE
    return Constraint(kind="options", type=name, options=values)


def _finite_scalar(value: Any) -> bool:
    return type(value) is str or (type(value) in (int, float) and math.isfinite(value))


# --------------------------------------------------------------------------- scikit-learn itself


def load_estimator_class(path: str) -> type | str:
    """Import ``package.module.Class``; on failure return the reason as a message.

    The package must be one of :data:`ESTIMATOR_PACKAGES` exactly (``sklearnpwn`` is not
    ``sklearn``), checked before anything is imported, and so must the package the class is
    defined in: importing a module runs its code, and a spec is contributed input.
    """
    module_name, _, class_name = path.rpartition(".")
    if module_name.split(".")[0] not in ESTIMATOR_PACKAGES:
        return f"estimator '{path}' is outside scikit-learn; allowed packages: {', '.join(ESTIMATOR_PACKAGES)}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"cannot import module '{module_name}': {exc}"
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        return f"'{class_name}' is not a class in {module_name}{did_you_mean(class_name, dir(module))}"
    if found.__module__.split(".")[0] not in ESTIMATOR_PACKAGES:
        return f"estimator '{path}' is defined in {found.__module__}, outside {', '.join(ESTIMATOR_PACKAGES)}"
    if not hasattr(found, "fit") or not hasattr(found, "get_params"):
        return f"{path} is not a scikit-learn estimator (it has no fit/get_params)"
    return found


def accepted_params(estimator: type) -> set[str]:
    return set(inspect.signature(estimator).parameters) - {"args", "kwargs"}


def estimator_kind(estimator: type) -> str | None:
    """classifier, regressor, ... as scikit-learn says (its class attribute, else its tags), or None."""
    kind = getattr(estimator, "_estimator_type", None)
    if kind:
        return str(kind)
    try:
        tags = estimator().__sklearn_tags__()
    except Exception:
        return None
    found = getattr(tags, "estimator_type", None)
    return str(found) if found else None


def did_you_mean(word: str, choices: Iterable[Any]) -> str:
    """``; did you mean 'x'?`` for the closest of ``choices``, or nothing when none is close."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


__all__ = ["ESTIMATOR_PACKAGES", "EstimatorFacts", "known_estimator", "load_estimator_class"]
