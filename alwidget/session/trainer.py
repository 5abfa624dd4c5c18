"""The background trainer: refits a slow learner (the CRNN) while the expert goes on labeling.

A deep learner's refit takes seconds (:class:`~alwidget.learn.CRNN`, bounded by its
``max_seconds``). The session does not wait for it: after each decision it asks the trainer
for a model of the new state and goes on planning with the last model it has (those plans
say they are stale); when the refit is done, the session swaps the new model in and plans
the next clips with it. Only the newest state waits: states that arrived while a refit ran
are skipped for the latest one. The model lives in memory only; the labels it learns from
are committed before it is asked for, so a kill during a refit loses no label.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from typing import Callable

from .state import DOUBT, LoopState

__all__ = ["Refits", "Trainer"]


class Trainer:
    """Runs ``fit(state)`` in one daemon thread, newest state first; ``on_ready(state, result)``
    after each fit (in that thread).

    Parameters
    ----------
    fit : callable(state) -> object
        The refit (may raise: a warning says so and ``on_ready`` is not called).
    on_ready : callable(state, result)

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
    >>> t.close()
    """

    def __init__(self, fit: Callable, on_ready: Callable):
        self._fit = _weak(fit)
        self._on_ready = _weak(on_ready)
        self._cv = threading.Condition()
        self._pending = None
        self._running = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="alwidget-train", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a refit runs or waits."""
        with self._cv:
            return self._running is not None or self._pending is not None

    def submit(self, state) -> None:
        """Ask for a model of ``state`` (replacing a state still waiting)."""
        with self._cv:
            if self._running is not None and self._running.key == state.key:
                self._pending = None
                return
            self._pending = state
            self._cv.notify_all()

    def _work(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    if not self._cv.wait(timeout=10.0) and self._fit() is None:
                        return  # its owner is gone
                if self._closed:
                    return
                state, self._pending, self._running = self._pending, None, self._pending
            fit, on_ready = self._fit(), self._on_ready()
            if fit is None or on_ready is None:
                return
            try:
                result = fit(state)
            except Exception as exc:  # the session goes on with its last model
                warnings.warn(f"a background refit failed; the previous model stays in use: "
                              f"{type(exc).__name__}: {exc}", stacklevel=1)
            else:
                if not self._closed:
                    try:
                        on_ready(state, result)
                    except Exception as exc:
                        warnings.warn(f"adopting a refitted model failed: "
                                      f"{type(exc).__name__}: {exc}", stacklevel=1)
            del fit, on_ready
            with self._cv:
                self._running = None
                self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no refit runs or waits (tests, benchmarks); False on timeout."""
        with self._cv:
            return self._cv.wait_for(
                lambda: self._closed or (self._running is None and self._pending is None),
                timeout)

    def close(self) -> None:
        """Drop waiting states; a refit running finishes in its daemon thread, unused."""
        with self._cv:
            self._closed = True
            self._pending = None
            self._cv.notify_all()


def _weak(func: Callable) -> Callable:
    """A callable returning ``func`` (None once a bound method's object is gone)."""
    if hasattr(func, "__self__") and hasattr(func, "__func__"):
        return weakref.WeakMethod(func)
    return lambda: func


class Refits:
    """The session's parts for the deep learners (a part of :class:`~alwidget.session.Session`):
    their feature set, what the background trainer fits, and swapping its model in."""

    def _spectrogram_set(self, name: str, feature_set):
        """The ``logmel-frames`` set a CRNN learns from: the one given, or the store's."""
        if feature_set is not None:
            if feature_set.extractor != "logmel-frames":
                raise ValueError(f"model={name!r} learns from log-mel spectrogram patches, not "
                                 f"{feature_set.extractor!r} features: give the store's "
                                 "'logmel-frames' feature set (alwidget.extract_features(store, "
                                 "'logmel-frames'))")
            return feature_set
        for fs in self.store.feature_sets():
            if fs.extractor == "logmel-frames" and self.store.has_features(fs):
                return fs
        raise ValueError(f"model={name!r} learns from log-mel spectrogram patches, and the "
                         "store has none yet: run alwidget.extract_features(store, "
                         "'logmel-frames') (or `alwidget features --extractor logmel-frames`)")

    def _train_for(self, state: LoopState):
        """A model of ``state`` (background trainer's thread); None before two classes."""
        rows, labels, pseudo = self._training(state)
        return self._core.fit(rows, labels, iteration=state.n_decisions, pseudo=pseudo)

    def _adopt(self, state: LoopState, fitted) -> None:
        """Swap in the model the trainer made, and plan the next clips with it."""
        if fitted is None:
            return
        with self._lock:
            self._fitted, self._fitted_key = fitted, state.key
            self.last_retrain_s = fitted.seconds
            if fitted.val_f1 is not None:
                n = sum(lab != DOUBT and c not in self._val_ids for c, lab in state.labels)
                self.curve.append((n, fitted.val_f1))
            if self._planned is not None:
                self._precompute()  # the plans ahead were made with the older model

    def _retrain(self) -> None:
        """Ask the trainer for a model of the current state, unless it has one (lock held)."""
        if self._trainer is None or self._fitted_key == self._state.key:
            return
        if len({lab for c, lab in self._state.labels if lab != DOUBT}) >= 2:  # else no model
            self._trainer.submit(self._state)

    @property
    def refitting(self) -> bool:
        """True while the background trainer refits (deep learners; always False otherwise)."""
        return self._trainer is not None and self._trainer.busy

    def wait_for_model(self, timeout: float | None = None) -> bool:
        """Wait until the background refit is done and its model in use (scripts and tests;
        the expert never waits). True at once without a background trainer."""
        return True if self._trainer is None else self._trainer.wait(timeout)
