"""scikit-learn's estimator checks for the learners (API, input validation, fit/predict contracts).

Every check scikit-learn yields for these classifiers runs. None is expected to fail: the
dictionary below is empty and ``xfail_strict`` would turn an unexpected pass into a failure
should one ever be listed. Two checks are skipped by scikit-learn itself in this environment,
not by us: ``check_array_api_input`` (needs ``SCIPY_ARRAY_API=1`` and an array-API library)
and ``check_classifier_data_not_an_array``'s pandas part (pandas is not installed).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from alwidget.learn import Committee, Learner, MedoidPropagation, RandomForest

ESTIMATORS = [
    RandomForest(n_estimators=10, random_state=0),
    RandomForest(n_estimators=10, random_state=0, class_weight="balanced"),
    Learner(LogisticRegression()),
    Learner(RandomForest(n_estimators=10, random_state=0)),
    MedoidPropagation(),
    Committee(),
]

# check name -> why it cannot pass. Empty: every applicable check passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_predict_before_fit_raises_not_fitted(estimator):
    X = np.zeros((3, 2))
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(estimator, method)(X)
    if hasattr(estimator, "votes"):
        with pytest.raises(NotFittedError):
            estimator.votes(X)
    if hasattr(estimator, "propagate"):
        with pytest.raises(NotFittedError):
            estimator.propagate(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_predict_validates_x_like_scikit_learn(estimator):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4))
    y = np.arange(20) % 2
    fitted = clone(estimator).fit(X, y)  # the shared instance stays unfitted for other tests
    assert fitted.n_features_in_ == 4
    name = type(estimator).__name__
    with pytest.raises(ValueError, match=f"X has 3 features, but {name} is expecting 4 features"):
        fitted.predict(X[:, :3])
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict_proba(bad)
