"""The loop core: :class:`LoopCore`, the active-learning step written once (see
:mod:`alwidget.loop` for its rules)."""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import replace

import numpy as np
from sklearn.base import clone
from sklearn.metrics import f1_score

from ..learn import Learner, default_model, tune_threshold
from ..learn.models import warm_starts
from ..strategies import Query, QueryContext, RandomSampling, Strategy, make_strategy
from .plans import Fitted, Plan, model_seed, stale_note

__all__ = ["LoopCore", "START_NAMES"]

#: Cold starts: what the loop picks before two classes are labeled.
START_NAMES = ("random", "nearest")


_EMPTY = np.empty(0, np.int64)


class LoopCore:
    """The active-learning step over a fixed feature matrix, class list, learner and strategy.

    Parameters
    ----------
    X : ndarray (n_rows, d)
        Features of every row the loop may train on, score or ask about.
    classes : sequence of str
        The fixed class list (probability columns are in this order).
    target : str, optional
        The positive class of a binary task (default ``classes[-1]``); ignored otherwise.
    model : classifier, optional
        Default :func:`alwidget.learn.default_model`; cloned on every fit, never changed.
    strategy : str or Strategy, default "lc"
        A name for :func:`alwidget.strategies.make_strategy`, or an instance (cloned).
    random_state : int or None, default 0
    validation : (rows, labels), optional
        Rows of ``X`` held out to tune the threshold and report F1; never trained on.
    batch_size : int, default 1
        Picks per plan.
    start : {"random", "nearest"}, default "random"
        The cold start, before two classes are labeled. ``"random"``: no model, so a random
        pick (a strategy that needs no model, such as MAL's medoids, runs as it is).
        ``"nearest"``: the pool rows nearest (cosine distance, ties to the lower row) to
        the known positive(s) — the labeled rows of ``target`` in a binary task, of the one
        class labeled otherwise; a row's distance is to its nearest known positive. This is
        the start from search by example: label one example, and the next queries are the
        clips most like it until a clip of another class is labeled; then the strategy.
        With no positive labeled yet it falls back to the random pick.
    start_labels : int, optional
        Binary tasks with ``start="nearest"``: keep asking the clips nearest to the known
        positives, model or not, while fewer than this many rows are labeled (validation
        rows excluded). Default None: only until a second class is labeled.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (95, 4)), rng.normal(3, 1, (5, 4))]
    >>> core = LoopCore(X, ["background", "bird"], strategy="lc", random_state=0)
    >>> plan = core.plan([0, 99], ["background", "bird"], pool=np.arange(1, 99), iteration=2)
    >>> plan.picks.shape, plan.strategies, plan.threshold
    ((1,), ('lc',), 0.5)
    >>> plan.proba.shape
    (100, 2)
    >>> cold = LoopCore(X, ["background", "bird"], start="nearest", random_state=0)
    >>> first = cold.plan([99], ["bird"], pool=np.arange(99), iteration=1)
    >>> first.strategies, first.reasons[0].startswith("nearest to the known positive")
    (('nearest',), True)
    """

    def __init__(self, X, classes, *, target: str | None = None, model=None,
                 strategy: str | Strategy = "lc", random_state=0, validation=None,
                 batch_size: int = 1, start: str = "random", start_labels: int | None = None):
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        if self.X.ndim != 2:
            raise ValueError(f"X must be 2-d (rows, features); got shape {self.X.shape}")
        self.classes = [str(c) for c in classes]
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes={list(classes)!r} must list at least two distinct classes")
        self.binary = len(self.classes) == 2
        self.target = (target if target is not None else self.classes[-1]) if self.binary else None
        if self.binary and self.target not in self.classes:
            raise ValueError(f"target={target!r} is not one of classes={self.classes!r}")
        self.model = clone(model if model is not None else default_model())
        params = self.model.get_params()  # asked once, not per fit
        self._seeded = "random_state" in params
        self._warm = warm_starts(self.model)  # the deep learners; never a forest's warm_start
        if params.get("warm_start", False) and not self._warm:
            warnings.warn(f"warm_start=True of {type(self.model).__name__} is not used: the "
                          f"loop fits it afresh on each training set (only alwidget's deep "
                          f"learners continue from their weights)", UserWarning, stacklevel=2)
        self.strategy = (make_strategy(strategy, random_state) if isinstance(strategy, str)
                         else clone(strategy))
        if self.strategy.get_params().get("random_state", 0) is None:  # seeded like the loop
            self.strategy.set_params(random_state=random_state)
        self.random_state = random_state
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        self.batch_size = int(batch_size)
        if start not in START_NAMES:
            raise ValueError(f"start={start!r} must be one of {list(START_NAMES)}")
        self.start = start
        if start_labels is not None and (int(start_labels) != start_labels or start_labels < 1):
            raise ValueError(f"start_labels={start_labels!r} must be a positive integer or None")
        self.start_labels = None if start_labels is None else int(start_labels)
        self._val_rows = _EMPTY
        self._val_labels = np.empty(0, object)
        if validation is not None:
            rows, labels = validation
            self._val_rows = self._rows(rows, "validation rows")
            self._val_labels = np.asarray([str(v) for v in labels], dtype=object)
            if len(self._val_labels) != len(self._val_rows):
                raise ValueError(f"validation has {len(self._val_rows)} rows but "
                                 f"{len(self._val_labels)} labels")
        if self.strategy.tunes_threshold and not (self.binary and len(self._val_rows)):
            raise ValueError(
                f"strategy {self.strategy.name!r} tunes its threshold on a validation set of a "
                "binary task; give validation=(clips, labels), or choose 'lc' (threshold 0.5)")

    @property
    def validation_rows(self) -> np.ndarray:
        """Rows held out for validation (never in a pool, never trained on)."""
        return self._val_rows

    @property
    def validation_labels(self) -> np.ndarray:
        """The labels of :attr:`validation_rows` (class names, object array)."""
        return self._val_labels

    def _rows(self, rows, what: str) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.X)):
            raise ValueError(f"{what} must be rows of X (0 .. {len(self.X) - 1})")
        return rows

    # -- one step ------------------------------------------------------------------------
    def plan(self, labeled_rows, labels, *, pool, iteration: int, pseudo=None,
             queued=(), fitted: Fitted | None = None, refit: bool = True,
             previous: Fitted | None = None, refit_error: str | None = None) -> Plan:
        """Fit on the labels (and pseudo-labels), score every row, pick the next rows.

        Parameters
        ----------
        labeled_rows, labels : sequences
            Rows of ``X`` with a human label, and the labels (class names). Validation rows
            among them are left out: validation is never trained on.
        pool : sequence of int
            Rows that may be asked (unlabeled, not validation).
        iteration : int
            Decisions taken so far: seeds the model, the strategy and a cold start.
        pseudo : (rows, labels), optional
            The previous plan's pseudo-labels (semi-supervised strategies).
        queued : sequence of int
            Rows the expert asked to see next; those still in the pool come first.
        fitted : Fitted, optional
            With ``refit=False``: the model to plan with (from :meth:`fit`, possibly at an
            earlier iteration: a stale model, which the reasons mention). None: no model yet
            (a random pick that says a model is being trained, once two classes are labeled).
        refit : bool, default True
            False plans without fitting (a slow learner trained apart).
        previous : Fitted, optional
            With ``refit=True``: the last fit, to warm-start from when the learner continues
            from its weights (a deep learner with ``warm_start=True``:
            :func:`~alwidget.learn.models.warm_starts`) and the training set only grew (see
            the module docstring).
        refit_error : str, optional
            Why the model of these labels is missing (the last background refit failed): the
            reasons of a stale or a model-less plan say it.

        Returns
        -------
        Plan
        """
        t0 = time.perf_counter()
        rows, labels, present = self._labeled(labeled_rows, labels)
        pool = self._rows(pool, "pool rows")

        learner = proba = threshold = val_f1 = model_iteration = None
        n_train = lacks = extra = 0
        training = not refit and fitted is None and len(present) >= 2
        if len(present) >= 2 and not training:
            if refit:
                fitted = self._fitted(rows, labels, pseudo, iteration, previous)
            else:
                fitted = self.scored(fitted)  # rows added to X since the fit
                now, then = set(self.training_key(rows, labels, pseudo)), set(fitted.key)
                lacks, extra = len(now - then), len(then - now)
            learner, proba, n_train = fitted.learner, fitted.proba, fitted.n_train
            model_iteration, threshold, val_f1 = fitted.iteration, fitted.threshold, fitted.val_f1
        else:
            fitted = None
            if self.binary:
                threshold = 0.5

        picks, utilities, reasons, strategies = [], [], [], []
        pseudo_rows, pseudo_labels = _EMPTY, np.empty(0, object)
        k = min(self.batch_size, len(pool))
        if k:
            in_pool = set(pool.tolist())
            for r in dict.fromkeys(int(q) for q in queued):
                if r in in_pool and len(picks) < k:
                    picks.append(r)
                    utilities.append(np.inf)
                    reasons.append("queued by the expert")
                    strategies.append("expert")
        if len(picks) < k:
            rest = np.setdiff1d(pool, np.asarray(picks, np.int64)) if picks else pool
            ctx = QueryContext(
                n_pool=len(rest), proba=None if proba is None else proba[rest],
                classes=np.asarray(self.classes, dtype=object),
                positive=self.classes.index(self.target) if self.binary else 1,
                threshold=0.5 if threshold is None else threshold, iteration=int(iteration),
                X_pool=self.X[rest], X_labeled=self.X[rows], **self._committee(learner, rest))
            known = self._known_positives(rows, labels, present)
            if len(known):
                q, q_reasons = _nearest_query(self.X[rest], self.X[known], k - len(picks))
                name = "nearest"
            elif learner is None and self.strategy.needs_model:
                why = ("no labels yet" if not present
                       else f"the last refit failed ({refit_error}); retrying at the next "
                            "decision" if training and refit_error
                       else "the first model is still being trained" if training
                       else f"only {present[0]!r} labeled so far")
                q = RandomSampling(self.random_state).query(ctx, k - len(picks))
                q_reasons, name = (f"random: {why}",) * len(q.indices), "random"
            else:
                q = self.strategy.query(ctx, k - len(picks))
                q_reasons, name = q.reasons, self.strategy.name
                if lacks or extra:
                    note = stale_note(lacks, extra, refit_error)
                    q_reasons = tuple(f"{r} ({note})" for r in q_reasons)
                if len(q.pseudo_indices):
                    pseudo_rows = rest[q.pseudo_indices]
                    pseudo_labels = np.asarray(self.classes, dtype=object)[q.pseudo_labels]
            picks += rest[q.indices].tolist()
            utilities += np.asarray(q.utilities, float).tolist()
            reasons += list(q_reasons)
            strategies += [name] * len(q.indices)
        return Plan(int(iteration), np.asarray(picks, np.int64), np.asarray(utilities, float),
                    tuple(reasons), tuple(strategies), learner, proba, threshold, val_f1,
                    pseudo_rows, pseudo_labels, n_train, time.perf_counter() - t0,
                    model_iteration, lacks, extra, fitted)

    def fit(self, labeled_rows, labels, *, iteration: int, pseudo=None,
            previous: Fitted | None = None) -> Fitted | None:
        """The model :meth:`plan` would fit for these labels, and its probabilities on every
        row; None before two classes are labeled. For a slow learner trained apart from
        planning (``plan(..., fitted=..., refit=False)``); ``previous`` as in :meth:`plan`.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
        >>> core = LoopCore(X, ["a", "b"], strategy="entropy", random_state=0)
        >>> fitted = core.fit([0, 9], ["a", "b"], iteration=2)
        >>> fitted.proba.shape, fitted.iteration
        ((10, 2), 2)
        >>> plan = core.plan([0, 9, 1], ["a", "b", "a"], pool=range(2, 9), iteration=3,
        ...                  fitted=fitted, refit=False)
        >>> plan.stale, "stale model: lacks 1 label" in plan.reasons[0]
        (1, True)
        """
        rows, labels, present = self._labeled(labeled_rows, labels)
        if len(present) < 2:
            return None
        return self._fitted(rows, labels, pseudo, iteration, previous)

    def training_key(self, labeled_rows, labels, pseudo=None) -> tuple:
        """The training set a fit on these labels uses, as (row, label) pairs in row order
        (validation rows left out, pseudo-labels of other rows added): equal keys, equal
        training sets (:attr:`Fitted.key`). A skip or a queue change leaves it as it is.

        Examples
        --------
        >>> import numpy as np
        >>> core = LoopCore(np.zeros((4, 2)), ["a", "b"], validation=([3], ["a"]))
        >>> core.training_key([2, 0, 3], ["b", "a", "a"], pseudo=([1], ["a"]))
        ((0, 'a'), (2, 'b'), (1, 'a'))
        """
        rows, labels, _ = self._labeled(labeled_rows, labels)
        return _pairs(*self._training_set(rows, labels, pseudo))

    def scored(self, fitted: Fitted) -> Fitted:
        """``fitted`` with probabilities for every row of ``X``: rows added since it was
        fitted (a growing archive) are scored with its learner; the same object when none
        were."""
        X = self.X
        n = len(fitted.proba)
        if n >= len(X):
            return fitted
        new = fitted.learner.predict_proba(X[n:]).astype(np.float32)
        return replace(fitted, proba=np.concatenate([fitted.proba, new]))

    def random_plan(self, pool, iteration: int, reason: str) -> Plan:
        """A random pick with ``reason`` (a session's fallback when planning failed)."""
        pool = self._rows(pool, "pool rows")
        k = min(self.batch_size, len(pool))
        if not k:
            return Plan(int(iteration), _EMPTY, np.empty(0), (), ())
        q = RandomSampling(self.random_state).query(
            QueryContext(n_pool=len(pool), iteration=int(iteration)), k)
        return Plan(int(iteration), pool[q.indices], q.utilities, (reason,) * k, ("random",) * k,
                    threshold=0.5 if self.binary else None)

    # -- parts ---------------------------------------------------------------------------
    def _labeled(self, labeled_rows, labels):
        """Checked labeled rows without validation rows, in ascending order; classes present."""
        rows = self._rows(labeled_rows, "labeled rows")
        labels = np.asarray([str(v) for v in labels], dtype=object)
        if len(labels) != len(rows):
            raise ValueError(f"{len(rows)} labeled rows but {len(labels)} labels")
        unknown = sorted(set(labels.tolist()) - set(self.classes))
        if unknown:
            raise ValueError(f"labels {unknown} are not in classes={self.classes}")
        held_out = np.isin(rows, self._val_rows)  # labeled elsewhere: still never trained on
        order = np.argsort(rows[~held_out], kind="stable")
        rows, labels = rows[~held_out][order], labels[~held_out][order]
        return rows, labels, sorted(set(labels.tolist()))

    def _fitted(self, rows, labels, pseudo, iteration, previous=None) -> Fitted:
        t0 = time.perf_counter()
        fit_rows, fit_labels = self._training_set(rows, labels, pseudo)
        key = _pairs(fit_rows, fit_labels)
        if not (self._warm and previous is not None and set(previous.key) <= set(key)):
            previous = None  # a cold start: no warm start asked, or a label undone or changed
        learner = self._fit(fit_rows, fit_labels, iteration, previous)
        proba = learner.predict_proba(self.X).astype(np.float32)
        threshold, val_f1 = self._validate(proba)
        return Fitted(learner, proba, int(iteration), len(fit_rows), time.perf_counter() - t0,
                      threshold, val_f1, key)

    def _known_positives(self, rows, labels, present) -> np.ndarray:
        """Rows a nearest start searches around (empty: no nearest start now)."""
        if self.start != "nearest" or not present:
            return _EMPTY
        if len(present) == 1 and not (self.binary and present[0] != self.target):
            return rows[labels == present[0]]
        if (self.binary and self.start_labels is not None and len(rows) < self.start_labels
                and self.target in present):
            return rows[labels == self.target]
        return _EMPTY

    def _training_set(self, rows, labels, pseudo):
        if pseudo is None or not len(pseudo[0]):
            return rows, labels
        p_rows = np.asarray(pseudo[0], np.int64)
        p_labels = np.asarray([str(v) for v in pseudo[1]], dtype=object)
        keep = ~np.isin(p_rows, rows) & ~np.isin(p_rows, self._val_rows)
        p_rows, p_labels = p_rows[keep], p_labels[keep]
        order = np.argsort(p_rows, kind="stable")
        return np.r_[rows, p_rows[order]], np.r_[labels, p_labels[order]]

    def _fit(self, rows, labels, iteration, previous: Fitted | None = None) -> Learner:
        model = clone(self.model)
        if self._seeded:
            model.set_params(random_state=model_seed(self.random_state, iteration))
        if previous is None:
            learner = Learner(model, self.classes)
        else:  # a copy of the previous fit continues from its weights (Learner's warm start)
            learner = copy.deepcopy(previous.learner).set_params(estimator=model)
        return learner.fit(self.X[rows], labels.astype(str))

    def _validate(self, proba) -> tuple[float | None, float | None]:
        if not self.binary:
            if not len(self._val_rows):
                return None, None
            pred = np.asarray(self.classes, dtype=object)[proba[self._val_rows].argmax(axis=1)]
            return None, float(f1_score(self._val_labels.astype(str), pred.astype(str),
                                        labels=self.classes, average="macro", zero_division=0))
        if not len(self._val_rows):
            return 0.5, None
        t = self.classes.index(self.target)
        return tune_threshold(self._val_labels == self.target, proba[self._val_rows, t])

    def _committee(self, learner, rest) -> dict:
        """A committee's votes on the pool (MAL-MF reads where its members disagree)."""
        committee = getattr(learner, "estimator_", None)
        if committee is None or not hasattr(committee, "votes") or not len(rest):
            return {}
        return dict(committee=committee.votes(self.X[rest]),
                    member_names=tuple(getattr(committee, "names_", ())))


def _pairs(rows, labels) -> tuple:
    """(row, label) pairs of a training set, hashable (:attr:`Fitted.key`)."""
    return tuple(zip(np.asarray(rows, np.int64).tolist(), [str(v) for v in labels]))


def _nearest_query(X_pool: np.ndarray, X_known: np.ndarray, k: int):
    """The ``k`` pool rows nearest (cosine) to any known positive, and their reasons."""
    known = X_known.astype(np.float64)
    known /= np.maximum(np.linalg.norm(known, axis=1, keepdims=True), 1e-12)
    dist = np.empty(len(X_pool))
    for a in range(0, len(X_pool), 8192):  # in chunks: memory stays small on a large pool
        pool = X_pool[a:a + 8192].astype(np.float64)
        pool /= np.maximum(np.linalg.norm(pool, axis=1, keepdims=True), 1e-12)
        dist[a:a + 8192] = 1.0 - (pool @ known.T).max(axis=1)  # to the nearest known positive
    order = np.argsort(dist, kind="stable")[:k]
    n = len(X_known)
    who = "the known positive" if n == 1 else f"the {n} known positives"
    reasons = tuple(f"nearest to {who} (cosine distance {dist[i]:.3f})" for i in order)
    return Query(order.astype(np.int64), 1.0 - dist[order], reasons), reasons
