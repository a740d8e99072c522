"""What goes into an image besides the wheels: the service's import closure, references, the wheelhouse."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from mlopsctl.build.closure import import_closure
from mlopsctl.build.pins import Pin, TargetPython, installed_version
from mlopsctl.build.wheelhouse import WheelhouseError, prepare_wheelhouse


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_closure_follows_absolute_relative_and_lazy_imports_but_not_type_checking(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/serve/__init__.py": "from .app import run\n",
            "pkg/serve/__main__.py": "from pkg.serve import run\nrun()\n",
            "pkg/serve/app.py": (
                "from typing import TYPE_CHECKING\nimport numpy\nfrom ..errors import Oops\n"
                "if TYPE_CHECKING:\n    from pkg.cli import Options\n    import textual\n"
                "def run():\n    import yaml\n    from pkg.records import load\n"
            ),
            "pkg/errors.py": "import json\n",
            "pkg/records/__init__.py": "from pkg.records.io import load\n",
            "pkg/records/io.py": "import os.path\n",
            "pkg/cli/__init__.py": "import click\n",
            "pkg/unused.py": "import docker\n",
        },
    )
    closure = import_closure(("pkg.serve", "pkg.serve.__main__"), root)
    assert [name for name, _ in closure.files()] == [
        "pkg/__init__.py",
        "pkg/errors.py",
        "pkg/records/__init__.py",
        "pkg/records/io.py",
        "pkg/serve/__init__.py",
        "pkg/serve/__main__.py",
        "pkg/serve/app.py",
    ]
    assert closure.external == {"numpy", "yaml"}


def test_the_closure_of_an_absent_entry_is_empty(tmp_path: Path) -> None:
    assert import_closure(("nothing.here",), tmp_path).modules == {}


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal valid wheel: enough for pip to resolve and download it."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {item}\n" for item in requires
    )
    files = {
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}\n"
        for path, text in files.items()
    )
    files[f"{dist}.dist-info/RECORD"] = record + f"{dist}.dist-info/RECORD,,\n"
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.fixture
def airgapped(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "alpha", "1.0", ("beta>=2",))
    _wheel(folder, "beta", "2.1")
    _wheel(folder, "beta", "3.0")
    _wheel(folder, "pip", installed_version("pip") or "0")
    return folder


def test_an_airgapped_wheelhouse_gives_the_pinned_set_and_pip(airgapped: Path, tmp_path: Path) -> None:
    pins = [Pin("alpha", "1.0"), Pin("beta", "2.1")]
    house = prepare_wheelhouse(pins, TargetPython(), tmp_path / "cache", source=airgapped)
    assert house.requirements == ["alpha==1.0", "beta==2.1"]
    assert house.pip_wheel.name.startswith("pip-")
    assert all(wheel.parent == tmp_path / "cache" / "wheels" for wheel in house.wheels)
    airgapped.rename(tmp_path / "gone")  # the second time, the remembered set needs no pip and no source
    again = prepare_wheelhouse(pins, TargetPython(), tmp_path / "cache", source=airgapped)
    assert again == house


def test_a_wheel_missing_from_the_airgapped_folder_is_named(airgapped: Path, tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError) as caught:
        prepare_wheelhouse([Pin("alpha", "1.0"), Pin("beta", "9.9")], TargetPython(), tmp_path / "c", source=airgapped)
    error = caught.value
    assert error.title == "Wheelhouse incomplete"
    assert error.message.startswith(
        f"pip download could not get every pinned wheel from the wheelhouse folder {airgapped}: "
    )
    assert "beta==9.9" in error.message
    assert (
        error.hint
        == f"put wheels of these exact versions into {airgapped}: alpha==1.0, beta==9.9, pip=={installed_version('pip')}"
    )


def test_a_wheelhouse_setting_that_is_not_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError) as caught:
        prepare_wheelhouse([Pin("alpha", "1.0")], TargetPython(), tmp_path / "c", source=tmp_path / "missing")
    assert caught.value.message == f"image.wheelhouse is {tmp_path / 'missing'}, which is not a folder"
