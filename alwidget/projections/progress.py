"""Progress of a map's computation: stages, the share done, the time spent and the time left.

A t-SNE or UMAP map is computed in stages (PCA, nearest neighbours, layout, placing the clips
left out of the fit). Some stages report as they go (openTSNE calls back every few iterations;
placing clips goes in chunks); others have no callback (openTSNE's affinities, umap-learn's whole
fit: it has no per-epoch callback, and its ``tqdm`` bar would be a widget made off the kernel's
thread). :class:`MapProgress` turns both into one honest line: measured progress where there is
some, an estimate from the stage's expected length elsewhere, always the seconds spent, and
about how many are left. A heartbeat repeats the line every second, so the clock moves even
while a stage has nothing to say.

Expected lengths come from :data:`SECONDS_PER_CLIP` (measured on a 2-core machine) and are
rescaled by how fast the stages of this process actually ran so far.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["SECONDS_PER_CLIP", "MapProgress"]

#: Expected seconds per fitted clip of each (method, stage), and fixed seconds of a stage's first
#: run in a process (imports, numba compilation); measured on a 2-core machine with 2,000 and
#: 20,000 clips of 50 dimensions (``benchmarks`` figures: t-SNE 9 s and 70 s, UMAP 10 s and 80 s
#: warm, about 13 s more for UMAP's first use).
SECONDS_PER_CLIP = {
    ("tsne", "neighbours"): 0.0006,
    ("tsne", "layout"): 0.0029,
    ("tsne", "placing"): 0.0004,
    ("umap", "layout"): 0.0040,
    ("umap", "placing"): 0.0010,
}
FIRST_RUN_SECONDS = {("tsne", "neighbours"): 1.5, ("umap", "layout"): 13.0}
_SPEED: dict = {}  # (method, stage) -> measured / expected seconds, in this process
_RAN: set = set()  # stages run in this process (their first-run cost is paid)
_LOCK = threading.Lock()


def _fmt(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


class MapProgress:
    """Reports ``(fraction, message)`` for a map computed in stages, with time spent and left.

    Parameters
    ----------
    report : callable(fraction, message)
        Called with the share done (never decreasing, 1.0 only at the end) and one line of
        text, from the computing thread and from the heartbeat thread.
    method : str
        "tsne" or "umap" (the stages' expected lengths).
    stages : sequence of (stage, n_clips)
        The stages to come, in order, with the clips each works on.
    tick : float, default 1.0
        Seconds between heartbeat reports (0: no heartbeat thread).
    clock : callable, default time.perf_counter

    Examples
    --------
    >>> seen = []
    >>> p = MapProgress(lambda f, m: seen.append((round(f, 2), m)), "demo",
    ...                 [("neighbours", 1000), ("layout", 1000)], tick=0, clock=lambda: 0.0)
    >>> p.stage("neighbours", "finding neighbours")  # no callback: estimated, 1 s per stage
    >>> seen[-1]
    (0.0, 'demo: finding neighbours · 0 s so far, about 2 s left')
    >>> p.step(0.5, "half of the neighbours")  # measured
    >>> p.stage("layout", "iteration 0/750")
    >>> p.step(0.5, "iteration 375/750")
    >>> [f for f, _ in seen]
    [0.0, 0.25, 0.5, 0.75]
    >>> p.finish("map ready"); seen[-1]
    (1.0, 'map ready')
    """

    def __init__(self, report: Callable[[float, str], None], method: str, stages, *,
                 tick: float = 1.0, clock: Callable[[], float] = time.perf_counter):
        self._report = report
        self.method = method
        self._clock = clock
        self._expected = {}
        for name, n in stages:
            key = (method, name)
            base = SECONDS_PER_CLIP.get(key, 0.001) * n
            if key not in _RAN:
                base += FIRST_RUN_SECONDS.get(key, 0.0)
            self._expected[name] = base
        self._order = [name for name, _ in stages]
        self._total = sum(self._expected.values()) or 1.0
        self._t0 = clock()
        self._stage: str | None = None
        self._stage_t0 = self._t0
        self._within = 0.0  # measured share of the current stage (None: none measured)
        self._measured = False
        self._done_expected = 0.0  # expected seconds of the finished stages
        self._done_actual = 0.0
        self._fraction = 0.0
        self._message = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if tick > 0:
            self._thread = threading.Thread(target=self._beat, args=(tick,), daemon=True,
                                            name="alwidget-map-progress")
            self._thread.start()

    # -- stages -----------------------------------------------------------------------------
    def stage(self, name: str, message: str) -> None:
        """Start stage ``name`` (ending the one before); its progress is estimated until
        :meth:`step` measures it."""
        with self._lock:
            self._end_stage()
            self._stage, self._stage_t0 = name, self._clock()
            self._within, self._measured, self._message = 0.0, False, message
            self._emit()

    def step(self, within: float, message: str) -> None:
        """Measured progress: ``within`` of the current stage is done."""
        with self._lock:
            self._within, self._measured, self._message = min(1.0, max(0.0, within)), True, message
            self._emit()

    def finish(self, message: str) -> None:
        """The map is done: report 1.0 and stop the heartbeat."""
        with self._lock:
            self._end_stage()
            self._stage = None
            self._stop.set()
            self._fraction = 1.0
            self._report(1.0, message)

    def close(self) -> None:
        """Stop the heartbeat (e.g. the computation failed): nothing is reported after this."""
        with self._lock:  # a beat being reported finishes first
            self._stop.set()

    def __enter__(self) -> "MapProgress":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:  # the last stage ran to its end: learn its speed
            with self._lock:
                self._end_stage()
                self._stage = None
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _end_stage(self) -> None:
        if self._stage is None:
            return
        spent = self._clock() - self._stage_t0
        expected = self._expected.get(self._stage, 0.0)
        key = (self.method, self._stage)
        with _LOCK:
            if expected > 0 and spent > 0 and key in _RAN:  # a first run's cost is not a rate
                _SPEED[key] = min(20.0, max(0.05, spent / expected))
            _RAN.add(key)
        self._done_expected += expected
        self._done_actual += spent

    def _estimate(self, name: str) -> float:
        """Expected seconds of stage ``name``, scaled by how fast this process ran it before."""
        return self._expected.get(name, 0.0) * _SPEED.get((self.method, name), 1.0)

    def _emit(self) -> None:
        now = self._clock()
        spent_stage = now - self._stage_t0
        stage = self._stage
        expected = self._estimate(stage) if stage else 0.0
        if self._measured and self._within > 0 and spent_stage >= 0.5:  # a rate to trust
            stage_left = spent_stage * (1 - self._within) / self._within
        elif spent_stage <= expected:  # no rate yet: assume the stage runs as long as expected
            stage_left = expected - spent_stage
        else:  # running past its estimate: nothing honest to say about the time left
            stage_left = None
        if self._measured:
            within = self._within
        else:  # estimated, never 100 %
            within = min(0.9, spent_stage / expected) if expected > 0 else 0.0
        slow = (self._done_actual / self._done_expected) if self._done_expected > 1 else 1.0
        later = self._order[self._order.index(stage) + 1:] if stage in self._order else []
        before = sum(self._expected[s] for s in self._order[:self._order.index(stage)]) \
            if stage in self._order else 0.0
        fraction = (before + within * self._expected.get(stage, 0.0)) / self._total
        self._fraction = max(self._fraction, min(0.99, fraction))
        name = {"tsne": "t-SNE", "umap": "UMAP"}.get(self.method, self.method)
        text = f"{name}: {self._message} · {_fmt(now - self._t0)} so far"
        if stage_left is None:
            text += f", longer than the {_fmt(expected)} expected"
        else:
            left = stage_left + min(5.0, max(0.5, slow)) * sum(self._estimate(s) for s in later)
            if left >= 1:
                text += f", about {_fmt(left)} left"
        self._report(self._fraction, text)

    def _beat(self, tick: float) -> None:
        while not self._stop.wait(tick):
            with self._lock:
                if self._stage is not None and not self._stop.is_set():
                    self._emit()
