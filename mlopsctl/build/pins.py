"""Which packages a model image installs, and at which exact versions.

The serving environment is the prediction service's own packages (``SERVING_PACKAGES``) plus every
distribution the service's code imports, closed over their dependencies. Each one is pinned: to the
version the model was trained with when the version record names it (``environment.packages``), else
to the version installed here, the environment ``mlopsctl`` itself runs in. A package that is in
neither stays unpinned and the wheelhouse fixes it to whatever it resolved (see ``wheelhouse``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from mlopsctl.errors import CheckFailed
from mlopsctl.registry.packages import listed_pins, pin_problem

_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True, order=True)
class Pin:
    """One distribution of the serving environment."""

    name: str
    """Normalised distribution name (PEP 503), e.g. scikit-learn."""
    version: str | None
    """Exact version, or None when nothing decided it (the wheelhouse then fixes it)."""
    source: str = "installed"
    """Where the version came from: record (training environment), installed (here) or resolved."""

    def requirement(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


@dataclass(frozen=True)
class TargetPython:
    """The interpreter of the base image: what wheels must be built for."""

    version: tuple[int, int] = (3, 11)
    machine: str = "x86_64"
    glibc: tuple[int, int] = (2, 28)

    @property
    def tag(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of a CPython on Linux with this version and machine."""
        version = self.tag
        return {
            "python_version": version,
            "python_full_version": f"{version}.0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "platform_system": "Linux",
            "sys_platform": "linux",
            "os_name": "posix",
            "platform_machine": self.machine,
            "extra": "",
        }


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of - _ . become one dash."""
    return _SEPARATORS.sub("-", name).lower()


def recorded_versions(environment: Mapping[str, Any]) -> dict[str, str]:
    """``environment.packages`` of a version record as {normalised name: version}.

    Accepts the mapping the trainer writes (name -> version, None for absent) and, for older or
    hand-written records, a list of ``name==version`` strings.
    """
    packages = environment.get("packages")
    found: dict[str, str] = {}
    for name, version in listed_pins(dict(packages) if isinstance(packages, Mapping) else packages):
        problem = pin_problem(name, version or None)
        if problem is not None:
            raise CheckFailed(
                f"the version record's environment.packages cannot be installed: {problem}",
                title="Invalid record",
                hint="records are written by mlopsctl and never edited; restore the record with git checkout",
            )
        if version:
            found[normalise(str(name))] = str(version)
    return found


def serving_pins(
    roots: Iterable[str],
    recorded: Mapping[str, str],
    target: TargetPython,
    *,
    exclude: Iterable[str] = ("mlopsctl",),
) -> list[Pin]:
    """Pins for ``roots`` and everything they depend on (for ``target``), sorted by name."""
    excluded = {normalise(name) for name in exclude}
    environment = target.marker_environment()
    pins: dict[str, Pin] = {}
    pending = [normalise(name) for name in roots]
    while pending:
        name = pending.pop()
        if name in pins or name in excluded:
            continue
        pins[name] = _pin(name, recorded)
        pending.extend(dependency for dependency in _dependencies(name, environment) if dependency not in pins)
    return sorted(pins.values())


def _pin(name: str, recorded: Mapping[str, str]) -> Pin:
    if name in recorded:
        return Pin(name, recorded[name], "record")
    installed = installed_version(name)
    return Pin(name, installed, "installed") if installed else Pin(name, None, "resolved")


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _dependencies(name: str, environment: dict[str, str]) -> list[str]:
    """Names of the installed distribution's requirements that apply to ``environment`` (no extras)."""
    try:
        requires = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []
    found = []
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or _applies(requirement.marker, environment):
            found.append(normalise(requirement.name))
    return found


def _applies(marker: Marker, environment: dict[str, str]) -> bool:
    return bool(marker.evaluate(environment))


def distributions_of_imports(modules: Iterable[str]) -> dict[str, str]:
    """Top-level import names -> the installed distribution that provides each (unknown ones left out)."""
    provided = metadata.packages_distributions()
    found: dict[str, str] = {}
    for module in modules:
        distributions = provided.get(module) or []
        if distributions:
            found[module] = normalise(sorted(distributions)[0])
    return found
