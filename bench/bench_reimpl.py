"""Each of mlopsctl's four re-implementations of a library against that library, same run, same input.

A re-implementation is kept only where it is at least 1.5x better on the figure it exists for
(issue 12). The sections:

- ``serve``: the HTTP server (:mod:`mlopsctl.serve.httpserver`) against uvicorn 1 worker with its
  h11 protocol (``http="h11"``, asyncio loop, no access log), both serving the very same
  application: uvicorn calls, through a minimal ASGI adapter written here, the same
  :class:`~mlopsctl.serve.app.ServiceApp` (routing, request metrics, drift counters, the compiled
  predictor) that ``python -m mlopsctl.serve`` serves, so only the HTTP layer differs. Single-row
  ``POST /predict`` at concurrency 16, keep-alive, loopback, from bench_serve.py's load generator
  (imported); the two servers run side by side and are driven in alternating rounds. Figures:
  requests/s, server CPU per request, p99 latency.
- ``artifact``: cold start of a service's model load, i.e. import + load of a skops artifact in a
  fresh ``python -c`` process: the lean reader (``skops_reader.loads`` under the artifact policy;
  also the whole serving path ``load_pipeline_bytes``: digest, policy, reader) against
  ``skops.io.loads(data, trusted=<the file's types>)`` on the same bytes. Logistic regression and
  50-tree random forest pipelines as bench_serve.py builds them. Best and median of N processes.
- ``promtext``: parsing the ``/metrics`` pages of 200 services (``status`` with a direct scrape),
  each rendered by :mod:`mlopsctl.serve.metrics` for a model with 20 features after some traffic,
  into ``{(name, labels): value}`` (what the scrape source keeps) with :mod:`mlopsctl.monitor.promtext`
  against ``prometheus_client.parser.text_string_to_metric_families``.
- ``yaml``: reading 200 model specs, 3 environment files (200 deployments each) and 200 version records as ``validate``
  (``load_yaml``: libyaml composes, the position builder adds positions, duplicate keys, bounds)
  and ``plan`` (``load_yaml_fast``: libyaml's own constructor when the document has no anchor) do,
  against ``yaml.safe_load`` and ``yaml.load(..., Loader=yaml.CSafeLoader)`` of the same files. An
  extra row shows PyYAML's pure-Python composer feeding the same position builder (what
  ``load_yaml`` costs where libyaml is not installed, and what it cost before issue 12).

Ratios are written so that above 1 means mlopsctl's code is better. Usage:

    .venv/bin/python bench/bench_reimpl.py                  # all four sections (about 3 minutes)
    .venv/bin/python bench/bench_reimpl.py serve yaml       # some sections
    .venv/bin/python bench/bench_reimpl.py --quick          # short run

uvicorn, h11 and prometheus_client are bench-only: the script creates ``bench/.venv-anchors``
(``python3 -m venv`` + ``pip install uvicorn h11 prometheus-client``) when it is missing, and puts
its site-packages on the path of the anchor process (uvicorn) or, for the parser, at the end of
this process's path. They never become dependencies of mlopsctl.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from bench.bench_serve import (  # noqa: E402
    Load,
    Server,
    check_predictions,
    drive,
    fitted_models,
    free_port,
    split_body,
    write_ours,
)

ANCHORS_VENV = ROOT / "bench" / ".venv-anchors"
ANCHOR_PACKAGES = ["uvicorn", "h11", "prometheus-client"]
OUT = ROOT / "bench" / "out" / "reimpl"
SECTIONS = ("serve", "artifact", "promtext", "yaml")
KEEP_AT = 1.5

# --------------------------------------------------------------------------- the anchors' venv


def anchors_site() -> Path:
    """site-packages of bench/.venv-anchors, created (venv + pip install) when missing."""
    python = ANCHORS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {ANCHORS_VENV} with {' '.join(ANCHOR_PACKAGES)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ANCHORS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = ANCHORS_VENV / "lib" / version / "site-packages"
    if not site.is_dir():
        raise SystemExit(f"{ANCHORS_VENV} is not a {version} venv; remove it and run again")
    return site


def loadavg() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def verdict(ratio: float) -> str:
    return "keep" if ratio >= KEEP_AT else "replace with the library"


# --------------------------------------------------------------------------- serve

UVICORN_SERVER = r"""
import gc, sys
sys.path.insert(0, sys.argv[1])  # uvicorn and h11 from bench/.venv-anchors
from pathlib import Path
import h11, uvicorn
from mlopsctl.serve.app import ServiceApp
from mlopsctl.serve.httpserver import Limits, Request, Response
from mlopsctl.serve.runner import load_files
from mlopsctl.serve.service import build_service

gc.disable()  # load as the service does (runner._load): collector paused, loaded heap frozen
service_app = ServiceApp(Limits(), build_service(load_files(Path(sys.argv[2]), Path(sys.argv[3]))))
gc.freeze()
gc.enable()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    request = Request(
        scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
        "HTTP/" + scope["http_version"], headers, body,
    )
    result = service_app.handle(request)
    response = result if isinstance(result, Response) else await result
    out = [(b"content-type", response.content_type.encode()), (b"content-length", str(len(response.body)).encode())]
    out += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": out})
    await send({"type": "http.response.body", "body": response.body})


print(f"uvicorn {uvicorn.__version__} h11 {h11.__version__}", file=sys.stderr, flush=True)
uvicorn.run(
    app, host="127.0.0.1", port=int(sys.argv[4]), http="h11", loop="asyncio", workers=1,
    lifespan="off", access_log=False, log_level="warning",
)
"""


@dataclass
class ServeRow:
    model: str
    server: str
    load: Load

    @property
    def cpu_ms(self) -> float:
        return self.load.cpu / self.load.requests * 1000 if self.load.requests else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.load.percentile(0.99) * 1000


def serve_pair(record: Path, artifact: Path, site: Path) -> list[Server]:
    ours_port, uvicorn_port = free_port(), free_port()
    ours = Server(
        "mlopsctl httpserver",
        [
            *(sys.executable, "-m", "mlopsctl.serve", "--record", str(record), "--artifact", str(artifact)),
            *("--port", str(ours_port), "--log-level", "WARNING"),
        ],
        "/health/ready",
        "/predict",
        ours_port,
    )
    anchor = Server(
        "uvicorn h11",
        [sys.executable, "-c", UVICORN_SERVER, str(site), str(record), str(artifact), str(uvicorn_port)],
        "/health/ready",
        "/predict",
        uvicorn_port,
    )
    return [ours, anchor]


def merged(loads: list[Load]) -> Load:
    total = Load()
    for load in loads:
        total.requests += load.requests
        total.errors += load.errors
        total.seconds += load.seconds
        total.cpu += load.cpu
        total.latencies.extend(load.latencies)
    return total


def drive_rounds(servers: list[Server], body: bytes, count: int, rounds: int, limit: float) -> dict[str, Load]:
    """Alternate the servers round by round, so a burst of other work on the machine hits both."""
    per: dict[str, list[Load]] = {s.name: [] for s in servers}
    for server in servers:
        drive(server, body, 300, 16, limit)  # warm up
    for _ in range(rounds):
        for server in servers:
            per[server.name].append(drive(server, body, count, 16, limit))
    return {name: merged(loads) for name, loads in per.items()}


def bench_serve(quick: bool) -> str:
    site = anchors_site()
    count, rounds, limit = (1000, 2, 10.0) if quick else (4000, 3, 30.0)
    folder = OUT / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    frame, models = fitted_models()
    rows: list[ServeRow] = []
    for name, pipeline in models.items():
        record, artifact = write_ours(folder, name, pipeline, frame)
        servers = serve_pair(record, artifact, site)
        try:
            for server in servers:
                server.start()
                check_predictions(server, pipeline, frame.head(300))
            body = split_body(frame.sample(1, random_state=1))
            for server_name, load in drive_rounds(servers, body, count, rounds, limit).items():
                rows.append(ServeRow(name, server_name, load))
                print(f"  {name:10} {server_name:20} {load.rate:7.0f} req/s errors={load.errors}", flush=True)
        finally:
            for server in servers:
                server.stop()
    return f"Anchor: {anchor_versions(site)}, 1 worker, asyncio loop, no access log. " + serve_table(
        rows, count, rounds
    )


def anchor_versions(site: Path) -> str:
    from importlib.metadata import distributions

    found = {d.metadata["Name"].lower(): d.version for d in distributions(path=[str(site)])}
    return ", ".join(f"{name} {found.get(name, '?')}" for name in ("uvicorn", "h11"))


def serve_table(rows: list[ServeRow], count: int, rounds: int) -> str:
    lines = [
        f"Single-row POST /predict, concurrency 16, keep-alive, loopback; {rounds} alternating rounds of "
        f"{count} requests per server (after 300 warm-up requests); server CPU from /proc.",
        "",
        "| model | server | requests | errors | req/s | p50 ms | p99 ms | server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.server} | {r.load.requests} | {r.load.errors} | {r.load.rate:.0f} | "
            f"{r.load.percentile(0.5) * 1000:.2f} | {r.p99_ms:.2f} | {r.cpu_ms:.3f} |"
        )
    lines += [
        "",
        "| model | throughput mlopsctl/uvicorn | CPU/request uvicorn/mlopsctl | p99 uvicorn/mlopsctl | verdict |",
        "|---|---|---|---|---|",
    ]
    by = {(r.model, r.server): r for r in rows}
    for model in dict.fromkeys(r.model for r in rows):
        ours, theirs = by[(model, "mlopsctl httpserver")], by[(model, "uvicorn h11")]
        rate = ours.load.rate / theirs.load.rate
        cpu = theirs.cpu_ms / ours.cpu_ms
        p99 = theirs.p99_ms / ours.p99_ms
        lines.append(f"| {model} | {rate:.2f}x | {cpu:.2f}x | {p99:.2f}x | {verdict(min(rate, cpu))} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- artifact

LOAD_TAIL = r"""
took = time.perf_counter() - began
import json, pandas as pd
rows = json.loads(open(sys.argv[3]).read())
frame = pd.DataFrame(rows["data"], columns=rows["columns"])
print(json.dumps({"seconds": took, "predictions": pipeline.predict(frame).tolist()}))
"""
LOADERS = {
    "lean reader": """
import time; began = time.perf_counter()
import sys
from mlopsctl.registry import artifact_policy, skops_reader
pipeline = skops_reader.loads(open(sys.argv[1], "rb").read(), artifact_policy.refusal)
""",
    "serving path (digest + policy + lean reader)": """
import time; began = time.perf_counter()
import sys
from mlopsctl.registry.artifacts import load_pipeline_bytes
pipeline = load_pipeline_bytes(open(sys.argv[1], "rb").read(), sys.argv[2])
""",
    "skops.io.loads": """
import time; began = time.perf_counter()
import sys, json
import skops.io
pipeline = skops.io.loads(open(sys.argv[1], "rb").read(), trusted=json.loads(sys.argv[2]))
""",
}


@dataclass
class Starts:
    inside: list[float]
    process: list[float]
    cpu: list[float]


def one_start(code: str, args: list[str]) -> tuple[float, float, float, list[Any]]:
    """Import + load seconds inside the process, its wall time and its CPU time, and its predictions."""
    cpu_before = _children_cpu()
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + LOAD_TAIL, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    answer = json.loads(done.stdout.splitlines()[-1])
    return float(answer["seconds"]), wall, _children_cpu() - cpu_before, answer["predictions"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_artifact(quick: bool) -> str:
    import skops.io

    from mlopsctl.registry.artifacts import sha256_hex

    starts_per = 3 if quick else 7
    folder = OUT / "artifact"
    folder.mkdir(parents=True, exist_ok=True)
    frame, models = fitted_models()
    sample = folder / "rows.json"
    head = frame.head(50)
    sample.write_text(json.dumps({"columns": list(head.columns), "data": head.to_numpy().tolist()}))
    results: dict[tuple[str, str], Starts] = {}
    for name, pipeline in models.items():
        _, artifact = write_ours(folder, name, pipeline, frame)
        data = artifact.read_bytes()
        arguments = {
            "lean reader": [str(artifact), "-", str(sample)],
            "serving path (digest + policy + lean reader)": [str(artifact), sha256_hex(data), str(sample)],
            "skops.io.loads": [str(artifact), json.dumps(skops.io.get_untrusted_types(data=data)), str(sample)],
        }
        expected = pipeline.predict(head).tolist()
        for loader in LOADERS:  # one unmeasured start each: the page cache holds the same files for all
            one_start(LOADERS[loader], arguments[loader])
        for loader in LOADERS:
            results[(name, loader)] = Starts([], [], [])
        for _ in range(starts_per):  # interleaved, so other work on the machine hits all loaders alike
            for loader, code in LOADERS.items():
                inside, wall, cpu, predicted = one_start(code, arguments[loader])
                if predicted != expected:
                    raise AssertionError(f"{loader} built a {name} pipeline that predicts differently")
                results[(name, loader)].inside.append(inside)
                results[(name, loader)].process.append(wall)
                results[(name, loader)].cpu.append(cpu)
        print(f"  {name}: {starts_per} starts per loader done", flush=True)
    return artifact_table(results, starts_per)


def artifact_table(results: dict[tuple[str, str], Starts], starts: int) -> str:
    lines = [
        f"Fresh `python -c` processes, {starts} per loader, interleaved; 'import + load' is timed inside the "
        "process from its first statement to the built pipeline, 'process' is start to exit (interpreter "
        "start-up and a 50-row prediction check included). Every built pipeline predicted the same as the "
        "fitted one.",
        "",
        "| model | loader | import + load best s | median s | process median s | process CPU median s |",
        "|---|---|---|---|---|---|",
    ]
    for (model, loader), s in results.items():
        lines.append(
            f"| {model} | {loader} | {min(s.inside):.3f} | {statistics.median(s.inside):.3f} | "
            f"{statistics.median(s.process):.3f} | {statistics.median(s.cpu):.3f} |"
        )
    lines += [
        "",
        "| model | skops/lean reader (median) | skops/serving path (median) | verdict |",
        "|---|---|---|---|",
    ]
    for model in dict.fromkeys(m for m, _ in results):
        skops_s = statistics.median(results[(model, "skops.io.loads")].inside)
        lean = skops_s / statistics.median(results[(model, "lean reader")].inside)
        path = skops_s / statistics.median(results[(model, "serving path (digest + policy + lean reader)")].inside)
        lines.append(f"| {model} | {lean:.2f}x | {path:.2f}x | {verdict(lean)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- promtext


def metrics_pages(count: int, features: int = 20) -> list[str]:
    """/metrics pages of ``count`` services, each a model with ``features`` numeric features after traffic."""
    import pandas as pd

    from mlopsctl.contract.batch import Batch, Prediction
    from mlopsctl.contract.binning import categorical_reference, numeric_reference
    from mlopsctl.contract.records import ArtifactRef, DataFingerprint, InputColumn, Reference, Signature, VersionRecord
    from mlopsctl.serve import metrics

    rng = np.random.default_rng(3)
    names = [f"feature_{i:02d}" for i in range(features)]
    train = pd.DataFrame(rng.normal(size=(4000, features)), columns=names)
    reference = Reference(
        features={n: numeric_reference(train[n], 10) for n in names},
        prediction=categorical_reference(pd.Series(rng.integers(0, 2, 4000)).astype(str)),
    )
    pages = []
    for i in range(count):
        record = VersionRecord(
            model=f"model-{i:03d}",
            version=i % 7 + 1,
            created_at="2024-01-01T00:00:00Z",
            run_id="bench",
            spec_commit=f"{i:040x}",
            spec_sha256="0" * 64,
            task="classification",
            estimator="RandomForestClassifier",
            gates_passed=True,
            data=DataFingerprint(uri="bench", sha256="0" * 64, rows=4000, columns=features, schema_sha256="0" * 64),
            artifact=ArtifactRef(uri="a.skops", sha256=f"{i:064x}", size=1000),
            signature=Signature(
                inputs=[InputColumn(name=n, type="float") for n in names],
                task="classification",
                target="y",
                classes=[0, 1],
            ),
            reference=reference,
        )
        model = metrics.ModelMetrics(record, "stable")
        for _ in range(5):
            rows = int(rng.integers(1, 300))
            values = rng.normal(size=(rows, features))
            values[rng.random(values.shape) < 0.02] = np.nan
            batch = Batch(rows, {n: values[:, j].tolist() for j, n in enumerate(names)})
            model.observe(batch, Prediction(rng.integers(0, 2, rows), None))
        for route, code in (("/predict", 200), ("/predict", 422), ("/health/ready", 200), ("/metrics", 200)):
            for _ in range(int(rng.integers(1, 40))):
                model.request(route, code, float(rng.exponential(0.003)))
        pages.append(metrics.render([model]))
    return pages


def ours_parse(pages: list[str]) -> list[dict[Any, float]]:
    from mlopsctl.monitor import promtext

    return [{(s.name, s.labels): s.value for s in promtext.parse(page)} for page in pages]


def library_parse(pages: list[str]) -> list[dict[Any, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page)
            for s in family.samples
        }
        for page in pages
    ]


def best_of(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times)


def bench_promtext(quick: bool) -> str:
    sys.path.append(str(anchors_site()))  # at the end: prometheus_client only, nothing of ours shadowed
    from importlib.metadata import version

    pages = metrics_pages(200)
    if ours_parse(pages) != library_parse(pages):
        raise AssertionError("promtext and prometheus_client read different samples")
    repeat = 3 if quick else 5
    samples = sum(len(p) for p in ours_parse(pages))
    ours = best_of(lambda: ours_parse(pages), repeat)
    theirs = best_of(lambda: library_parse(pages), repeat)
    size = sum(len(p) for p in pages)
    lines = [
        f"200 pages, {size / len(pages) / 1024:.1f} KiB and {samples // len(pages)} samples each "
        f"(20 features x 11 bins, histograms, counters); best of {repeat}; both produce the same "
        f"`{{(name, labels): value}}` for every page (checked); prometheus_client {version('prometheus-client')}.",
        "",
        "| parser | 200 pages best ms | median ms | per page ms |",
        "|---|---|---|---|",
        f"| mlopsctl promtext | {ours[0] * 1000:.1f} | {ours[1] * 1000:.1f} | {ours[0] * 1000 / len(pages):.3f} |",
        f"| prometheus_client.parser | {theirs[0] * 1000:.1f} | {theirs[1] * 1000:.1f} | "
        f"{theirs[0] * 1000 / len(pages):.3f} |",
        "",
        f"prometheus_client/promtext (best): {theirs[0] / ours[0]:.2f}x -> {verdict(theirs[0] / ours[0])}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- yaml


def write_yaml_repo(root: Path, models: int, versions: int) -> dict[str, list[Path]]:
    from bench.bench_registry import template_record
    from mlopsctl.registry.store import record_yaml

    template = ROOT / "model-repo-template"
    spec = (template / "models" / "churn" / "model.yaml").read_text()
    record = record_yaml(template_record())
    files: dict[str, list[Path]] = {"specs and environments": [], "version records": []}
    for m in range(models):
        name = f"model-{m:03d}"
        target = root / "models" / name / "model.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec.replace("name: churn", f"name: {name}", 1))
        files["specs and environments"].append(target)
        for v in range(1, versions + 1):
            target = root / "registry" / name / f"v{v}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(record.replace("zzmodel", name).replace("999999", str(v)))
            files["version records"].append(target)
    for env in ("staging", "production", "canary"):
        text = (template / "environments" / "staging.yaml").read_text().replace("name: staging", f"name: {env}")
        deployments = "".join(f"  model-{m:03d}: {{version: {m % versions + 1}}}\n" for m in range(models))
        target = root / "environments" / f"{env}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace("deployments: {}\n", "deployments:\n" + deployments))
        files["specs and environments"].append(target)
    return files


def pure_python_positions(path: Path) -> Any:
    """``load_yaml`` without libyaml: PyYAML's pure-Python composer, the same builder."""
    from mlopsctl.spec.yamlpos import LocatedDoc, _Builder, _compose_bounded

    doc = LocatedDoc(file=path, data=None)
    node = _compose_bounded(path.read_text(), doc)
    doc.data = _Builder(doc).build(node, ()) if node is not None else None
    return doc


def yaml_readers() -> dict[str, Callable[[Path], Any]]:
    from mlopsctl.spec.yamlpos import load_yaml, load_yaml_fast

    return {
        "yamlpos.load_yaml (validate)": lambda p: load_yaml(p).data,
        "yamlpos.load_yaml_fast (plan)": lambda p: load_yaml_fast(p).data,
        "yaml.safe_load": lambda p: yaml.safe_load(p.read_text()),
        "yaml.load CSafeLoader": lambda p: yaml.load(p.read_text(), Loader=yaml.CSafeLoader),
        "(info) pure-Python compose + yamlpos builder": lambda p: pure_python_positions(p).data,
    }


def bench_yaml(quick: bool) -> str:
    repeat = 2 if quick else 5
    root = OUT / "yaml"
    files = write_yaml_repo(root, 200, 1)
    readers = yaml_readers()
    timings: dict[tuple[str, str], tuple[float, float]] = {}
    for group, paths in files.items():
        expected = [yaml.load(p.read_text(), Loader=yaml.CSafeLoader) for p in paths]
        for reader_name, read in readers.items():
            if [read(p) for p in paths] != expected:
                raise AssertionError(f"{reader_name} read {group} differently")
            timings[(group, reader_name)] = best_of(lambda read=read, paths=paths: [read(p) for p in paths], repeat)
    return yaml_table(files, timings, repeat)


def yaml_table(files: dict[str, list[Path]], timings: dict[tuple[str, str], tuple[float, float]], repeat: int) -> str:
    lines = [
        f"Files read from disk and parsed, best of {repeat}; every reader returned the same data (checked).",
        "",
        "| files | reader | best ms | median ms | per file ms |",
        "|---|---|---|---|---|",
    ]
    for (group, reader), (best, median) in timings.items():
        count = len(files[group])
        lines.append(
            f"| {count} {group} | {reader} | {best * 1000:.1f} | {median * 1000:.1f} | {best * 1000 / count:.3f} |"
        )
    lines += [
        "",
        f"| files | path | vs yaml.safe_load | vs yaml.load CSafeLoader | >= {KEEP_AT}x over both |",
        "|---|---|---|---|---|",
    ]
    for group in files:
        for reader in ("yamlpos.load_yaml (validate)", "yamlpos.load_yaml_fast (plan)"):
            ours = timings[(group, reader)][0]
            safe = timings[(group, "yaml.safe_load")][0] / ours
            fast = timings[(group, "yaml.load CSafeLoader")][0] / ours
            lines.append(
                f"| {group} | {reader} | {safe:.2f}x | {fast:.2f}x | {'yes' if min(safe, fast) >= KEEP_AT else 'no'} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

RUNNERS: dict[str, Callable[[bool], str]] = {
    "serve": bench_serve,
    "artifact": bench_artifact,
    "promtext": bench_promtext,
    "yaml": bench_yaml,
}
TITLES = {
    "serve": "HTTP server: mlopsctl.serve.httpserver against uvicorn + h11",
    "artifact": "Artifact cold load: mlopsctl.registry.skops_reader against skops.io.loads",
    "promtext": "Metrics page parsing: mlopsctl.monitor.promtext against prometheus_client.parser",
    "yaml": "Spec reading: mlopsctl.spec.yamlpos against PyYAML",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer requests, processes and repetitions")
    args = parser.parse_args()
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    print(f"Command: {' '.join(['bench/bench_reimpl.py', *sys.argv[1:]])}", flush=True)
    for section in args.sections or SECTIONS:
        before = loadavg()
        began = time.perf_counter()
        print(f"\n### {TITLES[section]}\n", flush=True)
        table = RUNNERS[section](args.quick)
        print(table)
        print(
            f"\nLoad average before {before}, after {loadavg()}; section took {time.perf_counter() - began:.0f} s.",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
