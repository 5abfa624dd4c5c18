"""Strategies of the rare-sound study (binary target vs rest, one query per iteration).

* :class:`RandomSampling` — the baseline.
* :class:`LeastConfidence` — the clip whose P(target) is closest to the decision
  threshold: fixed (Td = 0.5) or re-tuned on validation each iteration.
* :class:`SemiSupervised` — a least-confidence query, plus the model's most
  confident predictions (P >= T_SSL, or <= 1 - T_SSL) as pseudo-labels,
  balanced between positives and negatives (between all classes, by the predicted
  class, for more than two).
* :class:`AlternatingConfidence` — least confidence, but every k-th query is a
  high-confidence prediction (P(target) >= T_HC) so the annotator can correct
  an over-confident model.
"""

from __future__ import annotations

import numpy as np

from .base import Query, QueryContext, Strategy, check_batch_size, rng_for, top_k

__all__ = ["AlternatingConfidence", "LeastConfidence", "RandomSampling", "SemiSupervised"]


def _lc_name(prefix: str, threshold) -> str:
    if threshold == "tuned":
        return f"{prefix}-tuned"
    return prefix if float(threshold) == 0.5 else f"{prefix}@{float(threshold):g}"


class RandomSampling(Strategy):
    """Pick clips uniformly at random (seeded).

    Examples
    --------
    >>> from alwidget.strategies import QueryContext, RandomSampling
    >>> q = RandomSampling(random_state=0).query(QueryContext(n_pool=10))
    >>> q.reasons
    ('random',)
    """

    needs_model = False

    def __init__(self, random_state=None):
        self.random_state = random_state

    name = "random"

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

    def __init__(self, threshold=0.5, random_state=None):
        self.threshold = threshold
        self.random_state = random_state

    @property
    def name(self) -> str:
        return _lc_name("lc", self.threshold)

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

    A pool clip is a candidate for class ``c`` when the model's most likely class is ``c``
    with probability at least ``confidence`` (binary: P(target) >= T_SSL for the target,
    P(target) <= 1 - T_SSL for the rest). Every class then keeps the same number of
    candidates (the smallest count over the classes, at most ``max_pseudo`` each), the most
    confident first, so a class the model has never predicted confidently means no
    pseudo-labels at all. The queried clips are never pseudo-labeled.

    Parameters
    ----------
    confidence : float, default 0.95
        T_SSL (the study used 0.95 and 0.98).
    threshold : float or "tuned", default 0.5
        Threshold of the least-confidence query.
    max_pseudo : int, optional
        Cap per class.
    random_state : int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.strategies import QueryContext, SemiSupervised
    >>> p = np.array([0.99, 0.97, 0.5, 0.01, 0.02, 0.03])
    >>> q = SemiSupervised(0.95).query(QueryContext(n_pool=6, proba=np.c_[1 - p, p]))
    >>> q.indices, q.pseudo_indices, q.pseudo_labels
    (array([2]), array([0, 1, 3, 4]), array([1, 1, 0, 0]))

    With three classes, each class gets as many pseudo-labels as the rarest:

    >>> P = np.array([[0.97, 0.02, 0.01], [0.96, 0.02, 0.02], [0.4, 0.3, 0.3],
    ...               [0.01, 0.98, 0.01], [0.02, 0.02, 0.96]])
    >>> q = SemiSupervised(0.95).query(QueryContext(n_pool=5, proba=P))
    >>> q.indices, q.pseudo_indices, q.pseudo_labels
    (array([2]), array([0, 3, 4]), array([0, 1, 2]))
    """

    def __init__(self, confidence=0.95, threshold=0.5, max_pseudo=None, random_state=None):
        self.confidence = confidence
        self.threshold = threshold
        self.max_pseudo = max_pseudo
        self.random_state = random_state

    @property
    def name(self) -> str:
        return _lc_name(f"ssal-{float(self.confidence):g}", self.threshold)

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r} must be in (0.5, 1)")
        base = LeastConfidence(self.threshold, self.random_state).query(context, batch_size)
        if context.proba is None:
            raise ValueError("this strategy needs the model's probabilities (proba) on the pool")
        P = np.asarray(context.proba, dtype=float)
        best = P.argmax(axis=1)
        conf = P[np.arange(len(P)), best]
        conf[base.indices] = -1.0  # never pseudo-label what the human is asked about
        k = P.shape[1]
        # the target class first (binary), then the column order
        order = [context.positive] + [c for c in range(k) if c != context.positive] \
            if k == 2 else list(range(k))
        candidates = [np.flatnonzero((best == c) & (conf >= self.confidence)) for c in order]
        n = min(len(c) for c in candidates)
        if self.max_pseudo is not None:
            n = min(n, int(self.max_pseudo))
        picked = [c[np.argsort(-conf[c], kind="stable")][:n] for c in candidates]
        pseudo = np.concatenate(picked).astype(np.int64)
        labels = np.repeat(np.asarray(order, dtype=np.int64), n)
        return Query(base.indices, base.utilities, base.reasons, pseudo, labels)


class AlternatingConfidence(Strategy):
    """Least confidence, except every ``every``-th query is a high-confidence one.

    When ``context.iteration`` (decisions so far, start labels included) is
    ``every - 1, 2 * every - 1, ...``, the query is the pool clip with the highest
    P(target) at or above ``high_threshold`` (with more than two classes: the highest
    P of its predicted class); if none reaches it, the least-confident clip is asked
    instead (and the reason says so).

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

    def __init__(self, every=5, high_threshold=0.85, threshold=0.5, random_state=None):
        self.every = every
        self.high_threshold = high_threshold
        self.threshold = threshold
        self.random_state = random_state

    @property
    def name(self) -> str:
        return _lc_name(f"ac-{self.every}", self.threshold)

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"every={self.every!r} must be a positive integer")
        lc = LeastConfidence(self.threshold, self.random_state)
        if (context.iteration + 1) % self.every:
            return lc.query(context, batch_size)
        k = check_batch_size(batch_size, context.n_pool)
        if context.proba is not None and context.proba.shape[1] > 2:  # the predicted class
            p = context.proba.max(axis=1)
            what = lambda i: context.label_name(int(context.proba[i].argmax()))  # noqa: E731
        else:
            p = context.p_target()
            what = lambda i: context.label_name(context.positive)  # noqa: E731
        confident = np.flatnonzero(p >= self.high_threshold)
        picks = confident[np.argsort(-p[confident], kind="stable")][:k]
        reasons = tuple(
            f"high-confidence check every {self.every}: P({what(i)}) = {p[i]:.2f}" for i in picks)
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
