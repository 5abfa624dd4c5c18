"""Learners (scikit-learn conventions) and the validation-tuned decision threshold.

* :class:`RandomForest` — a standard random forest, compiled with numba: the
  rare-sound study's model, fast at active-learning sizes.
* :class:`Learner` — any classifier over a class list fixed up front.
* :class:`MedoidPropagation`, :class:`Committee` — the data-centric
  framework's model (propagation + logistic regression).
* :func:`tune_threshold` — the F1-maximising threshold on validation.
"""

from .forest import RandomForest
from .models import Committee, Learner, MedoidPropagation, default_committee
from .threshold import f1_at, tune_threshold

__all__ = ["Committee", "Learner", "MedoidPropagation", "RandomForest", "default_committee",
           "f1_at", "tune_threshold"]
