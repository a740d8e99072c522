"""The generated Dockerfile and build context, without an engine: layer order, labels, pins, determinism."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from mlopsctl.build.context import (
    EPOCH,
    BuildContext,
    ImagePlan,
    entrypoint,
    health_command,
    render_dockerfile,
    render_labels,
)
from mlopsctl.build.pins import Pin, TargetPython, recorded_versions, serving_pins
from mlopsctl.build.wheelhouse import platform_tags, wheel_name_version

PLAN = ImagePlan(
    base="mlopsctl/python:3.11-bookworm",
    python="3.11",
    labels={"dev.mlopsctl.version": "3", "dev.mlopsctl.model": "churn"},
    ref="churn@3",
)


def _instructions(dockerfile: str) -> list[str]:
    """Instruction lines with continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", dockerfile)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_layers_go_from_most_shared_to_the_model_last() -> None:
    keywords = [line.split()[0] for line in _instructions(render_dockerfile(PLAN))]
    assert keywords == [
        "FROM", "COPY", "RUN",  # environment stage: wheels in, venv out
        "FROM", "ENV", "COPY", "COPY", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT",  # shared by every version
        "COPY", "LABEL",  # this version only
    ]  # fmt: skip
    lines = _instructions(render_dockerfile(PLAN))
    assert lines[0] == "FROM mlopsctl/python:3.11-bookworm AS environment"
    assert lines[3] == "FROM mlopsctl/python:3.11-bookworm"
    assert lines[5] == "COPY --from=environment /export/ /"  # /export/opt/mlopsctl/venv
    assert lines[6] == "COPY service/ /"  # service/opt/mlopsctl/app/mlopsctl/...
    assert lines[-2] == "COPY model/ /"  # model/model/record.yaml, model/model/model.skops


def test_the_install_runs_offline_for_the_wheels_python_and_fixed_time() -> None:
    run = _instructions(render_dockerfile(PLAN))[2]
    assert json.loads(run.removeprefix("RUN ")) == [
        "python3",
        "/tmp/mlopsctl-build/install_env.py",
        "/tmp/mlopsctl-build/wheels",
        "3.11",
        str(EPOCH),
    ]


def test_the_service_runs_as_a_numeric_non_root_user_on_PORT() -> None:
    text = render_dockerfile(PLAN)
    assert "USER 10001:10001" in text
    assert "EXPOSE 8080" in text
    assert "PORT=8080" in text
    script = entrypoint()[2]
    assert script == (
        "exec /opt/mlopsctl/venv/bin/python -m mlopsctl.serve --record /model/record.yaml "
        '--artifact /model/model.skops --host 0.0.0.0 --port "${PORT}" "$@"'
    )


def test_the_healthcheck_asks_ready_with_python_not_curl() -> None:
    line = next(line for line in _instructions(render_dockerfile(PLAN)) if line.startswith("HEALTHCHECK"))
    assert line.startswith("HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD [")
    command = health_command()
    assert command[0] == "/opt/mlopsctl/venv/bin/python"
    assert "/health/ready" in command[2] and "PORT" in command[2]
    compile(command[2], "<healthcheck>", "exec")


def test_labels_are_sorted_and_quoted_against_expansion() -> None:
    text = render_labels({"b": 'say "hi"', "a": "costs $5\nnow", "c": "back\\slash"})
    assert text == 'LABEL a="costs \\$5 now" \\\n      b="say \\"hi\\"" \\\n      c="back\\\\slash"'


def _sample_context(tmp_path: Path) -> BuildContext:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    context = BuildContext()
    context.add_bytes("model/record.yaml", b"version: 1\n")
    context.add_file("build/wheels/demo-1.0-py3-none-any.whl", wheel)
    context.add_bytes("Dockerfile", b"FROM scratch\n")
    return context


def test_the_context_tar_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    context = _sample_context(tmp_path)
    first, second = io.BytesIO(), io.BytesIO()
    context.write_tar(first)
    (tmp_path / "demo-1.0-py3-none-any.whl").touch()  # a new mtime on disk changes nothing
    context.write_tar(second)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = tar.getmembers()
    assert [member.name for member in members] == [
        "build", "build/wheels", "model",
        "Dockerfile", "build/wheels/demo-1.0-py3-none-any.whl", "model/record.yaml",
    ]  # fmt: skip
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(EPOCH, 0, 0, "", "")}
    assert {m.mode for m in members if m.isdir()} == {0o755}
    assert {m.mode for m in members if m.isfile()} == {0o644}


def test_the_context_can_be_written_to_a_folder(tmp_path: Path) -> None:
    _sample_context(tmp_path).write_dir(tmp_path / "ctx")
    assert (tmp_path / "ctx" / "model" / "record.yaml").read_bytes() == b"version: 1\n"
    assert (tmp_path / "ctx" / "build" / "wheels" / "demo-1.0-py3-none-any.whl").read_bytes() == b"wheel bytes"


def test_recorded_versions_reads_the_trainers_mapping_and_a_list() -> None:
    environment = {"packages": {"scikit-learn": "1.5.0", "NumPy": "2.0.1", "skops": None}}
    assert recorded_versions(environment) == {"scikit-learn": "1.5.0", "numpy": "2.0.1"}
    assert recorded_versions({"packages": ["scikit_learn==1.4.2", "pandas"]}) == {"scikit-learn": "1.4.2"}
    assert recorded_versions({}) == {}


def test_pins_take_the_training_versions_and_close_over_dependencies() -> None:
    pins = {pin.name: pin for pin in serving_pins(["scikit-learn"], {"scikit-learn": "1.0.0"}, TargetPython())}
    assert pins["scikit-learn"] == Pin("scikit-learn", "1.0.0", "record")
    from importlib.metadata import version

    assert pins["numpy"] == Pin("numpy", version("numpy"), "installed")
    assert {"scipy", "joblib", "threadpoolctl"} <= set(pins)


def test_pins_follow_markers_for_the_target_and_leave_out_extras_and_mlopsctl() -> None:
    names = {pin.name for pin in serving_pins(["pandas", "mlopsctl"], {}, TargetPython())}
    assert "python-dateutil" in names
    assert "tzdata" not in names or _tzdata_required_on_linux()
    assert "pytest" not in names  # pandas[test] is an extra
    assert "mlopsctl" not in names  # the image carries its modules, not the distribution


def _tzdata_required_on_linux() -> bool:
    from importlib.metadata import requires

    return any(line.startswith("tzdata") and "win32" not in line for line in requires("pandas") or [])


def test_platform_tags_cover_every_manylinux_the_base_glibc_accepts() -> None:
    tags = platform_tags(TargetPython(glibc=(2, 28)))
    assert tags[0] == "manylinux_2_28_x86_64"
    assert "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert "manylinux_2_31_x86_64" not in tags
    assert platform_tags(TargetPython(machine="aarch64", glibc=(2, 17)))[0] == "manylinux_2_17_aarch64"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", ("scikit-learn", "1.5.0")),
        ("pip-24.0-py3-none-any.whl", ("pip", "24.0")),
        ("PyYAML-6.0.1-cp311-cp311-manylinux_2_17_x86_64.whl", ("pyyaml", "6.0.1")),
    ],
)
def test_wheel_names_give_the_pinned_requirement(name: str, expected: tuple[str, str]) -> None:
    assert wheel_name_version(Path(name)) == expected


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("git@github.com:acme/models.git", "https://github.com/acme/models"),
        ("ssh://git@gitlab.example:2222/team/models.git", "https://gitlab.example/team/models"),
        ("https://user:token@github.com/acme/models.git", "https://github.com/acme/models"),
        ("https://git.example:8443/acme/models", "https://git.example:8443/acme/models"),
        ("/srv/git/models.git", None),
        ("file:///srv/git/models.git", None),
    ],
)
def test_the_source_label_is_the_remote_without_credentials(remote: str, expected: str | None) -> None:
    from mlopsctl.build.api import source_url

    assert source_url(remote) == expected
