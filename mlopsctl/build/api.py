"""``mlopsctl build MODEL@VERSION``: one model version -> one Docker image, built through the engine's API.

The steps, each in its own module: read the version (record + digest-checked artifact), connect to
the engine, learn the base image's Python (``engine``), pin the serving environment to the training
versions (``pins``), fetch those wheels on this machine (``wheelhouse``), pick the prediction
service's modules (``closure``), write the context (``context``), build it with no network, tag,
optionally push, and record the image (``images``).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlopsctl import __version__
from mlopsctl.build import closure as closure_mod
from mlopsctl.build.context import APP, DEFAULT_PORT, MODEL_DIR, BuildContext, ImagePlan, render_dockerfile
from mlopsctl.build.engine import BuildFailed, Engine, Event
from mlopsctl.build.images import (
    LOCAL_FILE,
    ImageEntry,
    images_for,
    pushed_image,
    pushed_path,
    read_pushed,
    record_local,
    record_pushed,
)
from mlopsctl.build.pins import Pin, TargetPython, distributions_of_imports, recorded_versions, serving_pins
from mlopsctl.build.references import image_references
from mlopsctl.build.wheelhouse import Wheelhouse, prepare_wheelhouse
from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.fsio import atomic_write_bytes, atomic_write_text
from mlopsctl.ports.git import Git
from mlopsctl.registry.records import read_record, record_path
from mlopsctl.registry.store import artifact_store_for, git_lock, latest_version
from mlopsctl.spec.loader import Repo
from mlopsctl.state_links import refuse_state_links

INSTALLER = Path(__file__).with_name("install_env.py")
LABEL_PREFIX = "dev.mlopsctl"
HANDOVER_LABEL = f"{LABEL_PREFIX}.serve-handover"
"""Set ("1") on images whose service takes ``--handover``/``--take-over`` and the prediction log
arguments: the docker target swaps such containers without a gap (older images stop, then start)."""
BASE_IMAGES_FILE = "build/base-images.json"
"""Base image ID -> its Python, in the state folder (probing a base image starts a container)."""


@dataclass(frozen=True)
class ServiceCode:
    """The prediction service that goes into every image: modules of a package and their packages."""

    root: Path
    """Folder holding the package folder."""
    entries: tuple[str, ...]
    """Modules ``python -m`` runs; their import closure is copied."""
    packages: tuple[str, ...]
    """Distributions the service needs besides what its imports name."""


def installed_service() -> ServiceCode:
    """This mlopsctl's own prediction service (mlopsctl.serve) and its SERVING_PACKAGES."""
    from mlopsctl.serve.requirements import SERVING_PACKAGES

    return ServiceCode(closure_mod.package_root(), closure_mod.SERVE_ENTRY, tuple(SERVING_PACKAGES))


class Progress:
    """Receives what the build does; the CLI and the dashboard render it. The default says nothing."""

    def note(self, text: str) -> None:
        """A phase of mlopsctl's own work, e.g. preparing the wheelhouse."""

    def event(self, event: Event) -> None:
        """One JSON event from the engine (build step output, push progress)."""


@dataclass
class BuildResult:
    model: str
    version: int
    references: list[str]
    image_id: str
    base: str
    size: int
    layers: list[str]
    steps: int
    cached_steps: int
    requirements: list[str]
    context_bytes: int
    seconds: float
    labels: dict[str, str]
    pushed: list[ImageEntry] = field(default_factory=list)
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pushed"] = [entry.model_dump(mode="json", exclude_none=True) for entry in self.pushed]
        return data


@dataclass
class _Inputs:
    record: VersionRecord
    record_bytes: bytes
    artifact: bytes


def build_image(
    repo: Repo,
    ref: str,
    *,
    tags: Sequence[str] = (),
    push: bool = False,
    progress: Progress | None = None,
    engine: Engine | None = None,
    service: ServiceCode | None = None,
    context_dir: Path | None = None,
    no_cache: bool = False,
) -> BuildResult:
    """Build (and with ``push``, push) the image of ``ref`` (MODEL@VERSION or MODEL@latest).

    ``no_cache`` rebuilds every layer; with the same inputs the layers are byte for byte the same.
    """
    started = time.perf_counter()
    progress = progress or Progress()
    inputs = _read_version(repo, ref)
    record = inputs.record
    _refuse_state_links(repo)
    references = image_references(repo, record.model, record.version, tags)
    if push and not repo.settings.image.registry:
        raise UsageError(
            f"--push needs image.registry in {repo.root / 'mlops.yaml'}, and it is not set",
            hint="set image.registry (e.g. ghcr.io/acme), or build without --push to keep the image local",
        )
    engine = engine or Engine.connect()
    base = repo.settings.image.base
    target = _base_python(repo, engine, base, progress)
    _check_python(record, target, base)
    service = service or installed_service()
    context, requirements = _assemble(repo, inputs, target, service, base, progress)
    if context_dir is not None:
        context.write_dir(context_dir)
    progress.note(f"building {references[0]} from {base} ({_mb(context.size)} context)")
    outcome = _run_build(engine, context, references[0], progress, no_cache)
    for reference in references[1:]:
        engine.tag(outcome.image_id, reference)
    inspected = engine.image(outcome.image_id) or {}
    result = BuildResult(
        model=record.model,
        version=record.version,
        references=references,
        image_id=outcome.image_id,
        base=base,
        size=int(inspected.get("Size") or 0),
        layers=list((inspected.get("RootFS") or {}).get("Layers") or []),
        steps=outcome.steps,
        cached_steps=outcome.cached_steps,
        requirements=requirements,
        context_bytes=context.size,
        seconds=0.0,
        labels=dict((inspected.get("Config") or {}).get("Labels") or {}),
    )
    now = _now()
    record_local(repo, [_entry(result, reference, now) for reference in references])
    if push:
        _push(repo, engine, result, progress)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


@dataclass
class EnvironmentImage:
    """What ``build --env`` did for one version an environment runs."""

    model: str
    version: int
    target: str
    outcome: str
    """built, pushed, or already pushed (its digest is recorded in registry/<model>/images.yaml)."""
    reference: str
    digest: str | None = None


@dataclass
class EnvironmentBuild:
    """``build --env ENV``: the image of every version the environment runs on an image target."""

    env: str
    images: list[EnvironmentImage] = field(default_factory=list)
    without_image: list[str] = field(default_factory=list)
    """Models the environment runs on the local target (processes: no image)."""

    def to_dict(self) -> dict[str, Any]:
        images = [asdict(image) for image in self.images]
        return {"env": self.env, "images": images, "without_image": self.without_image}


IMAGE_TARGETS = ("docker", "kubernetes")


def build_environment(
    repo: Repo, env: str, *, push: bool = False, progress: Progress | None = None, engine: Engine | None = None
) -> EnvironmentBuild:
    """Build (with ``push``, push) every version ``env`` runs on the docker or kubernetes target.

    CI's step before ``apply``: a version whose pushed digest is already recorded is not built again
    (apply pulls that digest); the others are built here, from the artifact store, and pushed.
    """
    progress = progress or Progress()
    environment = repo.environment(env)
    result = EnvironmentBuild(env)
    for model, deployment in sorted(environment.deployments.items()):
        target = deployment.target or environment.target or repo.settings.default_target
        if target not in IMAGE_TARGETS:
            result.without_image.append(model)
            continue
        if push and not repo.settings.image.registry:  # only an image to push needs a registry
            raise UsageError(
                f"--push needs image.registry in {repo.root / 'mlops.yaml'}, and it is not set "
                f"({env} runs {model} on the {target} target)",
                hint="set image.registry (e.g. ghcr.io/acme) or MLOPS_IMAGE_REGISTRY, or build without --push",
            )
        versions = [deployment.version] + ([deployment.candidate] if deployment.candidate is not None else [])
        for version in versions:
            result.images.append(_environment_image(repo, model, version, target, push, progress, engine))
    return result


def _environment_image(
    repo: Repo, model: str, version: int, target: str, push: bool, progress: Progress, engine: Engine | None
) -> EnvironmentImage:
    pinned = pushed_image(repo, model, version) if push else None
    if pinned is not None:
        progress.note(f"{model}@{version}: already pushed as {pinned.pinned}")
        return EnvironmentImage(model, version, target, "already pushed", pinned.name, pinned.digest)
    built = build_image(repo, f"{model}@{version}", push=push, progress=progress, engine=engine)
    if built.pushed:
        entry = built.pushed[0]
        return EnvironmentImage(model, version, target, "pushed", entry.reference, entry.digest)
    return EnvironmentImage(model, version, target, "built", built.references[0])


def _refuse_state_links(repo: Repo) -> None:
    """Before the engine is asked anything: no file the build writes in the state folder goes through a link."""
    written = (BASE_IMAGES_FILE, LOCAL_FILE, "locks/images.lock", "wheelhouse/sets", "wheelhouse/wheels")
    for relative in written:
        refuse_state_links(repo.root, repo.state_dir / relative)


def _read_version(repo: Repo, ref: str) -> _Inputs:
    model, version = parse_ref(ref)
    number = version if version is not None else latest_version(repo, model)
    if number is None:
        raise NotFound(
            f"{model} has no registered versions in {repo.root / 'registry' / model}",
            hint=f"train and register one first: mlopsctl train {model}",
        )
    record = read_record(repo.root, model, number)
    artifact = artifact_store_for(repo).get(record.artifact)  # checks size and sha256
    return _Inputs(record, record_path(repo.root, model, number).read_bytes(), artifact)


def _base_python(repo: Repo, engine: Engine, base: str, progress: Progress) -> TargetPython:
    """The base image's Python, probed once per base image ID and remembered in the state folder."""
    found = engine.image(base)
    if found is None:
        progress.note(f"pulling base image {base}")
        engine.pull(base, progress.event)
        found = engine.image(base)
    if found is None:
        raise BuildFailed(f"base image {base} is still missing after the pull")
    cache = repo.state_dir / BASE_IMAGES_FILE
    known = _read_json(cache)
    entry = known.get(str(found["Id"]))
    if isinstance(entry, dict):
        version, glibc = entry["version"], entry["glibc"]
        return TargetPython((int(version[0]), int(version[1])), str(entry["machine"]), (int(glibc[0]), int(glibc[1])))
    progress.note(f"probing {base} for its Python")
    target = engine.probe_python(base)
    known[str(found["Id"])] = {"base": base, **asdict(target)}
    atomic_write_text(cache, json.dumps(known, indent=1, default=list) + "\n")
    return target


def _check_python(record: VersionRecord, target: TargetPython, base: str) -> None:
    trained = str(record.environment.get("python") or "")
    if trained and ".".join(trained.split(".")[:2]) != target.tag:
        raise BuildFailed(
            f"{record.ref} was trained with Python {trained}, but base image {base} has Python {target.tag}",
            hint=f"set image.base in mlops.yaml to an image with Python {'.'.join(trained.split('.')[:2])}",
        )


def _assemble(
    repo: Repo, inputs: _Inputs, target: TargetPython, service: ServiceCode, base: str, progress: Progress
) -> tuple[BuildContext, list[str]]:
    record = inputs.record
    code = closure_mod.import_closure(service.entries, service.root)
    roots = sorted(set(service.packages) | set(distributions_of_imports(code.external).values()))
    pins = serving_pins(roots, recorded_versions(record.environment), target)
    wheelhouse = _wheelhouse(repo, pins, target, progress)
    context = BuildContext()
    plan = ImagePlan(
        base=base,
        python=target.tag,
        labels=image_labels(repo, record, base),
        port=DEFAULT_PORT,
        ref=record.ref,
        generator=f"mlopsctl {__version__}",
    )
    context.add_bytes("Dockerfile", render_dockerfile(plan).encode())
    context.add_file("build/install_env.py", INSTALLER)
    for wheel in wheelhouse.wheels:
        context.add_file(f"build/wheels/{wheel.name}", wheel)
    context.add_bytes("build/wheels/requirements.txt", ("\n".join(wheelhouse.requirements) + "\n").encode())
    for relative, source in code.files():
        context.add_file(f"service{APP}/{relative}", source)
    context.add_bytes(f"model{MODEL_DIR}/record.yaml", inputs.record_bytes)
    context.add_bytes(f"model{MODEL_DIR}/model.skops", inputs.artifact)
    return context, wheelhouse.requirements


def _wheelhouse(repo: Repo, pins: list[Pin], target: TargetPython, progress: Progress) -> Wheelhouse:
    configured = repo.settings.image.wheelhouse
    source = repo.resolve(configured) if configured else None
    cache = repo.state_dir / "wheelhouse"
    return prepare_wheelhouse(pins, target, cache, source=source, log=progress.note, repo_root=repo.root)


def image_labels(repo: Repo, record: VersionRecord, base: str) -> dict[str, str]:
    """OCI labels and mlopsctl's own; nothing in them changes between two builds of one version."""
    spec = repo.models.get(record.model)
    description = (spec.description if spec else "") or f"{record.estimator} for {record.model}"
    labels = {
        "org.opencontainers.image.title": f"{repo.settings.name}/{record.model}",
        "org.opencontainers.image.description": f"{description} (version {record.version})",
        "org.opencontainers.image.version": str(record.version),
        "org.opencontainers.image.created": record.created_at,
        "org.opencontainers.image.revision": record.spec_commit,
        "org.opencontainers.image.licenses": "NOASSERTION",
        "org.opencontainers.image.vendor": repo.settings.name,
        "org.opencontainers.image.base.name": base,
        f"{LABEL_PREFIX}.model": record.model,
        f"{LABEL_PREFIX}.version": str(record.version),
        f"{LABEL_PREFIX}.artifact-sha256": record.artifact.sha256,
        f"{LABEL_PREFIX}.spec-commit": record.spec_commit,
        f"{LABEL_PREFIX}.run-id": record.run_id,
        f"{LABEL_PREFIX}.project": repo.settings.name,
        f"{LABEL_PREFIX}.estimator": record.estimator,
        f"{LABEL_PREFIX}.generator": f"mlopsctl {__version__}",
        HANDOVER_LABEL: "1",
    }
    source = _source_url(repo)
    if source:
        labels["org.opencontainers.image.source"] = source
    return labels


def _source_url(repo: Repo) -> str | None:
    result = Git(repo.root).run("remote", "get-url", repo.settings.git.remote, check=False)
    return source_url(result.stdout.strip()) if result.returncode == 0 else None


def source_url(remote: str) -> str | None:
    """A git remote as a browsable https URL without credentials (None for local paths)."""
    scp = re.fullmatch(r"(?:[^@/]+@)?([^:/]+):(?!//)(.+)", remote)
    if scp and "://" not in remote:
        host, path = scp.groups()
    else:
        parts = urlsplit(remote)
        if parts.scheme not in ("http", "https", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme != "ssh" else ""), parts.path
    return f"https://{host}/{path.strip('/').removesuffix('.git')}"


def _run_build(engine: Engine, context: BuildContext, tag: str, progress: Progress, no_cache: bool) -> Any:
    with tempfile.TemporaryFile(prefix="mlopsctl-context-") as handle:
        context.write_tar(handle)
        handle.seek(0)
        return engine.build(handle, tag, progress.event, no_cache=no_cache)


def _push(repo: Repo, engine: Engine, result: BuildResult, progress: Progress) -> None:
    """Push every reference in image.registry, then commit images.yaml with the digests the registry answered.

    The digest is the one the registry itself returned for the manifest it stored (the push's last
    event), and nothing is recorded until every push is done: a record never names an image the
    registry did not take.
    """
    registry = repo.settings.image.registry or ""
    remote = [reference for reference in result.references if reference.startswith(registry.rstrip("/") + "/")]
    for reference in remote:
        progress.note(f"pushing {reference}")
        digest = engine.push(reference, progress.event)
        result.pushed.append(_entry(result, reference, _now(), digest=digest))
    with git_lock(repo):
        result.commit = _commit_pushed(repo, result)


def _commit_pushed(repo: Repo, result: BuildResult) -> str:
    """Append the pushed images to registry/<model>/images.yaml and commit it; on failure the file is as it was."""
    path = pushed_path(repo, result.model)
    before = path.read_bytes() if path.is_file() else None
    record_pushed(repo, result.model, result.pushed)
    relative = str(path.relative_to(repo.root))
    message = f"Record pushed image of {result.model}@{result.version}\n\n" + "\n".join(
        f"{entry.reference}@{entry.digest}" for entry in result.pushed
    )
    git = Git(repo.root)
    try:
        return git.commit([relative], message)
    except BaseException:
        _restore(git, path, relative, before)
        raise


def _restore(git: Git, path: Path, relative: str, before: bytes | None) -> None:
    git.run("reset", "-q", "--", relative, check=False)  # the commit may have failed after staging the file
    if before is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, before)


def _entry(result: BuildResult, reference: str, when: str, digest: str | None = None) -> ImageEntry:
    return ImageEntry(
        model=result.model,
        version=result.version,
        reference=reference,
        image_id=result.image_id,
        digest=digest,
        built_at=when,
        base=result.base,
        pushed=digest is not None,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


__all__ = [
    "HANDOVER_LABEL",
    "BuildResult",
    "Progress",
    "ServiceCode",
    "build_image",
    "image_labels",
    "images_for",
    "installed_service",
    "pushed_path",
    "read_pushed",
]
