"""What a saved model says about a clip, and which clips it reports.

What is stored per clip (:func:`score_vectors`), apart from any human label:

* a **binary** model (two classes, one of them its ``target``): the target and P(target);
* a **multi-class** model (more classes): the most likely class and its probability.

Which clips are **positives** (:class:`PositiveRule`), i.e. go into the Raven tables and
the CSV:

* binary: P(target) at or above the threshold: the ``threshold=`` given to
  :func:`~alwidget.detect.detect`, else the model's own (tuned when it was saved), else 0.5
  (the more likely of the two classes);
* multi-class: the top class is one to report: the ``classes=`` given, else the model's
  target if it has one, else every class whose name is not a background name
  (:data:`BACKGROUND_CLASSES`, in any case); with a threshold (given), its probability
  must also reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BACKGROUND_CLASSES", "PositiveRule", "is_binary", "positive_rule", "score_vectors"]

#: Class names (compared without case) that a multi-class model's detections never report
#: unless named in ``classes=``: the "nothing of interest" classes.
BACKGROUND_CLASSES = ("background", "negative", "noise", "none", "other")


def is_binary(model) -> bool:
    """True for a binary model: two classes, one of them its target.

    Examples
    --------
    >>> class Model:
    ...     classes, target = ("rain", "owl"), "owl"
    >>> is_binary(Model())
    True
    """
    return model.target is not None and len(model.classes) == 2


def score_vectors(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class scored (its index in ``model.classes``) and its probability, per row.

    Binary model: the target and P(target); multi-class: the most likely class and its
    probability (ties: the first class in ``model.classes``).

    Parameters
    ----------
    model : SavedModel
    X : array of float32, shape (n, dim)

    Returns
    -------
    index : ndarray of int16, shape (n,)
    score : ndarray of float64 in [0, 1], shape (n,)

    Examples
    --------
    >>> class Model:  # what a SavedModel offers
    ...     classes, target = ("rain", "owl"), "owl"
    ...     def predict_proba(self, X):
    ...         return np.array([[0.9, 0.1], [0.3, 0.7]])
    >>> score_vectors(Model(), np.zeros((2, 4), np.float32))
    (array([1, 1], dtype=int16), array([0.1, 0.7]))
    >>> Model.target = None
    >>> score_vectors(Model(), np.zeros((2, 4), np.float32))
    (array([0, 1], dtype=int16), array([0.9, 0.7]))
    """
    P = np.asarray(model.predict_proba(X), np.float64)
    if P.shape != (len(X), len(model.classes)):
        raise ValueError(f"the model gave probabilities of shape {P.shape} for {len(X)} rows "
                         f"and {len(model.classes)} classes")
    if not np.isfinite(P).all():
        raise ValueError("the model gave NaN or infinite probabilities; nothing was stored "
                         "for these clips")
    if is_binary(model):
        index = np.full(len(P), model.classes.index(model.target), np.int16)
    else:
        index = np.argmax(P, axis=1).astype(np.int16) if len(P) else np.zeros(0, np.int16)
    score = P[np.arange(len(P)), index] if len(P) else np.zeros(0)
    return index, np.clip(score, 0.0, 1.0)  # rounding can overshoot 1 by an ulp


@dataclass(frozen=True)
class PositiveRule:
    """Which stored detections are reported: the classes and the least score.

    Attributes
    ----------
    classes : tuple of str
        A detection is reported when its class is one of these ...
    threshold : float or None
        ... and its score is at least this (None: any score).
    """

    classes: tuple[str, ...]
    threshold: float | None

    def mask(self, labels, scores) -> np.ndarray:
        """True for each detection (label, score) the rule reports.

        Examples
        --------
        >>> PositiveRule(("owl",), 0.5).mask(["owl", "owl", "rain"], [0.4, 0.6, 0.9])
        array([False,  True, False])
        """
        keep = np.isin(np.asarray(labels, object), np.array(self.classes, object))
        if self.threshold is not None:
            keep &= np.asarray(scores, np.float64) >= self.threshold
        return keep


def positive_rule(model, *, threshold: float | None = None,
                  classes=None) -> PositiveRule:
    """The rule that says which of ``model``'s detections are positives (module docstring).

    Parameters
    ----------
    model : SavedModel
    threshold : float, optional
        In [0, 1]; replaces the model's threshold.
    classes : sequence of str, optional
        Multi-class: the classes to report (default: all but :data:`BACKGROUND_CLASSES`).
        Binary: only the target may be named.

    Examples
    --------
    >>> class Model:
    ...     classes, target, threshold = ("rain", "owl"), "owl", 0.3
    >>> positive_rule(Model())
    PositiveRule(classes=('owl',), threshold=0.3)
    >>> Model.target, Model.threshold, Model.classes = None, None, ("owl", "Noise", "frog")
    >>> positive_rule(Model())
    PositiveRule(classes=('owl', 'frog'), threshold=None)
    >>> positive_rule(Model(), classes=["frog"], threshold=0.8)
    PositiveRule(classes=('frog',), threshold=0.8)
    """
    if threshold is not None:
        threshold = float(threshold)
        if not 0.0 <= threshold <= 1.0:  # NaN fails too
            raise ValueError(f"threshold={threshold!r} must be a probability in [0, 1]")
    known = tuple(model.classes)
    if classes is not None:
        classes = tuple(str(c) for c in ([classes] if isinstance(classes, str) else classes))
        unknown = [c for c in classes if c not in known]
        if unknown or not classes:
            raise ValueError(f"classes={list(classes)!r}: the model's classes are "
                             f"{list(known)}; name one or more of them")
    if is_binary(model):
        if classes is not None and classes != (model.target,):
            raise ValueError(f"classes={list(classes)!r}: a binary model reports its target "
                             f"{model.target!r} only")
        if threshold is None:
            threshold = 0.5 if model.threshold is None else float(model.threshold)
        return PositiveRule((model.target,), threshold)
    if classes is None and model.target is not None:
        classes = (model.target,)
    if classes is None:
        background = {b.lower() for b in BACKGROUND_CLASSES}
        classes = tuple(c for c in known if c.strip().lower() not in background)
        if not classes:
            raise ValueError(f"every class of the model {list(known)} is a background class; "
                             "name the classes to report with classes=")
    return PositiveRule(classes, threshold)
