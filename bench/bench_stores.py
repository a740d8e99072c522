"""Remote artifact stores (issue 14): what mlopsctl's ``oci://`` and ``s3://`` stores cost against the
plain client tools on the same bytes, and what a remote store adds to ``mlopsctl train``, in one run.

Transfer (a 200 MB artifact, a distribution registry and moto's S3 server on loopback):

- push: ``RemoteArtifactStore.put`` (what train does: the local cache write, the upload, the
  store asked before and after) against oras's ``OrasClient.push`` / boto3's ``upload_file``;
- registry push of a cached file: ``registry.push.push_cached`` (what ``mlopsctl registry push`` does
  with an artifact already on disk: its sha256 checked, uploaded, confirmed) against the same plain
  tools pushing a file already on disk: the same job on both sides;
- pull: ``RemoteArtifactStore.fetch`` into an empty cache (what apply does before a service loads
  the file: streamed to disk, sha256 and size checked as it arrives, renamed into the cache)
  against oras's ``OrasClient.pull`` / boto3's ``download_file`` of the same blob.

Every push sends fresh random bytes (a store never holds them already), each side its own; the
order alternates between repeats; the table shows medians and the ratio to the plain tool (target:
within 1.2x).

Train overhead: ``mlopsctl train`` on bench_train.py's 1,000,000 x 20 data with the local store
against the same train with ``MLOPS_ARTIFACT_STORE`` set to the registry and to the bucket (target:
under 1.15x). Every run is a first train against its store: the local cache is emptied and the
remote namespace is new, so each run stores the data snapshot and the artifact for real.

Usage:

    python3 bench/bench_stores.py                     # both parts, 3 repeats
    python3 bench/bench_stores.py --part transfer --size-mb 50 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_train  # noqa: E402 (ROOT first)
from tests.support.stores import (  # noqa: E402
    create_bucket,
    oci_registry,
    s3_environment,
    s3_server,
)

OUT = ROOT / "bench" / "out" / "stores"
MEDIA_TYPE = "application/vnd.mlopsctl.model.skops.v1+zip"


# --------------------------------------------------------------------------- stores


@contextmanager
def stores(folder: Path) -> Iterator[dict[str, dict[str, str]]]:
    """A registry and an S3 server on loopback; per store, what a runner sets to choose it."""
    with ExitStack() as stack:
        registry = stack.enter_context(oci_registry(folder / "registry"))
        s3 = stack.enter_context(s3_server(folder / "s3"))
        create_bucket(s3, "bench")
        yield {
            "oci": {"MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/bench"},
            "s3": {**s3_environment(s3), "MLOPS_ARTIFACT_STORE": "s3://bench"},
        }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --------------------------------------------------------------------------- transfer


def fresh_file(folder: Path, size: int) -> Path:
    """Random bytes no store holds yet."""
    path = Path(tempfile.mkstemp(dir=folder, suffix=".bin")[1])
    path.write_bytes(os.urandom(size))
    return path


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ours(kind: str, uri: str, folder: Path, path: Path) -> tuple[float, float]:
    """mlopsctl's store: push (train's put), then pull into an empty cache (another machine's get)."""
    from mlopsctl.registry.remote import RemoteArtifactStore

    data = path.read_bytes()
    cache = Path(tempfile.mkdtemp(dir=folder))
    pushed = timed(lambda: RemoteArtifactStore(cache / "a", uri).put(data))
    ref = RemoteArtifactStore(cache / "a", uri).put(data)  # the same ref, nothing uploaded
    pulled = timed(lambda: RemoteArtifactStore(cache / "b", uri).fetch(ref))  # the file a service loads
    shutil.rmtree(cache, ignore_errors=True)
    return pushed, pulled


def ours_file(uri: str, folder: Path, path: Path) -> float:
    """``mlopsctl registry push``: an artifact already in this machine's cache (the same file the plain
    tool pushes), its sha256 checked, then uploaded and confirmed."""
    from mlopsctl.contract.records import ArtifactRef
    from mlopsctl.registry.artifacts import sha256_hex
    from mlopsctl.registry.push import UPLOADED, push_cached
    from mlopsctl.registry.remote import RemoteArtifactStore

    data = path.read_bytes()
    digest = sha256_hex(data)
    cache = Path(tempfile.mkdtemp(dir=folder))
    store = RemoteArtifactStore(cache, uri)
    cached = store.path_for(digest)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, cached)  # trained earlier: the cache holds it
    ref = ArtifactRef(uri=store.uri_for(digest), sha256=digest, size=len(data), format="skops")
    outcome: list[str] = []
    seconds = timed(lambda: outcome.append(push_cached(RemoteArtifactStore(cache, uri), ref)))
    shutil.rmtree(cache, ignore_errors=True)
    assert outcome == [UPLOADED], outcome
    return seconds


def plain_oci(uri: str, folder: Path, path: Path) -> tuple[float, float]:
    """oras's own client: push the file as a one-layer artifact, pull it into a folder."""
    import oras.client

    host, _, namespace = uri.removeprefix("oci://").partition("/")
    target = f"{host}/{namespace}/plain:{path.stem.lower().strip('_')}"

    def push() -> None:  # a client per operation, as mlopsctl's store opens one per process
        client = oras.client.OrasClient(hostname=host, insecure=True)
        client.push(target=target, files=[f"{path}:{MEDIA_TYPE}"], disable_path_validation=True)

    pushed = timed(push)
    out = Path(tempfile.mkdtemp(dir=folder))
    pulled = timed(lambda: oras.client.OrasClient(hostname=host, insecure=True).pull(target=target, outdir=str(out)))
    shutil.rmtree(out, ignore_errors=True)
    return pushed, pulled


def plain_s3(folder: Path, path: Path) -> tuple[float, float]:
    """boto3's transfer manager: upload_file, download_file."""
    import boto3

    def client() -> Any:  # a client per operation, as mlopsctl's store opens one per process
        return boto3.session.Session().client("s3")

    key = f"plain/{path.name}"
    pushed = timed(lambda: client().upload_file(str(path), "bench", key))
    out = Path(tempfile.mkdtemp(dir=folder))
    pulled = timed(lambda: client().download_file("bench", key, str(out / "blob")))
    shutil.rmtree(out, ignore_errors=True)
    return pushed, pulled


def warm_up(kind: str, uri: str, folder: Path) -> None:
    """Both sides once on a small file, untimed: imports and the server's first request are not the transfer."""
    path = fresh_file(folder, 1024)
    ours(kind, uri, folder, path)
    plain_oci(uri, folder, path) if kind == "oci" else plain_s3(folder, path)
    path.unlink()


def transfer(chosen: dict[str, dict[str, str]], size: int, repeats: int, folder: Path) -> list[str]:
    rows: list[str] = []
    for kind, env in chosen.items():
        with environment(env):
            warm_up(kind, env["MLOPS_ARTIFACT_STORE"], folder)
            times: dict[str, list[tuple[float, float]]] = {"mlopsctl": [], "plain": []}
            cached: list[float] = []
            for repeat in range(repeats):
                order = ["mlopsctl", "plain"] if repeat % 2 == 0 else ["plain", "mlopsctl"]
                for side in order:
                    path = fresh_file(folder, size)
                    uri = env["MLOPS_ARTIFACT_STORE"]
                    if side == "mlopsctl":
                        result = ours(kind, uri, folder, path)
                    else:
                        result = plain_oci(uri, folder, path) if kind == "oci" else plain_s3(folder, path)
                    if side == "mlopsctl":
                        path.unlink()
                        path = fresh_file(folder, size)  # new bytes: the store never holds them already
                        cached.append(ours_file(uri, folder, path))
                    path.unlink()
                    times[side].append(result)
                    print(
                        f"  {kind} repeat {repeat + 1} {side:<8} push {result[0]:6.2f} s  pull {result[1]:6.2f} s",
                        file=sys.stderr,
                    )
            tool = "oras push/pull" if kind == "oci" else "boto3 upload_file/download_file"
            base_push = statistics.median(t[0] for t in times["plain"])
            mine_push = statistics.median(cached)
            rows.append(
                f"| {kind}:// registry push of a cached {size // 2**20} MB file | {mine_push:.2f} | "
                f"{base_push:.2f} ({tool}) | {mine_push / base_push:.2f} |"
            )
            for index, action in enumerate(("push", "pull")):
                mine = statistics.median(t[index] for t in times["mlopsctl"])
                base = statistics.median(t[index] for t in times["plain"])
                rows.append(
                    f"| {kind}:// {action} {size // 2**20} MB | {mine:.2f} | {base:.2f} ({tool}) | {mine / base:.2f} |"
                )
    return rows


# --------------------------------------------------------------------------- train overhead


def train_repo(rows: int, features: int) -> Path:
    """bench_train.py's repository and data, in this bench's own folder (benches may run side by side)."""
    bench_train.OUT = OUT / "train"
    data = bench_train.data_file(rows, features)
    return bench_train.make_repo(data, features, "logreg")


def train_once(repo: Path, env: dict[str, str]) -> float:
    shutil.rmtree(repo / ".mlops" / "artifacts", ignore_errors=True)  # a first train: nothing cached
    command = [sys.executable, "-m", "mlopsctl", "--repo", str(repo), "train", "bench", "-o", "json"]
    started = time.perf_counter()
    allowed = {"MLOPS_DATA_ALLOW_OUTSIDE_REPO": "1"}  # bench_train.py's data lives beside the repository
    done = subprocess.run(command, env={**os.environ, **allowed, **env}, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"train failed ({done.returncode}): {done.stderr[-3000:]}")
    return elapsed


def train_overhead(chosen: dict[str, dict[str, str]], rows: int, features: int, repeats: int) -> list[str]:
    repo = train_repo(rows, features)
    runs: dict[str, list[float]] = {"local": [], **{kind: [] for kind in chosen}}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            env: dict[str, str] = {}
            if name != "local":
                env = dict(chosen[name])
                env["MLOPS_ARTIFACT_STORE"] += f"/run{repeat}"  # a new namespace: nothing stored there yet
            runs[name].append(train_once(repo, env))
            print(f"  train repeat {repeat + 1} {name:<6} {runs[name][-1]:6.2f} s", file=sys.stderr)
    local = statistics.median(runs["local"])
    local_runs = runs["local"]
    lines = []
    for kind in chosen:
        median = statistics.median(runs[kind])
        paired = statistics.median(t / base for t, base in zip(runs[kind], local_runs, strict=True))
        lines.append(
            f"| train {rows:,} x {features} with {kind}:// store | {median:.2f} | {local:.2f} (local store) "
            f"| {median / local:.2f} (paired {paired:.2f}) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["transfer", "train", "both"], default="both")
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-stores-", dir=OUT))
    lines = ["| what | mlopsctl s (median) | anchor s (median) | ratio |", "|---|---:|---:|---:|"]
    try:
        with stores(folder) as chosen:
            if args.part in ("transfer", "both"):
                lines += transfer(chosen, args.size_mb * 2**20, args.repeats, folder)
            if args.part in ("train", "both"):
                lines += train_overhead(chosen, args.rows, args.features, args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    print(f"{args.repeats} repeats, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
