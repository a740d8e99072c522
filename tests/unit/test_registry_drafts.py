"""Version drafts built from a real scikit-learn fit (tests/support/registry_drafts.py), shared by the registry tests.

The drafts are what ``mlopsctl train`` hands the registry: a fitted pipeline's skops bytes, its
metrics computed by scikit-learn, the data fingerprint, signature and drift reference.
"""

from __future__ import annotations

from tests.support.registry_drafts import FEATURES, artifact_bytes, breast_cancer, fitted, make_draft


def test_draft_metrics_are_what_scikit_learn_computes() -> None:
    pipeline, metrics = fitted()
    frame = breast_cancer()
    draft = make_draft()
    assert draft.metrics == metrics
    assert 0.9 < metrics["roc_auc"] <= 1.0
    assert draft.reference.features["mean radius"].count == len(frame)
    assert pipeline.predict(frame[FEATURES].head(3)).shape == (3,)


def test_different_regularisation_gives_a_different_artifact() -> None:
    assert artifact_bytes(1.0) != artifact_bytes(0.01)
