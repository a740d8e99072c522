"""Who answers: canary draws are unbiased, shadow never answers, versions are found by number."""

from __future__ import annotations

import pytest

from mlopsctl.serve.local import curl_example, example_record
from mlopsctl.serve.service import LoadedVersion, ServedModel, Service
from tests.support.serving import Fitted, cancer_fitted


@pytest.fixture(scope="module")
def pair() -> tuple[ServedModel, ServedModel]:
    stable: Fitted = cancer_fitted(version=3)
    candidate = stable.record.model_copy(update={"version": 4})
    return (
        ServedModel(LoadedVersion(stable.record, stable.pipeline), "stable", 100),
        ServedModel(LoadedVersion(candidate, stable.pipeline), "canary", 100),
    )


@pytest.mark.parametrize("weight", [0.0, 1.0, 12.5, 50.0, 99.0, 100.0])
def test_canary_share_is_unbiased(pair: tuple[ServedModel, ServedModel], weight: float) -> None:
    service = Service(*pair, strategy="canary", weight=weight, seed=1)
    draws = 100_000
    share = sum(service.choose() is pair[1] for _ in range(draws)) / draws * 100
    assert abs(share - weight) < 0.5, share
    if weight in (0.0, 100.0):
        assert share == weight


def test_the_same_seed_gives_the_same_split(pair: tuple[ServedModel, ServedModel]) -> None:
    runs = [
        [s.choose().version for _ in range(200)]
        for s in (Service(*pair, "canary", 30, 9), Service(*pair, "canary", 30, 9))
    ]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"3", "4"}


def test_shadow_never_answers(pair: tuple[ServedModel, ServedModel]) -> None:
    service = Service(*pair, strategy="shadow", weight=100)
    assert {service.choose().version for _ in range(1000)} == {"3"}
    assert service.shadow is pair[1]


def test_versions_by_number(pair: tuple[ServedModel, ServedModel]) -> None:
    service = Service(*pair, strategy="canary", weight=10)
    assert service.version("4") is pair[1] and service.version("v3") is pair[0] and service.version("5") is None


def test_a_candidate_needs_a_strategy_and_a_percentage(pair: tuple[ServedModel, ServedModel]) -> None:
    with pytest.raises(ValueError, match="a candidate needs a strategy: one of canary, shadow"):
        Service(*pair)
    with pytest.raises(ValueError, match="weight is a percentage between 0 and 100"):
        Service(*pair, strategy="canary", weight=101)


def test_curl_example_is_a_valid_request(pair: tuple[ServedModel, ServedModel]) -> None:
    record = pair[0].record
    row = example_record(record.signature.inputs, record.reference)
    assert list(row) == [c.name for c in record.signature.inputs]
    batch = pair[0].schema.predict_batch({"record": row})
    assert batch.rows == 1
    assert curl_example("http://127.0.0.1:8000", record).startswith(
        'curl -s http://127.0.0.1:8000/predict -H \'Content-Type: application/json\' -d \'{"record":{"mean_radius":'
    )
