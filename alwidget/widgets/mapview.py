"""The map view: a 2-d map of the pool (PCA, t-SNE, UMAP) coloured by AL status or prediction.

One long-lived plotly ``FigureWidget`` holds one WebGL scatter of the clips and a compact legend
of the colours present; a canvas over it rings the clip shown in the labeler. After every
decision the session tells the view, which sends the page the points that changed (a
:class:`~alwidget.widgets.map_updates.Patch`, drawn over the scatter in a few ms), after the
labeler has sent its next clip; the whole scatter (arrays of one byte per clip for codes and
sizes, float32 for probabilities, inside ``batch_update()``) is redrawn only once the expert
pauses (``redraw_after_s``), as that takes the page seconds at 100,000 clips. Click a
point to show and play that clip in a :class:`~alwidget.widgets.LabelingWidget`; box- or
lasso-select a region to list its clips (kept current as decisions are made), label them all
(after confirming the count), queue them, or find the clips most like them (a
:class:`~alwidget.widgets.SearchGallery` below the map). Hovering a point tells its file, time in
the file, node, status, label and P(target). The view talks to the session only.

Clicks, selections and tooltips go through :class:`~alwidget.widgets.map_events.MapEvents`
(plotly's own widget loses a lasso under the hovers that follow it), which also reports
JupyterLab's theme: the figure follows it (light or dark).

Widgets are touched only on the kernel's main thread: a map computed in the background
hands its result there (:class:`~alwidget.widgets.live.MainThread`). Text from users
(class names, labels) and from errors is HTML-escaped before it reaches an HTML widget.
"""

from __future__ import annotations

import threading
import time
import traceback
import warnings

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ..session import STATUS_NAMES, Session
from .live import MainThread, release_view, replace_view
from .map_actions import MapActions
from .map_events import MapEvents, state_planes
from .map_selection import SelectionPanel
from .map_snapshots import Snapshot, Snapshots
from .map_style import (STATUS_SIZES, colouring, escaped, figure_template, marker_color,
                        show_legend, show_scale, top_classes)
from .map_updates import Patch, ShownPoints, point_colors

__all__ = ["COLOR_MODES", "MapView", "Snapshot"]

#: How points can be coloured ("tagger": the AudioSet tagger's top-1 class, when the store
#: has ``yamnet-tags`` features).
COLOR_MODES = ("status", "predicted", "probability", "label", "tagger")
_METHOD_NAMES = {"PCA (instant)": "pca", "t-SNE": "tsne", "UMAP": "umap"}
_N_LEGEND = 12  # legend entries at most (traces 1.. of the figure)
_OUTSIDE = STATUS_NAMES.index("outside")  # clips the session does not ask about


class MapView(MapActions, W.VBox):
    """A map of the session's pool that recolours after every decision.

    A session has one live map view: making a new one (e.g. re-running the cell) closes
    the one it replaces; :meth:`close` stops it listening to the session.

    Parameters
    ----------
    session : Session
    method : {"tsne", "umap", "pca"}, default "tsne"
        The map to compute in the background; PCA is shown meanwhile.
    color : str, default "status"
        One of :data:`COLOR_MODES`.
    labeler : LabelingWidget, optional
        Where a clicked clip is shown and played (else ``on_pick`` is called); the clip it
        shows is ringed on the map (without a labeler: the session's next clip).
    snapshots : sequence of int, default (1, 20, 100)
        Iterations at which the predicted-label colouring is kept
        (iteration 1 = the first model, trained once both classes are labeled).
    on_pick : callable(clip_id), optional
    projection_kwargs : dict, optional
        Passed to :meth:`Session.projection` (``max_fit``, ``perplexity``...).
    height : int, default 430
        Height of the plot in pixels (its width follows the notebook).
    redraw_after_s : float, default 8.0
        In a kernel, decisions are drawn over the scatter at once, and the scatter itself is
        redrawn once no decision came for this many seconds (a redraw takes the page seconds
        at 100,000 clips); without a running event loop (scripts, tests) it is redrawn at once.

    Examples
    --------
    >>> from alwidget.session import Session  # doctest: +SKIP
    >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
    >>> MapView(session, method="umap", color="probability")  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, method: str = "tsne", color: str = "status",
                 labeler=None, snapshots=(1, 20, 100), on_pick=None,
                 projection_kwargs: dict | None = None, background: bool = True,
                 height: int = 430, redraw_after_s: float = 8.0):
        if color not in COLOR_MODES:
            raise ValueError(f"color={color!r} must be one of {COLOR_MODES}")
        if method not in _METHOD_NAMES.values():
            raise ValueError(f"method={method!r} must be one of {tuple(_METHOD_NAMES.values())}")
        if not redraw_after_s >= 0:
            raise ValueError(f"redraw_after_s={redraw_after_s!r} must be >= 0 (seconds)")
        self.session = session
        self.redraw_after_s = float(redraw_after_s)
        self.labeler = labeler
        self.on_pick = on_pick
        self.snapshots = Snapshots(snapshots)  # iteration -> Snapshot
        self.projection_kwargs = dict(projection_kwargs or {})
        self.background = background
        self.projection = None
        self._request = 0
        self._lock = threading.RLock()
        self._closed = False
        self._recolor_due = False
        self._legend: list = []
        self._scale: tuple = ()  # (title, names, colours) of the colouring drawn
        self._shown = ShownPoints()  # what the page shows of each point (scatter + patches)
        self._redraw_at = None  # the loop's timer of the redraw that waits for a pause
        self._last_change = 0.0
        self._main = MainThread()  # widgets are updated on the thread the view was made on

        self.method_box = W.Dropdown(options=list(_METHOD_NAMES), description="Map",
                                     value=next(k for k, v in _METHOD_NAMES.items() if v == method),
                                     layout=W.Layout(width="200px"))
        self._tagger = None  # codes of the tagger's classes, read on first use (or False)
        modes = [m for m in COLOR_MODES if m != "tagger" or session.pool.has_tagger]
        if color not in modes:
            raise ValueError(f"color={color!r}: the store has no yamnet-tags features; "
                             "run alwidget.extract_features(store, 'yamnet-tags')")
        self.color_box = W.Dropdown(options=modes, value=color, description="Colour by",
                                    layout=W.Layout(width="210px"))
        self.info = W.HTML()
        self.counts = W.HTML()  # labels, model version, the ring (updated per decision)
        self._counts = ""
        self.figure = go.FigureWidget(data=self._traces(), layout=go.Layout(
            height=height, autosize=True, margin=dict(l=8, r=8, t=8, b=8), dragmode="lasso",
            clickmode="event", uirevision="keep", template=figure_template("light"),
            hovermode="closest",
            xaxis=dict(showticklabels=False, zeroline=False),
            yaxis=dict(showticklabels=False, zeroline=False),
            legend=dict(orientation="h", x=0, xanchor="left", y=-0.01, yanchor="top",
                        itemclick=False, itemdoubleclick=False, font=dict(size=11))))
        self.trace = self.figure.data[0]
        self.events = MapEvents(on_click=self.pick,
                                on_select=lambda ids: self._act(self.select, ids),
                                on_view=self._new_page_view)
        self.events.show_places(session.pool.places())
        self.events.observe(lambda _: self._main.call(self._apply_theme), "theme")
        self.error = W.HTML()
        self.selection = SelectionPanel(session, pick=self.pick, act=self._act,
                                        search=self.search_selection)
        self.selection_box = self.selection  # the list under the map
        self.gallery = None
        self.gallery_box = W.VBox()
        super().__init__([W.HBox([self.method_box, self.color_box, self.info, self.counts],
                                 layout=W.Layout(flex_flow="row wrap", align_items="center")),
                          self.figure, self.events, self.error, self.selection, self.gallery_box])
        self.add_class("alw-map")
        # changes from the page may arrive on a kernel subshell's thread: handled on the main one
        self.method_box.observe(lambda ch: self._main.call(
            self.show_method, _METHOD_NAMES[ch["new"]]), "value")
        self.color_box.observe(lambda ch: self._main.call(self.recolor), "value")
        if labeler is not None:  # the ring follows the labeler (a map click, a skip, a decision)
            labeler.observe(self._labeler_moved, "status")
        self._set_projection(session.pool.projection("pca"), self._request)
        self._listener = self._session_changed
        session.observe(self._listener)
        replace_view(session, "map", self)  # closes the map view this one replaces
        if method != "pca":
            self.show_method(method)

    @staticmethod
    def _traces() -> list:
        """The clips (trace 0) and the entries of the legend (1..): plotly draws a legend of
        traces, and the colours of one WebGL trace are what a decision changes."""
        empty = np.zeros(0, np.float32)
        points = go.Scattergl(x=empty, y=empty, mode="markers", hoverinfo="none", showlegend=False,
                              marker=dict(size=5, opacity=0.85, line=dict(width=0)),
                              unselected=dict(marker=dict(opacity=0.3)))
        legend = [go.Scatter(x=[None], y=[None], mode="markers", hoverinfo="skip", visible=False,
                             showlegend=False, marker=dict(size=9)) for _ in range(_N_LEGEND)]
        return [points] + legend

    @property
    def selected(self) -> np.ndarray:
        """The clips of the current selection."""
        return self.selection.selected

    @property
    def search_button(self) -> W.Button:
        """"Find similar" of the selection (see :class:`SelectionPanel` for the others)."""
        return self.selection.search_button

    @property
    def theme(self) -> str:
        """The JupyterLab theme the map is shown in ("light" until a page says otherwise)."""
        return self.events.theme

    def close(self) -> None:
        """Close the view and stop listening to the session (a map being computed is dropped)."""
        if getattr(self, "_listener", None) is not None:  # once (ipywidgets' __del__ closes too)
            self._closed = True
            self.session.unobserve(self._listener)
            if self.labeler is not None:
                self.labeler.unobserve(self._labeler_moved, "status")
            release_view(self.session, "map", self)
            if self.gallery is not None:
                self.gallery.close()
            self.events.close()
            self._listener = None
            with self._lock:
                self._request += 1  # results still to come are dropped
        super().close()

    # -- coordinates ----------------------------------------------------------------
    def show_method(self, method: str) -> None:
        """Switch the map to ``method``, computing it in the background (PCA is instant)."""
        with self._lock:
            self._request += 1
            request = self._request
        if method == "pca":
            self._set_projection(self.session.pool.projection("pca"), request)
            return

        def work():
            try:
                p = self.session.pool.projection(method, progress=lambda f, m: self._progress(
                    request, f, m), **self.projection_kwargs)
            except Exception as exc:
                traceback.print_exc()
                self._main.call(self._show_error, request, f"cannot compute the {method} map: "
                                f"{type(exc).__name__}: {exc}")
                return
            self._set_projection(p, request)

        if self.background:
            threading.Thread(target=work, name=f"alwidget-map-{method}", daemon=True).start()
        else:
            work()

    def _progress(self, request: int, fraction: float, message: str) -> None:
        if request == self._request and fraction < 1:
            self._main.call(self._show_info, request, f"{100 * fraction:.0f} % · {message}")

    def _show_info(self, request: int, text: str) -> None:
        if request == self._request and not self._closed:  # else a newer map is on its way
            self.info.value = f"<span role='status' aria-live='polite'>{escaped(text)}</span>"

    def _show_error(self, request: int, text: str) -> None:
        if request == self._request and not self._closed:
            self.error.value = f"<pre role='alert'>{escaped(text)}</pre>"

    def _set_projection(self, p, request: int) -> None:
        """Make ``p`` the view's map (unless a newer choice superseded it) and draw it.

        ``projection`` changes at once, so code that asks the view (``select_box``,
        snapshots) uses the newest map; the widgets follow on the main thread.
        """
        with self._lock:  # the background map thread and the kernel's thread both update
            if request != self._request:  # a newer choice supersedes this result
                return
            self.projection = p
        self._main.call(self._draw, request)

    def _draw(self, request: int) -> None:
        with self._lock:
            if request != self._request or self._closed:
                return
            p = self.projection
            with self.figure.batch_update():
                self.trace.x = p.coords[:, 0]
                self.trace.y = p.coords[:, 1]
                self.trace.customdata = p.clip_ids.astype(
                    np.float32 if p.clip_ids.max() < 2**24 else np.float64)
                self.trace.selectedpoints = None
            self._show_info(request, p.describe())
            self._recolor()

    # -- colours ------------------------------------------------------------------
    def _session_changed(self, session) -> None:
        self._main.call(self._changed)  # a decision may be made on another thread

    def _changed(self) -> None:
        """After a decision: keep a snapshot now, redraw once the labeler has sent its clip."""
        with self._lock:
            if self.projection is None or self._closed:
                return
            self.snapshots.take(self.session.pool.view(), self.projection.coords)
            if self._recolor_due:  # several decisions before the redraw: one redraw
                return
            self._recolor_due = True
        if self._main.running:
            self._main.loop.call_soon(self._show_changes)  # after the decision's handler:
        else:  # the labeler goes first; no loop (a script): the whole scatter at once
            self.recolor()

    def recolor(self) -> None:
        """Redraw the whole scatter from the session's current state (after a decision without
        a running event loop; in a kernel when the expert pauses, see ``redraw_after_s``)."""
        with self._lock:
            self._recolor_due = False
            self._recolor()

    def _colours(self, v):
        """The colouring of the points, their colour values and sizes."""
        mode = self.color_box.value
        tags = self._tagger_codes() if mode == "tagger" else None
        if mode == "tagger" and tags is None:
            mode = "status"  # the tags cannot be read here (warned once)
        c = colouring(mode, v, tags)
        values = np.nan_to_num(v.p_target, nan=0.5) if c.values is None else c.values
        sizes = STATUS_SIZES[v.status]
        sizes[v.status == _OUTSIDE] = 0  # the session's clips only (its node/time window)
        return c, values, sizes

    @staticmethod
    def _legend_of(c, v) -> list:
        """The colouring's legend over the clips the map draws (not those outside the
        session's node/time window or clip list)."""
        if c.values is None:
            return []
        drawn = (v.status != _OUTSIDE)[:len(c.values)]  # codes read before the pool grew
        counts = np.bincount(c.values[:len(drawn)][drawn].astype(np.int64),
                             minlength=len(c.names))
        return [(n, col, int(k)) for n, col, k in zip(c.names, c.colors, counts) if k]

    def _recolor(self) -> None:
        if self.projection is None or self._closed:
            return
        if self._redraw_at is not None:
            self._redraw_at.cancel()
            self._redraw_at = None
        v = self.session.pool.view()
        self.snapshots.take(v, self.projection.coords)
        c, values, sizes = self._colours(v)
        legend = self._legend_of(c, v)
        with self.figure.batch_update():  # one message
            m = self.trace.marker
            # one byte per clip where a byte says it (codes, sizes): 100 kB, not 400 kB, per
            # array of 100,000 clips
            m.color = (values if c.values is None
                       else c.values.astype(np.uint8) if c.values.max(initial=0) < 256
                       else c.values)
            m.size = sizes
            if (c.title, c.names, c.colors) != self._scale:  # a new colouring (not per decision)
                self._scale = (c.title, c.names, c.colors)
                show_scale(self.trace, c)
        if [e[:2] for e in legend] != self._legend:  # only when the statuses present change
            self._legend = [e[:2] for e in legend]
            show_legend(self.figure.data[1:], self._legend)
        state = self.events.show_state(v, STATUS_NAMES, self._p_name(v))
        if self._shown.patched:
            self.events.clear_patches()
        n = len(self.projection.clip_ids)  # clips that came later have no place on this map
        self._shown.drawn((c.title, c.names, c.colors), values[:n], sizes[:n], state)
        self._show_ring()
        self._show_counts(v, legend)
        self.selection.refresh(v)

    def _show_changes(self) -> None:
        """After decisions, in a kernel: the points they changed, drawn over the scatter; the
        whole scatter is redrawn once the expert pauses (at once if nothing was drawn yet)."""
        with self._lock:
            self._recolor_due = False
            if self.projection is None or self._closed:
                return
            if self._shown.key is None:
                self._recolor()
                return
            v = self.session.pool.view()
            c, values, sizes = self._colours(v)
            state = state_planes(v)
            ch = self._shown.changes((c.title, c.names, c.colors), values, sizes, state)
            if len(ch.rows):
                self.events.patch(Patch(ch.rows, point_colors(c, v.p_target, ch.rows),
                                        sizes[ch.rows], self._shown.scatter_sizes[ch.rows],
                                        state[:, ch.rows]))
                self._shown.patch(ch.rows, values, sizes, state)
            if ch.tooltips:  # e.g. a refit: new P for every clip, in the tooltips only
                self._shown.tooltips(self.events.show_state(v, STATUS_NAMES, self._p_name(v)))
            legend = self._legend_of(c, v)
            if [e[:2] for e in legend] != self._legend:  # a status seen first or no more
                self._legend = [e[:2] for e in legend]
                show_legend(self.figure.data[1:], self._legend)
            self._show_ring()
            self._show_counts(v, legend)
            self.selection.refresh(v)
            self._last_change = time.monotonic()
            # the scatter itself catches up once the expert pauses (its old markers are
            # covered meanwhile): a redraw takes the page seconds at 100,000 clips
            if (ch.redraw or self._shown.patched) and self._redraw_at is None:
                self._redraw_at = self._main.loop.call_later(self.redraw_after_s,
                                                             self._redraw_if_paused)

    def _redraw_if_paused(self) -> None:
        """The redraw's timer: redraw the whole scatter if no decision came for
        ``redraw_after_s``, else wait for the rest of the pause."""
        with self._lock:
            self._redraw_at = None
            if self._closed:
                return
            left = self._last_change + self.redraw_after_s - time.monotonic()
            if left > 0:
                self._redraw_at = self._main.loop.call_later(left, self._redraw_if_paused)
                return
        self.recolor()

    def _new_page_view(self) -> None:
        """A page rendered the map: it shows the scatter as last redrawn, without the patches."""
        if self._shown.patched:
            self.recolor()

    @staticmethod
    def _p_name(v) -> str:
        return f"P({v.classes[-1]})" if len(v.classes) == 2 else "P(predicted class)"

    def _show_counts(self, v, legend) -> None:
        self._counts = f"{v.n_labels} labels · model v{v.model_version}"
        self._show_header()
        self.events.summary = self._summary(v, legend)

    def _show_header(self) -> None:
        """Counts, and what the ring marks (the canvas that draws it says nothing itself)."""
        ring = self.events.ring_label
        text = self._counts + (f" · ◯ {ring}" if ring else "")
        self.counts.value = f"<span class='alwm-counts'>· {escaped(text)}</span>"

    def _summary(self, v, legend) -> str:
        """The map in words (the plot's text alternative)."""
        parts = ", ".join(f"{n:,} {name}" for name, _, n in legend)
        hidden = int((v.status == _OUTSIDE).sum())
        return (f"{self.projection.describe()}, coloured by {self.color_box.value}"
                + (f": {parts}" if parts else "") + f"; {v.n_labels} labels"
                + (f"; {hidden:,} clips outside the session's clips not drawn" if hidden else "")
                + ". Select clips with the box or lasso to list them below the map.")

    # -- the clip in the labeler ---------------------------------------------------------
    def _shown_clip(self):
        shown = getattr(self.labeler, "shown", None) if self.labeler is not None else \
            self.session.current
        return None if shown is None else shown.clip_id

    def _labeler_moved(self, change) -> None:
        old, new = (change.get("old") or {}), (change.get("new") or {})
        if old.get("clip_id") != new.get("clip_id"):
            with self._lock:
                if self.projection is not None and not self._closed:
                    self._show_ring()

    def _ringed(self) -> tuple[int, str]:
        """The row of the clip shown in the labeler (or the session's next clip without a
        labeler) and what the ring means; row -1 when there is no such clip on the map."""
        clip = self._shown_clip()
        ids = self.projection.clip_ids
        row = 0 if clip is None else int(np.searchsorted(ids, clip))
        if clip is None or row >= len(ids) or ids[row] != clip:
            return -1, ""
        where = "in the labeler" if self.labeler is not None else "next to label"
        return row, f"clip {clip}, {where}"

    def _show_ring(self) -> None:
        """Ring the clip in the labeler (drawn by the page over the plot: no redraw)."""
        row, name = self._ringed()
        with self.events.hold_sync():
            self.events.ring_row, self.events.ring_label = row, name
        self._show_header()

    def _ring(self) -> list:
        """The ring as a plotly shape (20 px, whatever the zoom), for figures of their own."""
        row, name = self._ringed()
        if row < 0:
            return []
        x, y = self.projection.coords[row]
        return [dict(type="circle", xref="x", yref="y", xsizemode="pixel", ysizemode="pixel",
                     xanchor=float(x), yanchor=float(y), x0=-10, x1=10, y0=-10, y1=10,
                     layer="above", line=dict(width=3, color=marker_color(self.theme)),
                     name=name, showlegend=True)]

    def _apply_theme(self) -> None:
        self.figure.layout.template = figure_template(self.theme)

    def _tagger_codes(self):
        """Codes of the tagger's 9 most frequent top-1 classes (0 = any other class), read once."""
        if self._tagger is None:
            self._tagger = self._read_tagger() or False
        return self._tagger or None

    def _read_tagger(self):
        try:
            tags = self.session.pool.tagger_top1()
        except ValueError as exc:  # e.g. an older store without the tagger's class names
            warnings.warn(f"no tagger colouring: {exc}", stacklevel=4)
            return None
        return None if tags is None else top_classes(tags[0])
