"""The background trainer: refits a slow learner (the CRNN) while the expert goes on labeling.

A deep learner's refit takes seconds (:class:`~alwidget.learn.CRNN`, bounded by its
``max_seconds``). The session does not wait for it: after each decision it asks the trainer
for a model of the new state and goes on planning with the last model it has (those plans
say they are stale); when the refit is done, the session swaps the new model in and plans
the next clips with it. Only the newest state waits: states that arrived while a refit ran
are skipped for the latest one. The model lives in memory only; the labels it learns from
are committed before it is asked for, so a kill during a refit loses no label.

A refit is asked for only when the training set changed (:meth:`LoopCore.training_key
<alwidget.loop.LoopCore.training_key>`: a skip or a queue change asks for none). A refit
that fails is kept (``Session.last_refit_error``, shown in ``status()`` and in the reasons
of the plans made meanwhile), warned about once per distinct error, and retried at the next
decision. ``close()`` stops a running refit at its next batch
(:func:`~alwidget.learn.neural.stop_on`) and joins the thread; a model that arrives after
``close()`` is never adopted.
"""

from __future__ import annotations

import atexit
import threading
import traceback
import warnings
import weakref
from typing import Callable

from ..learn.neural import FitCancelled, stop_on
from .state import DOUBT, LoopState

__all__ = ["Refits", "Trainer"]


#: Trainers alive, stopped and joined at interpreter exit (a thread inside torch when the
#: interpreter ends can abort the process).
_TRAINERS: "weakref.WeakSet" = weakref.WeakSet()


class Trainer:
    """Runs ``fit(state)`` in one daemon thread, newest state first; ``on_ready(state, result)``
    after each fit (in that thread).

    Parameters
    ----------
    fit : callable(state) -> object
        The refit (may raise: ``on_error`` is called, or a warning says so, and ``on_ready``
        is not called). Runs inside :func:`~alwidget.learn.neural.stop_on` of the trainer's
        stop event: a deep learner's fit stops at its next batch when :meth:`close` is called.
    on_ready : callable(state, result)
    on_error : callable(state, key, exception), optional
        Called when ``fit`` raised (not when it was stopped by :meth:`close`).

    Bound methods are held weakly: a session dropped without ``close()`` is still collected
    (its claim released), and the thread then ends.

    Examples
    --------
    >>> from collections import namedtuple
    >>> State = namedtuple("State", "key")
    >>> got = []
    >>> t = Trainer(lambda s: s.key * 2, lambda s, r: got.append(r))
    >>> t.submit(State(1)); _ = t.wait(); got
    [2]
    >>> t.close()  # the thread has ended
    True
    """

    def __init__(self, fit: Callable, on_ready: Callable, on_error: Callable | None = None):
        self._fit = _weak(fit)
        self._on_ready = _weak(on_ready)
        self._on_error = _weak(on_error) if on_error is not None else (lambda: None)
        self._cv = threading.Condition()
        self._pending = None  # (key, state)
        self._running = None  # (key, state)
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="alwidget-train", daemon=True)
        self._thread.start()
        _TRAINERS.add(self)

    @property
    def busy(self) -> bool:
        """True while a refit runs or waits."""
        with self._cv:
            return self._running is not None or self._pending is not None

    def submit(self, state, key=None) -> None:
        """Ask for a model of ``state`` (replacing a state still waiting); nothing when the
        refit running is of the same ``key`` (default ``state.key``)."""
        key = state.key if key is None else key
        with self._cv:
            if self._closed:
                return
            if self._running is not None and self._running[0] == key:
                self._pending = None
                return
            self._pending = (key, state)
            self._cv.notify_all()

    def _work(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    if not self._cv.wait(timeout=10.0) and self._fit() is None:
                        return  # its owner is gone
                if self._closed:
                    return
                (key, state), self._pending, self._running = self._pending, None, self._pending
            fit, on_ready, on_error = self._fit(), self._on_ready(), self._on_error()
            if fit is None or on_ready is None:
                return
            result = None
            try:
                with stop_on(self._stop):
                    result = fit(state)
            except FitCancelled:
                pass  # closed: nothing to adopt
            except Exception as exc:  # the session goes on with its last model
                if self._stop.is_set():
                    pass
                elif on_error is not None:
                    try:
                        on_error(state, key, exc)
                    except Exception as err:
                        warnings.warn(f"reporting a failed refit failed: "
                                      f"{type(err).__name__}: {err}", stacklevel=1)
                else:
                    warnings.warn(f"a background refit failed; the previous model stays in "
                                  f"use: {type(exc).__name__}: {exc}", stacklevel=1)
            else:
                if not self._stop.is_set():  # the owner checks again under its own lock
                    try:
                        on_ready(state, result)
                    except Exception as exc:
                        warnings.warn(f"adopting a refitted model failed: "
                                      f"{type(exc).__name__}: {exc}", stacklevel=1)
            del fit, on_ready, on_error, state, result  # nothing of this refit held while idle
            with self._cv:
                self._running = None
                self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no refit runs or waits (tests, benchmarks); False on timeout."""
        with self._cv:
            return self._cv.wait_for(
                lambda: self._closed or (self._running is None and self._pending is None),
                timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Drop waiting states, stop a running refit at its next batch (a deep learner's;
        other learners finish their fit, unused) and join the thread for up to ``timeout``
        seconds. True once the thread has ended."""
        with self._cv:
            self._closed = True
            self._pending = None
            self._cv.notify_all()
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()


@atexit.register
def _close_trainers() -> None:
    for trainer in list(_TRAINERS):
        trainer.close(timeout=10.0)


def _weak(func: Callable) -> Callable:
    """A callable returning ``func`` (None once a bound method's object is gone)."""
    if hasattr(func, "__self__") and hasattr(func, "__func__"):
        return weakref.WeakMethod(func)
    return lambda: func


class Refits:
    """The session's parts for the deep learners (a part of :class:`~alwidget.session.Session`):
    their feature set, what the background trainer fits, and swapping its model in."""

    def _init_refits(self) -> None:
        """Called by ``Session.__init__`` once ``_background`` is known."""
        self._fitted = None  # the last model the background trainer made (loop.Fitted)
        #: The exception of the last background refit, if it failed (None once one succeeds).
        self.last_refit_error: Exception | None = None
        self._refit_error_key = None  # the training set it failed on
        self._refit_errors_warned: set[str] = set()
        self._trainer = (Trainer(self._train_for, self._adopt, self._refit_failed)
                         if self._background else None)

    def _spectrogram_model(self, model, feature_set, by_name: bool):
        """For a CRNN (by name or an instance): the ``logmel-frames`` set it learns from (the
        one given, or the store's) and the model reading that set's shape (a copy with
        ``n_mels`` and ``n_frames`` of the set's config). Any other model: as given."""
        from sklearn.base import clone

        from ..learn import CRNN

        if not isinstance(model, CRNN):
            return model, feature_set
        what = f"model={model!r}" if not by_name else "model='crnn'"
        feature_set = self._spectrogram_set(what, feature_set)
        n_mels, n_frames = (feature_set.config.get(k) for k in ("n_mels", "n_frames"))
        if n_mels is None or n_frames is None:
            return model, feature_set  # a set without a shape in its config: fit checks widths
        if not by_name and (model.n_mels != n_mels or model.n_frames not in (None, n_frames)):
            raise ValueError(f"{what} reads spectrograms of {model.n_mels} bands x "
                             f"{model.n_frames or 'any number of'} frames, but the feature set "
                             f"'logmel-frames' ({feature_set.config_hash}) has {n_mels} x "
                             f"{n_frames}: give CRNN(n_mels={n_mels}, n_frames={n_frames}) or "
                             "model='crnn'")
        return clone(model).set_params(n_mels=int(n_mels), n_frames=int(n_frames)), feature_set

    def _spectrogram_set(self, what: str, feature_set):
        """The ``logmel-frames`` set a CRNN learns from: the one given, or the store's newest
        with features (a store may hold older configurations, e.g. 64 x 96 before 64 x 48)."""
        if feature_set is not None:
            if feature_set.extractor != "logmel-frames":
                raise ValueError(f"{what} learns from log-mel spectrogram patches, not "
                                 f"{feature_set.extractor!r} features: give the store's "
                                 "'logmel-frames' feature set (alwidget.extract_features(store, "
                                 "'logmel-frames'))")
            return feature_set
        for fs in reversed(self.store.feature_sets()):  # the newest first
            if fs.extractor == "logmel-frames" and self.store.has_features(fs):
                return fs
        raise ValueError(f"{what} learns from log-mel spectrogram patches, and the "
                         "store has none yet: run alwidget.extract_features(store, "
                         "'logmel-frames') (or `alwidget features --extractor logmel-frames`)")

    def _train_key(self, state: LoopState) -> tuple:
        """The training set of ``state`` (:meth:`LoopCore.training_key`)."""
        rows, labels, pseudo = self._training(state)
        return self._core.training_key(rows, labels, pseudo)

    def _train_for(self, state: LoopState):
        """A model of ``state`` (background trainer's thread), warm-started from the last
        model when the learner continues from its weights (a deep learner with
        ``warm_start=True``: :func:`~alwidget.learn.models.warm_starts`); None before two
        classes."""
        rows, labels, pseudo = self._training(state)
        return self._core.fit(rows, labels, iteration=state.n_decisions, pseudo=pseudo,
                              previous=self._fitted)

    def _adopt(self, state: LoopState, fitted) -> None:
        """Swap in the model the trainer made (scored on clips the archive added meanwhile),
        and plan the next clips with it. Nothing after ``close()``."""
        if fitted is None or self._closed:
            return
        fitted = self._core.scored(fitted)  # in the trainer's thread, not under the lock
        with self._lock:
            if self._closed:
                return
            self._fitted = self._core.scored(fitted)  # clips added while it was scored
            self.last_refit_error = None
            self.last_retrain_s = fitted.seconds
            if fitted.val_f1 is not None:
                n = sum(lab != DOUBT and c not in self._val_ids for c, lab in state.labels)
                self.curve.append((n, fitted.val_f1))
            if self._planned is not None:
                self._precompute()  # the plans ahead were made with the older model

    def _refit_failed(self, state: LoopState, key, exc: Exception) -> None:
        """Keep a failed refit's error (status, reasons), warn once per distinct error; the
        next decision asks for the refit again."""
        text = f"{type(exc).__name__}: {exc}"
        with self._lock:
            if self._closed:
                return
            self.last_refit_error = _without_locals(exc)
            self._refit_error_key = key
            new = text not in self._refit_errors_warned
            self._refit_errors_warned.add(text)
            if self._planned is not None:
                self._precompute()  # their reasons say the refit failed
        if new:
            warnings.warn(f"a background refit failed; the previous model stays in use and the "
                          f"refit is tried again at the next decision: {text}", RuntimeWarning,
                          stacklevel=1)

    def _refit_error_text(self) -> str | None:
        exc = self.last_refit_error
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    def _retrain(self) -> None:
        """Ask the trainer for a model of the current training set, unless the last model is
        of it (lock held): a skip or a queue change asks for none; after a failed refit, the
        next decision asks again."""
        if self._trainer is None or self._closed:
            return
        if len({lab for c, lab in self._state.labels if lab != DOUBT}) < 2:  # no model yet
            return
        key = self._train_key(self._state)
        if self._fitted is not None and self._fitted.key == key:
            return
        self._trainer.submit(self._state, key)

    @property
    def refitting(self) -> bool:
        """True while the background trainer refits (deep learners; always False otherwise)."""
        return self._trainer is not None and self._trainer.busy

    def wait_for_model(self, timeout: float | None = None) -> bool:
        """Wait until the background refit is done and its model in use (scripts and tests;
        the expert never waits). True at once without a background trainer; False on
        timeout, or when the last refit failed (``last_refit_error``)."""
        if self._trainer is None:
            return True
        return self._trainer.wait(timeout) and self.last_refit_error is None


def _without_locals(exc: BaseException) -> BaseException:
    """``exc`` with the locals of its traceback's finished frames (and its causes') cleared:
    a failed fit's frames hold its data, network and gradients, which would stay in memory
    while the error is kept (until the next refit succeeds); the text and lines stay."""
    seen, todo = set(), [exc]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        traceback.clear_frames(link.__traceback__)
        todo += [link.__cause__, link.__context__]
    return exc
