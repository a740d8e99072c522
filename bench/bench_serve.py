"""Serving speed: mlopsctl's prediction service against MLflow's scoring server, same run, same models.

Two models on 10 numeric features (a LogisticRegression and a 50-tree random forest, each in the
registry's pipeline shape: per-feature imputer and scaler, then the estimator) are fitted once,
then served by

- MLflow: ``mlflow models serve --env-manager local`` (uvicorn + FastAPI, 1 worker, its default),
  the very same fitted pipeline saved with ``mlflow.sklearn.save_model`` in its own venv;
- mlopsctl: ``python -m mlopsctl.serve`` (what the images run) on the skops artifact and record.

Both get the same request bodies (MLflow's ``dataframe_split`` JSON, which both accept) from the
same bounded load generator on loopback: an asyncio client with keep-alive connections at
concurrency 16, a fixed number of requests (or a time limit, whichever comes first). Measured:
requests/s, p50/p99 latency, server CPU per request (utime+stime of the server's process tree from
/proc before and after), resident memory of the process tree after the load, and cold start
(process start to the first successful readiness answer). Predictions are checked equal to the
pipeline's own first. Usage:

    python3 bench/bench_serve.py                 # full run (about 3 minutes), writes bench/RESULTS.md
    python3 bench/bench_serve.py --quick         # fewer requests, no RESULTS.md

MLflow's venv: python3 -m venv bench/.venv-mlflow && bench/.venv-mlflow/bin/pip install mlflow scikit-learn==<ours>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mlopsctl.contract.binning import categorical_reference, numeric_reference  # noqa: E402
from mlopsctl.contract.records import ArtifactRef, DataFingerprint, InputColumn, Reference, Signature, VersionRecord  # noqa: E402
from mlopsctl.registry.artifacts import dump_pipeline, sha256_hex  # noqa: E402

MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
OUT = ROOT / "bench" / "out" / "serve"
RESULTS = ROOT / "bench" / "RESULTS.md"
FEATURES = [f"f{i}" for i in range(10)]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

MLFLOW_SAVE = """
import pickle, sys
import pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature
pipeline = pickle.load(open(sys.argv[1], "rb"))
frame = pd.read_csv(sys.argv[2])
import skops.io
# MLflow 3 saves scikit-learn models with skops; trust what the fitted pipeline needs.
trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
mlflow.sklearn.save_model(
    pipeline, sys.argv[3], signature=infer_signature(frame, pipeline.predict(frame)), skops_trusted_types=trusted
)
"""


# --------------------------------------------------------------------------- models


def fitted_models() -> tuple[pd.DataFrame, dict[str, Pipeline]]:
    x, y = make_classification(n_samples=5000, n_features=10, n_informative=6, random_state=7)
    frame = pd.DataFrame(x, columns=FEATURES)
    models: dict[str, Pipeline] = {}
    for name, estimator in (
        ("logistic", LogisticRegression(max_iter=1000)),
        ("forest-50", RandomForestClassifier(n_estimators=50, random_state=0)),
    ):
        steps = [
            (f, Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), [f])
            for f in FEATURES
        ]
        pipeline = Pipeline([("features", ColumnTransformer(steps, remainder="drop")), ("model", estimator)])
        models[name] = pipeline.fit(frame, y)
    return frame, models


def write_ours(folder: Path, name: str, pipeline: Pipeline, frame: pd.DataFrame) -> tuple[Path, Path]:
    data = dump_pipeline(pipeline)
    digest = sha256_hex(data)
    artifact = folder / f"{name}.skops"
    artifact.write_bytes(data)
    predictions = pd.Series(pipeline.predict(frame)).astype(str)
    record = VersionRecord(
        model=name,
        version=1,
        created_at="2024-01-01T00:00:00Z",
        run_id="bench",
        spec_commit="0" * 40,
        spec_sha256="0" * 64,
        task="classification",
        estimator=type(pipeline[-1]).__name__,
        gates_passed=True,
        data=DataFingerprint(uri="bench", sha256="0" * 64, rows=len(frame), columns=10, schema_sha256="0" * 64),
        artifact=ArtifactRef(uri=artifact.name, sha256=digest, size=len(data)),
        signature=Signature(
            inputs=[InputColumn(name=f, type="float") for f in FEATURES],
            task="classification",
            target="y",
            classes=[int(c) for c in pipeline.classes_],
        ),
        reference=Reference(
            features={f: numeric_reference(frame[f], 10) for f in FEATURES},
            prediction=categorical_reference(predictions),
        ),
    )
    record_file = folder / f"{name}.yaml"
    record_file.write_text(yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))
    return record_file, artifact


def write_mlflow(folder: Path, name: str, pipeline: Pipeline, frame: pd.DataFrame) -> Path:
    target = folder / f"mlflow-{name}"
    if target.exists():
        import shutil

        shutil.rmtree(target)
    pickled = folder / f"{name}.pkl"
    pickled.write_bytes(pickle.dumps(pipeline))
    sample = folder / "sample.csv"
    frame.head(200).to_csv(sample, index=False)
    subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), "-c", MLFLOW_SAVE, str(pickled), str(sample), str(target)], check=True
    )
    return target


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    ready_path: str
    predict_path: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    cold_start: float = 0.0
    path_prefix: str = ""
    """Prepended to PATH (MLflow runs ``uvicorn`` from its venv as an activated venv would)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        if _listening(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use; the cold start would be wrong")
        began = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.path_prefix:
            env["PATH"] = f"{self.path_prefix}:{env.get('PATH', '')}"
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        while time.perf_counter() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as answer:
                    if answer.status == 200:
                        self.cold_start = time.perf_counter() - began
                        return
            except OSError:
                time.sleep(0.01)
        raise TimeoutError(f"{self.name} not ready in {timeout} s")

    def stop(self) -> None:
        """Stop the whole process tree and wait until nothing listens on the port any more.

        MLflow's CLI runs uvicorn as a child that shuts down gracefully after its parent: a restart
        that did not wait would be answered by the old server and measure a cold start of zero.
        """
        if self.process is None:
            return
        pids = tree(self.process.pid)
        for pid in reversed(pids):
            with _quiet():
                os.kill(pid, 15)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        deadline = time.perf_counter() + 30
        while (any(_alive(pid) for pid in pids[1:]) or _listening(self.port)) and time.perf_counter() < deadline:
            time.sleep(0.05)
        for pid in pids[1:]:
            with _quiet():
                os.kill(pid, 9)
        if _listening(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} still answers after stopping")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return sum(_cpu(pid) for pid in tree(self.process.pid))

    def rss_bytes(self) -> int:
        assert self.process is not None
        return sum(_rss(pid) for pid in tree(self.process.pid))


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [root], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def request_bytes(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _worker(port: int, payload: bytes, state: dict[str, Any], load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while state["left"] > 0 and time.perf_counter() < state["deadline"]:
            state["left"] -= 1
            sent = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - sent)
            load.requests += 1
            if not head.startswith(b"HTTP/1.1 200"):
                load.errors += 1
    finally:
        writer.close()


def drive(server: Server, body: bytes, requests: int, concurrency: int, time_limit: float) -> Load:
    payload = request_bytes(server.predict_path, body)
    load = Load()
    state = {"left": requests, "deadline": time.perf_counter() + time_limit}

    async def run() -> None:
        await asyncio.gather(*(_worker(server.port, payload, state, load) for _ in range(concurrency)))

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    asyncio.run(run())
    load.seconds = time.perf_counter() - started
    load.cpu = server.cpu_seconds() - cpu_before
    return load


def split_body(frame: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}).encode()


def check_predictions(server: Server, pipeline: Pipeline, frame: pd.DataFrame) -> None:
    answer = urllib.request.urlopen(
        urllib.request.Request(
            server.url + server.predict_path, data=split_body(frame), headers={"Content-Type": "application/json"}
        ),
        timeout=60,
    )
    got = json.loads(answer.read())["predictions"]
    expected = pipeline.predict(frame).tolist()
    if got != expected:
        raise AssertionError(f"{server.name} answered differently from the pipeline")


def bare_predict_ms(pipeline: Pipeline, frame: pd.DataFrame) -> float:
    """CPU of scikit-learn's own predict on one transformed numpy row (no DataFrame, no HTTP)."""
    row = pipeline[:-1].transform(frame.head(1))
    estimator = pipeline[-1]
    calls = 300
    estimator.predict(row)
    began = time.process_time()
    for _ in range(calls):
        estimator.predict(row)
    return (time.process_time() - began) / calls * 1000


# --------------------------------------------------------------------------- run


@dataclass
class Case:
    model: str
    server: str
    rows: int
    load: Load


def servers_for(name: str, ours: tuple[Path, Path], mlflow_dir: Path) -> list[Server]:
    mlflow_port, our_port = free_port(), free_port()
    mlflow = Server(
        "mlflow",
        [
            *(str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(mlflow_dir)),
            *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)),
        ],
        "/ping",
        "/invocations",
        mlflow_port,
        path_prefix=str(MLFLOW_VENV / "bin"),
    )
    mine = Server(
        "mlopsctl",
        [
            *(sys.executable, "-m", "mlopsctl.serve", "--record", str(ours[0]), "--artifact", str(ours[1])),
            *("--port", str(our_port), "--log-level", "WARNING"),
        ],
        "/health/ready",
        "/predict",
        our_port,
    )
    return [mlflow, mine]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests; do not write RESULTS.md")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=40.0, help="seconds at most per load phase")
    parser.add_argument("--starts", type=int, default=3, help="cold starts per server (median reported)")
    args = parser.parse_args()
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        print(f"missing {MLFLOW_VENV}; see the module docstring", file=sys.stderr)
        return 2
    counts = {1: 600, 100: 100} if args.quick else {1: 4000, 100: 600}
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    frame, models = fitted_models()
    cases: list[Case] = []
    starts: dict[tuple[str, str], float] = {}
    memory: dict[tuple[str, str], int] = {}
    bare: dict[str, float] = {}
    for name, pipeline in models.items():
        bare[name] = bare_predict_ms(pipeline, frame)
        ours = write_ours(OUT, name, pipeline, frame)
        mlflow_dir = write_mlflow(OUT, name, pipeline, frame)
        for server in servers_for(name, ours, mlflow_dir):
            server.start()
            try:
                starts[(name, server.name)] = server.cold_start
                check_predictions(server, pipeline, frame.head(300))
                for rows, count in counts.items():
                    body = split_body(frame.sample(rows, random_state=rows))
                    drive(server, body, 100, args.concurrency, args.time_limit)  # warm up
                    load = drive(server, body, count, args.concurrency, args.time_limit)
                    cases.append(Case(name, server.name, rows, load))
                    print(
                        f"{name:10} {server.name:9} rows={rows:<4} {load.rate:8.0f} req/s  errors={load.errors}",
                        flush=True,
                    )
                memory[(name, server.name)] = server.rss_bytes()
            finally:
                server.stop()
            starts[(name, server.name)] = statistics.median([server.cold_start, *restarts(server, args.starts - 1)])
    report = render(cases, starts, memory, bare, args, load_before, os.getloadavg())
    print(report)
    if not args.quick:
        write_results(report)
    return 0


def restarts(server: Server, times: int) -> list[float]:
    """Cold start again (the first start is the one the load ran on); the median is reported."""
    found = []
    for _ in range(max(0, times)):
        server.start()
        found.append(server.cold_start)
        server.stop()
    return found


def render(
    cases: list[Case],
    starts: dict[tuple[str, str], float],
    memory: dict[tuple[str, str], int],
    bare: dict[str, float],
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    by = {(c.model, c.server, c.rows): c.load for c in cases}
    lines = [
        f"Concurrency {args.concurrency}, keep-alive, loopback; "
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"(2 cores shared with the load generator{' and other work' if load_before[0] > 1.5 else ''}).",
        "",
        "| model | rows/request | server | requests | req/s | p50 ms | p99 ms | server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, server, rows), load in by.items():
        cpu = load.cpu / load.requests * 1000 if load.requests else float("nan")
        lines.append(
            f"| {model} | {rows} | {server} | {load.requests} | {load.rate:.0f} | {load.percentile(0.5) * 1000:.2f} | "
            f"{load.percentile(0.99) * 1000:.2f} | {cpu:.3f} |"
        )
    lines += [
        "",
        "| model | rows | throughput ratio | p99 mlopsctl/mlflow | CPU/request mlopsctl/mlflow |",
        "|---|---|---|---|---|",
    ]
    verdicts: list[str] = []
    for model in bare:
        for rows in (1, 100):
            ours, theirs = by.get((model, "mlopsctl", rows)), by.get((model, "mlflow", rows))
            if ours is None or theirs is None:
                continue
            ratio = ours.rate / theirs.rate
            p99 = ours.percentile(0.99) / theirs.percentile(0.99)
            cpu = (ours.cpu / ours.requests) / (theirs.cpu / theirs.requests)
            lines.append(f"| {model} | {rows} | {ratio:.1f}x | {p99:.2f} | {cpu:.2f} |")
            verdicts.append(_verdict(f"lower p99 ({model}, {rows} rows)", p99 < 1.0, f"{p99:.2f} of MLflow's"))
            if rows == 1:
                target = 6.0 if model == "logistic" else 2.5
                verdicts.append(
                    _verdict(f"single-row throughput {model} >= {target:g}x", ratio >= target, f"{ratio:.1f}x")
                )
                cpu_ms = ours.cpu / ours.requests * 1000
                limit = 2 * bare[model] + 0.3
                verdicts.append(
                    _verdict(
                        f"CPU/request {model} <= 2 x bare predict + 0.3 ms",
                        cpu_ms <= limit,
                        f"{cpu_ms:.3f} ms vs limit {limit:.3f} ms (bare predict {bare[model]:.3f} ms)",
                    )
                )
    lines += [
        "",
        f"Cold start: median of {args.starts} starts, process start to the first 200 from its readiness route "
        "(MLflow /ping, mlopsctl /health/ready).",
        "",
        "| model | cold start mlflow s | cold start mlopsctl s | ratio | RSS mlflow MB | RSS mlopsctl MB | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in bare:
        cs_m, cs_o = starts[(model, "mlflow")], starts[(model, "mlopsctl")]
        rss_m, rss_o = memory[(model, "mlflow")] / 2**20, memory[(model, "mlopsctl")] / 2**20
        lines.append(
            f"| {model} | {cs_m:.2f} | {cs_o:.2f} | {cs_o / cs_m:.2f} | "
            f"{rss_m:.0f} | {rss_o:.0f} | {rss_o / rss_m:.2f} |"
        )
        verdicts.append(_verdict(f"cold start {model} < 1/3 of MLflow's", cs_o < cs_m / 3, f"{cs_o / cs_m:.2f}"))
        verdicts.append(_verdict(f"memory {model} < 1/2 of MLflow's", rss_o < rss_m / 2, f"{rss_o / rss_m:.2f}"))
    return "\n".join([*lines, "", "Targets:", *verdicts])


def _verdict(what: str, ok: bool, detail: str) -> str:
    return f"- {'met' if ok else 'MISSED'}: {what}: {detail}"


NOTES = "Notes (honest reading):"


def write_results(report: str) -> None:
    section = "\n".join(
        [
            "## Serving",
            "",
            "mlopsctl's prediction service (`python -m mlopsctl.serve`, what images run) against MLflow's scoring",
            "server (`mlflow models serve --env-manager local`, MLflow "
            + _mlflow_version()
            + ") on the same fitted pipelines.",
            "",
            "Command: `python3 bench/bench_serve.py`",
            "",
            report,
            "",
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find("## Serving")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        old = text[start : end + 1 if end >= 0 else len(text)]
        notes = old.find(NOTES)
        if notes >= 0:  # the hand-written reading of the numbers stays; re-read it against the new ones
            section = section.rstrip("\n") + "\n\n" + old[notes:].rstrip("\n") + "\n\n"
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(text)


def _mlflow_version() -> str:
    found = subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
