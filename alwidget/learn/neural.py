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
  loss below ``tol``, no improvement for ``patience`` epochs, or ``max_seconds`` of training
  (checked after every batch, so a fit never runs long past its budget); ``stopped_``
  says which, ``n_epochs_`` and ``fit_seconds_`` how far it went. The budget covers the
  training only: scoring rows afterwards (``predict_proba``; the loop scores every clip of
  the pool after each fit) is extra, about linear in the rows (README, "Deep learners"). The
  first fit in a process also pays torch's one-time set-up (about 2 s, outside the budget).
  Simulations should bound by epochs (``max_seconds=None``): then a fit depends on its
  seed only, not on the machine's speed or load.
* **Warm start.** With ``warm_start=True`` a fit of an already fitted learner on the same
  classes and input width starts from its weights (at most ``warm_epochs`` epochs) instead
  of a fresh initialisation, as scikit-learn's ``warm_start`` for its iterative models; the
  loop core uses it when the labels only grew (:class:`alwidget.loop.LoopCore`; it fits
  every other estimator afresh, :func:`alwidget.learn.models.warm_starts`).
* **Stoppable.** Inside :func:`stop_on` a fit or a scoring checks an event after every batch
  and raises :class:`FitCancelled` once it is set (the session's background trainer stops a
  refit this way when the session closes).
* **Rare targets.** ``class_weight="balanced"`` weighs each class's loss by the inverse of
  its share of the labels (as scikit-learn's ``"balanced"``); a dict gives each class's
  weight (1 for classes it does not name).
* **CPU threads.** Training and prediction use ``n_threads`` threads (default 1: on a
  2-core machine a refit in the background leaves a core to the kernel). With the OpenMP
  build of torch the setting is per calling thread (set for the fit, restored after).
* **Uncertainty.** ``predict_proba`` is the network's softmax; with ``mc_dropout=T`` it is
  the mean of ``T`` passes with dropout on (Monte-Carlo dropout): its entropy
  (:func:`~alwidget.learn.predictive_entropy`, the ``entropy`` strategy) is then the
  predictive entropy of the Bayesian approximation. Dropout acts only before the output
  layer, so the deterministic trunk runs once and only dropout + output layer run ``T``
  times; pass ``t`` uses one mask for every row, drawn from ``(dropout_seed_, t)``, so a
  row's probabilities do not depend on the other rows scored with it.
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

from .validation import features_and_labels, predict_features

__all__ = ["FitCancelled", "NeuralClassifier", "STOP_REASONS", "dropout", "stop_on",
           "torch_threads"]

#: Why a fit stopped (``stopped_``).
STOP_REASONS = ("epochs", "converged", "patience", "budget")

#: Upper bounds a learner read from a file must respect (its network is built from them).
MAX_WEIGHTS = 50_000_000
_STOP = threading.local()
#: Each fitted learner's torch network, rebuilt from its ``weights_`` when absent (a learner
#: read from a model file, or unpickled): the learner itself holds only arrays.
_NETWORKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class FitCancelled(RuntimeError):
    """A fit or a scoring stopped because the event of :func:`stop_on` was set."""


@contextmanager
def stop_on(event):
    """Inside the block, fits and scorings of the deep learners in this thread raise
    :class:`FitCancelled` at the next batch once ``event`` (a ``threading.Event``) is set.

    Examples
    --------
    >>> import threading
    >>> import numpy as np
    >>> from alwidget.learn import EmbeddingHead
    >>> stop = threading.Event(); stop.set()
    >>> with stop_on(stop):
    ...     EmbeddingHead(max_seconds=None).fit(np.eye(4), ["a", "b", "a", "b"])
    Traceback (most recent call last):
    ...
    alwidget.learn.neural.FitCancelled: stopped at a batch: the caller set the stop event
    """
    before = getattr(_STOP, "event", None)
    _STOP.event = event
    try:
        yield
    finally:
        _STOP.event = before


def _check_stop() -> None:
    event = getattr(_STOP, "event", None)
    if event is not None and event.is_set():
        raise FitCancelled("stopped at a batch: the caller set the stop event")


@contextmanager
def torch_threads(n: int):
    """Run torch with ``n`` intra-op threads inside the block, restored after (with torch's
    OpenMP build, a setting of the calling thread).

    Examples
    --------
    >>> import torch
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_common(est) -> None:
    for key in ("max_epochs", "warm_epochs", "batch_size", "patience", "n_threads"):
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
    if not isinstance(est.warm_start, (bool, np.bool_)):
        raise ValueError(f"warm_start={est.warm_start!r} must be True or False")
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

    _warm_start_continues = True  # warm_start=True continues training (models.warm_starts)

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
        """Train the network on ``X`` and labels ``y`` (within ``max_seconds`` of training):
        a fresh one, or with ``warm_start=True`` the one of the previous fit when its classes
        and input width are the same.

        Returns
        -------
        self
        """
        import torch  # (its first import, seconds, is not the fit's)

        t0 = time.perf_counter()
        _check_common(self)
        X, y = features_and_labels(X, y, np.float32)
        check_classification_targets(y)
        self._check_params(X.shape[1])  # before any learned state is set
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least two classes; "
                             f"got 1 class ({classes[0]!r})")
        warm = (self.warm_start and hasattr(self, "weights_")
                and getattr(self, "n_features_in_", None) == X.shape[1]
                and np.array_equal(self.classes_, classes))
        offset, scale = self._scaling(X)
        init_seed, batch_seed, drop_seed = _seeds(self.random_state)
        with torch_threads(self.n_threads):
            if warm:  # a copy of the previous network: the previous fit's stays as it was
                net = self._network(X.shape[1], len(classes))
                net.load_state_dict(self.network().state_dict())
            else:
                net = self._network(X.shape[1], len(classes))
                _init_weights(net, torch.Generator().manual_seed(init_seed))
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
            max_epochs = int(self.warm_epochs if warm else self.max_epochs)
            net.train()
            epoch = 0
            for epoch in range(1, max_epochs + 1):
                order = rng.permutation(len(Xt))
                total, seen = 0.0, 0
                for a in range(0, len(order), int(self.batch_size)):
                    _check_stop()
                    idx = torch.from_numpy(order[a:a + int(self.batch_size)])
                    opt.zero_grad()
                    loss = loss_fn(net(Xt[idx], drop), yt[idx])
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                    seen += len(idx)
                    time.sleep(0)  # hand the GIL over: a refit in a thread never starves the kernel
                    if budget is not None and time.perf_counter() > budget:
                        stopped = "budget"
                        break
                epoch_loss = total / seen  # the rows this epoch saw (all, unless cut)
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
            net.zero_grad(set_to_none=True)  # the last batch's gradients: not kept
            net.eval()
        self.n_features_in_ = X.shape[1]
        self.classes_ = classes
        self.offset_, self.scale_ = offset, scale
        self.weights_ = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        self.dropout_seed_ = drop_seed
        _NETWORKS[self] = net
        self.n_epochs_ = epoch
        self.loss_curve_ = losses
        self.stopped_ = stopped
        self.warm_started_ = bool(warm)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    # -- predict --------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order); with ``mc_dropout=T`` the
        mean over ``T`` passes with dropout on (seeded per pass: a row gets the same values
        whatever other rows are scored with it).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = predict_features(self, X, np.float32)
        passes = self._passes(X, self.mc_dropout)
        return (passes[0] if len(passes) == 1 else passes.mean(axis=0)).astype(np.float64)

    def mc_proba(self, X, passes: int) -> np.ndarray:
        """Probabilities of ``passes`` passes with dropout on: (passes, n_samples, n_classes).

        The spread across passes is the model's uncertainty (Monte-Carlo dropout)."""
        check_is_fitted(self)
        if isinstance(passes, bool) or int(passes) != passes or passes < 1:
            raise ValueError(f"passes={passes!r} must be a positive integer")
        return self._passes(predict_features(self, X, np.float32), int(passes))

    def _passes(self, X: np.ndarray, passes: int) -> np.ndarray:
        """(max(1, passes), n_rows, n_classes) probabilities: the trunk runs once per chunk
        of rows (standardised chunk by chunk: no copy of ``X``), then dropout and the output
        layer once per pass (one deterministic pass when ``passes`` is 0)."""
        import torch

        chunk = 64  # small chunks stay in cache: 400 CRNN rows score ~30 % faster than at 512
        out = np.empty((max(1, passes), len(X), len(self.classes_)), np.float32)
        with torch_threads(self.n_threads), torch.no_grad():
            net = self.network()
            # the plain trunk, never compiled (TorchScript kept every compiled graph: README,
            # "Deep learners")
            masks = None
            for a in range(0, len(X), chunk):
                _check_stop()
                z = net.embed(torch.from_numpy((X[a:a + chunk] - self.offset_) / self.scale_))
                if not passes:
                    out[0, a:a + chunk] = torch.softmax(net.out(z), dim=1).numpy()
                    continue
                if masks is None:
                    masks = self._masks(passes, z.shape[1], net.p)
                for t in range(passes):
                    out[t, a:a + chunk] = torch.softmax(net.out(z * masks[t]), dim=1).numpy()
        return out

    def _masks(self, passes: int, width: int, p: float):
        """Inverted-dropout masks of Monte-Carlo dropout, one per pass, drawn from
        ``(dropout_seed_, pass)``: the same for every row, whatever the rows."""
        import torch

        keep = [torch.rand(width, generator=torch.Generator().manual_seed(
                    int(np.random.SeedSequence([int(self.dropout_seed_), t]).generate_state(1)[0])))
                >= p for t in range(passes)]
        return [k.to(torch.float32) / (1.0 - p) for k in keep]

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
            self._check_loaded()
            net = self._network(int(self.n_features_in_), len(self.classes_))
            net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32))
                                 for k, v in self.weights_.items()})
            net.eval()
            _NETWORKS[self] = net
        return net

    def _check_loaded(self) -> None:
        """Check a fitted state (e.g. read from a model file) before a network is built
        from it: parameters in range, ``weights_`` of the shapes the parameters imply (the
        network is built without memory first), input scaling of the input's width. Raises
        ValueError naming what is wrong."""
        import torch

        name = type(self).__name__
        _check_common(self)
        n, classes = self.n_features_in_, np.asarray(self.classes_)
        if isinstance(n, bool) or int(n) != n or not 1 <= n <= MAX_WEIGHTS:
            raise ValueError(f"{name}: n_features_in_={n!r} is not a width in 1..{MAX_WEIGHTS}")
        if classes.ndim != 1 or len(classes) < 2:
            raise ValueError(f"{name}: classes_ must list at least two classes; got {classes!r}")
        self._check_params(int(n))
        for key in ("offset_", "scale_"):
            a = np.asarray(getattr(self, key))
            if a.shape != (int(n),) or not np.isfinite(a).all():
                raise ValueError(f"{name}: {key} has shape {a.shape}, not ({int(n)},) finite")
        with torch.device("meta"):  # shapes only: no memory, however large the parameters
            expected = {k: tuple(v.shape) for k, v in
                        self._network(int(n), len(classes)).state_dict().items()}
        total = sum(int(np.prod(s)) for s in expected.values())
        if total > MAX_WEIGHTS:
            raise ValueError(f"{name}: its parameters make a network of {total:,} weights, "
                             f"more than {MAX_WEIGHTS:,}")
        w = self.weights_
        got = {k: tuple(np.shape(v)) for k, v in w.items()} if isinstance(w, dict) else None
        if got != expected:
            diff = sorted(k for k in set(expected) | set(got or {})
                          if (got or {}).get(k) != expected.get(k))
            raise ValueError(f"{name}: weights_ do not fit its parameters (tensors {diff[:5]} "
                             "missing, extra or of other shapes)")
        bad = [k for k, v in w.items() if not np.isfinite(np.asarray(v, np.float64)).all()]
        if bad:
            raise ValueError(f"{name}: weights_ {bad[:5]} hold values that are not finite")


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
