"""Loading a model repository: mlops.yaml, models/*/model.yaml and environments/*.yaml.

Loading never stops at the first problem: every file is read, every schema error is collected with
its file, line and column, and the caller decides whether problems are fatal (``open_repo``) or
reported (``scan_repo`` for ``validate``).
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from mlopsctl.errors import CheckFailed, NotFound, UsageError
from mlopsctl.spec.database_uri import DatabaseURI, runner_chose_store, uri_scheme
from mlopsctl.spec.locations import remote_scheme
from mlopsctl.spec.models import (
    DURATION_PATTERN,
    GATE_PATTERN,
    NAME_PATTERN,
    Environment,
    ModelSpec,
    ProjectSettings,
)
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import INVALID_YAML, LocatedDoc, PathKey, dotted, load_yaml, load_yaml_fast, parse_yaml

PROJECT_FILE = "mlops.yaml"
ENV_PREFIX = "MLOPS_"
SpecT = TypeVar("SpecT", bound=BaseModel)

_PATTERN_HINTS = {
    NAME_PATTERN: "must be lower-case letters, digits and dashes, starting with a letter",
    DURATION_PATTERN: "must be a duration such as 90s, 15m, 1h, 30d or 2w",
    GATE_PATTERN: "must be a gate such as 'roc_auc >= 0.85' (metric, one of >= <= > < ==, number)",
}


@dataclass
class Repo:
    """A loaded model repository. Specs that failed validation are absent from the maps."""

    root: Path
    settings: ProjectSettings
    models: dict[str, ModelSpec] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    docs: dict[str, LocatedDoc] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    partial_models: dict[str, ModelSpec] = field(default_factory=dict)
    """Models that failed the schema, built from their blocks that passed (for semantic checks)."""

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.settings.state_dir)

    @property
    def artifact_dir(self) -> Path:
        """The folder of artifacts on this machine: the store itself, or the cache of a remote (oci://, s3://) one."""
        configured = self.settings.artifact_store
        if configured and not remote_scheme(configured):
            return self.resolve(configured)
        return self.state_dir / "artifacts"

    @property
    def metadata_db(self) -> Path | DatabaseURI:
        """The run store: a SQLite file, or a database server's URI (postgresql://) and who named it."""
        configured = self.settings.metadata_store
        if configured and uri_scheme(configured):
            return DatabaseURI(configured, chosen_by_runner=runner_chose_store())
        return self.resolve(configured) if configured else self.local_metadata_db

    @property
    def local_metadata_db(self) -> Path:
        """This machine's own SQLite run store (what ``runs push`` copies to a shared one)."""
        return self.state_dir / "runs.db"

    def resolve(self, location: str) -> Path:
        """A path or file:// URI from a spec, relative to the repo root."""
        if location.startswith("file://"):
            location = location[len("file://") :]
        path = Path(location).expanduser()
        return path if path.is_absolute() else self.root / path

    def model(self, name: str) -> ModelSpec:
        if name in self.models:
            return self.models[name]
        close = difflib.get_close_matches(name, sorted(self.models), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"models here: {', '.join(sorted(self.models)) or 'none'}"
        raise NotFound(f"no model '{name}' in {self.root / 'models'}", hint=hint)

    def environment(self, name: str) -> Environment:
        if name in self.environments:
            return self.environments[name]
        close = difflib.get_close_matches(name, sorted(self.environments), n=1)
        known = ", ".join(sorted(self.environments)) or "none"
        hint = f"did you mean '{close[0]}'?" if close else f"environments here: {known}"
        raise NotFound(f"no environment '{name}' in {self.root / 'environments'}", hint=hint)

    def model_file(self, name: str) -> Path:
        return self.root / "models" / name / "model.yaml"

    def environment_file(self, name: str) -> Path:
        return self.root / "environments" / f"{name}.yaml"

    def doc_for(self, file: Path) -> LocatedDoc | None:
        return self.docs.get(str(file))


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding mlops.yaml, as git finds .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise UsageError(
        f"no {PROJECT_FILE} in {here} or any folder above it",
        title="Not a model repository",
        hint="run inside a model repository, pass --repo PATH, or create one with: mlopsctl init PATH",
    )


def scan_repo(root: Path, *, locate: bool = True) -> Repo:
    """Load every spec under ``root``, collecting problems instead of raising.

    ``locate=False`` parses with libyaml (several times faster) and re-reads only the files that
    have problems with the locating parser, so problems still name line and column. Duplicate keys
    in a file that otherwise validates are caught only with ``locate=True`` (what validate uses).
    """
    root = root.resolve()
    project_doc = load_yaml(root / PROJECT_FILE)
    _apply_env_overrides(project_doc)
    settings = _validate(ProjectSettings, project_doc)
    repo = Repo(root=root, settings=settings or ProjectSettings(name="unnamed"))
    _keep(repo, project_doc)
    for file in sorted((root / "models").glob("*/model.yaml")):
        doc, spec = _load(ModelSpec, file, locate)
        _keep(repo, doc)
        if spec is not None:
            repo.models[file.parent.name] = spec
        elif isinstance(doc.data, dict):
            repo.partial_models[file.parent.name] = _partial(ModelSpec, doc.data)
    for file in sorted((root / "environments").glob("*.yaml")):
        if not re.fullmatch(NAME_PATTERN, file.stem):
            # the file name becomes a path (state, logs) and a label: refuse it before reading
            message = f"environment file name {_PATTERN_HINTS[NAME_PATTERN]} (got {file.stem!r})"
            repo.problems.append(Problem(str(file), 1, 1, "(file name)", message))
            continue
        doc, env = _load(Environment, file, locate)
        _keep(repo, doc)
        if env is not None:
            repo.environments[file.stem] = env
    return repo


def _load(model: type[SpecT], file: Path, locate: bool) -> tuple[LocatedDoc, SpecT | None]:
    doc = load_yaml(file) if locate else load_yaml_fast(file)
    spec = _validate(model, doc)
    if spec is None and not locate and not doc.positions:
        doc = load_yaml(file)  # again with positions, so the problems say where
        spec = _validate(model, doc)
    return doc, spec


def load_settings(root: Path) -> ProjectSettings:
    """Only mlops.yaml (with MLOPS_ overrides): quick, for callers that need settings before specs."""
    doc = load_yaml(root / PROJECT_FILE)
    refused = _apply_env_overrides(doc)
    if refused:
        hint = "correct or unset that environment variable"
        raise UsageError(str(refused[0]), title="Invalid environment variable", hint=hint)
    settings = _validate(ProjectSettings, doc)
    if settings is None:
        raise CheckFailed(
            "\n".join(str(p) for p in doc.problems), title="Invalid mlops.yaml", hint="run 'mlopsctl validate'"
        )
    return settings


def open_repo(root: Path | None = None) -> Repo:
    """Load the repository at (or above) ``root``; raise when any spec has a schema problem."""
    repo = scan_repo(
        root if root is not None and (root / PROJECT_FILE).is_file() else find_repo_root(root), locate=False
    )
    if repo.problems:
        listing = "\n".join(str(problem) for problem in repo.problems[:20])
        more = f"\n... and {len(repo.problems) - 20} more" if len(repo.problems) > 20 else ""
        raise CheckFailed(
            f"the repository's specs have problems:\n{listing}{more}",
            title="Invalid specs",
            hint="run 'mlopsctl validate' for the full report",
        )
    return repo


def _keep(repo: Repo, doc: LocatedDoc) -> None:
    repo.docs[str(doc.file)] = doc
    repo.problems.extend(doc.problems)


def validate_doc(model: type[SpecT], doc: LocatedDoc) -> SpecT | None:
    """``doc`` as a ``model``, or None with every schema problem added to ``doc.problems``."""
    return _validate(model, doc)


def _validate(model: type[SpecT], doc: LocatedDoc) -> SpecT | None:
    if doc.problems and doc.data is None:
        return None
    if not isinstance(doc.data, dict):
        doc.problems.append(
            doc.problem((), f"expected a mapping of keys for a {model.__name__}, got {_kind(doc.data)}")
        )
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        doc.problems.extend(_problem_from_error(model, doc, error) for error in exc.errors())
        return None


def _partial(model: type[SpecT], data: dict[str, Any]) -> SpecT:
    """The blocks of ``data`` that validate on their own, as an unvalidated instance.

    A block that fails is rebuilt from its own valid parts (failed optional parts take their
    defaults); a block that cannot be rebuilt is left unset, so readers of a partial spec check
    ``hasattr`` first. This lets semantic checks run beside schema errors in the same file.
    """
    parts: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in data or info.annotation is None:
            continue
        try:
            parts[name] = TypeAdapter(info.annotation).validate_python(data[name])
        except ValidationError:
            rebuilt = _rebuild(info.annotation, data[name])
            if rebuilt is not None:
                parts[name] = rebuilt
    return model.model_construct(_fields_set=set(parts), **parts)


def _rebuild(annotation: Any, value: Any) -> Any:
    spec = _as_model(annotation)
    if spec is None or not isinstance(value, dict):
        return None
    partial = _partial(spec, value)
    required = [name for name, info in spec.model_fields.items() if info.is_required()]
    return partial if all(hasattr(partial, name) for name in required) else None


def _kind(value: Any) -> str:
    return "an empty file" if value is None else f"a {type(value).__name__}"


def _problem_from_error(model: type[BaseModel], doc: LocatedDoc, error: Any) -> Problem:
    path = _data_path(doc.data, tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        return doc.problem(path, _unknown_key_message(model, path))
    if kind == "missing":
        return doc.problem(path, "required field is missing")
    message = str(error["msg"]).removeprefix("Value error, ")
    pattern = (error.get("ctx") or {}).get("pattern")
    if kind == "string_pattern_mismatch" and pattern in _PATTERN_HINTS:
        message = _PATTERN_HINTS[pattern]
    if kind not in ("value_error", "assertion_error") and "input" in error and not isinstance(error["input"], dict):
        message += f" (got {error['input']!r})"
    return doc.problem(path, message)


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """Keep the parts of a pydantic location that exist in the data (drops union member tags)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if (isinstance(node, dict) and part in node) or in_list:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _looks_like_type_tag(part):
            out.append(part)  # a missing or unknown key: name it even though it is not there
            node = None
    return tuple(out)


def _looks_like_type_tag(part: str) -> bool:
    return part in {"str", "int", "float", "bool", "list", "dict", "none"} or "[" in part


MOVED_TO_USER_CONFIG = {
    ("git", "api_url"),
    ("git", "token_env"),
    ("prometheus", "username"),
    ("prometheus", "password_env"),
    ("prometheus", "bearer_token_env"),
    ("prometheus", "verify_tls"),
    ("prometheus", "ca_file"),
}
"""Settings a committed file may no longer choose: where a credential goes and which variable is sent."""


def _unknown_key_message(model: type[BaseModel], path: PathKey) -> str:
    key = str(path[-1])
    if model is ProjectSettings and tuple(path) in MOVED_TO_USER_CONFIG:
        variable = "MLOPS_" + "_".join(str(part).upper() for part in path)
        return (
            f"'{dotted(path)}' is no longer read from the repository (a committed file must not choose where "
            f"credentials go); set it in ~/.config/mlopsctl/config.yaml or {variable}"
        )
    allowed = _fields_at(model, path[:-1])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    if allowed:
        return f"unknown key '{key}'; allowed here: {', '.join(allowed)}"
    return f"unknown key '{key}'"


def _fields_at(model: type[BaseModel], path: PathKey) -> list[str]:
    annotation: Any = model
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    spec = _as_model(annotation)
    return list(spec.model_fields) if spec is not None else []


def _step(annotation: Any, part: str | int) -> Any:
    spec = _as_model(annotation)
    if spec is not None:
        info = spec.model_fields.get(str(part))
        return info.annotation if info is not None else None
    origin = typing.get_origin(annotation)
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _apply_env_overrides(doc: LocatedDoc) -> list[Problem]:
    """MLOPS_<FIELD> and MLOPS_<SECTION>_<FIELD> override mlops.yaml (e.g. MLOPS_PROMETHEUS_URL).

    Returns the problems of refused values (also added to ``doc.problems``), each naming its variable.
    """
    if not isinstance(doc.data, dict):
        return []
    before = len(doc.problems)
    for name, info in ProjectSettings.model_fields.items():
        section = _as_model(info.annotation)
        if section is None:
            _override(doc, doc.data, (name,), f"{ENV_PREFIX}{name.upper()}")
            continue
        for sub in section.model_fields:
            variable = f"{ENV_PREFIX}{name.upper()}_{sub.upper()}"
            if variable in os.environ:
                block = doc.data.setdefault(name, {})
                if isinstance(block, dict):
                    _override(doc, block, (name, sub), variable)
    return doc.problems[before:]


def _override(doc: LocatedDoc, block: dict[str, Any], path: PathKey, variable: str) -> None:
    """Set ``path`` from ``variable``, read as YAML through the bounded parser.

    Text that is not YAML at all stays a string (a URL with ``: `` in it); a value YAML refuses
    (``!!int abc``, a date that does not exist, an alias bomb) is a problem naming the variable.
    """
    if variable not in os.environ:
        return
    raw, key = os.environ[variable], str(path[-1])
    parsed = parse_yaml(raw, Path(variable)) if raw else None
    if parsed is None:
        block[key] = None
    elif not parsed.problems:
        block[key] = parsed.data
    elif parsed.data is None and all(p.message.startswith(INVALID_YAML) for p in parsed.problems):
        block[key] = raw
    else:  # the file's own value stays: the problem says what was refused
        reason = parsed.problems[0].message
        doc.problems.append(doc.problem(path, f"the environment variable {variable} is not a usable value: {reason}"))
