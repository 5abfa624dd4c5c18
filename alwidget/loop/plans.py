"""What the loop core returns: a :class:`Plan` (the next picks, with the model they were made
with) and a :class:`Fitted` model (trained apart from planning); the seed rule and the stale
note (see :mod:`alwidget.loop`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..learn import Learner

__all__ = ["Fitted", "Plan", "model_seed", "stale_note"]


def model_seed(random_state, iteration: int) -> int | None:
    """The learner's ``random_state`` at ``iteration`` (None stays None: fresh randomness).

    Examples
    --------
    >>> model_seed(0, 5) == model_seed(0, 5) != model_seed(0, 6)
    True
    """
    if random_state is None:
        return None
    return int(np.random.SeedSequence([int(random_state), int(iteration)]).generate_state(1)[0])


@dataclass(frozen=True)
class Plan:
    """One step of the loop: the model fitted on the labels, and the next picks.

    Attributes
    ----------
    iteration : int
        Decisions taken before this plan (its seed).
    picks : ndarray of int64
        Rows of ``X`` to ask next, in order (empty when the pool is empty).
    utilities : ndarray of float
        One per pick (comparable within a strategy).
    reasons : tuple of str
        Why each pick was made, for the expert.
    strategies : tuple of str
        Which rule made each pick: the strategy's name, ``"random"`` at a cold start or a
        fallback, ``"nearest"`` at a cold start from search by example
        (``start="nearest"``), ``"expert"`` for a queued row.
    learner : Learner or None
        The fitted model (None before two classes are labeled).
    proba : ndarray of float32 (n_rows, n_classes) or None
        The model's probabilities for every row of ``X``, columns in class order.
    threshold : float or None
        Decision threshold on P(target) (binary tasks).
    val_f1 : float or None
        F1 on the validation rows: at ``threshold`` for a binary task, macro-F1 of the
        most likely class otherwise.
    pseudo_rows, pseudo_labels : ndarray
        Rows the strategy labels itself (semi-supervised) and their class names; the next
        plan trains on them.
    n_train : int
        Rows the model was fitted on (human and pseudo-labels).
    seconds : float
        Time the plan took.
    model_iteration : int or None
        The iteration the model was fitted at: ``iteration`` for a plan that refitted, the
        trainer's for a plan made with a model fitted apart (``refit=False``), None without
        a model.
    model_lacks, model_extra : int
        Labels (human and pseudo) of this plan's training set the model was not trained
        on, and labels it was trained on that are no longer in force here (undone, or
        changed). Both 0 for a plan that refitted.
    fitted : Fitted or None
        The model as :meth:`LoopCore.fit` returns it (give it as ``previous`` to the next
        plan for a warm start).
    """

    iteration: int
    picks: np.ndarray
    utilities: np.ndarray
    reasons: tuple[str, ...]
    strategies: tuple[str, ...]
    learner: Learner | None = None
    proba: np.ndarray | None = None
    threshold: float | None = None
    val_f1: float | None = None
    pseudo_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pseudo_labels: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    n_train: int = 0
    seconds: float = 0.0
    model_iteration: int | None = None
    model_lacks: int = 0
    model_extra: int = 0
    fitted: "Fitted | None" = None

    @property
    def stale(self) -> int:
        """Labels in which the model's training set differs from this plan's (0: fitted on
        exactly this plan's training set, or no model)."""
        return self.model_lacks + self.model_extra


@dataclass(frozen=True)
class Fitted:
    """A model :meth:`LoopCore.fit` made: plans reuse it while a newer one is trained.

    Attributes
    ----------
    learner : Learner
        The fitted model.
    proba : ndarray of float32 (n_rows, n_classes)
        Its probabilities for every row of ``X``.
    iteration : int
        The decisions taken when it was fitted (its seed).
    n_train : int
        Rows it was fitted on.
    seconds : float
        Time the fit and the scoring took.
    threshold, val_f1 : float or None
        As :class:`Plan`'s, for this model.
    key : tuple of (int, str)
        Its training set: the (row, label) pairs it was fitted on (human labels and
        pseudo-labels, validation rows excluded), in row order. A plan compares it with its
        own (:meth:`LoopCore.training_key`) to tell whether the model is stale.
    """

    learner: Learner
    proba: np.ndarray
    iteration: int
    n_train: int
    seconds: float
    threshold: float | None = None
    val_f1: float | None = None
    key: tuple = ()


def stale_note(lacks: int, extra: int, refit_error: str | None = None) -> str:
    """How a model's training set differs from a plan's, for a pick's reason.

    Examples
    --------
    >>> stale_note(1, 0)
    'stale model: lacks 1 label; a newer one is training'
    >>> note = stale_note(1, 1, "MemoryError: out of memory")
    >>> note.split("; ")
    ['stale model: lacks 1 label, has 1 label since undone or changed', 'the last refit failed (MemoryError: out of memory), retrying at the next decision']
    """
    parts = []
    if lacks:
        parts.append(f"lacks {lacks} label{'s' if lacks > 1 else ''}")
    if extra:
        parts.append(f"has {extra} label{'s' if extra > 1 else ''} since undone or changed")
    tail = (f"the last refit failed ({refit_error}), retrying at the next decision"
            if refit_error else "a newer one is training")
    return f"stale model: {', '.join(parts)}; {tail}"
