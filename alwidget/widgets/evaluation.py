"""The evaluation view: how good a session's model is, on its validation set.

Three plotly figures, made from what the session computed
(:meth:`~alwidget.session.Session.evaluation`, :meth:`~alwidget.session.Session.f1_by_labels`):

* ``"precision_recall"`` — the precision–recall curve of the target on the validation
  clips, with the session's decision threshold marked (one curve per class, one against
  the rest, with more than two classes);
* ``"confusion"`` — the confusion matrix at that threshold (the most likely class with
  more than two classes);
* ``"f1_by_labels"`` — validation F1 against the number of labels, each point the model
  refitted by the loop core on the first *n* labels.

:func:`evaluation_figures` returns them; :func:`write_evaluation_html` writes them to one
standalone HTML file with plotly's JavaScript inline, so it opens anywhere without a
network. The view talks to the session only; class names are HTML-escaped.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from sklearn.metrics import precision_recall_curve

__all__ = ["FIGURE_NAMES", "evaluation_figures", "write_evaluation_html"]

#: The keys of :func:`evaluation_figures`, in the order the HTML file shows them.
FIGURE_NAMES = ("precision_recall", "confusion", "f1_by_labels")
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#ff7f0e", "#393b79")


def _escaped(value) -> str:
    return html.escape(str(value), quote=False)


def evaluation_figures(session, n_points: int = 20) -> dict[str, go.Figure]:
    """The evaluation figures of ``session``'s current model on its validation set.

    Parameters
    ----------
    session : Session
        A session opened with ``validation=(clip_ids, labels)``, with a model (two classes
        labeled).
    n_points : int, default 20
        Most points of the F1-against-labels curve (each is a refit).

    Returns
    -------
    dict of str to plotly.graph_objects.Figure
        ``"precision_recall"``, ``"confusion"`` and ``"f1_by_labels"``.

    Raises
    ------
    ValueError
        Without a validation set, or before the session has a model.

    Examples
    --------
    A toy project: 200 clips of one file, every tenth a bird; the last 100 kept for validation.

    >>> import numpy as np
    >>> from alwidget.session import Session
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(getfixture("tmp_path") / "p.db")
    >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 16000 * 200, 1, "WAV",
    ...                              "PCM_16", "h", 0), [(float(k), 1.0) for k in range(200)])
    >>> ids = store.clip_ids()
    >>> truth = dict(zip(ids.tolist(), np.where(np.arange(200) % 10 == 0, "bird", "bg")))
    >>> X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    >>> X[::10] += 3
    >>> store.put_features(store.feature_set("toy", {}, 4), ids, X)
    >>> val = ids[100:].tolist()
    >>> session = Session(store, classes=["bg", "bird"], precompute=False,
    ...                   validation=(val, [truth[c] for c in val]))
    >>> for _ in range(30):
    ...     _ = session.submit(truth[session.current.clip_id])
    >>> figures = evaluation_figures(session, n_points=5)
    >>> sorted(figures)
    ['confusion', 'f1_by_labels', 'precision_recall']
    >>> [t.name for t in figures["precision_recall"].data][1].startswith("threshold")
    True
    >>> out = write_evaluation_html(session, getfixture("tmp_path") / "eval.html", n_points=3)
    >>> "<script src=" in out.read_text()  # plotly.js is inside: nothing to fetch
    False
    >>> session.close()
    """
    ev = session.evaluation()
    curve = session.f1_by_labels(n_points=n_points)
    return {"precision_recall": _precision_recall(ev), "confusion": _confusion(ev),
            "f1_by_labels": _f1_by_labels(curve, ev)}


def write_evaluation_html(session, path, n_points: int = 20) -> Path:
    """Write the evaluation figures to one standalone HTML file (plotly.js inline).

    Nothing is fetched when the file is opened: plotly's JavaScript is inside it (about
    4 MB), so it opens offline and can be sent as it is.

    Parameters
    ----------
    session : Session
    path : str or Path
        The HTML file to write (replaced if it exists).
    n_points : int, default 20

    Returns
    -------
    Path

    Examples
    --------
    See :func:`evaluation_figures` for a runnable example (it writes the page too).

    >>> write_evaluation_html(session, "bird_evaluation.html")  # doctest: +SKIP
    PosixPath('bird_evaluation.html')
    """
    path = Path(os.fsdecode(path)) if not isinstance(path, Path) else path
    figures = evaluation_figures(session, n_points=n_points)
    ev = session.evaluation()
    m = ev.metrics
    parts = []
    for i, name in enumerate(FIGURE_NAMES):
        parts.append(figures[name].to_html(full_html=False, include_plotlyjs=(i == 0),
                                           div_id=f"alwidget-{name}"))
    what = (f"target {_escaped(ev.target)!s}, threshold {ev.threshold:.3g}" if ev.target
            else "most likely class of " + ", ".join(_escaped(c) for c in ev.classes))
    summary = (f"F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f} "
               f"({what}); {m['n_labels']} labels, {m['n_validation']} validation clips")
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>alwidget evaluation</title></head>\n<body style=\"font-family: sans-serif\">"
            f"\n<h2>Model evaluation</h2>\n<p>{summary}</p>\n" + "\n".join(parts)
            + "\n</body></html>\n")
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- the figures
def _precision_recall(ev) -> go.Figure:
    fig = go.Figure()
    if ev.target is not None:
        t = ev.classes.index(ev.target)
        truth = ev.labels == ev.target
        if truth.any():
            precision, recall, _ = precision_recall_curve(truth, ev.proba[:, t])
            fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines",
                                     name=f"precision–recall ({_escaped(ev.target)})",
                                     line=dict(color=_COLORS[0])))
            fig.add_trace(go.Scatter(
                x=[ev.metrics["recall"]], y=[ev.metrics["precision"]], mode="markers",
                name=f"threshold {ev.threshold:.3g}",
                marker=dict(symbol="x", size=14, color=_COLORS[1]),
                hovertemplate=(f"threshold {ev.threshold:.3g}<br>precision %{{y:.3f}}"
                               f"<br>recall %{{x:.3f}}<br>F1 {ev.metrics['f1']:.3f}"
                               "<extra></extra>")))
        else:
            fig.add_annotation(text=f"no {_escaped(ev.target)} clip in the validation set",
                               showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        title = f"Precision–recall of {_escaped(ev.target)} (validation)"
    else:
        for k, c in enumerate(ev.classes):
            truth = ev.labels == c
            if not truth.any():
                continue
            precision, recall, _ = precision_recall_curve(truth, ev.proba[:, k])
            fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines",
                                     name=f"precision–recall ({_escaped(c)})",
                                     line=dict(color=_COLORS[k % len(_COLORS)])))
        title = "Precision–recall of each class against the rest (validation)"
    fig.update_layout(title=title, xaxis_title="recall", yaxis_title="precision",
                      xaxis_range=[0, 1.02], yaxis_range=[0, 1.02], template="plotly_white")
    return fig


def _confusion(ev) -> go.Figure:
    names = [_escaped(c) for c in ev.classes]
    fig = go.Figure(go.Heatmap(z=ev.confusion, x=names, y=names, colorscale="Blues",
                               texttemplate="%{z}", name="confusion",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} clips"
                                             "<extra></extra>"))
    rule = (f"P({_escaped(ev.target)}) ≥ {ev.threshold:.3g}" if ev.target is not None
            else "most likely class")
    fig.update_layout(title=f"Confusion matrix (validation, {rule})", xaxis_title="predicted",
                      yaxis_title="true", yaxis_autorange="reversed", template="plotly_white")
    return fig


def _f1_by_labels(curve, ev) -> go.Figure:
    n = np.array([p[0] for p in curve], np.int64)
    f1 = np.array([p[1] for p in curve], np.float64)
    fig = go.Figure(go.Scatter(x=n, y=f1, mode="lines+markers", name="validation F1",
                               line=dict(color=_COLORS[0]),
                               hovertemplate="%{x} labels<br>F1 %{y:.3f}<extra></extra>"))
    what = "F1 at the tuned threshold" if ev.target is not None else "macro-F1"
    fig.update_layout(title=f"Validation {what} against labels (refitted on the first n)",
                      xaxis_title="labels", yaxis_title="F1", yaxis_range=[0, 1.02],
                      template="plotly_white")
    return fig
