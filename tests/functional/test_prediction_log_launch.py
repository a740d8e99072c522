"""What every target passes to the service (``Launch.limit_arguments``) turns the prediction log and
the live metric on in ``python -m mlopsctl.serve``, the process the images and the local target run."""

from __future__ import annotations

from pathlib import Path

from mlopsctl.contract import metrics as mc
from mlopsctl.deploy.model import ServiceSpec
from mlopsctl.deploy.runtime import Launch, VersionFiles
from mlopsctl.serve.predlog import LABELS_FILE
from tests.support.predlog import get_text, post_json, wait_logged
from tests.support.serving import ServiceProcess, churn_fitted, records_of, write_version


def launch(record: Path, artifact: Path, folder: Path) -> Launch:
    files = VersionFiles(record, artifact, "0" * 64)
    return Launch(
        spec=ServiceSpec("churn", 1, "local", 8100),
        env="staging",
        role="service",
        instance_id="abcd",
        stable=files,
        candidate=None,
        max_body_bytes=1_048_576,
        max_batch_rows=1000,
        prediction_log=str(folder),
        log_sample=1.0,
        log_max_bytes=2_000_000,
        log_keep_files=4,
        performance_metric="accuracy",
        performance_window=600.0,
    )


def test_limit_arguments_carry_the_log_and_the_metric(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    arguments = launch(tmp_path / "v1.yaml", tmp_path / "a.skops", folder).limit_arguments()
    assert arguments == [
        "--max-body-bytes",
        "1048576",
        "--max-batch-rows",
        "1000",
        "--prediction-log",
        str(folder),
        "--log-sample",
        "1.0",
        "--log-max-bytes",
        "2000000",
        "--log-keep-files",
        "4",
        "--performance-metric",
        "accuracy",
        "--performance-window",
        "600.0",
    ]
    plain = Launch(ServiceSpec("churn", 1, "local", 8100), "staging", "service", "abcd", None, None, 1024, 10)  # type: ignore[arg-type]
    assert plain.limit_arguments() == ["--max-body-bytes", "1024", "--max-batch-rows", "10"]


def test_the_service_process_logs_and_joins_labels_with_those_arguments(tmp_path: Path) -> None:
    fit = churn_fitted()
    record, artifact, _ = write_version(tmp_path / "versions", fit)
    folder = tmp_path / "log"
    arguments = launch(record, artifact, folder).limit_arguments()
    with ServiceProcess("--record", str(record), "--artifact", str(artifact), *arguments) as service:
        row = records_of(fit.frame.iloc[:1])[0]
        status, headers, body = post_json(service.url, "/predict", {"record": row}, {"X-Request-Id": "p-1"})
        assert (status, headers["x-request-id"]) == (200, "p-1")
        wait_logged(folder, {"p-1"})
        wrong = 1 - body["predictions"][0]
        status, _, answer = post_json(service.url, "/feedback", {"labels": [{"id": "p-1", "label": wrong}]})
        assert (status, answer) == (200, {"accepted": 1})
        metrics = get_text(service.url, "/metrics")
    labels = 'model="churn",version="1",role="stable",metric="accuracy"'
    assert f"{mc.LIVE_PERFORMANCE}{{{labels}}} 0.0\n" in metrics
    assert f"{mc.LIVE_LABELS}{{{labels}}} 1\n" in metrics
    assert (folder / LABELS_FILE).read_text().count("\n") == 1


def test_apply_gets_the_specs_log_and_metric_as_launch_fields(model_repo: Path) -> None:
    from mlopsctl.serve.local import deployment_log_arguments
    from mlopsctl.spec.loader import scan_repo
    from tests.support.status_repo import set_monitoring

    set_monitoring(model_repo, window="15m", performance={"metric": "f1", "warn_below": 0.8, "crit_below": 0.6})
    fields = deployment_log_arguments(scan_repo(model_repo), "staging", "churn").launch_fields()
    assert fields == {
        "prediction_log": str(model_repo / ".mlops" / "predictions" / "env" / "staging" / "churn"),
        "log_sample": 1.0,
        "log_max_bytes": 67_108_864,
        "log_keep_files": 8,
        "performance_metric": "f1",
        "performance_window": 900.0,
    }
    set_monitoring(model_repo, performance={"metric": "precision", "warn_below": 0.8, "crit_below": 0.6})
    fields = deployment_log_arguments(scan_repo(model_repo), "staging", "churn").launch_fields()
    assert "performance_metric" not in fields  # a metric the service does not compute is not passed on


def test_apply_reads_the_log_and_metric_from_the_spec_on_its_light_repository(model_repo: Path) -> None:
    """``apply`` hands the launch a repository with no specs loaded: the spec is read from its file."""
    from mlopsctl.deploy.api import light_repo
    from mlopsctl.serve.local import deployment_log_arguments
    from tests.support.status_repo import set_monitoring

    set_monitoring(model_repo, window="15m", performance={"metric": "accuracy", "warn_below": 0.8, "crit_below": 0.6})
    repo = light_repo(model_repo)
    assert not repo.models  # the case the demo met: nothing scanned
    fields = deployment_log_arguments(repo, "staging", "churn").launch_fields()
    assert fields["performance_metric"] == "accuracy"
    assert fields["performance_window"] == 900.0
    assert fields["prediction_log"] == str(model_repo / ".mlops" / "predictions" / "env" / "staging" / "churn")
