"""Learners with a fixed class list, medoid label propagation, and the committee.

* :class:`Learner` wraps any scikit-learn classifier so that its probabilities
  have one column per class of a list fixed up front (or, without a list, per
  class seen at fit), it works from the first two labels, and it has a
  defined behaviour when only one class is labeled (probability 1 for that
  class).
* :class:`MedoidPropagation`: each clip takes the label of its nearest labeled
  clip (the "medoids"), and that distance is kept.
* :class:`Committee`: the data-centric framework's model, medoid propagation
  plus logistic regression; its members' disagreements drive MAL-MF.

All follow scikit-learn's conventions and pass its estimator checks
(``tests/test_estimator_checks.py``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..distances import nearest
from .validation import features_and_labels, predict_features

__all__ = ["Committee", "Learner", "MedoidPropagation", "default_committee"]


def _check_fit_data(estimator, X, y, dtype, class_list=None):
    """X as a finite 2-d array of ``dtype``, y as 1-d labels; set ``n_features_in_``.

    Without a class list, y must hold class labels as scikit-learn sees them
    (not continuous values); with one, membership in the list is the test.
    """
    X, y = features_and_labels(X, y, dtype)
    if class_list is None:
        check_classification_targets(y)
    estimator.n_features_in_ = X.shape[1]
    return X, y




def _class_list(classes) -> np.ndarray:
    """A given class list as an object array; at least two distinct classes."""
    listed = np.asarray(list(classes), dtype=object)
    if len(listed) < 2 or len(set(listed.tolist())) != len(listed):
        raise ValueError(f"classes={classes!r} must list at least two distinct classes "
                         "(or be None: the classes seen at fit)")
    return listed


def warm_starts(estimator) -> bool:
    """Whether fitting a fitted ``estimator`` again continues from its weights: a learner that
    declares it (``_warm_start_continues``: alwidget's deep learners) with ``warm_start=True``.

    scikit-learn's ensembles read ``warm_start`` as "add estimators if ``n_estimators``
    grew": refitted on new labels they would keep the old trees and learn nothing. So every
    estimator that does not declare it — scikit-learn's MLP and SGD models too — is fitted
    afresh (:class:`~alwidget.loop.LoopCore` warns when it has ``warm_start=True``).

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> warm_starts(RandomForestClassifier(warm_start=True))
    False
    """
    return bool(getattr(estimator, "_warm_start_continues", False)
                and estimator.get_params().get("warm_start", False))


class Learner(ClassifierMixin, BaseEstimator):
    """A classifier over a class list fixed up front.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``predict_proba``; it is cloned on
        every fit, never changed. Warm start: when it continues from its weights
        (:func:`warm_starts`: the deep learners with ``warm_start=True``) and this
        Learner was fitted before on the same classes, a fit sets
        ``estimator``'s parameters on the fitted ``estimator_`` and fits that
        again, so it continues from its previous state (the loop core fits a
        copy of the previous fit this way, :class:`alwidget.loop.LoopCore`).
    classes : sequence or None, default=None
        All classes, in column order of :meth:`predict_proba`. None means the
        classes seen in ``y`` at fit, sorted (as ``np.unique``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The column order of :meth:`predict_proba`: ``classes`` as an object
        array, or the sorted classes of ``y``.
    estimator_ : classifier or None
        The fitted clone; None when a single class was labeled.
    n_features_in_ : int

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

    Without a class list, the columns are the classes labeled so far:

    >>> Learner(LogisticRegression()).fit([[0.0], [1.0]], ["rain", "dog"]).classes_
    array(['dog', 'rain'], dtype='<U4')
    """

    def __init__(self, estimator, classes=None):
        self.estimator = estimator
        self.classes = classes

    def fit(self, X, y):
        """Fit a clone of ``estimator`` on ``X`` and labels ``y``.

        Returns
        -------
        self : Learner
        """
        X, y = _check_fit_data(self, X, y, np.float32, self.classes)
        if self.classes is None:
            classes = np.unique(y)
        else:
            classes = _class_list(self.classes)
            y = np.asarray(y, dtype=object)
            unknown = set(y.tolist()) - set(classes.tolist())
            if unknown:
                raise ValueError(f"labels {sorted(map(str, unknown))} are not in "
                                 f"classes={list(classes)}")
            y = np.array(y.tolist())  # the labels' own dtype again, for the estimator
        self.classes_ = classes
        present = np.unique(y)
        if len(present) == 1:
            self.estimator_ = None
            self.constant_ = present[0]
            return self
        prev = getattr(self, "estimator_", None)
        if (prev is not None and warm_starts(self.estimator)
                and type(prev) is type(self.estimator)
                and np.array_equal(getattr(prev, "classes_", None), present)):
            self.estimator_ = prev.set_params(**self.estimator.get_params(deep=False)).fit(X, y)
        else:
            self.estimator_ = clone(self.estimator).fit(X, y)
        if not hasattr(self.estimator_, "predict_proba"):
            raise TypeError(f"estimator={self.estimator!r} has no predict_proba; Learner needs "
                            "class probabilities")
        self.constant_ = None
        cols = {c: i for i, c in enumerate(classes.tolist())}
        self.columns_ = np.array([cols[c] for c in self.estimator_.classes_.tolist()],
                                 dtype=np.int64)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = predict_features(self, X, np.float32)
        P = np.zeros((len(X), len(self.classes_)))
        if self.estimator_ is None:
            P[:, self.classes_.tolist().index(self.constant_)] = 1.0
        else:
            P[:, self.columns_] = self.estimator_.predict_proba(X)
        return P

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row (the first in ``classes_`` on ties)."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class MedoidPropagation(ClassifierMixin, BaseEstimator):
    """Label propagation from labeled clips: each clip takes its nearest one's label.

    The labeled clips act as medoids of their neighbourhoods. Euclidean
    distance. :meth:`propagate` also returns the distance to that medoid
    (small = a confident propagation).

    Attributes
    ----------
    X_ : ndarray of shape (n_labeled, n_features)
        The labeled clips.
    y_ : ndarray of shape (n_labeled,)
        Their labels.
    classes_ : ndarray
        The sorted classes of ``y_``, the column order of :meth:`predict_proba`.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> m = MedoidPropagation().fit(np.array([[0.0], [10.0]]), ["a", "b"])
    >>> m.propagate(np.array([[1.0], [7.0]]))
    (array(['a', 'b'], dtype='<U1'), array([1., 3.]))
    """

    def fit(self, X, y):
        """Keep the labeled clips ``X`` and their labels ``y``.

        Returns
        -------
        self : MedoidPropagation
        """
        X, y = _check_fit_data(self, X, y, np.float64)
        self.X_ = X
        self.y_ = y
        self.classes_ = np.unique(y)
        return self

    def propagate(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Label of, and distance to, the nearest labeled clip for each row of X."""
        check_is_fitted(self)
        X = predict_features(self, X, np.float64)
        j, d = nearest(X, self.X_)
        return self.y_[j], d

    def predict(self, X) -> np.ndarray:
        """The label of each row's nearest labeled clip."""
        return self.propagate(X)[0]

    def predict_proba(self, X) -> np.ndarray:
        """One-hot probabilities of the propagated label (a hard vote)."""
        labels = self.predict(X)
        return (labels[:, None] == self.classes_[None, :]).astype(float)


def default_committee() -> list[tuple[str, object]]:
    """The framework's committee: medoid propagation and logistic regression.

    Examples
    --------
    >>> [name for name, _ in default_committee()]
    ['propagation', 'logistic regression']
    """
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return [("propagation", MedoidPropagation()), ("logistic regression", lr)]


class Committee(ClassifierMixin, BaseEstimator):
    """Several learners voting over a fixed class list (the framework's model).

    Parameters
    ----------
    classes : sequence or None, default=None
        All classes; None means the classes seen in ``y`` at fit (sorted).
    members : list of (name, classifier), optional
        Defaults to :func:`default_committee`. Each is cloned and wrapped in
        :class:`Learner`.

    Attributes
    ----------
    classes_ : ndarray
        Column order of :meth:`predict_proba` (as :class:`Learner`'s).
    names_ : tuple of str
        The members' names.
    learners_ : list of Learner
        The fitted members.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [9.0], [10.0]])
    >>> c = Committee(classes=["a", "b"]).fit(X, ["a", "a", "b", "b"])
    >>> c.votes(np.array([[0.5], [9.5]]))
    array([['a', 'b'],
           ['a', 'b']], dtype=object)
    """

    def __init__(self, classes=None, members=None):
        self.classes = classes
        self.members = members

    def fit(self, X, y):
        """Fit every member (a :class:`Learner` around a clone of it).

        Returns
        -------
        self : Committee
        """
        X, y = _check_fit_data(self, X, y, np.float32, self.classes)
        members = self.members if self.members is not None else default_committee()
        if len(members) == 0:
            raise ValueError("members=[] must name at least one (name, classifier) pair")
        self.names_ = tuple(name for name, _ in members)
        self.learners_ = [Learner(est, self.classes).fit(X, y) for _, est in members]
        self.classes_ = self.learners_[0].classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Mean of the members' probabilities."""
        check_is_fitted(self)
        X = predict_features(self, X, np.float32)
        return np.mean([m.predict_proba(X) for m in self.learners_], axis=0)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row under the members' mean probabilities."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def votes(self, X) -> np.ndarray:
        """Each member's predicted label: shape (n_members, n_clips)."""
        check_is_fitted(self)
        X = predict_features(self, X, np.float32)
        return np.stack([m.predict(X) for m in self.learners_])
