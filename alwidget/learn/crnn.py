"""The rare-sound study's CRNN: convolutions over a log-mel spectrogram, a GRU over time.

Input rows are flattened spectrograms, ``n_mels`` bands of ``n_frames`` frames each (the
``logmel-frames`` feature set: ``row.reshape(n_mels, n_frames)``), so the CRNN plugs into
the one loop core like any learner on a feature matrix.
"""

from __future__ import annotations

import numpy as np

from .neural import NeuralClassifier

__all__ = ["CRNN"]


class CRNN(NeuralClassifier):
    """A small convolutional recurrent network on log-mel spectrogram patches.

    Each row of ``X`` is one clip's spectrogram, bands as rows: ``X[i].reshape(n_mels, -1)``
    (:class:`~alwidget.features.LogMelFrames`, feature set ``logmel-frames``). The network:
    the spectrogram standardised per band (over the training clips), ``len(channels)`` blocks
    of 3x3 convolution + ReLU + max-pooling (frequency halved each block; time halved in the
    first two), a bidirectional GRU over the remaining frames, max-pooling over time, dropout
    and a softmax layer. Trained with Adam on the class-weighted cross-entropy within a time
    budget (:mod:`alwidget.learn.neural`).

    Parameters
    ----------
    n_mels : int, default 64
        Bands per frame (the ``logmel-frames`` set's default, 64 x 48).
    n_frames : int or None, default None
        Frames per clip: the number of features must be ``n_mels * n_frames``. None: any
        multiple of ``n_mels`` (a session and ``alwidget simulate`` set both from the
        feature set's config, and refuse any other feature set).
    channels : tuple of int, default (8, 16, 16)
        Output channels of the convolution blocks.
    rnn_units : int, default 32
        GRU units per direction.
    dropout : float, default 0.3
        Dropout before the softmax layer (and in Monte-Carlo dropout).
    max_epochs : int, default 60
    max_seconds : float or None, default 20.0
        Training budget per fit in seconds (None: no budget, the epochs and stopping rules
        bound it: what simulations use, reproducible on any machine). Scoring afterwards
        is not counted.
    warm_start : bool, default False
        Continue from the previous fit's weights when the classes and input width are the
        same (scikit-learn's ``warm_start``). :func:`~alwidget.learn.make_model` ("crnn")
        turns it on: a session's and a simulation's refit after one more label then costs a
        few epochs instead of a training from scratch.
    warm_epochs : int, default 10
        At most this many epochs in a warm-started fit.
    batch_size : int, default 32
    learning_rate : float, default 3e-3
    weight_decay : float, default 1e-4
    tol : float, default 0.02
        Stop when an epoch's mean training loss is below it.
    patience : int, default 10
        Stop after this many epochs without improvement of the training loss.
    class_weight : "balanced", dict or None, default "balanced"
    mc_dropout : int, default 0
        Passes of Monte-Carlo dropout averaged by :meth:`predict_proba` (0: one pass
        without dropout).
    n_threads : int, default 1
        torch threads while training and predicting.
    random_state : int, RandomState or None, default None

    Attributes
    ----------
    classes_, n_features_in_, offset_, scale_
    weights_ : dict of str to ndarray
        The network's tensors by name (:meth:`network` rebuilds it from them).
    dropout_seed_ : int
    n_epochs_, stopped_, fit_seconds_, loss_curve_, warm_started_
        How the last fit went (see :data:`~alwidget.learn.neural.STOP_REASONS`).

    Examples
    --------
    Up-chirps against down-chirps (the same bands, in opposite order in time):

    >>> import numpy as np
    >>> X, y = [], []
    >>> for i in range(20):
    ...     S = np.zeros((8, 16), np.float32)
    ...     for t in range(2, 10):
    ...         S[t - 2 if i % 2 else 9 - t, t] = 1.0
    ...     X.append(S.ravel()); y.append("up" if i % 2 else "down")
    >>> m = CRNN(n_mels=8, channels=(4, 8), rnn_units=8, max_epochs=40, tol=0.05,
    ...          max_seconds=None, random_state=0).fit(np.array(X), y)
    >>> float((m.predict(np.array(X)) == np.array(y)).mean())
    1.0
    """

    def __init__(self, n_mels: int = 64, n_frames: int | None = None, channels=(8, 16, 16),
                 rnn_units: int = 32, dropout: float = 0.3, max_epochs: int = 60,
                 max_seconds: float | None = 20.0, warm_start: bool = False,
                 warm_epochs: int = 10, batch_size: int = 32, learning_rate: float = 3e-3,
                 weight_decay: float = 1e-4, tol: float = 0.02, patience: int = 10,
                 class_weight: str | None = "balanced", mc_dropout: int = 0, n_threads: int = 1,
                 random_state=None):
        self.n_mels = n_mels
        self.n_frames = n_frames
        self.channels = channels
        self.rnn_units = rnn_units
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
        m = self.n_mels
        if isinstance(m, bool) or int(m) != m or m < 1:
            raise ValueError(f"n_mels={m!r} must be a positive integer")
        f = self.n_frames
        if f is not None and (isinstance(f, bool) or int(f) != f or f < 1):
            raise ValueError(f"n_frames={f!r} must be a positive integer or None")
        if n_features % int(m) or (f is not None and n_features != int(m) * int(f)):
            shape = f"{m} x {f} = {int(m) * int(f)}" if f is not None else f"a multiple of {m}"
            raise ValueError(f"X has {n_features} features, but CRNN(n_mels={m!r}, "
                             f"n_frames={f!r}) reads each row as a spectrogram of {shape} "
                             "values: give it the 'logmel-frames' feature set "
                             "(alwidget.extract_features(store, 'logmel-frames')) with "
                             "n_mels and n_frames of that set's config")
        ch = tuple(self.channels)
        if not ch or any(isinstance(c, bool) or int(c) != c or c < 1 for c in ch):
            raise ValueError(f"channels={self.channels!r} must be a non-empty tuple of "
                             "positive integers")
        r = self.rnn_units
        if isinstance(r, bool) or int(r) != r or r < 1:
            raise ValueError(f"rnn_units={r!r} must be a positive integer")

    def _scaling(self, X):
        m = int(self.n_mels)
        S = X.reshape(len(X), m, -1)
        mean = S.mean(axis=(0, 2))
        std = S.std(axis=(0, 2))
        std = np.where(std > 1e-6, std, 1.0)
        frames = S.shape[2]
        return (np.repeat(mean, frames).astype(np.float32),
                np.repeat(std, frames).astype(np.float32))

    def _network(self, n_features: int, n_classes: int):
        from .networks import CRNNNet

        return CRNNNet(int(self.n_mels), n_features // int(self.n_mels),
                       tuple(int(c) for c in self.channels), int(self.rnn_units),
                       float(self.dropout), n_classes)

