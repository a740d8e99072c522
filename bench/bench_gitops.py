"""GitOps speed: `history` and reading the desired state on 500 models, 3 environments and 5,000
promotion commits, against `gto show` on the same number of models and versions registered the GTO
way (annotated git tags), in the same run.

The repositories are generated with one `git fast-import` each (building them is not measured):
the mlopsctl one holds 500 model specs, 500 x 10 version records, three environment files of 500
deployments each and 5,000 commits that each promote one model in one environment, with the same
trailers `mlopsctl promote` writes. Usage:

    python3 bench/bench_gitops.py                       # full size, with GTO when bench/.venv-gto exists
    python3 bench/bench_gitops.py --models 50 --commits 500 --no-gto   # a quick look

GTO is installed with: python3 -m venv bench/.venv-gto && bench/.venv-gto/bin/pip install gto
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlopsctl.deploy.desired import read_environments  # noqa: E402
from mlopsctl.gitops.history import read_history  # noqa: E402

GTO = ROOT / "bench" / ".venv-gto" / "bin" / "gto"
ENVS = ("dev", "staging", "production")
PEOPLE = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov")
FEATURES = [f"f{i}" for i in range(10)]
START = 1_700_000_000
GITOPS_ONLY = "from pathlib import Path; from mlopsctl.gitops.history import read_history; read_history(Path.cwd())"


# --------------------------------------------------------------------------- building the repositories


def model_name(i: int) -> str:
    return f"model-{i:04d}"


def record_text(model: str, version: int) -> str:
    """A registry record of realistic size: metrics, gates, signature and binned references of 10 features."""
    passed = version % 7 != 0
    auc = 0.9 if passed else 0.7
    lines = [
        "apiVersion: mlopsctl/v1",
        "kind: ModelVersion",
        f"model: {model}",
        f"version: {version}",
        "created_at: '2026-01-01T00:00:00Z'",
        f"run_id: run-{model}-{version}",
        f"spec_commit: {'c' * 40}",
        f"spec_sha256: {'d' * 64}",
        "task: classification",
        "estimator: sklearn.ensemble.RandomForestClassifier",
        "params: {n_estimators: 200, max_depth: 8, random_state: 42}",
        f"metrics: {{roc_auc: {auc}, accuracy: 0.87, f1: 0.81}}",
        "gates:",
        f"- {{gate: roc_auc >= 0.85, value: {auc}, passed: {str(passed).lower()}}}",
        "- {gate: p95_latency_ms <= 50, value: 12.0, passed: true}",
        f"gates_passed: {str(passed).lower()}",
        f"data: {{uri: data/churn.csv, sha256: {'e' * 64}, rows: 100000, columns: 11, schema_sha256: {'f' * 64}}}",
        f"artifact: {{uri: artifacts/{model}/{version}, sha256: {'a' * 64}, size: 123456, format: skops}}",
        "signature:",
        "  task: classification",
        "  target: churned",
        "  inputs:",
        *(f"  - {{name: {f}, type: float, nullable: false}}" for f in FEATURES),
        "reference:",
        "  features:",
    ]
    for feature in FEATURES:
        lines += [
            f"    {feature}:",
            "      kind: numeric",
            "      edges: [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]",
            "      shares: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]",
            "      count: 75000",
        ]
    return "\n".join(lines) + "\n"


def deployment_block(model: str, state: tuple[int, int | None, int | None]) -> str:
    version, candidate, weight = state
    if candidate is None:
        return f"  {model}:\n    version: {version}\n"
    return (
        f"  {model}:\n    version: {version}\n    strategy: canary\n    candidate: {candidate}\n    weight: {weight}\n"
    )


def env_text(env: str, blocks: dict[str, str]) -> str:
    header = (
        "# yaml-language-server: $schema=../schemas/environment.schema.json\n"
        f"# Desired state of {env}.\napiVersion: mlopsctl/v1\nkind: Environment\nname: {env}\n"
        "target: local\ndeployments:\n"
    )
    return header + "".join(blocks.values())


def blob(path: str, text: str) -> bytes:
    data = text.encode()
    return f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"


def commit(mark: int, when: int, who: str, message: str, files: list[bytes]) -> bytes:
    email = who.split()[0].lower() + "@example.com"
    msg = message.encode()
    head = (
        f"commit refs/heads/main\nmark :{mark}\nauthor {who} <{email}> {when} +0000\n"
        f"committer {who} <{email}> {when} +0000\ndata {len(msg)}\n"
    ).encode()
    return head + msg + b"\n" + b"".join(files) + b"\n"


def build_mlopsctl_repo(root: Path, models: int, versions: int, commits: int) -> None:
    names = [model_name(i) for i in range(models)]
    spec = (ROOT / "model-repo-template" / "models" / "churn" / "model.yaml").read_text()
    files = [blob("mlops.yaml", "apiVersion: mlopsctl/v1\nkind: Project\nname: bench\n")]
    files += [blob(f"models/{n}/model.yaml", spec.replace("name: churn", f"name: {n}", 1)) for n in names]
    files += [blob(f"registry/{n}/v{v}.yaml", record_text(n, v)) for n in names for v in range(1, versions + 1)]
    states = {env: {n: (1, None, None) for n in names} for env in ENVS}
    blocks = {env: {n: deployment_block(n, states[env][n]) for n in names} for env in ENVS}
    files += [blob(f"environments/{env}.yaml", env_text(env, blocks[env])) for env in ENVS]
    stream = [commit(1, START, PEOPLE[0], "Create the model repository", files)]
    for i in range(commits):
        env, model = ENVS[i % len(ENVS)], names[(i * 7 + i // models) % models]
        previous = states[env][model]
        version = previous[0] % versions + 1
        canary = i % 5 == 4
        state = (previous[0], version, 20) if canary and version != previous[0] else (version, None, None)
        states[env][model] = state
        blocks[env][model] = deployment_block(model, state)
        message = promotion_message(model, version, env, canary and state[1] is not None, previous)
        change = blob(f"environments/{env}.yaml", env_text(env, blocks[env]))
        stream.append(commit(i + 2, START + 60 * (i + 1), PEOPLE[i % len(PEOPLE)], message, [change]))
    git(root, "init", "-q", "-b", "main")
    git(root, "fast-import", "--quiet", stdin=b"".join(stream))
    git(root, "reset", "-q", "--hard", "main")


def promotion_message(
    model: str, version: int, env: str, canary: bool, previous: tuple[int, int | None, int | None]
) -> str:
    title = f"Promote {model}@{version} to {env}" + (" as a 20% canary" if canary else "")
    trailers = [("Action", "promote"), ("Model", model), ("Version", version), ("Env", env)]
    trailers += [("Strategy", "canary"), ("Weight", 20)] if canary else [("Strategy", "replace")]
    trailers.append(("Previous", str(previous[0])))
    return title + "\n\n" + "\n".join(f"{k}: {v}" for k, v in trailers) + "\n"


def build_gto_repo(root: Path, models: int, versions: int) -> None:
    """The same models and versions as ``gto register`` records them: annotated tags ``model@vN.0.0``."""
    stream = [commit(1, START, PEOPLE[0], "Create the model repository", [blob("README.md", "models\n")])]
    for m in range(models):
        for v in range(1, versions + 1):
            message = f"Registering artifact {model_name(m)} version v{v}.0.0".encode()
            stream.append(
                f"tag {model_name(m)}@v{v}.0.0\nfrom :1\ntagger {PEOPLE[0]} <ada@example.com> {START + v} +0000\n"
                f"data {len(message)}\n".encode()
                + message
                + b"\n"
            )
    git(root, "init", "-q", "-b", "main")
    git(root, "fast-import", "--quiet", stdin=b"".join(stream))
    git(root, "reset", "-q", "--hard", "main")


def git(root: Path, *args: str, stdin: bytes | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench"}
    env["GIT_COMMITTER_EMAIL"] = "b@x"
    subprocess.run(["git", *args], cwd=root, input=stdin, env=env, check=True, capture_output=True)


# --------------------------------------------------------------------------- timing


def best(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def process(root: Path, *command: str, timeout: float = 900.0) -> Callable[[], object]:
    def run() -> None:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")

    return run


def repository_arguments(description: str) -> argparse.ArgumentParser:
    """The options of the generated repository and the GTO anchor (this bench and bench_plan.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-gto", action="store_true")
    return parser


def main() -> None:
    args = repository_arguments(__doc__.split("\n\n")[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as scratch:
        base = Path(scratch)
        ours, theirs = base / "mlopsctl-repo", base / "gto-repo"
        ours.mkdir()
        started = time.perf_counter()
        build_mlopsctl_repo(ours, args.models, args.versions, args.commits)
        print(f"built {args.models} models, {len(ENVS)} environments, {args.commits} promotion commits "
              f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)  # fmt: skip
        cli = (sys.executable, "-m", "mlopsctl")
        assert len(read_history(ours, limit=None)) == args.commits
        rows = [
            ("history, newest 50 (in process)", best(lambda: read_history(ours), args.repeat)),
            ("history, all entries (in process)", best(lambda: read_history(ours, limit=None), args.repeat)),
            (
                "history one model, one env (in process)",
                best(lambda: read_history(ours, model=model_name(7), env="staging"), args.repeat),
            ),
            (
                f"desired state, {len(ENVS)} envs x {args.models} (in process)",
                best(lambda: read_environments(ours), args.repeat),
            ),
            (
                "python -c 'import mlopsctl.cli.main' (CLI start-up)",
                best(process(ours, sys.executable, "-c", "import mlopsctl.cli.main"), args.repeat),
            ),
            (
                "history through mlopsctl.gitops only, newest 50 (process)",
                best(process(ours, sys.executable, "-c", GITOPS_ONLY), args.repeat),
            ),
            ("mlopsctl history (process)", best(process(ours, *cli, "history"), args.repeat)),
            (
                "mlopsctl history --limit 0 -o json (process)",
                best(process(ours, *cli, "history", "--limit", "0", "-o", "json"), args.repeat),
            ),
        ]
        anchor = None
        if GTO.exists() and not args.no_gto:
            theirs.mkdir()
            build_gto_repo(theirs, args.models, args.versions)
            anchor = best(process(theirs, str(GTO), "show"), 1)
            rows.append((f"gto show, {args.models} x {args.versions} tags (anchor, process)", anchor))
    print(f"\n{args.models} models, {args.versions} versions each, {len(ENVS)} environments, {args.commits} commits")
    print(f"{'operation':<58} {'seconds':>9} {'gto show / this':>16}")
    for name, seconds in rows:
        ratio = f"{anchor / seconds:.0f}x" if anchor and not name.startswith("gto") else ""
        print(f"{name:<58} {seconds:>9.3f} {ratio:>16}")
    load = os.getloadavg()[0]
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load:.1f}, best of {args.repeat}")


if __name__ == "__main__":
    main()
