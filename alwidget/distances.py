"""Nearest neighbours by Euclidean distance, in chunks (shared by learners and strategies)."""

from __future__ import annotations

import numpy as np

__all__ = ["nearest"]


def nearest(X: np.ndarray, C: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Index of, and Euclidean distance to, the nearest row of ``C`` for every row of ``X``.

    Works through ``X`` in chunks of ``chunk`` rows, so memory stays at ``chunk x len(C)``.

    Examples
    --------
    >>> import numpy as np
    >>> nearest(np.array([[0.0], [4.0]]), np.array([[1.0], [5.0]]))
    (array([0, 1]), array([1., 1.]))
    """
    idx = np.empty(len(X), np.int64)
    dist = np.empty(len(X), np.float64)
    c2 = (C.astype(np.float64) ** 2).sum(axis=1)
    for a in range(0, len(X), chunk):
        x = X[a : a + chunk].astype(np.float64)
        d2 = (x**2).sum(axis=1)[:, None] + c2[None, :] - 2 * x @ C.T.astype(np.float64)
        j = d2.argmin(axis=1)
        idx[a : a + chunk] = j
        dist[a : a + chunk] = np.sqrt(np.maximum(d2[np.arange(len(x)), j], 0))
    return idx, dist
