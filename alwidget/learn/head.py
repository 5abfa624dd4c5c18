"""A small neural head on stored embeddings (YAMNet, PANNs, imported vectors)."""

from __future__ import annotations

from .neural import NeuralClassifier

__all__ = ["EmbeddingHead"]


class EmbeddingHead(NeuralClassifier):
    """An MLP (or, with ``hidden=0``, a logistic regression) on embedding vectors.

    The embeddings are standardised per dimension (over the training clips); one hidden
    layer of ``hidden`` ReLU units with dropout, then a softmax layer. Trained with Adam on
    the class-weighted cross-entropy (``class_weight="balanced"``: a rare target weighs as
    much as the rest) within a time budget, as :class:`~alwidget.learn.CRNN`
    (:mod:`alwidget.learn.neural`).

    Parameters
    ----------
    hidden : int, default 64
        Hidden units (0: no hidden layer, a logistic regression).
    dropout : float, default 0.2
    max_epochs : int, default 200
    max_seconds : float or None, default 10.0
        Training budget per fit in seconds (None: epochs and stopping rules only).
    warm_start : bool, default False
        Continue from the previous fit's weights (as :class:`~alwidget.learn.CRNN`'s).
    warm_epochs : int, default 20
        At most this many epochs in a warm-started fit.
    batch_size : int, default 64
    learning_rate : float, default 3e-3
    weight_decay : float, default 1e-3
    tol : float, default 0.01
    patience : int, default 20
    class_weight : "balanced", dict or None, default "balanced"
    mc_dropout : int, default 0
        Monte-Carlo dropout passes averaged by :meth:`predict_proba` (0: off).
    n_threads : int, default 1
    random_state : int, RandomState or None, default None

    Attributes
    ----------
    classes_, n_features_in_, offset_, scale_
    weights_ : dict of str to ndarray
        The network's tensors by name (:meth:`network` rebuilds it from them).
    dropout_seed_ : int
    n_epochs_, stopped_, fit_seconds_, loss_curve_, warm_started_

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (95, 16)), rng.normal(2, 1, (5, 16))].astype("float32")
    >>> y = np.array(["rest"] * 95 + ["rare"] * 5)
    >>> head = EmbeddingHead(random_state=0, max_seconds=None).fit(X, y)
    >>> head.predict(X[-5:]).tolist()
    ['rare', 'rare', 'rare', 'rare', 'rare']
    >>> head.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(self, hidden: int = 64, dropout: float = 0.2, max_epochs: int = 200,
                 max_seconds: float | None = 10.0, warm_start: bool = False,
                 warm_epochs: int = 20, batch_size: int = 64,
                 learning_rate: float = 3e-3, weight_decay: float = 1e-3, tol: float = 0.01,
                 patience: int = 20, class_weight: str | None = "balanced", mc_dropout: int = 0,
                 n_threads: int = 1, random_state=None):
        self.hidden = hidden
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.max_seconds = max_seconds
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.tol = tol
        self.patience = patience
        self.class_weight = class_weight
        self.mc_dropout = mc_dropout
        self.n_threads = n_threads
        self.random_state = random_state

    def _check_params(self, n_features: int) -> None:
        h = self.hidden
        if isinstance(h, bool) or int(h) != h or h < 0:
            raise ValueError(f"hidden={h!r} must be an integer >= 0 (0: logistic regression)")

    def _network(self, n_features: int, n_classes: int):
        from .networks import HeadNet

        return HeadNet(n_features, int(self.hidden), float(self.dropout), n_classes)

