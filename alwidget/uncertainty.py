"""Uncertainty of any learner's probabilities: predictive entropy, and Monte-Carlo dropout's parts.

Shared by the learners (:mod:`alwidget.learn` re-exports it) and the strategies (the
``entropy`` strategy ranks by :func:`predictive_entropy`): one implementation, numpy only.

The rare-sound study ranks clips by the predictive entropy of the model's class
distribution; the ``entropy`` strategy (:class:`alwidget.strategies.Entropy`) does that for
any learner of the loop (the forest's vote shares, the CRNN's or the head's softmax). With
Monte-Carlo dropout (``CRNN(mc_dropout=T)``, :meth:`~alwidget.learn.CRNN.mc_proba`) the
probabilities are the mean over ``T`` stochastic passes; :func:`mutual_information` splits
off the part of that entropy due to the model's own uncertainty (BALD; no strategy uses it
yet: it is for analyses of a model's passes).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mutual_information", "predictive_entropy"]


def predictive_entropy(proba) -> np.ndarray:
    """Entropy (nats) of each row's class distribution.

    Examples
    --------
    >>> predictive_entropy([[0.5, 0.5], [1.0, 0.0]]).round(3)
    array([0.693, 0.   ])
    """
    P = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.where(P > 0, P * np.log(P), 0.0).sum(axis=-1)  # +0.0, never -0.0


def mutual_information(passes) -> np.ndarray:
    """BALD: entropy of the mean over passes minus the mean entropy of each pass.

    ``passes`` has shape (n_passes, n_samples, n_classes) (e.g. :meth:`CRNN.mc_proba
    <alwidget.learn.CRNN.mc_proba>`). High where the passes disagree.

    Examples
    --------
    >>> agree = [[[0.5, 0.5]], [[0.5, 0.5]]]
    >>> disagree = [[[1.0, 0.0]], [[0.0, 1.0]]]
    >>> mutual_information(agree).round(3), mutual_information(disagree).round(3)
    (array([0.]), array([0.693]))
    """
    P = np.asarray(passes, dtype=np.float64)
    if P.ndim != 3:
        raise ValueError(f"passes must have shape (n_passes, n_samples, n_classes); got {P.shape}")
    return predictive_entropy(P.mean(axis=0)) - predictive_entropy(P).mean(axis=0)
