"""Spectrograms of clips from several map regions, side by side (a static plotly figure)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..session import Session
from .live import live_view
from .map_style import escaped, figure_template
from .payload import clip_payload

__all__ = ["mel_ticks", "spectrogram_grid"]

_TICKS_HZ = (100, 500, 1000, 2000, 4000, 8000, 16000)


def mel_ticks(n_mels: int, fmin: float, fmax: float) -> tuple[list, list]:
    """Where round frequencies fall on a log-mel image of ``n_mels`` rows (low rows first):
    tick positions (in rows) and their labels.

    Examples
    --------
    >>> rows, text = mel_ticks(128, 50.0, 8000.0)
    >>> text
    ['100 Hz', '500 Hz', '1 kHz', '2 kHz', '4 kHz']
    >>> [round(r) for r in rows]
    [1, 19, 40, 70, 99]
    """
    import librosa

    centres = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]
    ticks = [f for f in _TICKS_HZ if centres[0] <= f <= centres[-1]]
    rows = [float(np.interp(f, centres, np.arange(n_mels))) for f in ticks]
    return rows, [f"{f // 1000} kHz" if f >= 1000 else f"{f} Hz" for f in ticks]


def spectrogram_grid(session: Session, groups: Mapping[str, Sequence[int]], *,
                     per_group: int = 4, context_s: float = 0.0,
                     theme: str | None = None) -> go.Figure:
    """One row per group (e.g. "region A", "region B"), ``per_group`` clips each.

    Each panel is the clip's log-mel spectrogram, as the labeler shows it: time in seconds
    along the bottom row, frequency (Hz, on the mel scale) along the first column, titled with
    the clip id and the current model's prediction. With ``context_s``, dashed lines mark
    where the clip starts and ends. The figure is as wide as the notebook; its template is
    that of the session's map (the page's light or dark theme) unless ``theme`` is given.

    Examples
    --------
    >>> fig = spectrogram_grid(session, {"A": [3, 8], "B": [12, 40]})  # doctest: +SKIP
    >>> fig.show()  # doctest: +SKIP
    """
    from plotly.subplots import make_subplots

    if per_group < 1:
        raise ValueError(f"per_group={per_group!r} must be >= 1")
    groups = {str(k): [int(c) for c in v][:per_group] for k, v in groups.items()}
    empty = [k for k, v in groups.items() if not v]
    if not groups or empty:
        raise ValueError(f"every group needs at least one clip; empty: {empty or 'no groups'}")
    if theme is None:
        view = live_view(session, "map")
        theme = getattr(view, "theme", "light")
    rows = {name: [session.pool.proposal(c) for c in clips] for name, clips in groups.items()}
    titles = []
    for name, props in rows.items():
        for p in props:
            guess = "" if p.predicted is None else f" · {p.predicted} {p.confidence:.2f}"
            titles.append(escaped(f"{name}: clip {p.clip_id}{guess}"))  # plotly reads tags
        titles += [""] * (per_group - len(props))
    fig = make_subplots(len(groups), per_group, subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=0.16)
    for r, props in enumerate(rows.values(), start=1):
        for k, p in enumerate(props, start=1):
            pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=context_s)
            img = np.frombuffer(pay.spec, dtype=np.uint8).reshape(pay.spec_shape)
            dx = pay.window_s / img.shape[1]
            fig.add_trace(go.Heatmap(z=img, x0=dx / 2, dx=dx, colorscale="Viridis",
                                     showscale=False, hoverinfo="skip"), r, k)
            ticks, text = mel_ticks(img.shape[0], pay.fmin, pay.fmax)
            fig.update_yaxes(tickvals=ticks, ticktext=text, showticklabels=k == 1, row=r, col=k)
            if pay.clip_offset_s > 0 or pay.clip_duration_s < pay.window_s - 1e-6:
                for t in (pay.clip_offset_s, pay.clip_offset_s + pay.clip_duration_s):
                    fig.add_vline(x=t, line=dict(color="white", dash="dash", width=1), row=r, col=k)
    fig.update_xaxes(nticks=4, showgrid=False)
    fig.update_yaxes(showgrid=False)
    fig.update_xaxes(title_text="time (s)", title_standoff=4, row=len(groups))
    fig.update_annotations(font_size=11)
    fig.update_layout(template=figure_template(theme), height=240 * len(groups) + 60,
                      autosize=True, margin=dict(l=10, r=10, t=40, b=10))
    return fig
