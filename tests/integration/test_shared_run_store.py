"""The shared run store (issue 14): two clones, each with its own HOME and state folder, on one
real PostgreSQL database; the schema upgrading itself (also with two clients at once); ``runs push``;
credentials only for a store the runner chose; an unreachable store.

Real pieces: PostgreSQL 15 on 127.0.0.1 with password logins (tests/support/postgres.py), a bare Git
remote, and the installed ``mlopsctl`` entry point in subprocesses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import open_repo
from mlopsctl.tracking.api import compare_in, list_runs
from mlopsctl.tracking.postgres import MIGRATION_LOCK
from tests.conftest import CliResult, run_cli_process
from tests.support.apply_repo import git
from tests.support.postgres import PASSWORD, ROLE, PostgresDatabase, PostgresServer, pg_database, postgres_server
from tests.support.services import free_port

__all__ = ["pg_database", "postgres_server"]
pytestmark = pytest.mark.slow
WAIT_SECONDS = 60.0


def make_home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {name}\n\temail = {name}@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return home


class Machine:
    """One teammate: a clone, a HOME of its own and the variables the runner sets."""

    def __init__(self, root: Path, home: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), **env}

    def run(self, *args: str, **extra: str) -> CliResult:
        return run_cli_process("--repo", str(self.root), *args, env={**self.env, **extra})

    def json(self, *args: str, **extra: str) -> Any:
        result = self.run(*args, "-o", "json", **extra)
        assert result.code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def team_repo(tmp_path: Path) -> Path:
    """A's repository (a small forest), pushed to a bare remote B clones from."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    root = init_repo(tmp_path / "a", "team").root
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 10
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.5"]
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    git(root, "commit", "-qam", "A small forest")
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "HEAD:main")
    return root


def shared(db: PostgresDatabase) -> dict[str, str]:
    """What each runner sets: the store's address and the database password."""
    return {"MLOPS_METADATA_STORE": db.uri, "PGPASSWORD": PASSWORD}


def clone(tmp_path: Path, team_repo: Path, name: str) -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(target))
    assert not (target / ".mlops").exists()  # a fresh clone: no runs, no artifacts
    return target


def train(machine: Machine, *args: str) -> str:
    run_id: str = machine.json("train", "churn", *args)["run_id"]
    return run_id


def test_a_teammate_sees_every_run_of_the_shared_store(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    a = Machine(team_repo, make_home(tmp_path, "alice"), shared(pg_database))
    b = Machine(clone(tmp_path, team_repo, "b"), make_home(tmp_path, "bob"), shared(pg_database))
    first = train(a, "--no-register")
    second = train(a, "--set", "training.params.max_depth=3")

    listed = b.json("runs", "list")["runs"]
    assert [run["id"] for run in listed] == [second, first]
    assert [run["version"] for run in listed] == [1, None]
    assert {run["status"] for run in listed} == {"FINISHED"}
    assert not (b.root / ".mlops" / "runs.db").exists()  # B's runs come from the server, not a local file

    table = b.run("runs", "list", "churn")
    assert table.code == 0, table.stderr
    assert table.stdout.splitlines()[1].startswith(second) and " v1 " in table.stdout.splitlines()[1]

    shown = b.run("runs", "show", second[:8])
    assert shown.code == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"Run {second}  churn  FINISHED  (train)"
    assert b.json("runs", "show", first)["params"]["n_estimators"] == 10

    compared = b.json("runs", "compare", first, second)
    assert compared["runs"] == [first, second]
    assert compared["params"]["max_depth"][1] == 3
    assert compared["other"]["version"] == [None, 1]

    mine = train(b, "--no-register")
    assert [run["id"] for run in a.json("runs", "list")["runs"]] == [mine, second, first]


def test_the_dashboards_run_comparison_reads_the_shared_store(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Machine(team_repo, make_home(tmp_path, "alice"), shared(pg_database))
    first, second = train(a, "--no-register"), train(a, "--no-register", "--set", "training.params.max_depth=3")
    b_root = clone(tmp_path, team_repo, "b")
    for name, value in shared(pg_database).items():
        monkeypatch.setenv(name, value)
    # what tui/actions.py calls for the marked runs, and what the Model view lists
    comparison = compare_in(open_repo(b_root).metadata_db, [first[:8], second])
    assert (comparison.run_ids, comparison.params["max_depth"][1]) == ([first, second], 3)
    assert [run.id for run in list_runs(b_root, "churn")] == [second, first]


def test_the_schema_of_an_older_store_upgrades_itself(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    from mlopsctl.tracking.postgres import MIGRATIONS

    with psycopg.connect(pg_database.uri_with_password, autocommit=True) as connection:
        connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ)")
        connection.execute("INSERT INTO schema_version (version) VALUES (1)")
        for statement in MIGRATIONS[1]:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO runs (id, model, kind, status, started, estimator, params, overrides, metrics, gates, "
            "git_dirty, environment, artifacts, host, pid) VALUES ('old111', 'churn', 'train', 'FINISHED', "
            "1700000000.5, 'sklearn.linear_model.LogisticRegression', '{\"C\": 1.0}', '[]', '{\"roc_auc\": 0.9}', "
            "'[]', 0, '{}', '{}', 'elsewhere', 1)"
        )
    machine = Machine(team_repo, make_home(tmp_path, "alice"), shared(pg_database))

    old = machine.json("runs", "show", "old111")
    assert (old["started"], old["warnings"], old["comparison"], old["metrics"]) == (
        "2023-11-14T22:13:20Z",
        [],
        None,
        {"roc_auc": 0.9},
    )
    with psycopg.connect(pg_database.uri_with_password) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, 2]


def test_a_store_newer_than_this_mlopsctl_is_refused(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    machine = Machine(team_repo, make_home(tmp_path, "alice"), shared(pg_database))
    assert machine.run("runs", "list").code == 0  # creates the schema
    with psycopg.connect(pg_database.uri_with_password, autocommit=True) as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (3)")
    result = machine.run("runs", "list")
    assert result.code == 1
    assert result.stderr == (
        f"error: Run store too new: the run store postgresql://127.0.0.1:{pg_database.port}/{pg_database.name} "
        "has schema version 3; this mlopsctl knows 2\n"
        "hint: upgrade mlopsctl (a teammate's newer mlopsctl upgraded the shared store)\n"
    )


def waiting_on_locks(db: PostgresDatabase) -> int:
    with psycopg.connect(db.uri_with_password, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_clients_that_start_at_once_migrate_once(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    env = {**os.environ, "HOME": str(make_home(tmp_path, "alice")), **shared(pg_database)}
    command = [sys.executable, "-m", "mlopsctl", "--repo", str(team_repo), "runs", "list", "-o", "json"]
    with psycopg.connect(pg_database.uri_with_password, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))  # both clients must queue behind it
        clients = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in (1, 2)]
        deadline = time.monotonic() + WAIT_SECONDS
        while waiting_on_locks(pg_database) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_locks(pg_database) == 2, "both clients wait to migrate"
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    outputs = [client.communicate(timeout=WAIT_SECONDS) for client in clients]
    assert [client.returncode for client in clients] == [0, 0], outputs
    assert [json.loads(out) for out, _ in outputs] == [{"runs": []}, {"runs": []}]
    with psycopg.connect(pg_database.uri_with_password) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, 2]


def test_runs_push_copies_local_runs_once(tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase) -> None:
    home = make_home(tmp_path, "alice")
    local = Machine(team_repo, home, {})
    first, second = train(local, "--no-register"), train(local, "--no-register")
    a = Machine(team_repo, home, shared(pg_database))
    source = team_repo / ".mlops" / "runs.db"
    where = f"postgresql://127.0.0.1:{pg_database.port}/{pg_database.name}"

    pushed = a.run("runs", "push")
    assert (pushed.code, pushed.stderr) == (0, "")
    assert pushed.stdout == f"copied 2 runs from {source} to {where}\n"
    again = a.run("runs", "push")
    assert (again.code, again.stdout) == (0, f"all 2 runs of {source} are already in {where}: nothing copied\n")
    assert a.json("runs", "push") == {"source": str(source), "target": where, "local": 2, "copied": 0}

    third = train(local, "--no-register")
    assert a.json("runs", "push")["copied"] == 1
    b = Machine(clone(tmp_path, team_repo, "b"), make_home(tmp_path, "bob"), shared(pg_database))
    assert [run["id"] for run in b.json("runs", "list")["runs"]] == [third, second, first]


def test_runs_push_needs_a_shared_store(tmp_path: Path, team_repo: Path) -> None:
    result = Machine(team_repo, make_home(tmp_path, "alice"), {}).run("runs", "push")
    assert result.code == 2
    assert result.stderr == (
        "error: No shared run store: runs push copies this machine's runs to a shared store, and the run store "
        f"here is the file {team_repo / '.mlops' / 'runs.db'}\n"
        "hint: set metadata_store: postgresql://HOST[:PORT]/DATABASE in mlops.yaml, or MLOPS_METADATA_STORE\n"
    )


def name_store_in_repository(root: Path, uri: str) -> None:
    settings_file = root / "mlops.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["metadata_store"] = uri
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    git(root, "commit", "-qam", "The team's run store")


WITHHELD = (
    "error: Run store credentials withheld: the run store postgresql://127.0.0.1:{port}/{name} asks for a "
    "password; mlops.yaml (repository content) named it, so no password (PGPASSWORD, ~/.pgpass, PGPASSFILE) "
    "was sent\nhint: to send your credentials to it, choose the store yourself: export MLOPS_METADATA_STORE=URI, "
    "or list the host in MLOPS_METADATA_TRUSTED_HOSTS (or metadata.trusted_hosts in ~/.config/mlopsctl/config.yaml)\n"
)


def test_a_store_named_by_mlops_yaml_gets_no_password(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    name_store_in_repository(team_repo, pg_database.uri)
    home = make_home(tmp_path, "alice")
    passfile = home / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_database.port}:*:{ROLE}:{PASSWORD}\n")
    passfile.chmod(0o600)
    runner = Machine(team_repo, home, {"PGPASSWORD": PASSWORD, "PGPASSFILE": str(passfile)})
    withheld = WITHHELD.format(port=pg_database.port, name=pg_database.name)

    refused = runner.run("runs", "list")
    assert (refused.code, refused.stdout, refused.stderr) == (1, "", withheld)
    trained = runner.run("train", "churn")
    assert (trained.code, trained.stderr) == (1, withheld)
    assert "Fitting" not in trained.stdout and not (team_repo / "registry" / "churn").exists()

    assert runner.run("runs", "list", MLOPS_METADATA_STORE=pg_database.uri).code == 0  # the runner's own choice
    assert runner.run("runs", "list", MLOPS_METADATA_TRUSTED_HOSTS="127.0.0.1").code == 0
    assert runner.run("runs", "list", MLOPS_METADATA_TRUSTED_HOSTS=f"127.0.0.1:{pg_database.port}").code == 0
    other_port = runner.run("runs", "list", MLOPS_METADATA_TRUSTED_HOSTS="127.0.0.1:1")
    assert (other_port.code, other_port.stderr) == (1, withheld)
    config = home / ".config" / "mlopsctl" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"metadata:\n  trusted_hosts: ['127.0.0.1:{pg_database.port}']\n")
    assert runner.run("runs", "list").code == 0  # the user's own config trusts the host


def test_a_trusted_host_in_the_uri_does_not_cover_the_host_libpq_connects_to(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    # ?host= overrides the host before the path: the judged host is the one libpq will use
    uri = f"postgresql://{ROLE}@db.team.example:{pg_database.port}/{pg_database.name}?host=127.0.0.1"
    name_store_in_repository(team_repo, uri)
    runner = Machine(
        team_repo,
        make_home(tmp_path, "alice"),
        {"PGPASSWORD": PASSWORD, "MLOPS_METADATA_TRUSTED_HOSTS": "db.team.example"},
    )
    result = runner.run("runs", "list")
    assert (result.code, result.stderr) == (1, WITHHELD.format(port=pg_database.port, name=pg_database.name))


def test_a_local_socket_named_by_mlops_yaml_is_refused(tmp_path: Path, team_repo: Path) -> None:
    name_store_in_repository(team_repo, "postgresql:///runs?host=/var/run/postgresql")
    result = Machine(team_repo, make_home(tmp_path, "alice"), {}).run("runs", "list")
    assert result.code == 1
    assert result.stderr == (
        "error: Run store credentials withheld: mlops.yaml names a run store on a local socket "
        "('postgresql:///runs?host=/var/run/postgresql'), where the database knows you by your system user: "
        "only you may choose that\nhint: export MLOPS_METADATA_STORE=URI to use it\n"
    )


def test_an_unreachable_store_exits_3_before_anything_is_trained(tmp_path: Path, team_repo: Path) -> None:
    port = free_port()  # nothing listens there
    machine = Machine(
        team_repo, make_home(tmp_path, "alice"), {"MLOPS_METADATA_STORE": f"postgresql://{ROLE}@127.0.0.1:{port}/runs"}
    )
    unreachable = (
        f"error: Store unreachable: the run store postgresql://127.0.0.1:{port}/runs does not answer: Connection "
        "refused\nhint: check that PostgreSQL runs there and is reachable (waited at most 5 s); the store comes "
        "from metadata_store in mlops.yaml or MLOPS_METADATA_STORE\n"
    )
    listed = machine.run("runs", "list")
    assert (listed.code, listed.stdout, listed.stderr) == (3, "", unreachable)
    trained = machine.run("train", "churn")
    assert (trained.code, trained.stderr) == (3, unreachable)
    assert not (team_repo / "registry" / "churn").exists()
    assert not list((team_repo / ".mlops").glob("artifacts/**/*.skops"))


def test_a_store_that_is_neither_a_file_nor_postgresql_is_a_usage_error(tmp_path: Path, team_repo: Path) -> None:
    machine = Machine(team_repo, make_home(tmp_path, "alice"), {"MLOPS_METADATA_STORE": "mysql://db.example/runs"})
    result = machine.run("runs", "list")
    assert (result.code, result.stderr) == (
        2,
        "error: Unknown run store: metadata_store 'mysql://db.example/runs' is neither a SQLite file nor a "
        "postgresql:// URI\nhint: write a path (e.g. .mlops/runs.db) or postgresql://HOST[:PORT]/DATABASE\n",
    )


def test_the_server_fixture_requires_passwords(postgres_server: PostgresServer, pg_database: PostgresDatabase) -> None:
    # the credential tests mean something only when the server really asks for a password
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_database.uri, password="", passfile=os.devnull, connect_timeout=5).close()
    assert postgres_server.port == pg_database.port


def test_only_runs_started_on_this_host_are_marked_interrupted(
    tmp_path: Path, team_repo: Path, pg_database: PostgresDatabase
) -> None:
    machine = Machine(team_repo, make_home(tmp_path, "alice"), shared(pg_database))
    assert machine.run("runs", "list").code == 0  # creates the schema
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid names no process now
    with psycopg.connect(pg_database.uri_with_password, autocommit=True) as connection:
        for run_id, host in (("mine01", socket.gethostname()), ("theirs", "teammate-laptop")):
            connection.execute(
                "INSERT INTO runs (id, model, kind, status, started, estimator, params, overrides, metrics, gates, "
                "git_dirty, environment, artifacts, host, pid) VALUES (%s, 'churn', 'train', 'RUNNING', 1700000000, "
                "'e', '{}', '[]', '{}', '[]', 0, '{}', '{}', %s, %s)",
                (run_id, host, gone.pid),
            )
    runs = {run["id"]: (run["status"], run["error"]) for run in machine.json("runs", "list")["runs"]}
    assert runs == {
        "mine01": ("FAILED", f"interrupted: the process (pid {gone.pid}) ended before the run finished"),
        "theirs": ("RUNNING", None),
    }
