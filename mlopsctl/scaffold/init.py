"""``mlopsctl init``: a working model repository from model-repo-template/.

The result is a git repository with one commit, an example model and its sample data, the
staging and production environments, CI for GitHub Actions and GitLab CI, the pre-commit hook
and the JSON Schemas its YAML files point at.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlopsctl
from mlopsctl.errors import MlopsError, UsageError
from mlopsctl.ports.git import Git
from mlopsctl.scaffold.sample import write_churn_csv
from mlopsctl.spec.models import NAME_PATTERN
from mlopsctl.spec.schema import write_schemas

RENAMED = {"_gitignore": ".gitignore"}
TEXT_SUFFIXES = {".yaml", ".yml", ".md", ".json", ".txt", ""}


@dataclass(frozen=True)
class InitResult:
    root: Path
    name: str
    commit: str
    files: list[str]


def template_dir() -> Path:
    """The template shipped in the wheel, or the source tree's model-repo-template/."""
    package = Path(mlopsctl.__file__).parent
    for candidate in (package / "_template", package.parent / "model-repo-template"):
        if (candidate / "mlops.yaml").is_file():
            return candidate
    raise MlopsError("the model repository template is missing from this installation", title="Broken install")


def init_repo(path: Path, name: str | None = None) -> InitResult:
    """Create a model repository at ``path`` (which must not exist or be empty)."""
    path = path.expanduser().resolve()
    name = name or _name_from(path)
    _check_target(path, name)
    _create_folder(path)
    try:
        files = _copy_template(path, name)
        files.append(str(write_churn_csv(path / "data" / "churn.csv").relative_to(path)))
        files.extend(str(p.relative_to(path)) for p in write_schemas(path / "schemas"))
        commit = _first_commit(path)
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise MlopsError(f"cannot write the repository in {path}: {_reason(exc, path)}", title="Cannot create") from exc
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return InitResult(root=path, name=name, commit=commit, files=sorted(files))


def _create_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create {path}: {_reason(exc, path)}", hint="choose a folder you can write to, e.g. ./my-models"
        ) from exc


def _reason(exc: OSError, path: Path) -> str:
    """The system's reason (``Not a directory``), naming the part of the path it is about when it differs."""
    reason = exc.strerror or type(exc).__name__
    return f"{reason} ({exc.filename})" if exc.filename and exc.filename != str(path) else reason


def _name_from(path: Path) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", path.name.lower()).strip("-")
    return cleaned if re.fullmatch(NAME_PATTERN, cleaned or "") else "models"


def _check_target(path: Path, name: str) -> None:
    try:
        taken = path.exists() and (not path.is_dir() or any(path.iterdir()))
    except OSError as exc:
        raise UsageError(
            f"cannot use {path}: {_reason(exc, path)}", hint="choose a new folder for the repository"
        ) from exc
    if taken:
        raise UsageError(f"{path} already exists and is not empty", hint="choose a new folder for the repository")
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(
            f"project name '{name}' is invalid",
            hint="use lower-case letters, digits and dashes, starting with a letter",
        )


def _copy_template(path: Path, name: str) -> list[str]:
    source = template_dir()
    written = []
    for item in sorted(source.rglob("*")):
        if item.is_dir() or "__pycache__" in item.parts:
            continue
        relative = item.relative_to(source)
        target = path / relative.parent / RENAMED.get(relative.name, relative.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.suffix in TEXT_SUFFIXES:
            target.write_text(_filled(item.read_text(encoding="utf-8"), name), encoding="utf-8")
        else:
            shutil.copyfile(item, target)
        written.append(str(target.relative_to(path)))
    return written


def _filled(text: str, name: str) -> str:
    """The template's placeholders: the project name, and the mlopsctl version CI pins."""
    return text.replace("{{project_name}}", name).replace("{{mlopsctl_version}}", mlopsctl.__version__)


def _first_commit(path: Path) -> str:
    git = Git(path)
    git.run("init", "-q", "-b", "main")
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "Create model repository with mlopsctl init", env=git.identity_env())
    return git.out("rev-parse", "HEAD")
