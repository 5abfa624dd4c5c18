"""What a decision changes on the map, sent as a patch instead of a redraw.

Redrawing plotly's WebGL scatter of 100,000 clips takes the page 1.3–2.7 s in Chromium without
a GPU: after every decision, that would hold up the next key for seconds. A decision changes
a few points (the clip labeled, the clip proposed next): :class:`ShownPoints` remembers what
the page shows of every point (colour value, size, and the four bytes of its tooltip) and
turns the next state into a :class:`Patch` of the points that differ, which the page draws
over the scatter (:class:`~alwidget.widgets.map_events.MapEvents`). What a patch cannot say
well (a refit that recolours every point by P(target), a new colouring) waits for the whole
scatter to be redrawn once the expert pauses (:class:`~alwidget.widgets.MapView`'s
``redraw_after_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PATCH_LIMIT", "Changes", "Patch", "ShownPoints", "point_colors"]

#: Points a patch carries at most (the page draws them in a few ms); beyond, only the points
#: whose status changed are patched and the rest waits for the redraw.
PATCH_LIMIT = 2000


@dataclass(frozen=True)
class Patch:
    """Points to draw over the scatter: their rows, CSS colours, sizes (px), the sizes the
    scatter draws them at (covered first) and tooltip bytes (status, label, predicted class,
    P x 250; 4 x len(rows))."""

    rows: np.ndarray
    colors: list
    sizes: np.ndarray
    under: np.ndarray
    state: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def point_colors(colouring, p_target: np.ndarray, rows: np.ndarray) -> list[str]:
    """CSS colours of ``rows`` as the scatter draws them: the colouring's colour of each code,
    or P(target) on plotly's ``RdBu_r`` scale.

    Examples
    --------
    >>> from alwidget.widgets.map_style import Colouring
    >>> codes = Colouring(np.array([0.0, 1.0]), ("#111111", "#222222"), ("a", "b"), "t")
    >>> point_colors(codes, np.array([0.5, 0.5]), np.array([1]))
    ['#222222']
    >>> p = Colouring(None, (), (), "P(yes)")
    >>> point_colors(p, np.array([0.0, 1.0]), np.array([0, 1]))
    ['rgb(5, 48, 97)', 'rgb(103, 0, 31)']
    """
    rows = np.asarray(rows, np.int64)
    if colouring.values is None:
        from plotly.colors import sample_colorscale

        p = np.clip(np.nan_to_num(np.asarray(p_target, np.float64)[rows], nan=0.5), 0, 1)
        return sample_colorscale("RdBu_r", p.tolist()) if len(p) else []
    codes = colouring.values[rows].astype(np.int64)
    return [colouring.colors[int(k)] for k in codes]


@dataclass(frozen=True)
class Changes:
    """What changed since the page's drawing: ``rows`` to patch; ``tooltips``: send every
    point's tooltip bytes (more changed than a patch carries, not their colours); ``redraw``:
    the scatter must be redrawn (a new colouring, or more colours changed than a patch carries)."""

    rows: np.ndarray
    tooltips: bool = False
    redraw: bool = False


class ShownPoints:
    """What the page shows of each point: the colouring it was drawn with, each point's
    colour value and size, and its tooltip bytes.

    Examples
    --------
    >>> shown = ShownPoints()
    >>> state = np.zeros((4, 3), np.uint8)
    >>> shown.drawn("status", np.zeros(3), np.full(3, 4, np.uint8), state)
    >>> later = state.copy(); later[0, 1] = 2  # the second clip was labeled
    >>> shown.changes("status", np.array([0., 2., 0.]), np.array([4, 8, 4], np.uint8), later)
    Changes(rows=array([1]), tooltips=False, redraw=False)
    """

    def __init__(self, limit: int = PATCH_LIMIT):
        self.limit = limit
        self.key = None
        self.values = self.sizes = self.state = self._patched = None

    @property
    def patched(self) -> int:
        """How many points the page draws over the scatter."""
        return 0 if self._patched is None else int(self._patched.sum())

    def drawn(self, key, values, sizes, state) -> None:
        """The whole scatter was redrawn with these arrays (no patch on it any more)."""
        self.key = key
        self.values = np.array(values, np.float32)
        self.sizes = np.array(sizes, np.uint8)
        self.scatter_sizes = self.sizes.copy()  # what the WebGL scatter itself draws
        self.tooltips(state)
        self._patched = np.zeros(len(self.values), bool)

    def tooltips(self, state) -> None:
        """The page has every point's tooltip bytes ``state`` (of the points drawn)."""
        self.state = np.array(np.asarray(state)[:, :len(self.values)], np.uint8)

    def changes(self, key, values, sizes, state) -> Changes:
        """What to send the page for it to show these arrays (then call :meth:`patch` with
        the rows sent, and :meth:`tooltips` if all tooltips were sent). Rows past the points
        drawn (clips that came after the map was made: they have no place on it) and points
        hidden before and after (size 0: outside the session's clips) are left out."""
        if self.key is None or key != self.key or len(values) < len(self.values):
            return Changes(np.zeros(0, np.int64), redraw=True)
        n = len(self.values)
        values = np.asarray(values, np.float32)[:n]
        sizes, state = np.asarray(sizes)[:n], np.asarray(state)[:, :n]
        colour = ((values != self.values) & ~(np.isnan(values) & np.isnan(self.values))
                  | (np.asarray(sizes) != self.sizes))
        seen = (sizes > 0) | (self.scatter_sizes > 0)
        colour &= seen
        tip = (np.asarray(state) != self.state).any(axis=0) & seen
        rows = np.flatnonzero(colour | tip)
        if len(rows) <= self.limit:
            return Changes(rows)
        colour_rows = np.flatnonzero(colour)
        if len(colour_rows) <= self.limit:
            return Changes(colour_rows, tooltips=True)
        status = np.flatnonzero((state[0] != self.state[0]) & seen)  # decisions first
        return Changes(status[:self.limit], tooltips=True, redraw=True)

    def patch(self, rows, values, sizes, state) -> None:
        """The page now shows ``rows`` as in these arrays."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return
        self.values[rows] = np.asarray(values, np.float32)[rows]
        self.sizes[rows] = np.asarray(sizes)[rows]
        self.state[:, rows] = np.asarray(state)[:, rows]
        self._patched[rows] = True
