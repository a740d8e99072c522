"""What rendering an environment needs, read and checked: its deployments, images, specs and rules.

Every file read here comes from the model repository, which is not fully trusted: the environment
file is parsed with positions (a problem names ``environments/<env>.yaml:line:column``), the image
list by the build domain's bounded reader, and each image reference must look like one before it
is written into a manifest. A deployment whose version has no pushed image digest cannot be
rendered: a cluster pulls images by digest, never a tag that can move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.build.images import PUSHED_FILE, read_pushed
from mlopsctl.errors import MlopsError
from mlopsctl.kubernetes.manifests import CANDIDATE, STABLE, EnvInput, ModelInput
from mlopsctl.registry.records import archived_versions, read_record
from mlopsctl.spec.environments import env_path, parse_environment
from mlopsctl.spec.loader import validate_doc
from mlopsctl.spec.models import Environment, ModelSpec, ProjectSettings
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.yamlpos import LocatedDoc, load_yaml, parse_yaml

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"^(?P<name>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::[\w][\w.-]{{0,127}})?$"
)
"""An image reference as ``docker`` spells it: [registry[:port]/]path[:tag] (the tag is dropped)."""
LONGEST_MODEL = 63 - len(f"-{CANDIDATE}")
"""Object names are DNS labels (63 characters at most) and the candidate's adds a suffix."""


@dataclass
class Gathered:
    """An environment's render input, or the problems that stop it (each at file:line:column)."""

    given: EnvInput | None
    problems: list[Problem] = field(default_factory=list)


def target_of(environment: Environment, model: str, settings: ProjectSettings) -> str:
    deployment = environment.deployments[model]
    return deployment.target or environment.target or settings.default_target


def kubernetes_models(environment: Environment, settings: ProjectSettings) -> list[str]:
    """The models of ``environment`` that run on the kubernetes target."""
    return [model for model in environment.deployments if target_of(environment, model, settings) == "kubernetes"]


def namespace_of(environment: Environment, env: str) -> str:
    return environment.namespace or f"mlops-{env}"


def gather(root: Path, settings: ProjectSettings, env: str, text: str) -> Gathered:
    """The render input of ``environments/<env>.yaml`` holding ``text``; models and images from ``root``."""
    environment = parse_environment(env, text)
    doc = parse_yaml(text, Path(env_path(env)))
    problems: list[Problem] = []
    models: list[ModelInput] = []
    monitoring: dict[str, Any] = {}
    names = kubernetes_models(environment, settings)
    problems += _name_clashes(names, doc)
    for model in names:
        item = _model_input(root, environment, model, doc, problems)
        if item is not None:
            models.append(item[0])
            monitoring[model] = item[1].monitoring
    if problems:
        return Gathered(None, problems)
    given = EnvInput(
        env=env,
        project=settings.name,
        namespace=namespace_of(environment, env),
        kubernetes=environment.kubernetes,
        models=models,
        rules=_rules(env, monitoring, _compared_in_process(environment, models)),
    )
    return Gathered(given)


def _name_clashes(models: list[str], doc: LocatedDoc) -> list[Problem]:
    """Objects are named ``<model>``, ``<model>-stable`` and ``<model>-candidate``: two models must not share one."""
    owners = {f"{model}-{role}": model for model in models for role in (STABLE, CANDIDATE)}
    return [
        doc.problem(
            ("deployments", model), f"'{model}' would share Kubernetes object names with '{owners[model]}': rename one"
        )
        for model in models
        if model in owners
    ]


def _model_input(
    root: Path, environment: Environment, model: str, doc: LocatedDoc, problems: list[Problem]
) -> tuple[ModelInput, ModelSpec] | None:
    where = ("deployments", model)
    before = len(problems)
    if len(model) > LONGEST_MODEL:
        message = f"a model on the kubernetes target has a name of at most {LONGEST_MODEL} characters (DNS labels)"
        problems.append(doc.problem(where, message))
    spec = _model_spec(root, model, doc, problems)
    deployment = environment.deployments[model]
    images: dict[int, str] = {}
    for key, version in (("version", deployment.version), ("candidate", deployment.candidate)):
        if version is None:
            continue
        refusal = _refusal(root, model, version)
        if refusal is not None:
            problems.append(doc.problem((*where, key), refusal))
            continue
        image = _image(root, model, version, doc, (*where, key), problems)
        if image is not None:
            images[version] = image
    if spec is None or len(problems) > before:
        return None
    tolerance = spec.monitoring.shadow.tolerance
    given = ModelInput(
        model=model, deployment=deployment, serving=spec.serving, images=images, shadow_tolerance=tolerance
    )
    return given, spec


def _model_spec(root: Path, model: str, env_doc: LocatedDoc, problems: list[Problem]) -> ModelSpec | None:
    file = root / "models" / model / "model.yaml"
    if not file.is_file():
        problems.append(env_doc.problem(("deployments", model), f"no model '{model}' in models/"))
        return None
    doc = load_yaml(file)
    spec = validate_doc(ModelSpec, doc) if not doc.problems else None
    if spec is None:
        problems.extend(_relative(root, problem) for problem in doc.problems)
    return spec


def _relative(root: Path, problem: Problem) -> Problem:
    try:
        shown = str(Path(problem.file).relative_to(root))
    except ValueError:
        shown = problem.file
    return Problem(shown, problem.line, problem.column, problem.field, problem.message, problem.severity)


def _refusal(root: Path, model: str, version: int) -> str | None:
    """Why ``model@version`` must not run: not registered, failed its gates, archived (as apply refuses)."""
    ref = f"{model}@{version}"
    try:
        record = read_record(root, model, version)
        archived = archived_versions(root, model)
    except MlopsError as exc:
        return f"{ref}: {exc.message}"
    if not record.gates_passed:
        return f"{ref} failed its gates and cannot be deployed"
    if version in archived:
        return f"{ref} is archived and cannot be deployed"
    return None


def _image(
    root: Path, model: str, version: int, doc: LocatedDoc, where: tuple[str, ...], problems: list[Problem]
) -> str | None:
    """``name@sha256:...`` of the newest pushed image of ``model@version``, or None with a problem."""
    listing = f"registry/{model}/{PUSHED_FILE}"
    try:
        entries = [e for e in read_pushed(root, model) if e.model == model and e.version == version]
    except MlopsError as exc:
        problems.append(doc.problem(where, f"{model}@{version}: {exc.message}"))
        return None
    pushed = [entry for entry in entries if entry.pushed and entry.digest]
    if not pushed:
        message = (
            f"{model}@{version} has no pushed image digest in {listing}; "
            f"push it: mlopsctl build {model}@{version} --push (and commit {listing})"
        )
        problems.append(doc.problem(where, message))
        return None
    newest = pushed[-1]
    match = REFERENCE.fullmatch(newest.reference)
    if match is None or not DIGEST.fullmatch(newest.digest or ""):
        shown = f"{newest.reference[:80]!r}@{(newest.digest or '')[:80]!r}"
        problems.append(doc.problem(where, f"{model}@{version}: {listing} names an invalid image {shown}"))
        return None
    return f"{match.group('name')}@{newest.digest}"


def _compared_in_process(environment: Environment, models: list[ModelInput]) -> set[str]:
    """Models whose one service holds a candidate and compares it (in-process routing); with the
    Gateway API the candidate runs in pods of its own and nothing compares it, so no agreement alert."""
    if environment.kubernetes.routing != "in-process":
        return set()
    return {item.model for item in models if item.deployment.candidate is not None}


def _rules(env: str, monitoring: dict[str, Any], candidates: set[str]) -> Any:
    """The environment's alert rules, as ``monitoring render`` writes them (its imports only when rendering);
    ``candidates``: the models deployed with a shadow or canary (they get the agreement alert)."""
    from mlopsctl.monitor.render import rules_document

    return rules_document(env, monitoring, candidates)
