"""Simulated annotators: the ground truth, or a non-expert who errs at a given rate."""

from __future__ import annotations

import numpy as np

__all__ = ["GroundTruthOracle", "NoisyOracle"]


class GroundTruthOracle:
    """Answers with the true label.

    Examples
    --------
    >>> GroundTruthOracle()(np.array([True, False]), 0)
    array([ True, False])
    """

    def __call__(self, truth: np.ndarray, query_number: int) -> np.ndarray:
        return np.asarray(truth)


class NoisyOracle:
    """A non-expert: flips a label with probability ``error_rate``.

    For more than two classes, a wrong answer is drawn from the row of
    ``confusion`` (a dict ``{true: {answer: weight}}``) when given, else
    uniformly among the other classes.

    Parameters
    ----------
    error_rate : float
    classes : sequence, optional
        Needed for multi-class answers.
    confusion : dict, optional
    random_state : int, optional

    Examples
    --------
    >>> o = NoisyOracle(1.0, random_state=0)
    >>> o(np.array([True, False]), 0)
    array([False,  True])
    """

    def __init__(self, error_rate: float, classes=None, confusion=None, random_state=None):
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate={error_rate!r} must be between 0 and 1")
        self.error_rate = error_rate
        self.classes = classes
        self.confusion = confusion
        self.random_state = random_state

    def __call__(self, truth: np.ndarray, query_number: int) -> np.ndarray:
        rng = np.random.default_rng([int(self.random_state or 0), int(query_number)])
        truth = np.asarray(truth)
        wrong = rng.random(len(truth)) < self.error_rate
        if truth.dtype == bool:
            return np.where(wrong, ~truth, truth)
        out = truth.copy()
        for i in np.flatnonzero(wrong):
            if self.confusion and truth[i] in self.confusion:
                row = self.confusion[truth[i]]
                keys, w = list(row), np.asarray(list(row.values()), float)
                out[i] = keys[rng.choice(len(keys), p=w / w.sum())]
            else:
                others = [c for c in self.classes if c != truth[i]]
                out[i] = others[rng.integers(len(others))]
        return out
