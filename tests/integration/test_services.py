"""The outside services from scripts/services.sh work for real, and so do the test helpers."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.services import (
    BASE_IMAGE,
    MetricsHTTPServer,
    PrometheusServer,
    base_image_available,
    docker_available,
    docker_client,
    free_port,
    promtool_check_metrics,
    require_base_image,
    require_docker,
    require_prometheus,
)

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

VALID_EXPOSITION = """\
# HELP mlopsctl_predictions_total Predictions served.
# TYPE mlopsctl_predictions_total counter
mlopsctl_predictions_total{model="iris",version="3"} 17
# HELP mlopsctl_model_info Model being served.
# TYPE mlopsctl_model_info gauge
mlopsctl_model_info{model="iris",version="3"} 1
"""


# ------------------------------------------------------------------ docker


@pytest.mark.docker
def test_base_image_runs_python_311_without_network() -> None:
    require_base_image()
    assert docker_available()
    assert base_image_available()
    client = docker_client()
    try:
        out = client.containers.run(
            BASE_IMAGE,
            [
                "python3",
                "-c",
                "import os, sys; print(sys.version_info[:2]); print(sorted(os.listdir('/sys/class/net')))",
            ],
            network_mode="none",
            remove=True,
            stdout=True,
            stderr=True,
        )
    finally:
        client.close()
    assert out.decode().splitlines() == ["(3, 11)", "['lo']"]


@pytest.mark.docker
def test_base_image_makes_a_working_venv() -> None:
    require_base_image()
    client = docker_client()
    script = "python3 -m venv /tmp/v && /tmp/v/bin/python -c 'import pip, sys; print(sys.prefix)'"
    try:
        out = client.containers.run(BASE_IMAGE, ["sh", "-c", script], network_mode="none", remove=True, stderr=True)
    finally:
        client.close()
    assert out.decode().strip() == "/tmp/v"


# ------------------------------------------------------------------ prometheus


@pytest.mark.prometheus
def test_prometheus_scrapes_targets_answers_promql_and_stops() -> None:
    require_prometheus()
    dead_target = f"127.0.0.1:{free_port()}"  # nothing listens there
    with (
        MetricsHTTPServer(VALID_EXPOSITION) as exporter,
        PrometheusServer([exporter.target, dead_target], scrape_interval="1s") as prom,
    ):
        assert prom.url == f"http://127.0.0.1:{prom.port}"
        assert prom.config_path.is_file()

        up = prom.wait_for(f'up{{instance="{exporter.target}"}}', timeout=20)
        assert len(up) == 1
        assert up[0]["metric"] == {"__name__": "up", "instance": exporter.target, "job": "mlopsctl"}
        assert up[0]["value"][1] == "1"
        assert exporter.requests >= 1

        down = prom.wait_for(f'up{{instance="{dead_target}"}}', timeout=20)
        assert down[0]["value"][1] == "0"

        served = prom.wait_for('mlopsctl_predictions_total{model="iris"}', timeout=20)
        assert served[0]["metric"]["version"] == "3"
        assert float(served[0]["value"][1]) == 17.0

        # Prometheus goes away: the URL stops answering.
        prom.stop()
        assert not prom.running
        with pytest.raises(urllib.error.URLError):
            NO_PROXY.open(prom.url + "/-/ready", timeout=2)

        # ... and comes back on the same URL, with the same data.
        url = prom.url
        prom.start()
        assert prom.url == url
        assert prom.running
        with NO_PROXY.open(prom.url + "/-/ready", timeout=5) as resp:
            assert resp.status == 200
        assert prom.query("count(up)") != []

    workdir_gone = prom.workdir is None
    assert workdir_gone and not prom.running


@pytest.mark.prometheus
def test_prometheus_set_targets_reloads_config() -> None:
    require_prometheus()
    with (
        MetricsHTTPServer("# TYPE mlopsctl_probe gauge\nmlopsctl_probe 5\n") as exporter,
        PrometheusServer([], scrape_interval=0.5) as prom,
    ):
        assert prom.query("up") == []
        prom.set_targets([exporter.target])
        probe = prom.wait_for("mlopsctl_probe", timeout=20)
        assert probe[0]["metric"]["instance"] == exporter.target
        assert probe[0]["value"][1] == "5"


def test_prometheus_server_rejects_bad_target() -> None:
    with pytest.raises(ValueError, match="host:port"):
        PrometheusServer(["localhost"])


@pytest.mark.prometheus
def test_promtool_accepts_valid_and_rejects_invalid_exposition() -> None:
    require_prometheus()
    ok, output = promtool_check_metrics(VALID_EXPOSITION)
    assert ok, output

    ok, output = promtool_check_metrics('mlopsctl_broken{model="iris" 1\n')
    assert not ok
    assert "error" in output.lower()

    # Lint problems count as failures too: a counter must end in _total.
    ok, output = promtool_check_metrics(
        "# HELP mlopsctl_requests Requests.\n# TYPE mlopsctl_requests counter\nmlopsctl_requests 1\n"
    )
    assert not ok
    assert "_total" in output


# ------------------------------------------------------------------ skip vs fail


def test_missing_service_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus, no promtool
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert not docker_available(timeout=1)

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="prometheus and promtool not found"):
        require_prometheus()
    with pytest.raises(pytest.skip.Exception, match="no Docker engine"):
        require_docker()

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_prometheus()
    with pytest.raises(pytest.fail.Exception, match="no Docker engine"):
        require_docker()
