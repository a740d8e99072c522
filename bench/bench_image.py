"""Model image size and rebuild time, against the image MLflow's ``build-docker`` Dockerfile makes.

Same run, same model, same local base image (``mlopsctl/python:3.11-bookworm``, from
scripts/services.sh), same engine:

* **ours**: ``mlopsctl build churn@1`` on a fresh repository (the template's churn model, a 20-tree
  forest), then a second version is registered and ``mlopsctl build churn@2`` is timed: the rebuild.
* **MLflow**: version 1's very pipeline (loaded from its skops artifact) saved with
  ``mlflow.sklearn.save_model`` in bench/.venv-mlflow, ``mlflow models generate-dockerfile`` on it
  (the Dockerfile ``mlflow models build-docker`` builds), adapted only as far as this machine needs:

  1. ``FROM python:3.11.x-slim`` -> ``FROM mlopsctl/python:3.11-bookworm`` (no image registry here);
  2. the base has no ``python`` name and no pip (python:3.11-slim has both): one added first step
     links ``python`` -> ``python3`` and installs pip from its wheel, as the slim image ships it;
  3. pip installs come from a wheelhouse prepared on the host (the same ``pip download`` for
     Python 3.11 manylinux that mlopsctl uses), served on 127.0.0.1 while the build runs with
     ``--network host``: build args ``PIP_NO_INDEX``, ``PIP_FIND_LINKS``, ``PIP_BREAK_SYSTEM_PACKAGES``
     (Debian marks its Python externally managed) reach every ``pip install`` without changing the
     image's config or adding a layer of wheels;
  4. ``apt-get install nginx`` runs as written, over the host network, from the Debian mirror.

Run: ``python bench/bench_image.py`` (needs the engine and base image from scripts/services.sh,
and bench/.venv-mlflow with mlflow). Prints a table with the ratios; ``--results`` appends it to
bench/RESULTS.md under "## Images".
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support.services: the small-model repo the image tests use too
BASE = "mlopsctl/python:3.11-bookworm"
MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
RESULTS = ROOT / "bench" / "RESULTS.md"
SIZE_TARGET = 0.5
REBUILD_TARGET_S = 15.0

SAVE_WITH_MLFLOW = """
import sys, skops.io as sio, mlflow.sklearn, pandas as pd
data = open(sys.argv[1], "rb").read()
pipeline = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
example = pd.read_csv(sys.argv[3]).head(2)[sys.argv[4].split(",")]
mlflow.sklearn.save_model(pipeline, sys.argv[2], input_example=example,
                          skops_trusted_types=sio.get_untrusted_types(data=data))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the images and the temp folder")
    args = parser.parse_args()
    import docker

    client = docker.from_env(timeout=1800)
    client.images.get(BASE)  # fails early without scripts/services.sh
    work = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        ours = bench_ours(work)
        mlflow = bench_mlflow(work, ours, client)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = render(ours, mlflow)
    print(table)
    if args.results:
        append_results(table)
    if not args.keep:
        for reference in (*ours["references"], mlflow["reference"]):
            client.images.remove(reference, force=True)
    ok = ours["size"] <= SIZE_TARGET * mlflow["size"] and ours["rebuild_s"] < REBUILD_TARGET_S
    return 0 if ok else 1


# ------------------------------------------------------------------------------------ mlopsctl


def bench_ours(work: Path) -> dict[str, Any]:
    from mlopsctl.build.api import build_image
    from mlopsctl.spec.loader import open_repo
    from mlopsctl.train.api import train_model
    from tests.support.services import image_test_repo

    root = image_test_repo(work / "repo", "demo", "bench: small model", base=BASE)
    repo = open_repo(root)
    log("training churn@1")
    train_model(repo, "churn")
    log("building churn@1 (wheelhouse download + environment layer)")
    started = time.perf_counter()
    first = build_image(repo, "churn@1")
    first_s = time.perf_counter() - started
    log("training churn@2")
    train_model(repo, "churn", overrides=["training.params.max_depth=4"])
    log("building churn@2: the rebuild")
    started = time.perf_counter()
    second = build_image(open_repo(root), "churn@2")
    rebuild_s = time.perf_counter() - started
    return {
        "root": root,
        "size": second.size,
        "first_s": first_s,
        "rebuild_s": rebuild_s,
        "cached": f"{second.cached_steps}/{second.steps}",
        "references": first.references + second.references,
        "layers_shared": sum(a == b for a, b in zip(first.layers, second.layers, strict=True)),
        "layers": len(second.layers),
    }


# ------------------------------------------------------------------------------------ MLflow


def bench_mlflow(work: Path, ours: dict[str, Any], client: Any) -> dict[str, Any]:
    from mlopsctl.build.pins import TargetPython
    from mlopsctl.build.wheelhouse import pip_download_command
    from mlopsctl.registry.records import read_record
    from mlopsctl.registry.store import artifact_store_for
    from mlopsctl.spec.loader import open_repo

    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: python3 -m venv {MLFLOW_VENV} && {python} -m pip install mlflow")
    repo = open_repo(ours["root"])
    record = read_record(repo.root, "churn", 1)
    artifact = work / "churn-v1.skops"
    artifact.write_bytes(artifact_store_for(repo).get(record.artifact))
    features = ",".join(column.name for column in record.signature.inputs)
    model = work / "mlflow-model"
    log("saving churn@1's pipeline with mlflow.sklearn.save_model")
    run(
        [
            str(python),
            "-c",
            SAVE_WITH_MLFLOW,
            str(artifact),
            str(model),
            str(repo.root / "data" / "churn.csv"),
            features,
        ]
    )
    context = work / "mlflow-context"
    run([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "generate-dockerfile", "-m", str(model), "-d", str(context)])
    original = (context / "Dockerfile").read_text()
    requirements = (model / "requirements.txt").read_text().split()
    requirements += yaml.safe_load((model / "python_env.yaml").read_text()).get("build_dependencies") or []
    requirements.append("gunicorn[gevent]")  # what mlflow.models.container._install_pyfunc_deps adds
    wheels = work / "mlflow-wheels"
    requirements_file = work / "mlflow-requirements.txt"
    pins = [line for line in requirements if not line.startswith("pip")] + [f"pip=={pip_version()}"]
    requirements_file.write_text("\n".join(pins) + "\n")
    log("downloading MLflow's wheelhouse on the host")
    run(pip_download_command(requirements_file, TargetPython(glibc=(2, 36)), wheels, None))
    with ServeFolder(wheels) as url:
        dockerfile = adapt(original)
        (context / "Dockerfile").write_text(dockerfile)
        (work / "mlflow-Dockerfile.original").write_text(original)
        log("building MLflow's image")
        started = time.perf_counter()
        image, _logs = client.images.build(
            path=str(context), tag="bench-mlflow/churn:v1", network_mode="host", rm=True, forcerm=True,
            buildargs={"PIP_FIND_LINKS": url},
        )  # fmt: skip
        build_s = time.perf_counter() - started
    return {"size": image.attrs["Size"], "build_s": build_s, "reference": "bench-mlflow/churn:v1"}


def adapt(dockerfile: str) -> str:
    """The four documented changes (module docstring) to MLflow's generated Dockerfile."""
    text, count = re.subn(r"^FROM \S+", f"FROM {BASE}", dockerfile, count=1, flags=re.M)
    assert count == 1, "MLflow's Dockerfile has no FROM line"
    pip_wheel = "pip.whl"
    setup = "\n".join(
        [
            "ARG PIP_NO_INDEX=1",
            "ARG PIP_FIND_LINKS",
            "ARG PIP_BREAK_SYSTEM_PACKAGES=1",
            "ARG PIP_ROOT_USER_ACTION=ignore",
            "ARG PIP_NO_CACHE_DIR=1",
            "# bench adaptation: python:3.11-slim has `python` and pip; this Debian base has python3 only",
            f'RUN ln -s /usr/bin/python3 /usr/local/bin/python && python3 -c "import urllib.request; '
            f"urllib.request.urlretrieve('$PIP_FIND_LINKS/{pip_wheel}', '/tmp/pip.whl')\" && "
            f"python3 /tmp/pip.whl/pip install --ignore-installed pip && rm /tmp/pip.whl",
        ]
    )
    lines = text.splitlines()
    first_from = next(index for index, line in enumerate(lines) if line.startswith("FROM "))
    return "\n".join([*lines[: first_from + 1], setup, *lines[first_from + 1 :]]) + "\n"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ServeFolder:
    """The wheelhouse over HTTP on 127.0.0.1 (an index-less find-links page), with pip.whl for bootstrap."""

    def __init__(self, folder: Path) -> None:
        pip = sorted(folder.glob("pip-*.whl"))[-1]
        shutil.copyfile(pip, folder / "pip.whl")
        handler = functools.partial(_Quiet, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


# ------------------------------------------------------------------------------------ output


def render(ours: dict[str, Any], mlflow: dict[str, Any]) -> str:
    ratio = ours["size"] / mlflow["size"]
    rows = [
        "| measure | mlopsctl | MLflow build-docker | ratio | target |",
        "|---|---|---|---|---|",
        f"| image size (same base, {BASE}) | {mb(ours['size'])} | {mb(mlflow['size'])} | "
        f"{ratio:.2f}x | <= {SIZE_TARGET:.2f}x {'ok' if ratio <= SIZE_TARGET else 'MISSED'} |",
        f"| rebuild after a new version | {ours['rebuild_s']:.1f} s ({ours['cached']} steps cached, "
        f"{ours['layers_shared']}/{ours['layers']} layers shared) | - | - | < {REBUILD_TARGET_S:.0f} s "
        f"{'ok' if ours['rebuild_s'] < REBUILD_TARGET_S else 'MISSED'} |",
        f"| first build, for information (not like for like) | {ours['first_s']:.1f} s (wheels downloaded; "
        f"the engine may hold the environment layer from an earlier run) | {mlflow['build_s']:.1f} s (wheelhouse "
        "ready, no cache, apt over the network) | - | - |",
    ]
    return "\n".join(rows)


def append_results(table: str) -> None:
    section = "## Images"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    body = (
        f"{section}\n\n`python bench/bench_image.py --results` ({stamp}, {os.cpu_count()} cores, shared machine).\n"
        "MLflow's Dockerfile from `mlflow models generate-dockerfile`, adapted to the local base and an offline "
        "wheelhouse as the script's docstring lists.\n\n"
        f"{table}\n"
    )
    if section in text:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[:start] + body + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text)


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def pip_version() -> str:
    from importlib.metadata import version

    return version("pip")


def run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def log(text: str) -> None:
    print(f"> {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
