"""Installs a model image's Python environment; runs INSIDE the image build, under the base's python3.

Usage (the generated Dockerfile's environment stage)::

    python3 install_env.py WHEELS_DIR PYTHON_VERSION EPOCH

1. checks that the base image's Python is the one the wheels were chosen for;
2. creates the virtual environment /opt/mlopsctl/venv without pip (a Debian base has no ensurepip);
3. runs pip straight from its wheel in WHEELS_DIR to install requirements.txt from that folder alone
   (``--no-index``; the build also runs with no network), compiling hash-checked .pyc files
   (SOURCE_DATE_EPOCH) so nothing depends on when the build ran;
4. removes the packages' own test suites (``tests`` folders: about a quarter of the size, never
   imported by a serving process);
5. moves the result under /export (as /export/opt/mlopsctl/venv) and sets every file's time to EPOCH:
   the final stage copies /export to /, so the layer has no folder the copy itself touched, and the
   same wheels give a byte-identical layer.

Only the standard library is used: the base image has nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VENV = Path("/opt/mlopsctl/venv")
EXPORT = Path("/export")
TEST_FOLDERS = frozenset({"tests", "test"})


def main(argv: list[str]) -> int:
    wheels, expected, epoch = Path(argv[1]), argv[2], int(argv[3])
    actual = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if actual != expected:
        print(
            f"mlopsctl: the base image has Python {actual}, but the model's wheels are for Python {expected}; "
            f"set image.base in mlops.yaml to an image with Python {expected}",
            file=sys.stderr,
        )
        return 1
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
    pip = sorted(wheels.glob("pip-*.whl"))[-1]
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": str(epoch),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_NO_WARN_SCRIPT_LOCATION": "1",
    }
    command = [str(VENV / "bin" / "python"), f"{pip}/pip", "install", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*command, "--requirement", str(wheels / "requirements.txt")], check=True, env=env)
    _remove_test_suites(VENV)
    target = EXPORT / VENV.relative_to("/")
    target.parent.mkdir(parents=True)
    os.rename(VENV, target)
    _set_times(EXPORT, epoch)
    return 0


def _remove_test_suites(venv: Path) -> None:
    for site in venv.glob("lib/python*/site-packages"):
        for package in site.iterdir():
            if package.is_dir() and not package.name.endswith((".dist-info", ".libs")):
                for folder in sorted(_test_folders(package), reverse=True):
                    shutil.rmtree(folder, ignore_errors=True)


def _test_folders(package: Path) -> list[Path]:
    return [Path(folder) for folder, _, _ in os.walk(package) if Path(folder).name in TEST_FOLDERS]


def _set_times(root: Path, epoch: int) -> None:
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
