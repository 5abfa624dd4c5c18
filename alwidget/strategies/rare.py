"""Strategies of the rare-sound study (binary target vs rest, one query per iteration).

* :class:`RandomSampling` — the baseline.
* :class:`LeastConfidence` — the clip whose P(target) is closest to the decision
  threshold: fixed (Td = 0.5) or re-tuned on validation each iteration.
* :class:`SemiSupervised` — a least-confidence query, plus the model's most
  confident predictions (P >= T_SSL, or <= 1 - T_SSL) as pseudo-labels,
  balanced between positives and negatives.
* :class:`AlternatingConfidence` — least confidence, but every k-th query is a
  high-confidence prediction (P(target) >= T_HC) so the annotator can correct
  an over-confident model.
"""

from __future__ import annotations

import numpy as np

from .base import Query, QueryContext, Strategy, check_batch_size, rng_for, top_k

__all__ = ["AlternatingConfidence", "LeastConfidence", "RandomSampling", "SemiSupervised"]


class RandomSampling(Strategy):
    """Pick clips uniformly at random (seeded).

    Examples
    --------
    >>> from alwidget.strategies import QueryContext, RandomSampling
    >>> q = RandomSampling(random_state=0).query(QueryContext(n_pool=10))
    >>> q.reasons
    ('random',)
    """

    name = "random"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        k = check_batch_size(batch_size, context.n_pool)
        rng = rng_for(self.random_state, context.iteration)
        idx = rng.choice(context.n_pool, size=k, replace=False)
        return Query(idx.astype(np.int64), np.zeros(k), ("random",) * k)


class LeastConfidence(Strategy):
    """The clips whose P(target) is closest to the decision threshold.

    Parameters
    ----------
    threshold : float or "tuned", default 0.5
        A fixed threshold Td, or ``"tuned"`` to use ``context.threshold``
        (the caller re-tunes it on validation for F1 every iteration: the
        study's "varied threshold").
    random_state : int, optional
        Breaks ties.

    Notes
    -----
    Utility is ``-|P(target) - threshold|``. For more than two classes (no
    threshold), utility is ``1 - max_c P(c)``.

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import LeastConfidence, QueryContext
    >>> p = np.array([0.1, 0.45, 0.7, 0.9])
    >>> ctx = QueryContext(n_pool=4, proba=np.c_[1 - p, p])
    >>> LeastConfidence().query(ctx).indices
    array([1])
    """

    name = "lc"

    def __init__(self, threshold=0.5, random_state=None):
        self.threshold = threshold
        self.random_state = random_state

    def _threshold(self, context: QueryContext) -> float:
        if self.threshold == "tuned":
            return float(context.threshold)
        t = float(self.threshold)
        if not 0 < t < 1:
            raise ValueError(f"threshold={self.threshold!r} must be in (0, 1) or 'tuned'")
        return t

    def utilities(self, context: QueryContext) -> np.ndarray:
        """Utility of every pool clip (larger = less confident)."""
        if context.proba is not None and context.proba.shape[1] > 2:
            return 1.0 - context.proba.max(axis=1)
        return -np.abs(context.p_target() - self._threshold(context))

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        k = check_batch_size(batch_size, context.n_pool)
        u = self.utilities(context)
        idx = top_k(u, k, rng_for(self.random_state, context.iteration))
        return Query(idx, u[idx], tuple(self._reason(context, i) for i in idx))

    def _reason(self, context: QueryContext, i: int) -> str:
        if context.proba.shape[1] > 2:
            return f"least confident: max P = {context.proba[i].max():.2f}"
        kind = "tuned" if self.threshold == "tuned" else "fixed"
        return (f"least confident: P({context.label_name(context.positive)}) = "
                f"{context.p_target()[i]:.2f}, nearest the {kind} threshold "
                f"{self._threshold(context):.2f}")


class SemiSupervised(Strategy):
    """Least-confidence query plus balanced pseudo-labels of confident predictions.

    Pool clips with P(target) >= ``confidence`` are candidate positives, those
    with P(target) <= 1 - ``confidence`` candidate negatives. The same number
    of each is kept (the smaller count, at most ``max_pseudo`` per side), the
    most confident first. The queried clips are never pseudo-labeled.

    Parameters
    ----------
    confidence : float, default 0.95
        T_SSL (the study used 0.95 and 0.98).
    threshold : float or "tuned", default 0.5
        Threshold of the least-confidence query.
    max_pseudo : int, optional
        Cap per side.
    random_state : int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import QueryContext, SemiSupervised
    >>> p = np.array([0.99, 0.97, 0.5, 0.01, 0.02, 0.03])
    >>> q = SemiSupervised(0.95).query(QueryContext(n_pool=6, proba=np.c_[1 - p, p]))
    >>> q.indices, q.pseudo_indices, q.pseudo_labels
    (array([2]), array([0, 1, 3, 4]), array([1, 1, 0, 0]))
    """

    name = "ssal"

    def __init__(self, confidence=0.95, threshold=0.5, max_pseudo=None, random_state=None):
        self.confidence = confidence
        self.threshold = threshold
        self.max_pseudo = max_pseudo
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r} must be in (0.5, 1)")
        base = LeastConfidence(self.threshold, self.random_state).query(context, batch_size)
        p = context.p_target().copy()
        p[base.indices] = np.nan  # never pseudo-label what the human is asked about
        with np.errstate(invalid="ignore"):
            pos = np.flatnonzero(p >= self.confidence)
            neg = np.flatnonzero(p <= 1 - self.confidence)
        n = min(len(pos), len(neg))
        if self.max_pseudo is not None:
            n = min(n, int(self.max_pseudo))
        pos = pos[np.argsort(-p[pos], kind="stable")][:n]
        neg = neg[np.argsort(p[neg], kind="stable")][:n]
        pseudo = np.concatenate([pos, neg]).astype(np.int64)
        labels = np.concatenate([
            np.full(n, context.positive), np.full(n, 1 - context.positive)
        ]).astype(np.int64)
        return Query(base.indices, base.utilities, base.reasons, pseudo, labels)


class AlternatingConfidence(Strategy):
    """Least confidence, except every ``every``-th query is a high-confidence one.

    On iterations ``every - 1, 2 * every - 1, ...`` (0-based) the query is the
    pool clip with the highest P(target) at or above ``high_threshold``; if
    none reaches it, the least-confident clip is asked instead (and the reason
    says so).

    Parameters
    ----------
    every : int, default 5
        k (the study used 5 and 10).
    high_threshold : float, default 0.85
        T_HC.
    threshold : float or "tuned", default 0.5
        Threshold of the least-confidence queries.
    random_state : int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import AlternatingConfidence, QueryContext
    >>> p = np.array([0.5, 0.9, 0.95, 0.1])
    >>> ac = AlternatingConfidence(every=5)
    >>> ac.query(QueryContext(n_pool=4, proba=np.c_[1 - p, p], iteration=0)).indices
    array([0])
    >>> ac.query(QueryContext(n_pool=4, proba=np.c_[1 - p, p], iteration=4)).indices
    array([2])
    """

    name = "ac"

    def __init__(self, every=5, high_threshold=0.85, threshold=0.5, random_state=None):
        self.every = every
        self.high_threshold = high_threshold
        self.threshold = threshold
        self.random_state = random_state

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"every={self.every!r} must be a positive integer")
        lc = LeastConfidence(self.threshold, self.random_state)
        if (context.iteration + 1) % self.every:
            return lc.query(context, batch_size)
        k = check_batch_size(batch_size, context.n_pool)
        p = context.p_target()
        confident = np.flatnonzero(p >= self.high_threshold)
        picks = confident[np.argsort(-p[confident], kind="stable")][:k]
        reasons = tuple(
            f"high-confidence check every {self.every}: P({context.label_name(context.positive)})"
            f" = {p[i]:.2f}" for i in picks)
        if len(picks) == k:
            return Query(picks, p[picks], reasons)
        # not enough confident predictions: fill with least-confident clips
        rest = lc.query(context, context.n_pool)
        fill = [i for i in rest.indices if i not in set(picks)][: k - len(picks)]
        why = f"least confident (no other P >= {self.high_threshold:.2f} for the every-{self.every} check)"
        return Query(
            np.concatenate([picks, fill]).astype(np.int64),
            np.concatenate([p[picks], lc.utilities(context)[fill]]),
            reasons + (why,) * len(fill),
        )
