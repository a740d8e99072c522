"""Helpers for tests that use the real outside services: a Docker engine and Prometheus.

The services come from ``scripts/services.sh`` (see docs/services.md):

* a Docker engine on the default socket (``/var/run/docker.sock``) and the local base image
  :data:`BASE_IMAGE` (Debian bookworm with Python 3.11, built without any image registry);
* the ``prometheus`` and ``promtool`` binaries. Tests never use a system Prometheus: each one
  starts its own :class:`PrometheusServer` on 127.0.0.1 with its own config on a free port.

When a service is missing, :func:`require_docker` / :func:`require_prometheus` skip the test,
except under ``CI=true``, where a skip would hide a broken setup: there they fail the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import pytest

BASE_IMAGE = "mlopsctl/python:3.11-bookworm"
"""The local image with Python 3.11 that ``scripts/services.sh`` builds (no registry pull)."""

SETUP_HINT = "run scripts/services.sh as root to set it up (see docs/services.md)"

READY_TIMEOUT = 30.0
"""Upper bound, in seconds, for a Prometheus server to answer ``/-/ready``."""

# Requests to 127.0.0.1 must never go through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ------------------------------------------------------------------ skip or fail


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where a missing service is an error."""
    return os.environ.get("CI") == "true"


def missing_service(reason: str) -> NoReturn:
    """Skip the current test, or fail it under ``CI=true`` (in CI a skip counts as a failure)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: missing services fail instead of skipping)", pytrace=False)
    pytest.skip(reason)


# ------------------------------------------------------------------ docker


def docker_client(timeout: float = 60.0) -> Any:
    """A ``docker.DockerClient`` for the engine from the environment (default socket)."""
    import docker

    return docker.from_env(timeout=timeout)


def docker_available(timeout: float = 3.0) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds."""
    try:
        client = docker_client(timeout=timeout)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def base_image_available(timeout: float = 10.0) -> bool:
    """True when the engine answers and has :data:`BASE_IMAGE`."""
    try:
        client = docker_client(timeout=timeout)
    except Exception:
        return False
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        return False
    finally:
        client.close()
    return True


def require_docker() -> None:
    """Skip (or fail under ``CI=true``) unless a Docker engine answers."""
    if not docker_available():
        missing_service(f"no Docker engine answers on the default socket; {SETUP_HINT}")


def require_base_image() -> None:
    """Like :func:`require_docker`, and also requires :data:`BASE_IMAGE` to be built."""
    require_docker()
    if not base_image_available():
        missing_service(f"the Docker image {BASE_IMAGE} is not built; {SETUP_HINT}")


def image_test_repo(root: Path, name: str, message: str, base: str = BASE_IMAGE) -> Path:
    """A template repo made quick to build into images, committed: the local base image and no
    registry, a 20-tree forest without a search grid, and only a quality gate. Nothing trained."""
    import yaml

    from mlopsctl.gitops.git import Git
    from mlopsctl.scaffold.init import init_repo

    root = init_repo(root, name).root
    settings = yaml.safe_load((root / "mlops.yaml").read_text())
    settings["image"] = {"base": base, "registry": None}
    (root / "mlops.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 20
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    Git(root).commit(["mlops.yaml", "models/churn/model.yaml"], message)
    return root


def remove_project_images(project: str) -> int:
    """Remove every image mlopsctl built for ``project`` (its label), tagged or left dangling by a
    rebuild, so repeated test runs do not fill the disk; returns how many went."""
    import docker

    client = docker_client()
    removed = 0
    try:
        for image in client.api.images(all=False, filters={"label": [f"dev.mlopsctl.project={project}"]}):
            try:
                client.api.remove_image(image["Id"], force=True)
                removed += 1
            except docker.errors.APIError:
                continue  # still used by a container another test keeps, or already gone
    finally:
        client.close()
    return removed


# ------------------------------------------------------------------ prometheus


def require_prometheus() -> None:
    """Skip (or fail under ``CI=true``) unless ``prometheus`` and ``promtool`` are on PATH."""
    missing = [name for name in ("prometheus", "promtool") if shutil.which(name) is None]
    if missing:
        missing_service(f"{' and '.join(missing)} not found on PATH; {SETUP_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def promtool_check_metrics(text: str, timeout: float = 30.0) -> tuple[bool, str]:
    """Run ``promtool check metrics`` on ``text`` (a text exposition) given on stdin.

    Returns ``(ok, output)``: ``ok`` is False on a parse error and also on lint problems
    (e.g. a counter without the ``_total`` suffix); ``output`` holds promtool's messages.
    """
    exe = shutil.which("promtool")
    if exe is None:
        raise FileNotFoundError(f"promtool not found on PATH; {SETUP_HINT}")
    proc = subprocess.run(
        [exe, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part.strip())
    return proc.returncode == 0, output


def _duration(value: str | float) -> str:
    """A Prometheus duration: ``"1s"`` stays as is, ``0.5`` (seconds) becomes ``"500ms"``."""
    if isinstance(value, str):
        return value
    millis = round(value * 1000)
    if millis <= 0:
        raise ValueError(f"scrape interval must be positive, got {value!r}")
    return f"{millis}ms"


def _check_target(target: str) -> str:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"scrape target must be 'host:port', got {target!r}")
    return target


class PrometheusServer:
    """A real Prometheus on 127.0.0.1, on its own port, with its own config and storage.

    Use as a context manager::

        with PrometheusServer(["127.0.0.1:8000"]) as prom:
            prom.wait_for('up{instance="127.0.0.1:8000"} == 1')
            prom.stop()   # e.g. to check what a client does when Prometheus goes away
            prom.start()  # back again, same URL and data

    ``__exit__`` stops the process (SIGTERM, then SIGKILL after a timeout) and removes the
    temporary directory holding ``prometheus.yml``, the TSDB and ``prometheus.log``.
    """

    def __init__(
        self,
        targets: Iterable[str] = (),
        scrape_interval: str | float = "1s",
        *,
        job_name: str = "mlopsctl",
        metrics_path: str = "/metrics",
        rule_files: Sequence[str | Path] = (),
        port: int | None = None,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.targets = [_check_target(t) for t in targets]
        self.scrape_interval = _duration(scrape_interval)
        self.job_name = job_name
        self.metrics_path = metrics_path
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.ready_timeout = min(ready_timeout, READY_TIMEOUT)
        self._fixed_port = port
        self.port: int | None = port
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    # -- paths and config

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (valid once started)."""
        if self.port is None:
            raise RuntimeError("PrometheusServer has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self._workdir() / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self._workdir() / "prometheus.log"

    def _workdir(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="mlopsctl-prometheus-"))
        return self.workdir

    def config(self) -> dict[str, Any]:
        """The configuration written to ``prometheus.yml``."""
        cfg: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": self.job_name,
                    "metrics_path": self.metrics_path,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }
        if self.rule_files:
            cfg["rule_files"] = [str(p) for p in self.rule_files]
        return cfg

    def _write_config(self) -> None:
        # JSON is valid YAML: no YAML library needed, no quoting surprises.
        self.config_path.write_text(json.dumps(self.config(), indent=2) + "\n")

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrometheusServer:
        """Start the server and wait (at most ``ready_timeout`` s) until ``/-/ready`` answers.

        After :meth:`stop`, starts it again on the same port with the same data.
        """
        if self.running:
            return self
        exe = shutil.which("prometheus")
        if exe is None:
            raise FileNotFoundError(f"prometheus not found on PATH; {SETUP_HINT}")
        workdir = self._workdir()
        (workdir / "data").mkdir(exist_ok=True)
        self._write_config()
        # A port picked by free_port() can be taken before Prometheus binds it: retry with
        # a new one, unless the port is fixed (given by the caller, or kept for a restart).
        pick_port = self.port is None
        last_error = ""
        for _ in range(3 if pick_port else 1):
            if pick_port:
                self.port = free_port()
            self._spawn(exe, workdir)
            problem = self._wait_ready()
            if problem is None:
                return self
            last_error = problem
            self._terminate()
            if not (pick_port and "address already in use" in self.log_text()):
                break
        raise RuntimeError(f"Prometheus did not become ready: {last_error}\n{self.log_text()[-2000:]}")

    def _spawn(self, exe: str, workdir: Path) -> None:
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/close()
        self._proc = subprocess.Popen(
            [
                exe,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )

    def _wait_ready(self) -> str | None:
        deadline = time.monotonic() + self.ready_timeout
        problem = "timed out"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return f"process exited with code {self._proc.returncode}"
            try:
                with _OPENER.open(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return None
            except (urllib.error.URLError, OSError) as exc:
                problem = f"timed out ({exc})"
            time.sleep(0.1)
        return f"{problem} after {self.ready_timeout:.0f} s"

    def _terminate(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server now (SIGTERM, SIGKILL after ``timeout`` s); the URL stops answering.

        Config and data are kept until the context exits, so :meth:`start` can bring it back.
        """
        self._terminate(timeout)

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        self._terminate()
        self._proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.port = self._fixed_port

    def __enter__(self) -> PrometheusServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_text(self) -> str:
        """What Prometheus printed so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- configuration changes at run time

    def reload(self) -> None:
        """Apply a changed config through ``POST /-/reload`` (``--web.enable-lifecycle``)."""
        req = urllib.request.Request(self.url + "/-/reload", method="POST")
        with _OPENER.open(req, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"reload failed with HTTP {resp.status}")

    def set_targets(self, targets: Iterable[str]) -> None:
        """Replace the scrape targets and reload the running server."""
        self.targets = [_check_target(t) for t in targets]
        self._write_config()
        if self.running:
            self.reload()

    # -- HTTP API

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raises on an API error)."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path.lstrip('/')}" + (f"?{query}" if query else "")
        with _OPENER.open(url, timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus API error for {url}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant PromQL query; returns the vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns a non-empty vector; raise on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no result for {promql!r} within {timeout:.0f} s")
            time.sleep(0.2)


class MetricsHTTPServer:
    """A tiny scrape target: serves ``text`` at ``/metrics`` on 127.0.0.1 from a thread.

    ``target`` is the ``host:port`` to give :class:`PrometheusServer`; assign ``text`` to
    change what the next scrape sees.
    """

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, text: str = "", path: str = "/metrics") -> None:
        self.text = text
        self.path = path
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != outer.path:
                    self.send_error(404)
                    return
                outer.requests += 1
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", outer.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> MetricsHTTPServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
