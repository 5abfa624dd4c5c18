"""What the deep learners share: seeded CPU training within a time budget, the sklearn contract.

:class:`NeuralClassifier` is the base of :class:`~alwidget.learn.CRNN` and
:class:`~alwidget.learn.EmbeddingHead`. A subclass says how to build its network
(``_network``) and how to standardise its input (``_scaling``); the base does the rest:

* **Contract.** scikit-learn's: parameters only in ``__init__``, learned state ends in
  ``_``, ``fit`` / ``predict_proba`` / ``predict`` / ``classes_``, cloneable, passes
  ``parametrize_with_checks`` where it applies (``tests/test_estimator_checks.py``).
* **Seeded.** The weights' initialisation, the batch order and the dropout masks (training
  and Monte-Carlo dropout at prediction) all come from ``random_state``, through generators
  of their own (never torch's global one), so a fit is the same in any thread. Bit-identical
  refits need ``max_seconds=None`` (or a budget that is not reached): a budget stops the
  training after as many epochs as the machine managed.
* **Bounded in time.** Training stops at the first of ``max_epochs`` epochs, the training
  loss below ``tol``, no improvement for ``patience`` epochs, or ``max_seconds`` of work
  (checked after every batch, so a refit never runs long past its budget); ``stopped_``
  says which, ``n_epochs_`` and ``fit_seconds_`` how far it went.
* **Rare targets.** ``class_weight="balanced"`` weighs each class's loss by the inverse of
  its share of the labels (as scikit-learn's ``"balanced"``); a dict gives each class's
  weight (1 for classes it does not name).
* **CPU threads.** Training and prediction use ``n_threads`` threads (default 1: on a
  2-core machine a refit in the background leaves a core to the kernel).
* **Uncertainty.** ``predict_proba`` is the network's softmax; with ``mc_dropout=T`` it is
  the mean of ``T`` passes with dropout on (Monte-Carlo dropout): its entropy
  (:func:`~alwidget.learn.predictive_entropy`, the ``entropy`` strategy) is then the
  predictive entropy of the Bayesian approximation.
* **Saved as arrays.** The learned state is arrays and numbers (``weights_``: the network's
  tensors by name), so a model file holds it without pickles (:mod:`alwidget.model_file`);
  the torch network is rebuilt from it when first needed.
"""

from __future__ import annotations

import threading
import time
import weakref
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .validation import features, features_and_labels

__all__ = ["NeuralClassifier", "STOP_REASONS", "dropout", "torch_threads"]

#: Why a fit stopped (``stopped_``).
STOP_REASONS = ("epochs", "converged", "patience", "budget")

_THREADS_LOCK = threading.Lock()
#: Each fitted learner's torch network, rebuilt from its ``weights_`` when absent (a learner
#: read from a model file, or unpickled): the learner itself holds only arrays.
_NETWORKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@contextmanager
def torch_threads(n: int):
    """Run torch with ``n`` intra-op threads inside the block (a process-wide setting,
    restored after).

    Examples
    --------
    >>> import torch
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    import torch

    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        with _THREADS_LOCK:
            torch.set_num_threads(before)


def _check_common(est) -> None:
    for key in ("max_epochs", "batch_size", "patience", "n_threads"):
        v = getattr(est, key)
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{key}={v!r} must be a positive integer")
    if est.max_seconds is not None and not est.max_seconds > 0:
        raise ValueError(f"max_seconds={est.max_seconds!r} must be > 0 or None (no budget)")
    if not est.learning_rate > 0:
        raise ValueError(f"learning_rate={est.learning_rate!r} must be > 0")
    if not est.weight_decay >= 0:
        raise ValueError(f"weight_decay={est.weight_decay!r} must be >= 0")
    if not 0 <= est.dropout < 1:
        raise ValueError(f"dropout={est.dropout!r} must be in [0, 1)")
    if not (est.class_weight in (None, "balanced") or isinstance(est.class_weight, dict)):
        raise ValueError(f"class_weight={est.class_weight!r} must be 'balanced', a dict "
                         "{class: weight} or None")
    mc = est.mc_dropout
    if isinstance(mc, bool) or int(mc) != mc or mc < 0:
        raise ValueError(f"mc_dropout={mc!r} must be 0 (off) or a number of passes >= 1")
    if mc and est.dropout == 0:
        raise ValueError(f"mc_dropout={mc!r} needs dropout > 0 (dropout={est.dropout!r})")


def _seeds(random_state) -> tuple[int, int, int]:
    """Three independent seeds (init, batches, dropout) from ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        base = int(random_state.randint(2**31))
    elif random_state is None:
        base = int(np.random.SeedSequence().generate_state(1)[0])
    else:
        base = int(random_state)
    s = np.random.SeedSequence(base).generate_state(3)
    return int(s[0]), int(s[1]), int(s[2])


class NeuralClassifier(ClassifierMixin, BaseEstimator):
    """Base of the torch classifiers (see the module docstring); not used alone.

    Subclasses define ``__init__`` with their parameters (including those
    :func:`_check_common` reads), ``_network(n_features, n_classes)`` returning a
    ``torch.nn.Module`` whose forward takes ``(x, dropout_generator)``, and optionally
    ``_scaling(X)`` returning (offset, scale) arrays broadcastable to ``X``.
    """

    # -- subclass hooks ----------------------------------------------------------------
    def _network(self, n_features: int, n_classes: int):
        raise NotImplementedError

    def _scaling(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)

    def _check_params(self, n_features: int) -> None:
        """Subclass checks of its own parameters against the data (raise ValueError)."""

    # -- fit ----------------------------------------------------------------------------
    def fit(self, X, y):
        """Train a new network on ``X`` and labels ``y`` (within ``max_seconds``).

        Returns
        -------
        self
        """
        import torch

        t0 = time.perf_counter()
        _check_common(self)
        X, y = features_and_labels(X, y, np.float32)
        check_classification_targets(y)
        self.n_features_in_ = X.shape[1]
        self._check_params(X.shape[1])
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least two classes; "
                             f"got 1 class ({classes[0]!r})")
        self.classes_ = classes
        offset, scale = self._scaling(X)
        self.offset_, self.scale_ = offset, scale
        init_seed, batch_seed, drop_seed = _seeds(self.random_state)
        with torch_threads(self.n_threads):
            gen = torch.Generator().manual_seed(init_seed)
            net = self._network(X.shape[1], len(classes))
            _init_weights(net, gen)
            Xt = torch.from_numpy((X - offset) / scale)
            yt = torch.from_numpy(y_idx.astype(np.int64))
            counts = np.bincount(y_idx, minlength=len(classes)).astype(np.float64)
            weight = None
            if self.class_weight == "balanced":
                weight = torch.tensor(len(y_idx) / (len(classes) * counts), dtype=torch.float32)
            elif isinstance(self.class_weight, dict):
                weight = torch.tensor([float(self.class_weight.get(c, 1.0)) for c in classes],
                                      dtype=torch.float32)
            loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
            opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate,
                                   weight_decay=self.weight_decay)
            rng = np.random.default_rng(batch_seed)
            drop = torch.Generator().manual_seed(drop_seed)
            best, since, stopped, losses = np.inf, 0, "epochs", []
            budget = None if self.max_seconds is None else t0 + float(self.max_seconds)
            net.train()
            epoch = 0
            for epoch in range(1, int(self.max_epochs) + 1):
                order = rng.permutation(len(Xt))
                total = 0.0
                for a in range(0, len(order), int(self.batch_size)):
                    idx = torch.from_numpy(order[a:a + int(self.batch_size)])
                    opt.zero_grad()
                    loss = loss_fn(net(Xt[idx], drop), yt[idx])
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                    time.sleep(0)  # hand the GIL over: a refit in a thread never starves the kernel
                    if budget is not None and time.perf_counter() > budget:
                        stopped = "budget"
                        break
                epoch_loss = total / len(Xt)
                losses.append(epoch_loss)
                if stopped == "budget":
                    break
                if epoch_loss < self.tol:
                    stopped = "converged"
                    break
                if epoch_loss < best - 1e-4:
                    best, since = epoch_loss, 0
                else:
                    since += 1
                    if since >= self.patience:
                        stopped = "patience"
                        break
            net.eval()
        self.weights_ = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        self.dropout_seed_ = drop_seed
        _NETWORKS[self] = net
        self.n_epochs_ = epoch
        self.loss_curve_ = losses
        self.stopped_ = stopped
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    # -- predict --------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order); with ``mc_dropout=T`` the
        mean over ``T`` passes with dropout on (seeded: the same rows give the same values).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._proba(X, self.mc_dropout)

    def mc_proba(self, X, passes: int) -> np.ndarray:
        """Probabilities of ``passes`` passes with dropout on: (passes, n_samples, n_classes).

        The spread across passes is the model's uncertainty (Monte-Carlo dropout)."""
        check_is_fitted(self)
        if isinstance(passes, bool) or int(passes) != passes or passes < 1:
            raise ValueError(f"passes={passes!r} must be a positive integer")
        X = self._checked(X)
        return np.stack(list(self._passes(X, int(passes))))

    def _checked(self, X) -> np.ndarray:
        X = features(X, np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        return X

    def _proba(self, X, passes: int) -> np.ndarray:
        check_is_fitted(self)
        X = self._checked(X)
        if not passes:
            return next(self._passes(X, 0)).astype(np.float64)
        return np.mean(list(self._passes(X, passes)), axis=0).astype(np.float64)

    def _passes(self, X: np.ndarray, passes: int):
        """One array of probabilities per pass (a single deterministic pass when 0)."""
        import torch

        chunk = 512
        with torch_threads(self.n_threads), torch.no_grad():
            net = self.network()
            Xs = (X - self.offset_) / self.scale_
            drop = torch.Generator().manual_seed(int(self.dropout_seed_) + 1)
            for _ in range(max(1, passes)):
                out = np.empty((len(X), len(self.classes_)), np.float32)
                net.train(bool(passes))
                for a in range(0, len(X), chunk):
                    logits = net(torch.from_numpy(Xs[a:a + chunk]), drop)
                    out[a:a + chunk] = torch.softmax(logits, dim=1).numpy()
                net.eval()
                yield out

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # -- state -----------------------------------------------------------------------------
    def network(self):
        """The fitted torch network (built from ``weights_`` the first time it is asked for
        after loading: a model file holds only arrays, never a pickle)."""
        import torch

        check_is_fitted(self)
        net = _NETWORKS.get(self)
        if net is None:
            net = self._network(int(self.n_features_in_), len(self.classes_))
            net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32))
                                 for k, v in self.weights_.items()})
            net.eval()
            _NETWORKS[self] = net
        return net


def _init_weights(net, gen) -> None:
    """Initialise every weight from ``gen`` (torch's default schemes, seeded apart)."""
    import math

    import torch

    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias") or "bias_" in name:
                p.zero_()
            elif p.ndim >= 2:
                fan_in = p[0].numel()
                bound = math.sqrt(6.0 / fan_in) if "conv" in name or "hidden" in name \
                    else 1.0 / math.sqrt(fan_in)
                p.uniform_(-bound, bound, generator=gen)
            else:
                p.uniform_(-0.1, 0.1, generator=gen)


def dropout(x, p: float, generator, training: bool):
    """Inverted dropout with masks drawn from ``generator`` (seeded, thread-safe)."""
    import torch

    if not training or p == 0:
        return x
    keep = torch.rand(x.shape, generator=generator) >= p
    return x * keep / (1.0 - p)
