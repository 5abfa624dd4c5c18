"""The one filter of clips by node and time window, shared by sessions (``clips=``), maps
(a session's pool), team rounds and export: :func:`clips_where`."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import numpy as np

from ..store import Store
from ..store.nodes import iso_time

__all__ = ["ClipSelection", "clips_where", "iso_time"]


def clips_where(store: Store, nodes: Sequence[str] | str | None = None,
                start: str | datetime | None = None,
                end: str | datetime | None = None) -> np.ndarray:
    """Ids (ascending) of the clips of files recorded by ``nodes`` with
    ``start <= recorded_at < end`` (the file's start; open bounds when None), read through
    the store's (node, recorded_at) index. Pass the result as ``clips=`` to a session (its
    maps follow; as the archive grows, its new clips that match join the session), or use
    it to export part of the labels. The result is a :class:`ClipSelection`: the ids, and
    the filter as ``.where``.

    Raises ``ValueError`` for a node the store does not know (listing those it knows), a
    time that is not ISO 8601, or a window that ends before it starts.

    Examples
    --------
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(":memory:")
    >>> for i, (node, t) in enumerate([("n1", "2024-05-01T10:00:00"),
    ...                                ("n2", "2024-05-01T11:00:00")]):
    ...     _ = store.add_audio(NewAudio("/rec", f"{i}.wav", 16000, 16, 32000, 1, "WAV",
    ...                                  "PCM_16", f"h{i}", 0, node=node, recorded_at=t),
    ...                         [(0.0, 1.0), (1.0, 1.0)])
    >>> clips_where(store, "n2").tolist(), clips_where(store, start="2024-05-01T10:30").tolist()
    ([3, 4], [3, 4])
    """
    nodes, a, b = store.checked_window(nodes, start, end)
    out = store.window_clips(nodes, a, b).view(ClipSelection)
    out.where = (None if nodes is None else list(nodes), a, b)
    return out


class ClipSelection(np.ndarray):
    """Clip ids (an int64 array) that remember the filter that chose them: ``where`` is
    ``(nodes, start, end)`` as given to :meth:`Store.window_clips`. A session opened with
    ``clips=clips_where(...)`` applies the same filter to the clips a growing archive adds;
    one opened with plain clip ids does not grow. Slicing or arithmetic gives plain ids."""

    where: tuple | None = None

    def __array_finalize__(self, obj) -> None:
        self.where = None  # a derived array is not the same selection
