"""The map's browser side: clicks and selections as messages, tooltips, theme, text alternative.

:class:`MapEvents` sits beside the plotly ``FigureWidget`` of a :class:`~alwidget.widgets.MapView`
(both inside the view's ``.alw-map`` box). plotly's own widget reports clicks, selections and
hovers through one synced trait, which ipywidgets merges while the kernel is busy: the hovers that
follow a lasso overwrite the selection, which never reaches Python. Here a click or a selection is
a message of its own, and the tooltip of a clip (its file, time in the file, node, status, label
and P(target)) is drawn in the page from arrays this widget holds, so hovering costs the kernel
nothing and no per-clip text is sent after each decision (4 bytes a clip).

It also draws over the plot, on a canvas of its own: the ring on the clip shown in the labeler
(:attr:`MapEvents.ring_row`) and the points a decision changed (:meth:`MapEvents.patch`), so a
decision costs the page a few ms instead of a redraw of the whole WebGL scatter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import anywidget
import numpy as np
import traitlets as t

from ..audio import printable
from ..session import DOUBT
from .live import MainThread

__all__ = ["MapEvents", "NONE", "file_names", "state_planes"]

_HERE = Path(__file__).parent
#: The byte that means "none" in :attr:`MapEvents.state` (no label, no model).
NONE = 255


def state_planes(view) -> np.ndarray:
    """The tooltip bytes of every clip of a :class:`~alwidget.session.PoolView`: (4, n) uint8
    planes of status, human label, predicted class and P x 250 (:data:`NONE`: none)."""
    def byte(codes):
        codes = np.asarray(codes)
        return np.where((codes < 0) | (codes >= NONE), NONE, codes).astype(np.uint8)

    p = np.where(np.isnan(view.p_target), NONE,
                 np.round(np.nan_to_num(view.p_target) * 250)).astype(np.uint8)
    return np.stack([view.status.astype(np.uint8), byte(view.label), byte(view.predicted), p])


def file_names(paths) -> list[str]:
    """The names of files (or objects) as a map shows them: the last part of each path or URL."""
    return [os.path.basename(printable(p)) or printable(p) for p in paths]


class MapEvents(anywidget.AnyWidget):
    """Clicks and selections of a map's plot, sent to ``on_click(clip_id)`` and
    ``on_select(clip_ids)``; tooltips drawn from :meth:`show_places` and :meth:`show_state`;
    :attr:`theme` is the page's JupyterLab theme ("light" or "dark").

    Examples
    --------
    >>> import numpy as np
    >>> got = []
    >>> events = MapEvents(on_click=got.append, on_select=got.append)
    >>> events.receive({"type": "select", "n": 2}, [np.array([3.0, 5.0]).tobytes()])
    >>> events.receive({"type": "click", "clip": 5})
    >>> got[0].tolist(), got[1]
    ([3, 5], 5)
    """

    _esm = (_HERE / "map_events.js").read_text()
    _css = _HERE / "map_events.css"

    theme = t.Unicode("light").tag(sync=True)
    summary = t.Unicode("").tag(sync=True)
    files = t.List(t.Unicode()).tag(sync=True)
    file_info = t.List(t.Unicode()).tag(sync=True)
    file_of = t.Bytes(b"").tag(sync=True)  # int32 per clip: index into files
    start_of = t.Bytes(b"").tag(sync=True)  # float32 per clip: start in its file (s)
    length_of = t.Bytes(b"").tag(sync=True)  # float32 per clip: duration (s)
    #: uint8 planes of n clips each: status, label, predicted class, P x 250 (NONE: none)
    state = t.Bytes(b"").tag(sync=True)
    status_names = t.List(t.Unicode()).tag(sync=True)
    label_names = t.List(t.Unicode()).tag(sync=True)
    p_name = t.Unicode("P").tag(sync=True)
    #: the row of the clip ringed on the map (the clip in the labeler; -1: none) and its words
    ring_row = t.Int(-1).tag(sync=True)
    ring_label = t.Unicode("").tag(sync=True)

    def __init__(self, *, on_click: Callable, on_select: Callable,
                 on_view: Callable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.layout.display = "none"  # the widget finds the plot beside it; it shows nothing
        self._on_click, self._on_select, self._on_view = on_click, on_select, on_view
        # messages may arrive on a kernel subshell's thread: handled on the main thread
        self._main = MainThread()
        self.on_msg(lambda _, content, buffers: self._main.call(self.receive, content, buffers))

    def receive(self, content, buffers=()) -> None:
        """Handle a message from the page (what its listeners on the plot send)."""
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "click" and content.get("clip") is not None:
            self._on_click(int(content["clip"]))
        elif kind == "select":
            raw = bytes(buffers[0]) if buffers else b""
            self._on_select(np.frombuffer(raw, dtype=np.float64).astype(np.int64))
        elif kind == "deselect":
            self._on_select(np.zeros(0, np.int64))
        elif kind == "view" and self._on_view is not None:  # a view rendered, with no patch
            self._on_view()

    def patch(self, patch) -> None:
        """Draw a :class:`~alwidget.widgets.map_updates.Patch`'s points over the scatter (and
        update their tooltips), until :meth:`clear_patches`."""
        self.send({"type": "patch", "colors": list(patch.colors)},
                  buffers=[np.ascontiguousarray(patch.rows, np.int32).tobytes(),
                           np.ascontiguousarray(patch.sizes, np.uint8).tobytes(),
                           np.ascontiguousarray(patch.under, np.uint8).tobytes(),
                           np.ascontiguousarray(patch.state, np.uint8).tobytes()])

    def clear_patches(self) -> None:
        """The scatter was redrawn: the points drawn over it go."""
        self.send({"type": "clear"})

    def show_places(self, places) -> None:
        """Where each clip comes from (a :class:`~alwidget.session.pool.ClipPlaces`)."""
        info = []
        for node, when in zip(places.nodes, places.recorded_at):
            parts = ([f"node {node}"] if node else []) + ([f"recorded {when}"] if when else [])
            info.append(" · ".join(parts))
        with self.hold_sync():
            self.files = file_names(places.paths)
            self.file_info = info
            self.file_of = np.ascontiguousarray(places.file, np.int32).tobytes()
            self.start_of = np.ascontiguousarray(places.start_s, np.float32).tobytes()
            self.length_of = np.ascontiguousarray(places.duration_s, np.float32).tobytes()

    def show_state(self, view, status_names, p_name: str) -> np.ndarray:
        """Status, human label, predicted class and P of every clip (a
        :class:`~alwidget.session.PoolView`), 4 bytes a clip; returns them (:func:`state_planes`)."""
        planes = state_planes(view)
        with self.hold_sync():
            self.status_names = list(status_names)
            self.label_names = [str(c) for c in view.classes] + [DOUBT]
            self.p_name = p_name
            self.state = planes.tobytes()
        self.send({"type": "tips"})  # the page drops what patches changed in its copy
        return planes
