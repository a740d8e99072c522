"""``python -m mlopsctl.serve``: the service process, as every image runs it.

It imports only the serving dependencies (see :mod:`mlopsctl.serve.requirements`): no click,
rich, textual, docker or git. Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 1 when a
version cannot be loaded (missing file, digest mismatch, untrusted types), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mlopsctl.errors import ExitCode, MlopsError
from mlopsctl.serve.feedback import PerformanceSettings, Recorder
from mlopsctl.serve.httpserver import Limits
from mlopsctl.serve.inputs import FieldPolicy
from mlopsctl.serve.performance import METRICS
from mlopsctl.serve.predlog import LogSettings
from mlopsctl.serve.runner import load_files, make_app, serve_async
from mlopsctl.serve.service import STRATEGIES, Service, build_service

log = logging.getLogger("mlopsctl.serve")
DEFAULT_MAX_BODY = 1_048_576
DEFAULT_MAX_ROWS = 10_000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlopsctl.serve", description="Serve one registered model version.")
    p.add_argument("--record", type=Path, required=True, help="the version record (registry/<model>/v<N>.yaml)")
    p.add_argument("--artifact", type=Path, required=True, help="the skops artifact the record names")
    p.add_argument("--candidate-record", type=Path, help="record of a candidate version (canary or shadow)")
    p.add_argument("--candidate-artifact", type=Path, help="artifact of the candidate version")
    p.add_argument("--strategy", choices=STRATEGIES, default="canary", help="how the candidate gets traffic")
    p.add_argument("--weight", type=float, default=10.0, help="canary: percent of requests the candidate answers")
    p.add_argument("--seed", type=int, default=None, help="canary: seed of the traffic split (reproducible tests)")
    p.add_argument(
        "--shadow-tolerance",
        type=float,
        default=0.0,
        help="monitoring.shadow.tolerance: a candidate's regression answer this close to stable's agrees",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY, help="larger bodies get 413")
    p.add_argument("--max-batch-rows", type=int, default=DEFAULT_MAX_ROWS, help="more rows get 413")
    p.add_argument(
        "--declared-columns",
        default="",
        help="comma-separated data columns the spec declares: accepted in requests, ignored when not features",
    )
    p.add_argument(
        "--unknown-fields",
        choices=["reject", "ignore"],
        default="reject",
        help="fields the spec never declared: reject (422) or ignore (counted in mlops_ignored_fields_total)",
    )
    p.add_argument(
        "--prediction-log", type=Path, default=None, metavar="DIR", help="write the prediction log (and labels) here"
    )
    p.add_argument("--log-sample", type=float, default=1.0, help="share of requests logged (0 to 1)")
    p.add_argument("--log-max-bytes", type=int, default=67_108_864, help="size of one log file before it rotates")
    p.add_argument("--log-keep-files", type=int, default=8, help="rotated log files kept")
    p.add_argument("--performance-metric", choices=METRICS, default=None, help="live metric from feedback labels")
    p.add_argument("--performance-window", type=float, default=3600.0, help="seconds of labels the metric covers")
    p.add_argument(
        "--handover", type=Path, default=None, metavar="SOCKET", help="unix socket where a successor takes the port"
    )
    p.add_argument(
        "--take-over",
        type=Path,
        default=None,
        metavar="SOCKET",
        help="load first, then take the port from the instance listening at this handover socket",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    problem = _check(args)
    if problem:
        parser().error(problem)
    app = make_app(limits=Limits(max_body_bytes=args.max_body_bytes))

    def load() -> Service:
        stable = load_files(args.record, args.artifact)
        candidate = load_files(args.candidate_record, args.candidate_artifact) if args.candidate_record else None
        service = build_service(
            stable,
            candidate,
            strategy=args.strategy if candidate else None,
            weight=args.weight,
            max_rows=args.max_batch_rows,
            seed=args.seed,
            fields=FieldPolicy(tuple(n for n in args.declared_columns.split(",") if n), args.unknown_fields),
            recorder=recorder(args),
            tolerance=args.shadow_tolerance,
        )
        for model in service.models:
            log.info("ready: %s@%s as %s (%s)", model.name, model.version, model.role, model.predictor.description)
        return service

    def listening(port: int) -> None:
        log.info("listening on http://%s:%d", args.host, port)

    try:
        asyncio.run(
            serve_async(
                app,
                args.host,
                args.port,
                load=load,
                on_listening=listening,
                handover=args.handover,
                take_over=args.take_over,
            )
        )
    except MlopsError as exc:
        print(f"error: {exc.title}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    return int(ExitCode.OK)


def recorder(args: argparse.Namespace) -> Recorder:
    """The prediction log and feedback the arguments ask for (request ids only without a folder)."""
    settings = None
    if args.prediction_log is not None:
        settings = LogSettings(args.prediction_log, args.log_sample, args.log_max_bytes, args.log_keep_files)
    performance = None
    if args.performance_metric is not None:
        performance = PerformanceSettings(args.performance_metric, args.performance_window)
    return Recorder(settings, performance, seed=args.seed)


def _check(args: argparse.Namespace) -> str | None:
    if (args.candidate_record is None) != (args.candidate_artifact is None):
        return "--candidate-record and --candidate-artifact go together"
    if not 0 <= args.weight <= 100:
        return "--weight is a percentage between 0 and 100"
    if not args.shadow_tolerance >= 0:
        return "--shadow-tolerance is an absolute difference of 0 or more"
    if not 0 <= args.port <= 65535:
        return "--port must be between 0 and 65535"
    if not 0 <= args.log_sample <= 1 or args.log_max_bytes < 1024 or args.log_keep_files < 1:
        return "--log-sample is between 0 and 1, --log-max-bytes at least 1024, --log-keep-files at least 1"
    if args.performance_window <= 0:
        return "--performance-window is a number of seconds above 0"
    if args.max_body_bytes < 1024 or args.max_batch_rows < 1:
        return "--max-body-bytes must be at least 1024 and --max-batch-rows at least 1"
    return None


if __name__ == "__main__":
    sys.exit(main())
