"""How maps look: colours per status and class, the legend of a colouring, and the figure
template that follows JupyterLab's light or dark theme.

Shared by the live map (:class:`~alwidget.widgets.MapView`), its snapshots and the spectrogram
grid, so every figure of alwidget looks alike.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..session import DOUBT, STATUS_NAMES

__all__ = ["THEMES", "Colouring", "class_colors", "colouring", "escaped", "figure_template",
           "marker_color", "show_legend", "show_scale", "top_classes"]

#: The themes a figure can follow (JupyterLab's ``data-jp-theme-light``).
THEMES = ("light", "dark")
#: Colours of :data:`~alwidget.session.STATUS_NAMES`, in code order (readable on white and on
#: JupyterLab's dark grey; "outside" is faint on both).
STATUS_COLORS = ("#9e9e9e", "#ff7f0e", "#1f77b4", "#7f7f7f", "#9467bd", "#74c476", "#e377c2",
                 "rgba(160, 160, 160, 0.35)")
#: Marker sizes per status: the proposed clip and labeled clips stand out.
STATUS_SIZES = np.array([4, 12, 8, 6, 8, 3, 5, 2], np.uint8)  # px, by status code
NONE_COLOR = "#c7c7c7"
_CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#ff7f0e", "#393b79")


def escaped(value) -> str:
    """``value`` as text inside HTML (an HTML widget's value, a plotly title or legend entry,
    where plotly reads tags): ``& < >`` escaped. Quotes stay, as no value goes into an
    attribute (and plotly would show ``&quot;`` as it is).

    Examples
    --------
    >>> escaped("<b>a & b</b>")
    '&lt;b&gt;a &amp; b&lt;/b&gt;'
    """
    return html.escape(str(value), quote=False)


def class_colors(k: int) -> tuple:
    """``k`` distinct colours (10 of our own, then plotly's 26-colour Alphabet, then repeats).

    Examples
    --------
    >>> len(set(class_colors(30)))
    30
    """
    from plotly.colors import qualitative

    pool = _CLASS_COLORS + tuple(qualitative.Alphabet)
    return tuple(pool[i % len(pool)] for i in range(k))


def figure_template(theme: str = "light") -> go.layout.Template:
    """The template of alwidget's figures: plotly's white (or dark) template on a transparent
    background, so a figure sits on JupyterLab's own background in either theme.

    Examples
    --------
    >>> figure_template("dark").layout.font.color
    '#f2f5fa'
    >>> figure_template("light").layout.paper_bgcolor
    'rgba(0,0,0,0)'
    """
    import plotly.io as pio

    if theme not in THEMES:
        raise ValueError(f"theme={theme!r} must be one of {THEMES}")
    t = go.layout.Template(pio.templates["plotly_dark" if theme == "dark" else "plotly_white"])
    t.layout.paper_bgcolor = t.layout.plot_bgcolor = "rgba(0,0,0,0)"
    return t


def marker_color(theme: str) -> str:
    """The colour of marks drawn over the points (the clip in the labeler)."""
    return "#ffffff" if theme == "dark" else "#000000"


@dataclass(frozen=True)
class Colouring:
    """How the points are coloured: one value per clip, and what the values mean.

    ``values`` is None for a continuous colouring (P(target) from 0 to 1); otherwise integer
    codes into ``names`` and ``colors`` (the map sends them as one byte per clip).
    """

    values: np.ndarray | None
    colors: tuple
    names: tuple
    title: str

    def scale(self) -> list:
        """A plotly colorscale mapping codes 0..k-1 (cmin=-0.5, cmax=k-0.5) to the colours."""
        k = len(self.colors)
        out = []
        for i, c in enumerate(self.colors):
            out += [[i / k, c], [(i + 1) / k, c]]
        return out

    def legend(self) -> list[tuple[str, str, int]]:
        """``(name, colour, count)`` of the codes that occur, in code order (a compact legend:
        no entry for a status no clip has)."""
        if self.values is None:
            return []
        counts = np.bincount(self.values.astype(np.int64), minlength=len(self.names))
        return [(n, c, int(k)) for n, c, k in zip(self.names, self.colors, counts) if k]


def colouring(mode: str, view, tags=None) -> Colouring:
    """The :class:`Colouring` of a :class:`~alwidget.session.PoolView` by ``mode``
    ("status", "predicted", "label", "tagger" with ``tags`` = (codes, names), "probability").
    """
    k = len(view.classes)
    if mode == "status":
        return Colouring(view.status.astype(np.float32), STATUS_COLORS, STATUS_NAMES, "status")
    if mode == "predicted":
        return Colouring((view.predicted + 1).astype(np.float32),
                         (NONE_COLOR,) + class_colors(k), ("no model",) + tuple(view.classes),
                         "predicted")
    if mode == "label":
        values = np.where(view.label < 0, 0, view.label + 1).astype(np.float32)
        return Colouring(values, (NONE_COLOR,) + class_colors(k) + ("#e7ba52",),
                         ("unlabeled",) + tuple(view.classes) + (DOUBT,), "label")
    if mode == "tagger":
        codes, names = tags
        return Colouring(codes.astype(np.float32), (NONE_COLOR,) + class_colors(len(names) - 1),
                         tuple(names), "tagger's top-1")
    target = view.classes[-1] if k == 2 else "predicted class"
    return Colouring(None, (), (), f"P({target})")


def top_classes(names, k: int = 9) -> tuple[np.ndarray, tuple]:
    """Codes of the ``k`` most frequent ``names`` (1..k, 0 = any other), and the names of the
    codes (``"other"`` first): e.g. a tagger's top-1 class per clip, for a colouring.

    Examples
    --------
    >>> codes, names = top_classes(np.array(["Wind", "Speech", "Wind", "Bird"]), k=2)
    >>> codes.tolist(), names
    ([1, 0, 1, 2], ('other', 'Wind', 'Bird'))
    """
    names = np.asarray(names).astype(str)
    kinds, counts = np.unique(names, return_counts=True)
    top = [str(x) for x in kinds[np.argsort(-counts, kind="stable")][:k]]
    codes = np.zeros(len(names), np.int16)
    for i, name in enumerate(top, start=1):
        codes[names == name] = i
    return codes, ("other",) + tuple(top)


def show_scale(trace, c: Colouring) -> None:
    """Say on a scatter ``trace`` what its colours mean: a compact colour bar for P(target),
    else codes mapped to the colouring's colours (the legend lists those present)."""
    m = trace.marker
    if c.values is None:
        m.colorscale, m.cmin, m.cmax = "RdBu_r", 0.0, 1.0
        m.colorbar = dict(title=dict(text=escaped(c.title), side="right"), thickness=10,
                          len=0.6, tickvals=None, ticktext=None)
        m.showscale = True
    else:
        m.colorscale = c.scale()
        m.cmin, m.cmax = -0.5, len(c.colors) - 0.5
        m.colorbar = dict(title=dict(text=escaped(c.title)), tickvals=list(range(len(c.names))),
                          ticktext=[escaped(n) for n in c.names])
        m.showscale = False


def show_legend(traces, entries) -> None:
    """One legend entry per ``(name, colour)`` of ``entries`` on the legend ``traces`` (the
    last one says "other" when there are more entries than traces), each trace updated on its
    own: plotly's widget would blank the fields a batch of several traces leaves out of one."""
    shown = list(entries[:len(traces) - 1])
    if len(entries) > len(shown):
        shown.append(("other", "#9e9e9e"))
    for i, tr in enumerate(traces):
        if i < len(shown):
            name, color = shown[i]
            tr.update(name=escaped(name), marker_color=color, visible=True, showlegend=True)
        elif tr.visible:
            tr.update(visible=False, showlegend=False)
