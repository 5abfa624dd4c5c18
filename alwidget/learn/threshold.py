"""The decision threshold that maximises F1 on a validation set."""

from __future__ import annotations

import numpy as np

__all__ = ["f1_at", "tune_threshold"]


def f1_at(y_true: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """F1 of predicting positive when ``p >= threshold`` (0 when undefined).

    Examples
    --------
    >>> f1_at(np.array([0, 1, 1]), np.array([0.2, 0.6, 0.4]), 0.5)
    0.6666666666666666
    """
    y = np.asarray(y_true, dtype=bool)
    pred = np.asarray(p) >= threshold
    tp = int(np.count_nonzero(pred & y))
    denom = int(np.count_nonzero(pred) + np.count_nonzero(y))
    return 2 * tp / denom if denom else 0.0  # plain float


def tune_threshold(y_true: np.ndarray, p: np.ndarray, default: float = 0.5) -> tuple[float, float]:
    """Threshold maximising F1 on validation, and that F1.

    Candidates are the distinct predicted probabilities (predict positive when
    ``p >= t``) and ``default``. Among thresholds with the best F1 the one
    nearest ``default`` wins, so a flat validation curve keeps the usual 0.5.
    With no positive in ``y_true``, returns ``(default, 0.0)``.

    Parameters
    ----------
    y_true : array of bool or 0/1
    p : array of float
        P(positive) on the validation clips.
    default : float, default 0.5

    Returns
    -------
    threshold, f1 : float, float

    Examples
    --------
    >>> tune_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.35, 0.9]))
    (0.35, 1.0)
    """
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(p, dtype=float)
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} entries but p has {len(p)}")
    n_pos = np.count_nonzero(y)
    if n_pos == 0:
        return float(default), 0.0
    # F1 for every candidate at once: sort by p descending, cumulative true positives
    cand = np.unique(np.append(p, default))
    order = np.argsort(-p, kind="stable")
    tp_cum = np.cumsum(y[order])
    # number predicted positive at threshold t = count of p >= t
    n_pred = len(p) - np.searchsorted(np.sort(p), cand, side="left")
    tp = np.where(n_pred > 0, tp_cum[np.maximum(n_pred - 1, 0)], 0)
    f1 = 2 * tp / (n_pred + n_pos)
    best = f1.max()
    ties = cand[np.isclose(f1, best)]
    t = ties[np.argmin(np.abs(ties - default))]
    return float(t), float(best)
