"""Rendered file names map back to their model even when model names hold dashes (issue 17)."""

from __future__ import annotations

import pytest

from mlopsctl.kubernetes.manifests import model_of


@pytest.mark.parametrize(
    ("file_name", "model"),
    [
        ("churn-deployment-stable.yaml", "churn"),
        ("churn-eu-deployment-candidate.yaml", "churn-eu"),
        ("churn-service-candidate.yaml", "churn"),
        ("churn-service.yaml", "churn"),
        ("x-hpa-hpa-stable.yaml", "x-hpa"),
        ("fraud-v2-httproute.yaml", "fraud-v2"),
        ("kustomization.yaml", None),
        ("namespace.yaml", None),
        ("prometheus-rules.yaml", None),
    ],
)
def test_the_model_of_a_rendered_file(file_name: str, model: str | None) -> None:
    assert model_of(file_name) == model
