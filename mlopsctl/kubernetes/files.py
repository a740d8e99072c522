"""``deploy/<env>/`` as files: the YAML text of each object, the kustomization, atomic replacement.

The text is deterministic (keys in the order the objects were built, no timestamps), so rendering
twice gives the same bytes and a promotion changes only the lines it must. The folder is replaced
whole: the new files are written to a scratch folder beside it, which is then renamed into place;
a kill part-way leaves either the old folder or the new one (and a scratch folder that the next
render removes), never a mix. Nothing is written through a symbolic link or outside the repository.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.fsio import fsync_dir, held_lock, refuse_links
from mlopsctl.kubernetes.manifests import Obj

DEPLOY_DIR = "deploy"
KUSTOMIZATION = "kustomization.yaml"
_SCRATCH = ".render-"
"""Scratch folders are ``deploy/.render-<env>.*``: an environment name has no dot, so they never collide."""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks; lists indented under their key, as kubectl writes."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def folder_of(env: str) -> str:
    """``deploy/<env>`` (relative to the repository root, with forward slashes: also a git path)."""
    return f"{DEPLOY_DIR}/{env}"


def header(env: str) -> str:
    return (
        f"# Rendered by `mlopsctl render --env {env}` from environments/{env}.yaml and the model specs.\n"
        "# Edit those and render again; Argo CD or Flux syncs this folder.\n"
    )


def to_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=False)


def folder_texts(env: str, namespace: str, objects: dict[str, Obj]) -> dict[str, str]:
    """File name to text: one file per object, then the kustomization listing them in order."""
    texts = {f"{name}.yaml": header(env) + to_yaml(obj) for name, obj in objects.items()}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": list(texts),
    }
    return {KUSTOMIZATION: header(env) + to_yaml(kustomization), **texts}


@dataclass(frozen=True)
class FolderChange:
    """What writing a rendering changes in a folder: files added, changed and removed."""

    added: list[str]
    changed: list[str]
    removed: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def compare(before: dict[str, str], after: dict[str, str]) -> FolderChange:
    return FolderChange(
        added=[name for name in after if name not in before],
        changed=[name for name in after if name in before and before[name] != after[name]],
        removed=sorted(name for name in before if name not in after),
    )


def unified_diff(folder: str, before: dict[str, str], after: dict[str, str]) -> str:
    """A ``git diff``-like text of the folder going from ``before`` to ``after`` (file names sorted)."""
    chunks: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/{folder}/{name}" if old is not None else "/dev/null",
                tofile=f"b/{folder}/{name}" if new is not None else "/dev/null",
            )
        )
    return "".join(chunks)


def read_folder(root: Path, env: str) -> dict[str, str]:
    """The YAML files now in ``deploy/<env>/`` (none when it does not exist)."""
    folder = refuse_links(root, root / folder_of(env))
    if not folder.is_dir():
        return {}
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.yaml")) if path.is_file()}


def replace_folder(root: Path, env: str, texts: dict[str, str], lock_dir: Path) -> Path:
    """Replace ``deploy/<env>/`` with exactly ``texts``, atomically (see the module docstring).

    One render of an environment at a time (a ``flock`` in ``lock_dir``, the state folder's): a second
    one waits, so it never removes the scratch folder the first is writing.
    """
    target = refuse_links(root, root / folder_of(env))
    parent = refuse_links(root, target.parent)
    with _render_lock(root, lock_dir, env):
        parent.mkdir(parents=True, exist_ok=True)
        _remove_scratch(parent, env)
        _swap_in(parent, target, env, texts)
    return target


def recover(root: Path, env: str, lock_dir: Path) -> None:
    """Finish what an interrupted render left: its old folder put back, its scratch folders removed."""
    parent = refuse_links(root, root / DEPLOY_DIR)
    if parent.is_dir():
        with _render_lock(root, lock_dir, env):
            _remove_scratch(parent, env)


@contextlib.contextmanager
def _render_lock(root: Path, lock_dir: Path, env: str) -> Iterator[None]:
    with held_lock(refuse_links(root, lock_dir / f"render-{env}.lock")):
        yield


def _swap_in(parent: Path, target: Path, env: str, texts: dict[str, str]) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH}{env}.", dir=parent))
    for name, text in texts.items():
        with open(scratch / name, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    scratch.chmod(0o755)
    old = parent / f"{_SCRATCH}{env}.old"
    if target.is_dir():
        os.rename(target, old)
    os.rename(scratch, target)
    fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)


def _remove_scratch(parent: Path, env: str) -> None:
    """Scratch folders an interrupted render left; an old folder not yet replaced is put back first."""
    old = parent / f"{_SCRATCH}{env}.old"
    target = parent / env
    if old.is_dir() and not target.exists():
        os.rename(old, target)
    for leftover in parent.glob(f"{_SCRATCH}{env}.*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
