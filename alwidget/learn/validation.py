"""Input checks of the learners: scikit-learn's, after a fast path for arrays that are clean.

A labeling session or a simulation fits and scores on every decision, always with the
same finite, C-ordered float32 matrix; scikit-learn's ``check_array`` costs about 0.4 ms a
call whatever the size (six calls a step), so such arrays skip it. Anything else goes
through scikit-learn's checks and their messages.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array, check_X_y

__all__ = ["features", "features_and_labels", "predict_features"]


def _clean(X, dtype) -> bool:
    return (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2 and X.size > 0
            and X.flags.c_contiguous and X.flags.writeable and bool(np.isfinite(X).all()))


def features(X, dtype=np.float32) -> np.ndarray:
    """``X`` as a finite, writeable, C-ordered 2-d array of ``dtype``.

    Examples
    --------
    >>> X = np.zeros((2, 3), np.float32)
    >>> features(X) is X
    True
    >>> features([[1, 2]]).dtype
    dtype('float32')
    """
    if _clean(X, dtype):
        return X
    X = check_array(X, dtype=dtype, order="C")
    return X if X.flags.writeable else X.copy()


def features_and_labels(X, y, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``features(X)`` and ``y`` as 1-d labels of the same length.

    Examples
    --------
    >>> X, y = features_and_labels([[0.0], [1.0]], ["a", "b"])
    >>> X.dtype, y.tolist()
    (dtype('float32'), ['a', 'b'])
    """
    if (_clean(X, dtype) and type(y) is np.ndarray and y.ndim == 1 and len(y) == len(X)
            and y.dtype.kind in "biuU"):
        return X, y
    X, y = check_X_y(X, y, dtype=dtype, order="C")
    return (X if X.flags.writeable else X.copy()), y


def predict_features(estimator, X, dtype=np.float32) -> np.ndarray:
    """X for a fitted estimator's predictions: a finite 2-d array of ``dtype`` with as many
    features as at fit (``estimator.n_features_in_``), or a ValueError saying so."""
    X = features(X, dtype)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input")
    return X
