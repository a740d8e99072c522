"""The wheelhouse: every wheel an image installs, fetched on this machine so the image build is offline.

``pip download`` runs here, for the base image's Python and platform (``--only-binary=:all:``), from
the package index or, for air-gapped sites, only from the folder ``image.wheelhouse`` in mlops.yaml
names (``--no-index``). Wheels are kept in ``<state_dir>/wheelhouse/wheels``; each resolved set is
remembered under a key of its inputs, so a rebuild with the same pins runs no pip at all. A pip
wheel travels with the set: the image runs pip straight from its wheel, so the base needs no pip.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.build.pins import Pin, TargetPython, installed_version, normalise
from mlopsctl.errors import MlopsError
from mlopsctl.fsio import atomic_write_text
from mlopsctl.registry.packages import pin_problem
from mlopsctl.state_links import refuse_state_links

PIP_SAVED = re.compile(r"^\s*(?:Saved|File was already downloaded)\s+(?P<path>\S+\.whl)\s*$")
MANIFEST_FORMAT = 1
Log = Callable[[str], None]


class WheelhouseError(MlopsError):
    title = "Wheelhouse incomplete"


@dataclass(frozen=True)
class Wheelhouse:
    """The wheels of one serving environment."""

    wheels: tuple[Path, ...]
    """Every wheel to install, the pip wheel included, sorted by file name."""
    pip_wheel: Path
    """The wheel pip runs from inside the image."""

    @property
    def requirements(self) -> list[str]:
        """Exact ``name==version`` of every wheel except pip's, sorted: the image's requirements.txt."""
        return sorted(f"{name}=={version}" for name, version in map(wheel_name_version, self.install_wheels))

    @property
    def install_wheels(self) -> list[Path]:
        return [wheel for wheel in self.wheels if wheel != self.pip_wheel]

    @property
    def size(self) -> int:
        return sum(wheel.stat().st_size for wheel in self.wheels)


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    """``scikit_learn-1.5.0-cp311-....whl`` -> ("scikit-learn", "1.5.0")."""
    parts = wheel.name.split("-")
    if len(parts) < 5 or not wheel.name.endswith(".whl"):
        raise WheelhouseError(f"{wheel} is not a wheel file name (name-version-python-abi-platform.whl)")
    return normalise(parts[0]), parts[1]


def platform_tags(target: TargetPython) -> list[str]:
    """manylinux platform tags the base image accepts, newest first (pip does not expand them itself)."""
    arch = target.machine
    major, minor = target.glibc
    tags = [f"manylinux_{major}_{glibc}_{arch}" for glibc in range(minor, 4, -1)]
    legacy = ((17, "manylinux2014"), (12, "manylinux2010"), (5, "manylinux1"))
    tags += [f"{name}_{arch}" for glibc, name in legacy if minor >= glibc and arch in ("x86_64", "i686", "aarch64")]
    return tags


def prepare_wheelhouse(
    pins: Sequence[Pin],
    target: TargetPython,
    cache: Path,
    *,
    source: Path | None = None,
    log: Log | None = None,
    repo_root: Path | None = None,
) -> Wheelhouse:
    """Wheels for ``pins`` plus pip, from ``cache`` when this exact set was prepared before.

    ``repo_root``: the repository whose state folder holds ``cache``; no symbolic link in it is followed.
    """
    pip_version = installed_version("pip")
    if pip_version is None:
        raise WheelhouseError(
            f"pip is not installed in {sys.prefix}, and the build runs it to prepare the wheelhouse",
            hint=f"install it with: {sys.executable} -m ensurepip",
        )
    requirements = [pin.requirement() for pin in pins] + [f"pip=={pip_version}"]
    key = _set_key(requirements, target, source)
    manifest = cache / "sets" / f"{key}.json"
    if repo_root is not None:
        for written in (manifest, cache / "wheels"):
            refuse_state_links(repo_root, written)
    known = _read_manifest(manifest, cache / "wheels")
    if known is not None:
        return _wheelhouse(known)
    if log is not None:
        origin = f"from {source}" if source else "from the package index"
        log(f"downloading {len(requirements)} pinned wheels {origin} for Python {target.tag} ({target.machine})")
    wheels = _download(requirements, target, cache / "wheels", source)
    _write_manifest(manifest, requirements, wheels)
    return _wheelhouse(wheels)


def _wheelhouse(wheels: list[Path]) -> Wheelhouse:
    pips = [wheel for wheel in wheels if wheel_name_version(wheel)[0] == "pip"]
    if not pips:
        raise WheelhouseError("the wheelhouse has no pip wheel", hint="add pip's wheel to the image.wheelhouse folder")
    return Wheelhouse(wheels=tuple(sorted(wheels, key=lambda wheel: wheel.name)), pip_wheel=pips[0])


def _set_key(requirements: list[str], target: TargetPython, source: Path | None) -> str:
    text = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "requirements": sorted(requirements),
            "python": target.tag,
            "platforms": platform_tags(target),
            "source": str(source) if source else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_manifest(manifest: Path, folder: Path) -> list[Path] | None:
    try:
        names = json.loads(manifest.read_text())["wheels"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    wheels = [folder / str(name) for name in names]
    return wheels if wheels and all(wheel.is_file() for wheel in wheels) else None


def _write_manifest(manifest: Path, requirements: list[str], wheels: list[Path]) -> None:
    payload = {"requirements": sorted(requirements), "wheels": sorted(wheel.name for wheel in wheels)}
    atomic_write_text(manifest, json.dumps(payload, indent=1) + "\n")


def pip_download_command(requirements_file: Path, target: TargetPython, dest: Path, source: Path | None) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--dest", str(dest), "--only-binary=:all:"]
    command += ["--python-version", target.tag, "--implementation", "cp", "--progress-bar", "off"]
    command += ["--disable-pip-version-check", "--no-input"]
    for tag in platform_tags(target):
        command += ["--platform", tag]
    if source is not None:
        command += ["--no-index", "--find-links", str(source)]
    else:
        command += ["--find-links", str(dest)]
    return [*command, "--requirement", str(requirements_file)]


def _download(requirements: list[str], target: TargetPython, dest: Path, source: Path | None) -> list[Path]:
    if source is not None and not source.is_dir():
        raise WheelhouseError(
            f"image.wheelhouse is {source}, which is not a folder",
            hint="point image.wheelhouse in mlops.yaml at a folder of wheels, or remove it to download them",
        )
    for requirement in requirements:
        _check_requirement(requirement)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlopsctl-pins-") as scratch:
        requirements_file = Path(scratch) / "requirements.in"
        requirements_file.write_text("\n".join(requirements) + "\n")
        command = pip_download_command(requirements_file, target, dest, source)
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise _download_failed(proc.stderr or proc.stdout, requirements, source)
    matches = [PIP_SAVED.match(line) for line in proc.stdout.splitlines()]
    wheels = sorted({dest / Path(match["path"]).name for match in matches if match})
    missing = [wheel.name for wheel in wheels if not wheel.is_file()]
    if not wheels or missing:
        raise WheelhouseError(f"pip download reported no usable wheels in {dest}: {proc.stdout[-2000:]}")
    return wheels


def _check_requirement(requirement: str) -> None:
    """Only ``name`` or ``name==version`` lines reach pip: never an option such as ``--index-url``."""
    name, _, version = requirement.partition("==")
    problem = pin_problem(name, version or None)
    if problem is not None:
        raise WheelhouseError(
            f"refused to pass {requirement[:60]!r} to pip: {problem}",
            title="Invalid requirement",
            hint="the version record's environment.packages must hold only package names and PEP 440 versions",
        )


def _download_failed(output: str, requirements: list[str], source: Path | None) -> WheelhouseError:
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR")]
    detail = "; ".join(errors[-3:]) or output.strip()[-800:]
    where = f"the wheelhouse folder {source}" if source else "the package index"
    hint = (
        f"put wheels of these exact versions into {source}: {', '.join(requirements)}"
        if source
        else "check that the package index is reachable (pip config list), "
        "or set image.wheelhouse in mlops.yaml to a folder of prepared wheels for an offline build"
    )
    return WheelhouseError(f"pip download could not get every pinned wheel from {where}: {detail}", hint=hint)
