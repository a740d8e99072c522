"""Loading in the runner: the collector pauses while a version loads, then the loaded heap is frozen."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from mlopsctl.errors import NotFound
from mlopsctl.serve.runner import ServerThread, make_app
from mlopsctl.serve.service import LoadedVersion, Service, build_service
from tests.support.serving import Client, cancer_fitted


@pytest.fixture
def collector() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_pauses_during_the_load_and_the_loaded_heap_is_frozen(collector: None) -> None:
    fit = cancer_fitted()
    seen: list[bool] = []

    def load() -> Service:
        seen.append(gc.isenabled())
        return build_service(LoadedVersion(fit.record, fit.pipeline))

    assert gc.get_freeze_count() == 0
    server = ServerThread(make_app(), load=load).start()
    try:
        client = Client(server.url)
        for _ in range(200):
            status, _, _ = client.get("/health/ready")
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200
        client.close()
    finally:
        server.stop()
    assert seen == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_failed_load_turns_the_collector_back_on(collector: None) -> None:
    def load() -> Service:
        raise NotFound("no artifact at /nowhere.skops")

    server = ServerThread(make_app(), load=load)
    with pytest.raises(NotFound):
        server.start()
        server.stop()
        if server.error is not None:
            raise server.error
    assert gc.isenabled()
