"""Running the service: in the foreground with signal handling, or in a background thread.

The server listens before the model is loaded, so ``/health/live`` answers at once while
``/health/ready`` says 503 until the artifact is read, its digest verified and its pipeline
compiled (on a worker thread). SIGTERM and SIGINT stop it gracefully: it stops accepting,
reports not ready, lets requests in flight finish, then exits.

Replacing a running instance on its port is the other way round (``take_over``): the versions
load first while the old instance serves, then the listening socket itself is taken from it
(:mod:`mlopsctl.serve.handover`), and the old one drains and exits as after SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import VersionRecord
from mlopsctl.errors import MlopsError, NotFound, UsageError
from mlopsctl.serve.app import ServiceApp
from mlopsctl.serve.handover import ACCEPTING, HandoverPoint, receive_listener
from mlopsctl.serve.httpserver import Application, HttpServer, Limits
from mlopsctl.serve.service import LoadedVersion, Service

Loader = Callable[[], Service]
log = logging.getLogger("mlopsctl.serve")


def read_record_file(path: Path) -> VersionRecord:
    """A version record from its YAML file (as committed under ``registry/``), read by the bounded parser."""
    import yaml
    from pydantic import ValidationError

    from mlopsctl.spec.yamlpos import YamlRefused, safe_load

    try:
        document = safe_load(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError:
        raise NotFound(f"no version record at {path}") from None
    except YamlRefused as exc:  # already says file:line:column: field: what
        raise UsageError(f"cannot read the version record {exc.problem}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the version record {path}: {exc}") from None
    try:
        return VersionRecord.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path}: {where}: {first['msg']}", hint="pass a registry/<model>/v<N>.yaml file") from None


def load_files(record_path: Path, artifact_path: Path) -> LoadedVersion:
    """Read a record and its artifact; the artifact is loaded only if its sha256 matches the record."""
    from mlopsctl.registry.artifacts import load_pipeline_bytes

    record = read_record_file(record_path)
    try:
        data = artifact_path.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"no artifact at {artifact_path}", hint=f"the record names sha256:{record.artifact.sha256}"
        ) from None
    return LoadedVersion(record, load_pipeline_bytes(data, record.artifact.sha256))


async def serve_async(
    app: Application,
    host: str,
    port: int,
    *,
    load: Loader | None = None,
    on_listening: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    handover: Path | None = None,
    take_over: Path | None = None,
) -> None:
    """Listen, load (if ``load`` is given), serve until ``stop`` is set, a signal arrives or a successor takes over.

    ``handover``: where a successor may ask for the listening socket (:mod:`mlopsctl.serve.handover`).
    ``take_over``: the previous instance's handover path; then the versions load first, and the
    port is taken from it (or bound, when nobody answers there) only once they are ready.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    server = HttpServer(app, app.limits)
    point = HandoverPoint(handover, server.listening_fd, stop.set) if handover is not None else None
    if take_over is not None and load is not None:
        await _load(app, load)
        load = None
        bound = await _take_over(server, host, port, take_over, point)
    else:
        bound = await server.start(host, port)
        if point is not None:
            point.open()
    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
    if on_listening is not None:
        on_listening(bound)
    try:
        if load is not None:
            await _load(app, load)
        await stop.wait()
    finally:
        if point is not None:
            point.close()
        app.drain()
        await server.shutdown()
        app.close()


async def _take_over(server: HttpServer, host: str, port: int, take_over: Path, point: HandoverPoint | None) -> int:
    """Accept on the previous instance's listening socket, then tell it to drain (or bind, when it is gone)."""
    loop = asyncio.get_running_loop()
    received = await loop.run_in_executor(None, receive_listener, take_over, port)
    if received is None:
        log.info("nothing answers at %s: binding port %d", take_over, port)
        bound = await server.start(host, port)
        if point is not None:
            point.open()
        return bound
    listener, confirm = received
    with confirm:
        bound = await server.start_on(listener)
        if point is not None:
            point.open()  # before ACCEPTING: whoever started us sees it once we may hold the port
        await loop.run_in_executor(None, confirm.sendall, ACCEPTING)
    log.info("took over port %d from the previous instance", bound)
    return bound


async def _load(app: Application, load: Loader) -> None:
    if not isinstance(app, ServiceApp):
        raise TypeError("only a ServiceApp loads a model")
    # Loading imports scikit-learn and builds thousands of objects: the cyclic collector would run
    # over that growing heap again and again (about a fifth of the start-up). Pause it, then move
    # the loaded heap out of its reach, so later collections only scan what requests allocate.
    collecting = gc.isenabled()
    gc.disable()
    try:
        service = await asyncio.get_running_loop().run_in_executor(None, load)
    except MlopsError as exc:
        app.fail(exc.message)
        raise
    except Exception as exc:
        app.fail(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    app.serve(service)


class ServerThread:
    """The service on a background thread with its own event loop (tests, embedding)."""

    def __init__(self, app: Application, host: str = "127.0.0.1", port: int = 0, load: Loader | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.load = load
        self.error: BaseException | None = None
        self._listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="mlops-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Start serving (once; starting a running server does nothing) and wait until it listens."""
        if self._thread.is_alive() or self._listening.is_set():
            return self
        self._thread.start()
        if not self._listening.wait(30):
            raise RuntimeError("the service did not start listening within 30 s")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
        finally:
            self._listening.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def listening(port: int) -> None:
            self.port = port
            self._listening.set()

        await serve_async(
            self.app,
            self.host,
            self.port,
            load=self.load,
            on_listening=listening,
            stop=self._stop,
            handle_signals=False,
        )


def make_app(service: Service | None = None, limits: Limits | None = None) -> ServiceApp:
    """The routes over ``service`` (None: not ready until :meth:`ServiceApp.serve` is called)."""
    return ServiceApp(limits or Limits(), service)
