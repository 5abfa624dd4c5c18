"""Learners (scikit-learn conventions) and the validation-tuned decision threshold.

* :class:`RandomForest` — a standard random forest, compiled with numba: the
  rare-sound study's model, fast at active-learning sizes; :func:`warm_up`
  compiles its kernels ahead of the first fit.
* :class:`Learner` — any classifier over a class list fixed up front (or the
  classes seen at fit).
* :class:`MedoidPropagation`, :class:`Committee` — the data-centric
  framework's model (propagation + logistic regression).
* :func:`tune_threshold` — the F1-maximising threshold on validation.
"""

from .forest import RandomForest, warm_up
from .models import Committee, Learner, MedoidPropagation, default_committee
from .threshold import f1_at, tune_threshold

__all__ = ["Committee", "Learner", "MedoidPropagation", "RandomForest", "default_committee",
           "default_model", "f1_at", "tune_threshold", "warm_up"]


def default_model():
    """The model a session and the rare-target simulations use unless told otherwise.

    The rare-sound study's random forest of 100 trees (see the README for how it was chosen).
    Results do not depend on ``n_jobs``; simulations running processes in parallel set it to 1.

    Examples
    --------
    >>> default_model()
    RandomForest()
    """
    return RandomForest(n_estimators=100)
