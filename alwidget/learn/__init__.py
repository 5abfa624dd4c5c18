"""Learners (scikit-learn conventions) and the validation-tuned decision threshold.

* :class:`RandomForest` — a standard random forest, compiled with numba: the
  rare-sound study's model, fast at active-learning sizes; :func:`warm_up`
  compiles its kernels ahead of the first fit.
* :class:`Learner` — any classifier over a class list fixed up front (or the
  classes seen at fit).
* :class:`MedoidPropagation`, :class:`Committee` — the data-centric
  framework's model (propagation + logistic regression).
* :class:`CRNN` — the rare-sound study's convolutional recurrent network on log-mel
  spectrogram patches (``logmel-frames`` features); :class:`EmbeddingHead` — a small MLP
  on stored embeddings; both on CPU torch, trained within a time budget
  (:mod:`~alwidget.learn.neural`).
* :func:`make_model` — a learner by name (``forest``, ``crnn``, ``head``, ``committee``).
* :func:`predictive_entropy`, :func:`mutual_information` — uncertainty (Monte-Carlo dropout).
* :func:`tune_threshold` — the F1-maximising threshold on validation.
"""

import re

from .crnn import CRNN
from .forest import RandomForest, warm_up
from .head import EmbeddingHead
from .models import Committee, Learner, MedoidPropagation, default_committee
from .threshold import f1_at, tune_threshold
from .uncertainty import mutual_information, predictive_entropy

__all__ = ["CRNN", "Committee", "EmbeddingHead", "Learner", "MODEL_NAMES", "MedoidPropagation",
           "RandomForest", "default_committee", "default_model", "f1_at", "is_deep",
           "make_model", "mutual_information", "predictive_entropy", "tune_threshold", "warm_up"]

#: Learners by name (:func:`make_model`); ``crnn-mcT``: the CRNN with T passes of
#: Monte-Carlo dropout.
MODEL_NAMES = ("forest", "crnn", "head", "committee")


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


def make_model(name: str, **params):
    """A learner from its name in :data:`MODEL_NAMES`, with ``params`` set on it.

    ``forest`` is :func:`default_model`; ``crnn`` a :class:`CRNN` warm-started from the
    previous fit when the labels only grew (learns from the ``logmel-frames`` feature set);
    ``crnn-mc10`` the same with 10 passes of Monte-Carlo
    dropout; ``head`` an :class:`EmbeddingHead` (for embeddings such as ``yamnet``);
    ``committee`` the data-centric framework's :class:`Committee`.

    Examples
    --------
    >>> make_model("head", hidden=32)
    EmbeddingHead(hidden=32)
    >>> make_model("crnn-mc10").mc_dropout
    10
    >>> make_model("svm")
    Traceback (most recent call last):
    ...
    ValueError: model='svm' is not one of ['forest', 'crnn', 'head', 'committee'] (or crnn-mcT, e.g. crnn-mc10)
    """
    if not isinstance(name, str):
        raise TypeError(f"model={name!r} must be a name from {list(MODEL_NAMES)}")
    if name == "forest":
        model = default_model()
    elif name == "crnn":
        model = CRNN(warm_start=True)
    elif m := re.fullmatch(r"crnn-mc(\d+)", name):
        if int(m.group(1)) < 1:
            raise ValueError(f"model={name!r}: Monte-Carlo dropout needs at least 1 pass")
        model = CRNN(warm_start=True, mc_dropout=int(m.group(1)))
    elif name == "head":
        model = EmbeddingHead()
    elif name == "committee":
        model = Committee()
    else:
        raise ValueError(f"model={name!r} is not one of {list(MODEL_NAMES)} "
                         "(or crnn-mcT, e.g. crnn-mc10)")
    return model.set_params(**params) if params else model


def is_deep(model) -> bool:
    """True for the torch learners (slow refits: a session trains them in the background).

    Examples
    --------
    >>> is_deep(make_model("crnn")), is_deep(default_model())
    (True, False)
    """
    from .neural import NeuralClassifier

    est = getattr(model, "estimator", model)  # a Learner around one
    return isinstance(model, NeuralClassifier) or isinstance(est, NeuralClassifier)
