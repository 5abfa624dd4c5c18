"""Spectrograms of clips from several map regions, side by side (a static plotly figure)."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..session import Session
from .payload import clip_payload

__all__ = ["spectrogram_grid"]


def spectrogram_grid(session: Session, groups: Mapping[str, Sequence[int]], *,
                     per_group: int = 4, context_s: float = 0.0) -> go.Figure:
    """One row per group (e.g. "region A", "region B"), ``per_group`` clips each.

    Each panel is the clip's log-mel spectrogram (low frequencies at the
    bottom), titled with the clip id and the current model's prediction.

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
    rows = {name: [session.pool.proposal(c) for c in clips] for name, clips in groups.items()}
    titles = []
    for name, props in rows.items():
        for p in props:
            guess = "" if p.predicted is None else f" · {p.predicted} {p.confidence:.2f}"
            titles.append(html.escape(f"{name}: clip {p.clip_id}{guess}", quote=False))  # no tags
        titles += [""] * (per_group - len(props))
    fig = make_subplots(len(groups), per_group, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.12)
    for r, props in enumerate(rows.values(), start=1):
        for k, p in enumerate(props, start=1):
            pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=context_s)
            img = np.frombuffer(pay.spec, dtype=np.uint8).reshape(pay.spec_shape)
            fig.add_trace(go.Heatmap(z=img, colorscale="Viridis", showscale=False,
                                     hoverinfo="skip"), r, k)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=11)
    fig.update_layout(height=230 * len(groups) + 40, width=220 * per_group + 40,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig
