"""Multi-class and batch strategies of the data-centric framework.

* :class:`Entropy`, :class:`Margin` — classic uncertainty sampling.
* :class:`MedoidSampling` (MAL's first iteration) — the medoids of a
  k-medoids clustering (FasterPAM) of the unlabeled pool.
* :class:`MismatchFirst` (MAL-MF) — clips on which the committee members
  (medoid label propagation and logistic regression) disagree, ordered by
  farthest-first traversal from the labeled and already picked clips; when
  there are fewer mismatches than the batch, the most uncertain clips fill it.
"""

from __future__ import annotations

import numpy as np

from ..distances import nearest
from ..uncertainty import predictive_entropy
from .base import Query, QueryContext, Strategy, check_batch_size, rng_for, top_k

__all__ = ["Entropy", "Margin", "MedoidSampling", "MismatchFirst", "farthest_first"]


def _proba(context: QueryContext) -> np.ndarray:
    if context.proba is None:
        raise ValueError("this strategy needs the model's probabilities (proba) on the pool")
    return context.proba


class Entropy(Strategy):
    """The clips with the highest entropy of the predicted class distribution.

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import Entropy, QueryContext
    >>> P = np.array([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.6, 0.4, 0.0]])
    >>> Entropy().query(QueryContext(n_pool=3, proba=P)).indices
    array([1])
    """

    name = "entropy"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        k = check_batch_size(batch_size, context.n_pool)
        u = np.nan_to_num(predictive_entropy(_proba(context)), nan=0.0)
        idx = top_k(u, k, rng_for(self.random_state, context.iteration))
        return Query(idx, u[idx], tuple(f"entropy {u[i]:.2f}" for i in idx))


class Margin(Strategy):
    """The clips with the smallest gap between the two most probable classes.

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import Margin, QueryContext
    >>> P = np.array([[0.5, 0.45, 0.05], [0.4, 0.3, 0.3], [0.9, 0.1, 0.0]])
    >>> Margin().query(QueryContext(n_pool=3, proba=P)).indices
    array([0])
    """

    name = "margin"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        k = check_batch_size(batch_size, context.n_pool)
        P = np.sort(_proba(context), axis=1)
        gap = P[:, -1] - (P[:, -2] if P.shape[1] > 1 else 0.0)
        idx = top_k(-gap, k, rng_for(self.random_state, context.iteration))
        return Query(idx, -gap[idx], tuple(f"margin {gap[i]:.2f} between the top two classes"
                                           for i in idx))


class MedoidSampling(Strategy):
    """MAL's first iteration: the medoids of a k-medoids clustering of the pool.

    FasterPAM (``kmedoids``) on Euclidean distances. A pool larger than
    ``max_exact`` is clustered on a seeded subsample of that size (an N x N
    distance matrix is never built beyond it: 5,000 points = 200 MB of
    float64); every clip is then assigned to its nearest medoid, in chunks, to
    report cluster sizes.

    Parameters
    ----------
    max_exact : int, default 5000
    random_state : int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import MedoidSampling, QueryContext
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10] + np.arange(10)[:, None] * 0.01
    >>> q = MedoidSampling(random_state=0).query(QueryContext(n_pool=10, X_pool=X), 2)
    >>> sorted(int(i) // 5 for i in q.indices)  # one medoid per cluster
    [0, 1]
    """

    name = "mal"
    needs_model = False

    def __init__(self, max_exact=5000, random_state=None):
        self.max_exact = max_exact
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        import kmedoids

        if context.X_pool is None:
            raise ValueError("MedoidSampling needs the pool's features (X_pool)")
        k = check_batch_size(batch_size, context.n_pool)
        X = np.asarray(context.X_pool, dtype=np.float64)
        rng = rng_for(self.random_state, context.iteration)
        sample = np.arange(len(X))
        if len(X) > self.max_exact:
            sample = np.sort(rng.choice(len(X), self.max_exact, replace=False))
        k = min(k, len(sample))
        S = X[sample]
        sq = (S**2).sum(axis=1)
        D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * S @ S.T, 0))
        np.fill_diagonal(D, 0)
        seed = int(rng.integers(2**31))
        result = kmedoids.fasterpam(D, k, random_state=seed, n_cpu=1)
        medoids = sample[np.asarray(result.medoids, dtype=np.int64)]
        owner, _ = nearest(X, X[medoids])
        sizes = np.bincount(owner, minlength=k)
        order = np.argsort(-sizes, kind="stable")  # largest clusters first
        medoids, sizes = medoids[order], sizes[order]
        reasons = tuple(f"medoid of a cluster of {s} clips" for s in sizes)
        return Query(medoids, sizes.astype(float), reasons)


def farthest_first(X: np.ndarray, candidates: np.ndarray, X_anchor: np.ndarray | None,
                   k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Farthest-first traversal of ``candidates`` (rows of X).

    Each pick is the candidate farthest from the anchors (labeled clips) and
    the picks so far. With no anchors, the first pick is random (seeded).
    Returns the picks (positions in X) and each pick's distance when picked.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [10.0]])
    >>> farthest_first(X, np.arange(4), np.array([[0.0]]), 3, np.random.default_rng(0))[0]
    array([3, 2, 1])
    """
    k = min(int(k), len(candidates))
    C = np.asarray(X[candidates], dtype=np.float64)
    if X_anchor is not None and len(X_anchor):
        _, d = nearest(C, np.asarray(X_anchor, dtype=np.float64))
    else:
        d = np.full(len(C), np.inf)
    picks, dists = [], []
    for _ in range(k):
        j = int(rng.integers(len(C))) if np.isinf(d).all() else int(np.argmax(d))
        picks.append(candidates[j])
        dists.append(d[j])
        d = np.minimum(d, np.sqrt(((C - C[j]) ** 2).sum(axis=1)))
        d[j] = -1.0  # picked
    return np.asarray(picks, dtype=np.int64), np.asarray(dists, dtype=float)


class MismatchFirst(Strategy):
    """MAL-MF: committee disagreements first, spread out by farthest-first traversal.

    Candidates are pool clips on which the committee members' predicted
    labels differ (``context.committee``). They are picked by farthest-first
    traversal from the labeled clips (``context.X_labeled``) and the clips
    already picked. If there are fewer candidates than the batch, the most
    uncertain remaining clips (lowest max probability) fill it.

    Parameters
    ----------
    random_state : int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import MismatchFirst, QueryContext
    >>> X = np.array([[0.0], [1.0], [5.0], [9.0]])
    >>> votes = np.array([[0, 1, 1, 0], [0, 0, 0, 1]])  # members disagree on 1, 2, 3
    >>> ctx = QueryContext(n_pool=4, X_pool=X, X_labeled=np.array([[0.0]]), committee=votes)
    >>> MismatchFirst().query(ctx, 2).indices
    array([3, 2])
    """

    name = "mal-mf"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        if context.committee is None or context.X_pool is None:
            raise ValueError("MismatchFirst needs the committee's votes and the pool's features")
        k = check_batch_size(batch_size, context.n_pool)
        votes = np.asarray(context.committee)
        mismatch = np.flatnonzero((votes != votes[0]).any(axis=0))
        rng = rng_for(self.random_state, context.iteration)
        picks, dists = farthest_first(context.X_pool, mismatch, context.X_labeled, k, rng)
        names = context.member_names or tuple(f"member {m}" for m in range(len(votes)))
        reasons = [
            "mismatch: " + ", ".join(f"{n} says {v}" for n, v in zip(names, votes[:, i]))
            + (f"; farthest from labeled ({d:.2f})" if np.isfinite(d) else "")
            for i, d in zip(picks, dists)
        ]
        utilities = list(dists)
        if len(picks) < k:
            rest = np.setdiff1d(np.arange(context.n_pool), picks)
            if context.proba is not None:
                u = 1.0 - context.proba[rest].max(axis=1)
                why = "uncertain (fewer mismatches than the batch): max P = {:.2f}"
            else:
                u = np.zeros(len(rest))
                why = "filler (fewer mismatches than the batch)"
            fill = rest[top_k(u, k - len(picks), rng)]
            picks = np.concatenate([picks, fill])
            utilities += list(-np.inf * np.ones(len(fill)))
            reasons += [why.format(1 - ui) for ui in u[np.searchsorted(rest, fill)]]
        return Query(picks.astype(np.int64), np.asarray(utilities, float), tuple(reasons))
