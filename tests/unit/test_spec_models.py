import pytest
from pydantic import ValidationError

from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import UsageError
from mlopsctl.spec.models import Deployment, duration_seconds


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": 1, "candidate": 2}, "strategy replace takes no candidate or weight"),
        ({"version": 1, "strategy": "canary", "candidate": 2}, "strategy canary needs a weight"),
        ({"version": 1, "strategy": "canary", "weight": 10}, "strategy canary needs a candidate version"),
        ({"version": 1, "strategy": "shadow", "candidate": 2, "weight": 5}, "strategy shadow takes no weight"),
        ({"version": 2, "strategy": "shadow", "candidate": 2}, "candidate must differ from version"),
    ],
)
def test_deployment_strategy_rules(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Deployment.model_validate(fields)


def test_canary_weight_range() -> None:
    assert Deployment(version=1, strategy="canary", candidate=2, weight=20).weight == 20
    with pytest.raises(ValidationError, match="less than or equal to 99"):
        Deployment(version=1, strategy="canary", candidate=2, weight=100)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("1.5d", 129600), ("2w", 1209600)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("1 hour")


@pytest.mark.parametrize(
    ("text", "expected"), [("churn@3", ("churn", 3)), ("churn@v12", ("churn", 12)), ("a-b@latest", ("a-b", None))]
)
def test_parse_ref(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["churn", "churn@0", "Churn@1", "churn@x", "@1"])
def test_bad_refs(text: str) -> None:
    with pytest.raises(UsageError, match="is not a model version reference"):
        parse_ref(text)
