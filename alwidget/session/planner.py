"""The background planner: plans the next clip for every possible answer while the expert listens.

While a clip is shown, one worker thread computes, for each likely answer (both answers of
a binary task, the two likeliest classes otherwise) and for a skip, the plan a fresh refit
would make after it, and then what the view needs to show that plan's clip (the session
makes the clip's audio and spectrogram for the browser: :mod:`~alwidget.session.payloads`).
When the answer comes, its plan and its clip are usually ready. Plans are keyed by the state
they were made from; a plan made from another state is never used.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

__all__ = ["Planner"]


class Planner:
    """Runs ``make_plan(state)`` for states ahead of time, one worker thread.

    Parameters
    ----------
    make_plan : callable(state) -> plan
        Must not raise (the session's planning falls back by itself) and must return an
        object with a ``state`` attribute.
    enabled : bool, default True
        False computes nothing ahead (every plan is made when asked).
    prepare : callable(plan), optional
        Run in the background after each plan is made, before the next answer's plan (e.g.
        making its clip's payload); must not raise.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class State:
    ...     key: tuple
    >>> @dataclass
    ... class Plan:
    ...     state: State
    >>> planner = Planner(lambda state: Plan(state))
    >>> planner.start([State(("label", 1)), State(("skip", 1))])
    >>> planner.take(State(("skip", 1)))
    Plan(state=State(key=('skip', 1)))
    >>> planner.take(State(("label", 1))) is None  # dropped when the other answer came
    True
    >>> planner.close()
    """

    def __init__(self, make_plan: Callable, enabled: bool = True,
                 prepare: Callable | None = None):
        self.make_plan = make_plan
        self.enabled = enabled
        self.prepare = prepare
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alwidget-plan")
        self._futures: dict[tuple, Future] = {}
        self._preparing: list[Future] = []

    def start(self, states) -> None:
        """Compute plans for ``states`` in the background (replacing earlier requests), in
        order, each followed by ``prepare(plan)``."""
        self.cancel()
        if not self.enabled:
            return
        for state in states:
            future = self._futures[state.key] = self._pool.submit(self.make_plan, state)
            if self.prepare is not None:
                self._preparing.append(self._pool.submit(self._prepare, future, self.prepare))

    @staticmethod
    def _prepare(planned: Future, prepare: Callable) -> None:
        if planned.done() and not planned.cancelled() and planned.exception() is None:
            prepare(planned.result())

    def take(self, state):
        """The plan made from exactly ``state`` (waiting for it if it is running), or None.

        The plans of the other answers that have not started are dropped first, so the wait
        is for this plan and at most one other that is already running.
        """
        future = self._futures.pop(state.key, None)
        self.cancel()
        if future is None:
            return None
        try:
            plan = future.result()
        except Exception:  # cancelled, or failed in the background: plan again in the open
            return None
        return plan if plan.state == state else None

    def ready(self) -> list:
        """The plans already made for the current requests (never waits)."""
        return [f.result() for f in list(self._futures.values())
                if f.done() and not f.cancelled() and f.exception() is None]

    def wait(self) -> None:
        """Wait until every requested plan is ready and prepared (tests; the expert never
        waits here)."""
        for f in list(self._futures.values()) + list(self._preparing):
            if not f.cancelled():
                f.result()

    def cancel(self) -> None:
        """Drop the requests: those not started never run (stale plans must not take cores)."""
        for f in list(self._futures.values()) + self._preparing:
            f.cancel()
        self._futures, self._preparing = {}, []

    def close(self) -> None:
        """Stop the worker thread (waits for a plan already running)."""
        self.cancel()
        self._pool.shutdown(wait=True)
