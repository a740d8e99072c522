"""``mlopsctl status`` for 200 deployments against a real Prometheus (target: under 1 s).

    python bench/bench_status.py [--deployments 200] [--repeat 5]

Sets up, all on 127.0.0.1 and bounded in time: a model repository with N models (spec and
registered version each) deployed in one environment, N small exporters serving contract-shaped
metrics with growing counters (one thread each, one port each), and a real Prometheus running
the configuration ``mlopsctl monitoring render`` writes, scraping every 5 s. Once every target
is up and scraped twice, it times:

* ``collect_health`` in-process (load the repo, the batched queries, judging every deployment);
* the whole ``mlopsctl status --env bench -o json`` command as a fresh process.

It also prints how many /api/v1/query requests one refresh made (the same for any N).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlopsctl.contract import metrics as mc  # noqa: E402
from mlopsctl.contract.binning import bin_labels  # noqa: E402
from mlopsctl.contract.records import Reference  # noqa: E402
from mlopsctl.scaffold.init import init_repo  # noqa: E402
from tests.support.services import PrometheusServer  # noqa: E402
from tests.support.status_repo import (  # noqa: E402
    make_reference,
    serving,
    training_data,
    write_record,
)

ENV = "bench"
RATE = 20.0  # observations per second per model


class Exporter:
    """Counters that grow with time at the reference shares: a steady, undrifted service."""

    def __init__(self, model: str, reference: Reference) -> None:
        self.model = model
        self.reference = reference
        self.started = time.time()

    def text(self) -> str:
        elapsed = time.time() - self.started
        labels = f'model="{self.model}",version="1",role="stable"'
        lines = [f"{mc.PROCESS_START_TIME} {self.started}", f"{mc.PROCESS_RESIDENT_MEMORY} 5e7"]
        lines.append(f"{mc.PROCESS_CPU_SECONDS} {elapsed / 100}")
        requests = int(elapsed * RATE / 10)
        lines.append(f'{mc.REQUESTS_TOTAL}{{{labels},route="/predict",code="200"}} {requests}')
        for bound in [*mc.LATENCY_BUCKETS, "+Inf"]:
            count = requests if bound == "+Inf" or float(bound) >= 0.005 else 0
            lines.append(f'{mc.REQUEST_DURATION}_bucket{{{labels},route="/predict",le="{bound}"}} {count}')
        for feature, binned in self.reference.features.items():
            for label, share in zip(bin_labels(binned), binned.shares, strict=True):
                series = f'{labels},feature="{feature}",bin="{label}"'
                lines.append(f"{mc.FEATURE_BIN_TOTAL}{{{series}}} {int(elapsed * RATE * share)}")
                lines.append(f"{mc.FEATURE_REFERENCE_SHARE}{{{series}}} {share!r}")
            lines.append(f'{mc.FEATURE_MISSING_TOTAL}{{{labels},feature="{feature}"}} 0')
        return "\n".join(lines) + "\n"


class TimedSource:
    """Wraps a metrics source and adds up the time spent in its queries."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.description = inner.description
        self.seconds = 0.0

    def fetch(self, queries: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.fetch(queries)
        finally:
            self.seconds += time.perf_counter() - started


class RenderedPrometheus(PrometheusServer):
    def __init__(self, folder: Path) -> None:
        super().__init__([], "5s", ready_timeout=30)
        self.folder = folder

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load((self.folder / "prometheus.yml").read_text())
        config["rule_files"] = [str(self.folder / "rules.yml")]
        return config


def make_repo(folder: Path, count: int) -> tuple[Path, list[str], Reference]:
    root = init_repo(folder / "repo", "bench").root
    reference = make_reference(training_data(root))
    spec = (root / "models" / "churn" / "model.yaml").read_text()
    names = [f"model-{i:03d}" for i in range(count)]
    for name in names:
        (root / "models" / name).mkdir()
        (root / "models" / name / "model.yaml").write_text(spec.replace("name: churn", f"name: {name}", 1))
        write_record(root, name, 1, reference)
    return root, names, reference


def set_env(root: Path, ports: dict[str, int]) -> None:
    doc = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Environment",
        "name": ENV,
        "target": "local",
        "deployments": {name: {"version": 1, "port": port} for name, port in ports.items()},
    }
    (root / "environments" / f"{ENV}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def query_requests(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line
    )


def wait_until(prometheus: PrometheusServer, promql: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prometheus.query(promql):
            return
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {promql}")


SERVE_SECONDS = 600
"""The exporter process stops by itself after this long, whatever happens to the bench."""


def serve_all(root: Path, names: list[str], ports_file: Path) -> None:
    """The exporters, in their own process so they do not share the measured process's GIL."""
    reference = make_reference(training_data(root))
    with ExitStack() as stack:
        ports = {name: stack.enter_context(serving(Exporter(name, reference), poll_interval=2.0)) for name in names}
        ports_file.write_text(json.dumps(ports))
        time.sleep(SERVE_SECONDS)


def start_exporters(root: Path, names: list[str], work: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports_file = work / "ports.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(root), "--names", ",".join(names)]
    child = subprocess.Popen([*command, "--ports-file", str(ports_file)])
    deadline = time.monotonic() + 60
    while not ports_file.is_file():
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            raise SystemExit("the exporters did not start")
        time.sleep(0.2)
    time.sleep(0.2)
    return child, json.loads(ports_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--names", help=argparse.SUPPRESS)
    parser.add_argument("--ports-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_all(args.serve, args.names.split(","), args.ports_file)
        return
    work = Path(tempfile.mkdtemp(prefix="mlopsctl-bench-status-"))
    try:
        run(work, args.deployments, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, count: int, repeat: int) -> None:
    from mlopsctl.monitor.cache import open_for_health
    from mlopsctl.monitor.health import collect_health
    from mlopsctl.monitor.render import render_environment, write_rendered
    from mlopsctl.monitor.sources import PrometheusSource
    from mlopsctl.spec.loader import open_repo

    root, names, _ = make_repo(work, count)
    with ExitStack() as stack:
        child, ports = start_exporters(root, names, work)
        stack.callback(child.wait, 30)
        stack.callback(child.terminate)
        set_env(root, ports)
        write_rendered(render_environment(open_repo(root), ENV, scrape_interval="5s"), work / "monitoring")
        prometheus = stack.enter_context(RenderedPrometheus(work / "monitoring"))
        wait_until(prometheus, f'count(up{{env="{ENV}"}} == 1) == {count}', timeout=60)
        time.sleep(11)  # two more scrapes, so increase() has data in the window
        import os

        os.environ["MLOPS_PROMETHEUS_URL"] = prometheus.url
        in_process, fetching, states = [], [], {}
        for _ in range(repeat):
            before = query_requests(prometheus.url)
            started = time.perf_counter()
            repo = open_for_health(root)
            source = TimedSource(PrometheusSource(repo.settings.prometheus, [ENV]))
            report = collect_health(repo, ENV, window="1m", source=source)
            in_process.append(time.perf_counter() - started)
            fetching.append(source.seconds)
            queries = query_requests(prometheus.url) - before
            states = {str(d.state) for d in report.deployments}
        command = [sys.executable, "-m", "mlopsctl", "status", "--repo", str(root), "--env", ENV, "-o", "json"]
        cli_times = []
        for _ in range(repeat):
            started = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
            cli_times.append(time.perf_counter() - started)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"status failed ({proc.returncode}): {proc.stderr[-2000:]}")
        deployments = len(json.loads(proc.stdout)["deployments"])
    print(
        f"| deployments | queries per refresh | status in-process (median of {repeat}) | of which Prometheus "
        "queries | whole CLI process (median) |"
    )
    print("|---|---|---|---|---|")
    median_in, median_cli = statistics.median(in_process), statistics.median(cli_times)
    median_fetch = statistics.median(fetching)
    print(f"| {deployments} | {queries:.0f} | {median_in:.3f} s | {median_fetch:.3f} s | {median_cli:.3f} s |")
    print(f"states seen: {sorted(states)}; target: under 1 s", file=sys.stderr)


if __name__ == "__main__":
    main()
