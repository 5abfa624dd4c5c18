"""Snapshots of a map's colouring by the model: the predictions at chosen iterations, side by
side (e.g. iterations 1, 20 and 100, as in the rare-sound study's figures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .map_style import escaped, figure_template

__all__ = ["Snapshot", "Snapshots", "map_figure", "snapshot_figure", "write_figure"]


@dataclass(frozen=True)
class Snapshot:
    """The predicted-label colouring of the map at one iteration."""

    iteration: int
    n_labels: int
    coords: np.ndarray  # float32 (n, 2)
    p_target: np.ndarray  # float32 (n,)
    predicted: np.ndarray  # int16 (n,)
    labeled: np.ndarray  # bool (n,)


class Snapshots(dict):
    """The snapshots kept at chosen iterations (iteration 1 = the first model, trained once
    both classes are labeled), by iteration.

    Examples
    --------
    >>> from types import SimpleNamespace as View
    >>> snaps = Snapshots((1, 3))
    >>> def view(n_labels, model=True):
    ...     return View(n_labels=n_labels, p_target=np.full(2, 0.5, np.float32),
    ...                 predicted=np.full(2, 0 if model else -1, np.int16),
    ...                 label=np.array([0, -1], np.int16))
    >>> snaps.take(view(1, model=False), np.zeros((2, 2)))  # no model yet: no iteration
    >>> snaps.take(view(2), np.zeros((2, 2)))
    >>> snaps.take(view(6), np.zeros((2, 2)))  # a group label jumped past iteration 3
    >>> sorted(snaps), snaps[3].iteration
    ([1, 3], 5)
    """

    def __init__(self, iterations):
        super().__init__()
        self.iterations = sorted({int(k) for k in iterations})
        self._first_model_labels: int | None = None

    def take(self, view, coords: np.ndarray) -> None:
        """Keep the colouring of ``view`` (a :class:`~alwidget.session.PoolView`) on the map
        ``coords`` for each chosen iteration reached and not kept yet."""
        if self._first_model_labels is None:
            if (view.predicted < 0).all():
                return
            self._first_model_labels = view.n_labels
        iteration = view.n_labels - self._first_model_labels + 1
        due = [k for k in self.iterations if k <= iteration and k not in self]
        if due:  # a group label can jump past a chosen iteration: take it at the first after
            snap = Snapshot(iteration, view.n_labels, coords, view.p_target.copy(),
                            view.predicted.copy(), view.label >= 0)
            for k in due:
                self[k] = snap


def snapshot_figure(snapshots: Sequence[Snapshot], *, target: str = "target",
                    theme: str = "light", height: int = 380) -> go.Figure:
    """The snapshots side by side, coloured by P(``target``): a static figure as wide as the
    notebook (no fixed width), with one horizontal colour bar and a legend.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> snaps = [Snapshot(k, 10 + k, rng.normal(size=(30, 2)).astype(np.float32),
    ...                   rng.random(30).astype(np.float32), np.zeros(30, np.int16),
    ...                   rng.random(30) < 0.2) for k in (1, 20, 100)]
    >>> fig = snapshot_figure(snaps, target="buzz")
    >>> fig.layout.width is None, fig.layout.annotations[2].text
    (True, 'iteration 100 (110 labels)')
    >>> [t.name for t in fig.data if t.showlegend]
    ['labeled clip', 'unlabeled clip']
    """
    from plotly.subplots import make_subplots

    if not snapshots:
        raise ValueError("no snapshot to show")
    k = len(snapshots)
    fig = make_subplots(1, k, horizontal_spacing=0.02, subplot_titles=[
        f"iteration {s.iteration} ({s.n_labels} labels)" for s in snapshots])
    bar = dict(title=dict(text=f"P({escaped(target)})", side="top"), orientation="h",
               x=0.98, xanchor="right", y=-0.04, yanchor="top", len=0.45, thickness=12)
    for i, s in enumerate(snapshots, start=1):
        p = np.nan_to_num(s.p_target, nan=0.5)
        for labeled in (False, True):  # labeled clips drawn last, on top
            rows = s.labeled == labeled
            fig.add_trace(go.Scattergl(
                x=s.coords[rows, 0], y=s.coords[rows, 1], mode="markers", hoverinfo="skip",
                marker=dict(size=8 if labeled else 4, color=p[rows], colorscale="RdBu_r", cmin=0,
                            cmax=1, line=dict(width=1 if labeled else 0, color="#444"),
                            showscale=i == k and labeled, colorbar=bar),
                showlegend=False), 1, i)
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=i)
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=i)
    for name, size, width in (("labeled clip", 8, 1), ("unlabeled clip", 4, 0)):  # legend only
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True,
                                 marker=dict(size=size, color="#9e9e9e",
                                             line=dict(width=width, color="#444"))))
    fig.update_annotations(font_size=12)
    fig.update_layout(template=figure_template(theme), height=height, autosize=True,
                      showlegend=True,
                      margin=dict(l=10, r=10, t=40, b=70),
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.04, yanchor="top",
                                  itemclick=False, itemdoubleclick=False))
    return fig


def map_figure(figure, places, files, *, ring=(), title: str = "") -> go.Figure:
    """A live map's ``figure`` as a figure of its own: plotly's tooltips (file, time, clip)
    from the clips' ``places`` and the file names ``files``, the ``ring`` shapes, a title."""
    fig = go.Figure(figure)
    text = [f"{files[f]} · {a:.1f}–{a + d:.1f} s" for f, a, d in
            zip(places.file, places.start_s, places.duration_s)]
    fig.data[0].update(hoverinfo=None, text=[escaped(x) for x in text],
                       hovertemplate="%{text}<br>clip %{customdata}<extra></extra>")
    fig.layout.shapes = list(ring)
    fig.layout.margin.t = 30
    fig.layout.title = dict(text=escaped(title), font=dict(size=13), x=0.01, xanchor="left")
    return fig


def write_figure(fig: go.Figure, path) -> Path:
    """Write ``fig`` to ``path``: ``.html`` (plotly.js embedded: opens offline) or ``.png``
    (drawn by a Chromium)."""
    path = Path(path)
    if path.suffix == ".html":
        fig.write_html(path, include_plotlyjs=True)
    elif path.suffix == ".png":
        from .export import write_png

        write_png(fig, path)
    else:
        raise ValueError(f"path={str(path)!r} must end in .html or .png")
    return path
