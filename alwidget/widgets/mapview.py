"""The map view: a 2-d map of the pool (PCA, t-SNE, UMAP) coloured by AL status or prediction.

One long-lived plotly ``FigureWidget`` holds one WebGL scatter. After every
decision the session tells the view, which recolours the points by assigning
float32 arrays inside ``batch_update()`` (no per-point strings). Click a point
to show and play that clip in a :class:`~alwidget.widgets.LabelingWidget`;
box- or lasso-select a region to list its clips, label them all, queue them, or find the
clips most like them (a :class:`~alwidget.widgets.SearchGallery` below the map). The view
talks to the session only.

Widgets are touched only on the kernel's main thread: a map computed in the background
hands its result there (:class:`~alwidget.widgets.live.MainThread`). Text from users
(class names, labels) and from errors is HTML-escaped before it reaches an HTML widget.
"""

from __future__ import annotations

import html
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ..session import DOUBT, STATUS_NAMES, Session
from .live import MainThread, release_view, replace_view

__all__ = ["COLOR_MODES", "MapView", "Snapshot"]

#: How points can be coloured ("tagger": the AudioSet tagger's top-1 class, when the store
#: has ``yamnet-tags`` features).
COLOR_MODES = ("status", "predicted", "probability", "label", "tagger")
_METHOD_NAMES = {"PCA (instant)": "pca", "t-SNE": "tsne", "UMAP": "umap"}
_STATUS_COLORS = ("#b0b0b0", "#ff7f0e", "#1f77b4", "#7f7f7f", "#9467bd", "#a1d99b", "#e377c2",
                  "#ececec")
_STATUS_SIZES = np.array([4, 12, 8, 6, 8, 3, 5, 2], np.float32)
_CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#ff7f0e", "#393b79")


def _class_colors(k: int) -> tuple:
    """``k`` distinct colours (the 10 above, then plotly's 26-colour Alphabet, then repeats)."""
    from plotly.colors import qualitative

    pool = _CLASS_COLORS + tuple(qualitative.Alphabet)
    return tuple(pool[i % len(pool)] for i in range(k))


def _escaped(value) -> str:
    """``value`` as text inside HTML (an HTML widget's value, a plotly title or tick label,
    where plotly reads tags): ``& < >`` escaped. Quotes stay, as no value goes into an
    attribute (and plotly would show ``&quot;`` as it is)."""
    return html.escape(str(value), quote=False)


_NONE_COLOR = "#d9d9d9"
_MAX_ROWS = 50  # clips listed for a selection


@dataclass(frozen=True)
class Snapshot:
    """The predicted-label colouring of the map at one iteration."""

    iteration: int
    n_labels: int
    coords: np.ndarray  # float32 (n, 2)
    p_target: np.ndarray  # float32 (n,)
    predicted: np.ndarray  # int16 (n,)
    labeled: np.ndarray  # bool (n,)


def _discrete_scale(colors) -> list:
    """A plotly colorscale mapping integer codes 0..k-1 (cmin=-0.5, cmax=k-0.5) to colours."""
    k = len(colors)
    scale = []
    for i, c in enumerate(colors):
        scale += [[i / k, c], [(i + 1) / k, c]]
    return scale


class MapView(W.VBox):
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
        Where a clicked clip is shown and played (else ``on_pick`` is called).
    snapshots : sequence of int, default (1, 20, 100)
        Iterations at which the predicted-label colouring is kept
        (iteration 1 = the first model, trained once both classes are labeled).
    on_pick : callable(clip_id), optional
    projection_kwargs : dict, optional
        Passed to :meth:`Session.projection` (``max_fit``, ``perplexity``...).

    Examples
    --------
    >>> from alwidget.session import Session  # doctest: +SKIP
    >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
    >>> MapView(session, method="umap", color="probability")  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, method: str = "tsne", color: str = "status",
                 labeler=None, snapshots=(1, 20, 100), on_pick=None,
                 projection_kwargs: dict | None = None, background: bool = True):
        if color not in COLOR_MODES:
            raise ValueError(f"color={color!r} must be one of {COLOR_MODES}")
        if method not in _METHOD_NAMES.values():
            raise ValueError(f"method={method!r} must be one of {tuple(_METHOD_NAMES.values())}")
        self.session = session
        self.labeler = labeler
        self.on_pick = on_pick
        self.snapshot_iterations = sorted({int(k) for k in snapshots})
        self.snapshots: dict[int, Snapshot] = {}
        self.projection_kwargs = dict(projection_kwargs or {})
        self.background = background
        self.projection = None
        self.selected: np.ndarray = np.zeros(0, np.int64)
        self._first_model_labels: int | None = None
        self._request = 0
        self._lock = threading.RLock()
        self._closed = False
        self._main = MainThread()  # widgets are updated on the thread the view was made on

        self.method_box = W.Dropdown(options=list(_METHOD_NAMES), description="Map",
                                     value=next(k for k, v in _METHOD_NAMES.items() if v == method),
                                     layout=W.Layout(width="220px"))
        self._tagger = None  # codes of the tagger's classes, read on first use (or False)
        modes = [m for m in COLOR_MODES if m != "tagger" or session.pool.has_tagger]
        if color not in modes:
            raise ValueError(f"color={color!r}: the store has no yamnet-tags features; "
                             "run alwidget.extract_features(store, 'yamnet-tags')")
        self.color_box = W.Dropdown(options=modes, value=color, description="Colour",
                                    layout=W.Layout(width="220px"))
        self.info = W.HTML()
        self.figure = go.FigureWidget(
            data=[go.Scattergl(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), mode="markers",
                               hovertemplate="clip %{customdata}<extra></extra>",
                               marker=dict(size=5, opacity=0.85, line=dict(width=0)),
                               unselected=dict(marker=dict(opacity=0.3)))],
            layout=go.Layout(height=520, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                             clickmode="event", uirevision="keep", template="plotly_white",
                             xaxis=dict(showticklabels=False, zeroline=False),
                             yaxis=dict(showticklabels=False, zeroline=False)))
        self.trace = self.figure.data[0]
        self.trace.on_click(self._clicked)
        self.trace.on_selection(self._selected_points)
        self.selection_box = W.VBox()
        self.label_all = W.Dropdown(options=list(session.classes) + [DOUBT],
                                    layout=W.Layout(width="160px"))
        self.label_all_button = W.Button(description="Label all", icon="tag")
        self.queue_button = W.Button(description="Queue all", icon="list")
        self.label_all_button.on_click(lambda _: self._act(self.label_selection, self.label_all.value))
        self.queue_button.on_click(lambda _: self._act(self.queue_selection))
        self.search_button = W.Button(description="Find similar", icon="search",
                                      tooltip="the clips nearest to the selection, to label")
        self.search_button.on_click(lambda _: self._act(self.search_selection))
        self.gallery = None
        self.gallery_box = W.VBox()
        self.error = W.HTML()
        super().__init__([W.HBox([self.method_box, self.color_box, self.info]), self.figure,
                          self.error, self.selection_box, self.gallery_box])
        self.method_box.observe(lambda ch: self.show_method(_METHOD_NAMES[ch["new"]]), "value")
        self.color_box.observe(lambda ch: self.recolor(), "value")
        self._set_projection(session.pool.projection("pca"), self._request)
        self._listener = self._session_changed
        session.observe(self._listener)
        replace_view(session, "map", self)  # closes the map view this one replaces
        if method != "pca":
            self.show_method(method)

    def close(self) -> None:
        """Close the view and stop listening to the session (a map being computed is dropped)."""
        if getattr(self, "_listener", None) is not None:  # once (ipywidgets' __del__ closes too)
            self._closed = True
            self.session.unobserve(self._listener)
            release_view(self.session, "map", self)
            if self.gallery is not None:
                self.gallery.close()
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
                    request, method, f, m), **self.projection_kwargs)
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

    def _progress(self, request: int, method: str, fraction: float, message: str) -> None:
        if request == self._request and fraction < 1:
            self._main.call(self._show_info, request,
                            f"computing {method}: {100 * fraction:.0f} % ({message})")

    def _show_info(self, request: int, text: str) -> None:
        if request == self._request and not self._closed:  # else a newer map is on its way
            self.info.value = _escaped(text)

    def _show_error(self, request: int, text: str) -> None:
        if request == self._request and not self._closed:
            self.error.value = f"<pre>{_escaped(text)}</pre>"

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
            self.info.value = _escaped(p.describe())
            self._recolor()

    # -- colours ------------------------------------------------------------------
    def _session_changed(self, session) -> None:
        self._main.call(self.recolor)  # a decision may be made on another thread

    def recolor(self) -> None:
        """Recolour from the session's current state (called after every decision)."""
        with self._lock:
            self._recolor()

    def _recolor(self) -> None:
        if self.projection is None or self._closed:
            return
        v = self.session.pool.view()
        self._maybe_snapshot(v)
        mode = self.color_box.value
        tags = self._tagger_codes() if mode == "tagger" else None
        if mode == "tagger" and tags is None:
            mode = "status"  # the tags cannot be read here (warned once)
        k = len(v.classes)
        if mode == "status":
            values, colors, names = v.status, _STATUS_COLORS, STATUS_NAMES
        elif mode == "predicted":
            values, colors = v.predicted + 1, (_NONE_COLOR,) + _class_colors(k)
            names = ("no model",) + tuple(v.classes)
        elif mode == "label":
            values = np.where(v.label < 0, 0, v.label + 1)
            colors = (_NONE_COLOR,) + _class_colors(k) + ("#000000",)
            names = ("unlabeled",) + tuple(v.classes) + (DOUBT,)
        elif mode == "tagger":
            values, names = tags
            colors = (_NONE_COLOR,) + _class_colors(len(names) - 1)
        else:
            values, colors, names = None, None, None
        sizes = _STATUS_SIZES[v.status]
        with self.figure.batch_update():
            m = self.trace.marker
            if values is None:
                target = v.classes[-1] if k == 2 else "predicted class"
                m.color = np.nan_to_num(v.p_target, nan=0.5)
                m.colorscale, m.cmin, m.cmax = "RdBu_r", 0.0, 1.0
                m.colorbar = dict(title=dict(text=f"P({_escaped(target)})"), tickvals=None,
                                  ticktext=None)
            else:
                m.color = values.astype(np.float32)
                m.colorscale = _discrete_scale(colors)
                m.cmin, m.cmax = -0.5, len(colors) - 0.5
                m.colorbar = dict(title=dict(text=mode), tickvals=list(range(len(names))),
                                  ticktext=[_escaped(n) for n in names])
            m.showscale = True
            m.size = sizes
        self.figure.layout.title = _escaped(f"{v.n_labels} labels · model v{v.model_version}"
                                            f" · {self.projection.describe()}")

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
        if tags is None:
            return None
        names, _ = tags
        kinds, counts = np.unique(names.astype(str), return_counts=True)
        top = [str(k) for k in kinds[np.argsort(-counts, kind="stable")][:9]]
        codes = np.zeros(len(names), np.int16)
        for i, name in enumerate(top, start=1):
            codes[names == name] = i
        return codes, ("other",) + tuple(top)

    # -- clicks and selections ----------------------------------------------------------
    def _clicked(self, trace, points, state) -> None:
        if points.point_inds:
            self.pick(int(self.projection.clip_ids[points.point_inds[0]]))

    def pick(self, clip_id: int) -> None:
        """Show and play ``clip_id`` in the labeler (or call ``on_pick``), as a click does."""
        for show in (getattr(self.labeler, "show_clip", None), self.on_pick):
            if show is not None:
                self._act(show, clip_id)

    def _selected_points(self, trace, points, selector) -> None:
        self.select(self.projection.clip_ids[np.asarray(points.point_inds, dtype=np.int64)])

    def select(self, clip_ids) -> None:
        """Make ``clip_ids`` the selection (as a box or lasso does) and list them."""
        self.selected = np.asarray(clip_ids, dtype=np.int64)
        v = self.session.pool.view()
        row = np.searchsorted(v.clip_ids, self.selected)
        rows = []
        for c, r in zip(self.selected[:_MAX_ROWS], row[:_MAX_ROWS]):
            lab = v.label[r]
            human = "—" if lab < 0 else (v.classes + [DOUBT])[lab]
            pred = "—" if v.predicted[r] < 0 else f"{v.classes[v.predicted[r]]} ({v.p_target[r]:.2f})"
            b = W.Button(description=f"▶ clip {c}", layout=W.Layout(width="130px"))
            b.on_click(lambda _, c=int(c): self.pick(c))
            rows.append(W.HBox([b, W.HTML(_escaped(f"label {human} · model {pred} · "
                                                   f"{STATUS_NAMES[v.status[r]]}"))]))
        more = len(self.selected) - len(rows)
        head = W.HTML(f"<b>{len(self.selected)} clips selected</b>"
                      + (f" (first {len(rows)} listed)" if more > 0 else ""))
        self.selection_box.children = ([W.HBox([head, self.label_all, self.label_all_button,
                                                 self.queue_button, self.search_button])]
                                       + rows
                                       if len(self.selected) else [])

    def select_box(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Select the clips inside a rectangle of map coordinates (as a box drag does)."""
        xy = self.projection.coords
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        self.select(self.projection.clip_ids[inside])
        return self.selected

    def label_selection(self, label: str) -> int:
        """Give the selected clips that are still undecided ``label`` (one commit, one refit).

        Clips already labeled, skipped or in the validation set are left as they are;
        the view says how many. Returns the number of clips labeled.
        """
        v = self.session.pool.view()
        status = v.status[np.searchsorted(v.clip_ids, self.selected)]
        open_ = np.isin(status, [STATUS_NAMES.index("unlabeled"), STATUS_NAMES.index("proposed"),
                                 STATUS_NAMES.index("pseudo-labeled")])
        todo = self.selected[open_]
        if len(todo):
            self.session.label_many(todo, label)
        self.select(self.selected)
        left = int((~open_).sum())
        note = f"labeled {len(todo)} clips as {label}"
        if left:
            note += f"; left {left} alone (already decided or in the validation set)"
        self.info.value = _escaped(note)
        return len(todo)

    def queue_selection(self) -> None:
        """Ask the selected clips next, before the strategy's picks."""
        self.session.queue(self.selected)

    def search_selection(self, **kwargs):
        """Show the clips nearest to the selection in a gallery below the map, to label.

        ``kwargs`` go to :class:`~alwidget.widgets.SearchGallery` (``k``, ``metric``,
        ``combine``...); returns the gallery. Several clips search near their centroid
        unless ``combine="nearest"``.
        """
        from .gallery import SearchGallery

        if not len(self.selected):
            raise ValueError("the selection is empty: select clips with the box or lasso first")
        self.gallery = SearchGallery(self.session, [int(c) for c in self.selected], **kwargs)
        self.gallery_box.children = [self.gallery]
        return self.gallery

    def _act(self, fn, *args) -> None:
        try:
            fn(*args)
            self.error.value = ""
        except Exception as exc:
            self.error.value = f"<pre>{_escaped(f'{type(exc).__name__}: {exc}')}</pre>"
            traceback.print_exc()

    # -- snapshots ---------------------------------------------------------------------
    def _maybe_snapshot(self, v) -> None:
        if self._first_model_labels is None:
            if (v.predicted < 0).all():
                return
            self._first_model_labels = v.n_labels
        iteration = v.n_labels - self._first_model_labels + 1
        due = [k for k in self.snapshot_iterations if k <= iteration and k not in self.snapshots]
        if due:  # a group label can jump past a chosen iteration: take it at the first after
            snap = Snapshot(iteration, v.n_labels, self.projection.coords, v.p_target.copy(),
                            v.predicted.copy(), v.label >= 0)
            for k in due:
                self.snapshots[k] = snap

    def snapshot_figure(self) -> go.Figure:
        """The kept snapshots side by side, coloured by predicted probability (a static figure)."""
        from plotly.subplots import make_subplots

        if not self.snapshots:
            raise ValueError(f"no snapshot yet: they are taken at iterations "
                             f"{self.snapshot_iterations}")
        snaps = [self.snapshots[k] for k in sorted(self.snapshots)]
        fig = make_subplots(1, len(snaps), subplot_titles=[
            f"iteration {s.iteration} ({s.n_labels} labels)" for s in snaps])
        for i, s in enumerate(snaps, start=1):
            fig.add_trace(go.Scattergl(
                x=s.coords[:, 0], y=s.coords[:, 1], mode="markers", showlegend=False,
                marker=dict(size=np.where(s.labeled, 7, 3).astype(np.float32),
                            color=np.nan_to_num(s.p_target, nan=0.5), colorscale="RdBu_r",
                            cmin=0, cmax=1, showscale=i == len(snaps))), 1, i)
            fig.update_xaxes(showticklabels=False, row=1, col=i)
            fig.update_yaxes(showticklabels=False, row=1, col=i)
        fig.update_layout(height=380, width=360 * len(snaps), margin=dict(l=10, r=10, t=40, b=10))
        return fig

    def export(self, path, *, snapshots: bool = False) -> Path:
        """Write the map (or the snapshots) to ``path``: ``.html`` always, ``.png`` with a Chromium.

        HTML files embed plotly.js, so they open offline.
        """
        path = Path(path)
        fig = self.snapshot_figure() if snapshots else go.Figure(self.figure)
        if path.suffix == ".html":
            fig.write_html(path, include_plotlyjs=True)
        elif path.suffix == ".png":
            from .export import write_png

            write_png(fig, path)
        else:
            raise ValueError(f"path={str(path)!r} must end in .html or .png")
        return path
