"""init, validate and schema through the CLI, on real repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlopsctl.spec.schema import SCHEMA_KINDS, json_schema
from tests.conftest import run_cli_process

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_init_creates_a_committed_repository(cli: Any, tmp_path: Path) -> None:
    result = cli("init", str(tmp_path / "x"))
    assert result.code == 0, result.stderr
    root = tmp_path / "x"
    assert "Created model repository x" in result.stdout
    assert "mlopsctl train churn" in result.stdout
    for name in [
        "mlops.yaml",
        "models/churn/model.yaml",
        "environments/staging.yaml",
        "environments/production.yaml",
        "data/churn.csv",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".github/workflows/mlops.yml",
        ".gitlab-ci.yml",
        "schemas/model.schema.json",
        "registry/README.md",
    ]:
        assert (root / name).is_file(), name
    log = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True, check=True)
    assert log.stdout.strip() == "Create model repository with mlopsctl init"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    assert ".mlops/" in (root / ".gitignore").read_text()


def test_init_refuses_a_non_empty_folder(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    result = cli("init", str(tmp_path / "x"))
    assert result.code == 2
    assert "already exists and is not empty" in result.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_fresh_repository_validates(cli: Any, model_repo: Path) -> None:
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 0, result.stdout
    assert result.stdout.strip() == "ok: 1 model, 2 environments, no problems"


def test_validate_finds_the_repo_upward_like_git(model_repo: Path) -> None:
    result = run_cli_process("validate", cwd=model_repo / "models" / "churn")
    assert result.code == 0, result.stderr


def test_every_problem_is_reported_with_file_line_and_field(cli: Any, model_repo: Path) -> None:
    model = model_repo / "models/churn/model.yaml"
    edit(model, "n_estimators: 100", "n_estimator: 100")
    edit(model, "{name: age, kind: numeric", "{name: agee, kind: numeric")
    edit(model, "window: 1h", "window: 1 hour")
    edit(model, "test_size: 0.25", "test_size: 1.5")
    edit(model_repo / "mlops.yaml", "default_target: local", "default_target: lokal\nprometeus: {}")
    edit(model_repo / "environments/staging.yaml", "deployments: {}", "deployments:\n  sales: {version: 1}")
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[:7] == [
        "environments/staging.yaml:10:3: deployments.sales: no model 'sales' in models/",
        "mlops.yaml:13:17: default_target: Input should be 'local', 'docker' or 'kubernetes' (got 'lokal')",
        "mlops.yaml:14:1: prometeus: unknown key 'prometeus'; did you mean 'prometheus'?",
        "models/churn/model.yaml:53:12: features[3].name: feature 'agee' is not in data.columns; did you mean 'age'?",
        "models/churn/model.yaml:61:18: training.params.n_estimator: RandomForestClassifier has no parameter "
        "'n_estimator'; did you mean 'n_estimators'?",
        "models/churn/model.yaml:72:16: training.split.test_size: Input should be less than 1 (got 1.5)",
        "models/churn/model.yaml:86:11: monitoring.window: must be a duration such as 90s, 15m, 1h, 30d or 2w (got '1 hour')",
    ]
    assert lines[-1] == f"7 problems in {model_repo}"


def test_estimator_checks(cli: Any, model_repo: Path) -> None:
    model = model_repo / "models/churn/model.yaml"
    edit(model, "max_depth: 8\n", "max_depth: deep\n")
    edit(model, "    - roc_auc >= 0.75", "    - roc_auc >= 0.75\n    - r2 > 0.1")
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert (
        "models/churn/model.yaml:62:16: training.params.max_depth: The 'max_depth' parameter of "
        "RandomForestClassifier must be an int in the range [1, inf) or None. Got 'deep' instead." in result.stdout
    )
    assert "evaluation.gates[1]: gate on 'r2', which is not measured" in result.stdout
    edit(model, "sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestClasifier")
    result = cli("validate", "--repo", str(model_repo))
    assert (
        "training.estimator: 'RandomForestClasifier' is not a class in sklearn.ensemble; did you mean 'RandomForestClassifier'?"
        in result.stdout
    )
    edit(model, "sklearn.ensemble.RandomForestClasifier", "sklearn.linear_model.LinearRegression")
    result = cli("validate", "--repo", str(model_repo))
    assert "training.estimator: LinearRegression is a regressor but training.task is classification" in result.stdout


def test_environment_checks(cli: Any, model_repo: Path) -> None:
    env = model_repo / "environments/staging.yaml"
    edit(env, "deployments: {}", "deployments:\n  churn: {version: 3, strategy: canary, candidate: 4, weight: 60}")
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stdout.splitlines()[:3] == [
        "environments/staging.yaml:10:20: deployments.churn.version: churn@3 is not in the registry (versions: none registered yet)",
        "environments/staging.yaml:10:52: deployments.churn.candidate: churn@4 is not in the registry (versions: none registered yet)",
        "environments/staging.yaml:10:63: deployments.churn.weight: canary weight 60% is over the model's max_canary_weight 50%",
    ]


def test_invalid_yaml_and_duplicate_keys(cli: Any, model_repo: Path) -> None:
    (model_repo / "environments/staging.yaml").write_text("name: staging\nname: other\n")
    (model_repo / "environments/production.yaml").write_text("name: [production\n")
    result = cli("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert "environments/staging.yaml:2:1: name: duplicate key 'name'" in result.stdout
    assert "environments/production.yaml:2:1: (document): invalid YAML:" in result.stdout


def test_empty_and_non_mapping_files(cli: Any, model_repo: Path) -> None:
    (model_repo / "environments/staging.yaml").write_text("")
    (model_repo / "environments/production.yaml").write_text("- a\n- b\n")
    result = cli("validate", "--repo", str(model_repo))
    assert (
        "environments/staging.yaml:1:1: (document): expected a mapping of keys for a Environment, got an empty file"
        in result.stdout
    )
    assert (
        "environments/production.yaml:1:1: (document): expected a mapping of keys for a Environment, got a list"
        in result.stdout
    )


def test_json_output_is_machine_readable(cli: Any, model_repo: Path) -> None:
    edit(model_repo / "mlops.yaml", "default_target: local", "default_target: moon")
    result = cli("--output", "json", "validate", "--repo", str(model_repo))
    assert result.code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["problems"][0]["field"] == "default_target"
    assert payload["problems"][0]["line"] == 13
    result = cli("validate", "-o", "json", "--repo", str(model_repo))
    assert json.loads(result.stdout)["ok"] is False


def test_not_a_repository_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", "--repo", str(tmp_path))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: Not a model repository: no mlops.yaml in {tmp_path} or any folder above it",
        "hint: run inside a model repository, pass --repo PATH, or create one with: mlopsctl init PATH",
    ]


def test_unknown_option_is_a_usage_error(cli: Any) -> None:
    result = cli("validate", "--bogus")
    assert result.code == 2
    assert "No such option '--bogus'" in result.stderr


def test_bad_input_never_shows_a_traceback(model_repo: Path) -> None:
    (model_repo / "mlops.yaml").write_bytes(b"name: \xff\xfe\n")
    result = run_cli_process("validate", "--repo", str(model_repo))
    assert result.code == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "mlops.yaml:1:1: (document): not UTF-8 text (byte 0xff)" in result.stdout


def test_environment_variables_override_settings(model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlopsctl.spec.loader import open_repo

    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("MLOPS_DEFAULT_TARGET", "docker")
    repo = open_repo(model_repo)
    assert repo.settings.prometheus.url == "http://127.0.0.1:9999"
    assert repo.settings.default_target == "docker"


@pytest.mark.parametrize("kind", sorted(SCHEMA_KINDS))
def test_schema_command_prints_the_json_schema(cli: Any, kind: str) -> None:
    result = cli("schema", kind)
    assert result.code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{kind}.schema.json")


@pytest.mark.parametrize(
    ("kind", "file"),
    [("project", "mlops.yaml"), ("model", "models/churn/model.yaml"), ("environment", "environments/staging.yaml")],
)
def test_template_files_match_the_published_schema_and_point_at_it(model_repo: Path, kind: str, file: str) -> None:
    path = model_repo / file
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")
    schema_file = (path.parent / first_line.split("$schema=")[1]).resolve()
    assert schema_file == model_repo / "schemas" / f"{kind}.schema.json"
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(schema_file.read_text()))


def test_published_schemas_are_in_sync_with_the_models() -> None:
    for kind in SCHEMA_KINDS:
        published = json.loads((PROJECT_ROOT / "schemas" / f"{kind}.schema.json").read_text())
        assert published == json_schema(kind), f"schemas/{kind}.schema.json is stale: run scripts/update-schemas.sh"


def test_schema_rejects_what_validate_rejects(model_repo: Path) -> None:
    data = yaml.safe_load((model_repo / "models/churn/model.yaml").read_text())
    data["training"]["n_estimator"] = 3
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(data, json_schema("model"))


def test_template_pre_commit_hook_is_the_published_one(model_repo: Path) -> None:
    published = yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text())
    used = yaml.safe_load((model_repo / ".pre-commit-config.yaml").read_text())
    hook = used["repos"][0]["hooks"][0]
    assert hook["id"] == published[0]["id"] == "mlopsctl-validate"
    assert hook["entry"] == published[0]["entry"] == "mlopsctl validate"


def test_core_does_not_import_textual() -> None:
    code = (
        "import sys, mlopsctl.cli.main, mlopsctl.spec.validate, mlopsctl.scaffold.init;"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.') or m.startswith('mlopsctl.tui'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
