"""What every query strategy shares: the context it reads and the query it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["Query", "QueryContext", "Strategy", "rng_for", "top_k"]


@dataclass(frozen=True)
class QueryContext:
    """Everything a strategy may read to choose clips from the pool.

    Positions ``0 .. n_pool - 1`` index the unlabeled pool; a query returns
    such positions. Fields a strategy does not need may be left as None.

    Parameters
    ----------
    n_pool : int
        Number of unlabeled candidates.
    proba : ndarray (n_pool, n_classes), optional
        The model's class probabilities on the pool, columns in ``classes`` order.
    classes : ndarray, optional
        The fixed class list.
    positive : int, default 1
        Column of ``proba`` holding the target class (binary strategies).
    threshold : float, default 0.5
        Decision threshold on P(target): fixed, or tuned on validation by the caller.
    iteration : int, default 0
        Number of decisions taken so far (labels, including a simulation's start pair,
        and skips); it seeds the strategy's random choices, so a replay or a resumed
        session picks the same clips.
    X_pool : ndarray (n_pool, d), optional
        Features of the pool (diversity strategies).
    X_labeled : ndarray (m, d), optional
        Features of the labeled clips (diversity strategies).
    committee : ndarray (n_members, n_pool), optional
        Each committee member's predicted label on the pool (mismatch-first).
    member_names : tuple of str
        Names of the committee members, for reasons.
    """

    n_pool: int
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None
    positive: int = 1
    threshold: float = 0.5
    iteration: int = 0
    X_pool: np.ndarray | None = None
    X_labeled: np.ndarray | None = None
    committee: np.ndarray | None = None
    member_names: tuple[str, ...] = ()

    def p_target(self) -> np.ndarray:
        """P(target) on the pool; raises if the context has no probabilities."""
        if self.proba is None:
            raise ValueError("this strategy needs the model's probabilities (proba) on the pool")
        return self.proba[:, self.positive]

    def label_name(self, column: int) -> str:
        return str(self.classes[column]) if self.classes is not None else str(column)


@dataclass(frozen=True)
class Query:
    """The clips a strategy picked, why, and (semi-supervised) pseudo-labels.

    Attributes
    ----------
    indices : ndarray of int
        Pool positions, in pick order.
    utilities : ndarray of float
        One per pick; larger means more useful to label (comparable within a strategy).
    reasons : tuple of str
        One human-readable reason per pick.
    pseudo_indices, pseudo_labels : ndarray
        Pool positions auto-labeled by the model, and the class column each gets.
        Never human labels: kept apart, never counted or used for evaluation.
    """

    indices: np.ndarray
    utilities: np.ndarray
    reasons: tuple[str, ...]
    pseudo_indices: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pseudo_labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self):
        if not len(self.indices) == len(self.utilities) == len(self.reasons):
            raise ValueError("indices, utilities and reasons must have one entry per pick")


class Strategy(BaseEstimator):
    """Base class: a named, seeded rule that picks clips from the pool.

    A scikit-learn estimator in all but fitting: parameters live in ``__init__`` only, so
    ``get_params``, ``set_params``, ``clone`` and ``repr`` work as for any estimator, and a
    strategy keeps no state between queries (the same context and iteration give the same
    picks). Subclasses implement :meth:`query` and :attr:`name`.

    Attributes
    ----------
    needs_model : bool
        True when the strategy reads the model's probabilities (or committee votes); before
        a model exists (fewer than two classes labeled) the loop picks at random instead.
    """

    needs_model = True

    @property
    def name(self) -> str:
        """The short name :func:`~alwidget.strategies.make_strategy` builds this strategy from."""
        raise NotImplementedError

    @property
    def tunes_threshold(self) -> bool:
        """True when the strategy reads a decision threshold tuned on a validation set."""
        return getattr(self, "threshold", None) == "tuned"

    def query(self, context: QueryContext, batch_size: int = 1) -> Query:
        raise NotImplementedError


def rng_for(random_state, iteration: int) -> np.random.Generator:
    """A generator fixed by (seed, iteration): the same pick on replay or resume.

    ``random_state`` None draws fresh entropy; a Generator is used as is.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng([int(random_state), int(iteration)])


def top_k(utility: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` largest utilities; ties broken at random (seeded)."""
    k = min(int(k), len(utility))
    tiebreak = rng.random(len(utility))
    order = np.lexsort((tiebreak, -utility))
    return order[:k]


def check_batch_size(batch_size: int, n_pool: int) -> int:
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    if n_pool < 1:
        raise ValueError("the pool is empty: nothing left to query")
    return min(int(batch_size), n_pool)
