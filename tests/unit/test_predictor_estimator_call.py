"""An estimator the fast path has no compiled form of runs through its own predict: input it refuses
with a ValueError is the client's (422, InputRejected) on that path too, as on the pipeline path, so a
canary's error rate counts only the model's failures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.naive_bayes import CategoricalNB

from mlopsctl.contract.predictor import EstimatorCall, InputRejected


def fitted() -> CategoricalNB:
    x = np.array([[0], [1], [2], [3], [1], [2]])
    return CategoricalNB().fit(x, np.array([0, 1, 0, 1, 1, 0]))


def test_a_value_the_estimator_refuses_is_rejected_input() -> None:
    with pytest.raises(InputRejected, match="the model rejected the input: "):
        EstimatorCall(fitted()).run(np.array([[-5]]))


def test_a_failure_that_is_not_a_refusal_still_raises_as_itself() -> None:
    with pytest.raises(IndexError):  # a category above any seen: the model fails, the service answers 500
        EstimatorCall(fitted()).run(np.array([[9]]))


def test_accepted_input_answers_with_probabilities() -> None:
    found = EstimatorCall(fitted()).run(np.array([[1], [2]]))
    assert found.labels.tolist() == [1, 0]
    assert found.probabilities is not None and found.probabilities.shape == (2, 2)
