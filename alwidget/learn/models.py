"""Learners with a fixed class list, medoid label propagation, and the committee.

* :class:`Learner` wraps any scikit-learn classifier so that its probabilities
  always have one column per class of a list fixed up front, it works from the
  first two labels, and it has a defined behaviour when only one class is
  labeled (probability 1 for that class).
* :class:`MedoidPropagation`: each clip takes the label of its nearest labeled
  clip (the "medoids"), and that distance is kept.
* :class:`Committee`: the data-centric framework's model, medoid propagation
  plus logistic regression; its members' disagreements drive MAL-MF.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from ..distances import nearest

__all__ = ["Committee", "Learner", "MedoidPropagation", "default_committee"]


class Learner(ClassifierMixin, BaseEstimator):
    """A classifier over a class list fixed up front.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``predict_proba``; it is cloned on
        every fit, never changed.
    classes : sequence
        All classes, in column order of :meth:`predict_proba`.

    Notes
    -----
    Columns of classes absent from the training labels are 0. With a single
    labeled class, no estimator is fitted and every clip gets probability 1
    for that class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> m = Learner(LogisticRegression(), classes=["bird", "dog", "rain"])
    >>> m.fit(np.array([[0.0], [1.0]]), ["dog", "rain"]).predict_proba([[5.0]]).round(2)
    array([[0.  , 0.12, 0.88]])
    >>> m.fit(np.array([[0.0]]), ["dog"]).predict([[3.0]])
    array(['dog'], dtype=object)
    """

    def __init__(self, estimator, classes):
        self.estimator = estimator
        self.classes = classes

    def fit(self, X, y):
        X = check_array(X, dtype=np.float32)
        classes = np.asarray(list(self.classes), dtype=object)
        if len(classes) < 2 or len(set(classes.tolist())) != len(classes):
            raise ValueError(f"classes={self.classes!r} must list at least two distinct classes")
        y = np.asarray(y, dtype=object)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        unknown = set(y.tolist()) - set(classes.tolist())
        if unknown:
            raise ValueError(f"labels {sorted(map(str, unknown))} are not in classes={list(classes)}")
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        present = np.unique(y)
        if len(present) == 1:
            self.estimator_ = None
            self.constant_ = present[0]
            return self
        self.estimator_ = clone(self.estimator).fit(X, np.array(y.tolist()))
        self.constant_ = None
        cols = {c: i for i, c in enumerate(classes.tolist())}
        self.columns_ = np.array([cols[c] for c in self.estimator_.classes_], dtype=np.int64)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the learner was fitted with "
                             f"{self.n_features_in_}")
        P = np.zeros((len(X), len(self.classes_)))
        if self.estimator_ is None:
            P[:, self.classes_.tolist().index(self.constant_)] = 1.0
        else:
            P[:, self.columns_] = self.estimator_.predict_proba(X)
        return P

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class MedoidPropagation(ClassifierMixin, BaseEstimator):
    """Label propagation from labeled clips: each clip takes its nearest one's label.

    The labeled clips act as medoids of their neighbourhoods. Euclidean
    distance. :meth:`propagate` also returns the distance to that medoid
    (small = a confident propagation).

    Examples
    --------
    >>> import numpy as np
    >>> m = MedoidPropagation().fit(np.array([[0.0], [10.0]]), ["a", "b"])
    >>> m.propagate(np.array([[1.0], [7.0]]))
    (array(['a', 'b'], dtype=object), array([1., 3.]))
    """

    def fit(self, X, y):
        X = check_array(X, dtype=np.float64)
        y = np.asarray(y, dtype=object)
        if len(y) != len(X) or len(X) == 0:
            raise ValueError(f"need at least one labeled clip; got X {X.shape}, y {len(y)}")
        self.X_ = X
        self.y_ = y
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        return self

    def propagate(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Label of, and distance to, the nearest labeled clip for each row of X."""
        check_is_fitted(self, "X_")
        X = check_array(X, dtype=np.float64)
        j, d = nearest(X, self.X_)
        return self.y_[j], d

    def predict(self, X) -> np.ndarray:
        return self.propagate(X)[0]

    def predict_proba(self, X) -> np.ndarray:
        """One-hot probabilities of the propagated label (a hard vote)."""
        labels = self.predict(X)
        return (labels[:, None] == self.classes_[None, :]).astype(float)


def default_committee() -> list[tuple[str, object]]:
    """The framework's committee: medoid propagation and logistic regression."""
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return [("propagation", MedoidPropagation()), ("logistic regression", lr)]


class Committee(ClassifierMixin, BaseEstimator):
    """Several learners voting over a fixed class list (the framework's model).

    Parameters
    ----------
    classes : sequence
        All classes.
    members : list of (name, classifier), optional
        Defaults to :func:`default_committee`. Each is cloned and wrapped in
        :class:`Learner`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [9.0], [10.0]])
    >>> c = Committee(classes=["a", "b"]).fit(X, ["a", "a", "b", "b"])
    >>> c.votes(np.array([[0.5], [9.5]]))
    array([['a', 'b'],
           ['a', 'b']], dtype=object)
    """

    def __init__(self, classes, members=None):
        self.classes = classes
        self.members = members

    def fit(self, X, y):
        members = self.members if self.members is not None else default_committee()
        self.names_ = tuple(name for name, _ in members)
        self.learners_ = [Learner(est, self.classes).fit(X, y) for _, est in members]
        self.classes_ = self.learners_[0].classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Mean of the members' probabilities."""
        check_is_fitted(self, "learners_")
        return np.mean([m.predict_proba(X) for m in self.learners_], axis=0)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def votes(self, X) -> np.ndarray:
        """Each member's predicted label: shape (n_members, n_clips)."""
        check_is_fitted(self, "learners_")
        return np.stack([m.predict(X) for m in self.learners_])
