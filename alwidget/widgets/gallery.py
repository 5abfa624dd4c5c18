"""The search gallery: the clips nearest to an example as spectrogram tiles to hear and label.

This is how an expert finds the first positives of a rare sound before any model exists:
search from one example (a clip, a selection on the map, a recording of the sound), listen
to the nearest clips and label them with the class keys. Each label goes through the
session (:meth:`~alwidget.session.Session.label`, or
:meth:`~alwidget.session.Session.label_many` for a group), so it is committed like any
decision; the session's next clips are then planned from it.

The gallery talks to the session (and to :mod:`alwidget.search` for the neighbours); it is
touched only on the kernel's main thread (a search run in the background hands its tiles
there), unobserves the session when closed, and a session has one live gallery: a new one
(a re-run cell) closes the one it replaces.
"""

from __future__ import annotations

import threading
import traceback
import weakref
from pathlib import Path

import anywidget
import numpy as np
import traitlets as t

from ..audio import printable
from ..search import SearchIndex, SearchResult, search_by_example
from ..session import DOUBT, STATUS_NAMES, Session
from .live import MainThread, release_view, replace_view
from .payload import clip_payload

__all__ = ["STRATEGY", "SearchGallery", "search_index"]

_HERE = Path(__file__).parent

#: The strategy named by the label events a gallery commits.
STRATEGY = "search"

_INDEXES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # session -> index
_INDEX_LOCK = threading.Lock()


def search_index(session: Session) -> SearchIndex:
    """The search index of the session's clips and vectors (:meth:`Session.features`), built
    once per session.

    Examples
    --------
    >>> index = search_index(session)  # doctest: +SKIP
    >>> index.n == len(session.pool.clip_ids)  # doctest: +SKIP
    True
    """
    with _INDEX_LOCK:
        index = _INDEXES.get(session)
        if index is None or index.feature_set != session.feature_set:
            ids, X = session.features()
            index = SearchIndex(ids, X, feature_set=session.feature_set)
            _INDEXES[session] = index
        return index


class SearchGallery(anywidget.AnyWidget):
    """The ``k`` clips nearest to an example, as spectrograms with play buttons and label keys.

    In the browser: click a tile (or move with ←/→) to focus it, Space plays it, 1–9 label
    it with a class (D: Doubt), X adds it to a selection (Shift-click too; A selects every
    unlabeled tile, Esc clears), and with a selection the keys label all of it as one
    decision; Z undoes the last decision; M shows more results. A labeled tile shows its
    label. Audio is sent when a tile is played, never autoplayed.

    Parameters
    ----------
    session : Session
        Labels go to it; the search runs over its feature set.
    query : int, sequence of int, path or array
        A clip id, several (a map selection), an audio file or a vector
        (see :func:`alwidget.search.search_by_example`).
    k : int, default 24
        Tiles shown (:meth:`more` adds ``k`` more).
    metric : {"cosine", "euclidean"}, default "cosine"
    combine : {"mean", "nearest"}, default "mean"
        How several clips make one query.
    start_s, end_s : float, optional
        Part of an audio file query.
    context_s : float, default 0.25
        Audio shown and played around each clip.
    background : bool, default True
        Search and read the tiles' audio off the kernel's main thread.

    Examples
    --------
    >>> from alwidget.session import Session  # doctest: +SKIP
    >>> session = Session("project.db", classes=["background", "bat call"])  # doctest: +SKIP
    >>> gallery = SearchGallery(session, "one_call.wav", k=24)  # doctest: +SKIP
    >>> gallery  # label the calls with key 2, the rest with key 1  # doctest: +SKIP
    >>> gallery.label(gallery.result.clip_ids[0], "bat call")  # doctest: +SKIP
    """

    _esm = (_HERE / "spectrogram.js").read_text() + (_HERE / "gallery.js").read_text()
    _css = _HERE / "gallery.css"

    tiles = t.List(t.Dict()).tag(sync=True)
    specs = t.Bytes(b"").tag(sync=True)  # every tile's uint8 spectrogram, one after another
    classes = t.List(t.Unicode()).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    colormap = t.Unicode("viridis").tag(sync=True)
    doubt = t.Unicode(DOUBT).tag(sync=True)  # the label of key D
    audio = t.Bytes(b"").tag(sync=True)  # WAV of the tile being played
    audio_clip = t.Int(-1).tag(sync=True)
    audio_offset_s = t.Float(0.0).tag(sync=True)  # where the clip starts in ``audio``
    play_request = t.Int(0).tag(sync=True)

    def __init__(self, session: Session, query, *, k: int = 24, metric: str = "cosine",
                 combine: str = "mean", start_s: float | None = None, end_s: float | None = None,
                 context_s: float = 0.25, background: bool = True, **kwargs):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k={k!r} must be an integer >= 1")
        super().__init__(classes=list(session.classes), **kwargs)
        self.session = session
        self.query = query
        self.k = int(k)
        self._step = int(k)
        self.search_kwargs = dict(metric=metric, combine=combine, start_s=start_s, end_s=end_s)
        self.context_s = float(context_s)
        self.background = background
        self.result: SearchResult | None = None
        self._payloads: dict[int, object] = {}
        self._closed = False
        self._request = 0
        self._lock = threading.RLock()
        self._main = MainThread()  # traits change on the thread the widget was made on
        self.on_msg(self._on_message)
        session.observe(self._session_changed)
        replace_view(session, "gallery", self)  # closes the gallery this one replaces
        self.search()

    # -- searching ----------------------------------------------------------------------
    def search(self, query=None, *, k: int | None = None) -> None:
        """Search again (another query, or more results); the tiles follow when ready."""
        if self._closed:
            raise RuntimeError("this gallery was closed; make a new SearchGallery")
        if query is not None:
            self.query = query
        if k is not None:
            self.k = int(k)
        with self._lock:
            self._request += 1
            request = self._request
        self.busy = True
        self.title = f"searching {self.k} clips nearest to {_query_text(self.query)}…"

        def work():
            try:
                tiles, specs, payloads, result = self._find()
            except Exception as exc:  # shown in the widget, with the traceback for the log
                traceback.print_exc()
                self._main.call(self._failed, request, f"{type(exc).__name__}: {exc}")
                return
            self._main.call(self._show, request, tiles, specs, payloads, result)

        if self.background:
            threading.Thread(target=work, name="alwidget-search", daemon=True).start()
        else:
            work()

    def more(self) -> None:
        """Show ``k`` more results (the number asked at the start)."""
        self.search(k=self.k + self._step)

    def _find(self):
        """The search and the tiles' spectrograms (no widget touched: may run off-thread)."""
        s = self.session
        index = search_index(s)
        v = s.pool.view()
        held_out = v.clip_ids[v.status == STATUS_NAMES.index("validation")]
        result = search_by_example(index, self.query, k=self.k, exclude=held_out,
                                   **self.search_kwargs)
        tiles, specs, payloads = [], [], {}
        offset = 0
        for i, c in enumerate(result.clip_ids.tolist()):
            p = s.pool.proposal(c)
            tile = dict(clip_id=c, rank=i + 1, score=float(result.scores[i]),
                        reason=result.reason(i), path=printable(p.path), start_s=p.start_s,
                        duration_s=p.duration_s, spec_offset=offset, spec_rows=0, spec_cols=0,
                        note="")
            try:
                pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=self.context_s,
                                   n_mels=64, max_frames=240)
            except Exception as exc:  # e.g. a file moved since ingest: the tile says so
                tile["note"] = f"cannot read the audio: {type(exc).__name__}: {exc}"
            else:
                payloads[c] = pay
                tile.update(spec_rows=pay.spec_shape[0], spec_cols=pay.spec_shape[1],
                            clip_offset_s=pay.clip_offset_s, window_s=pay.window_s)
                specs.append(pay.spec)
                offset += len(pay.spec)
            tiles.append(tile)
        return tiles, b"".join(specs), payloads, result

    def _show(self, request: int, tiles, specs, payloads, result) -> None:
        with self._lock:
            if request != self._request or self._closed:  # a newer search supersedes this one
                return
            self.result = result
            self._payloads = payloads
            with self.hold_sync():
                self.specs = specs
                self.tiles = self._with_labels(tiles)
                fs = self.session.feature_set.extractor
                self.title = (f"{len(tiles)} clips nearest to {result.query} "
                              f"({result.metric}, {fs} features)")
                self.error = ""
                self.busy = False

    def _failed(self, request: int, text: str) -> None:
        if request == self._request and not self._closed:
            self.error = text
            self.title = f"search for {_query_text(self.query)} failed"
            self.busy = False

    def _with_labels(self, tiles) -> list[dict]:
        """The tiles with each clip's current label and status in the session."""
        if not tiles:
            return []
        v = self.session.pool.view()
        names = list(v.classes) + [DOUBT]
        ids = np.array([tile["clip_id"] for tile in tiles], np.int64)
        rows = np.searchsorted(v.clip_ids, ids)
        out = []
        for tile, r in zip(tiles, rows):
            lab = int(v.label[r])
            out.append(dict(tile, label="" if lab < 0 else names[lab],
                            status=STATUS_NAMES[v.status[r]]))
        return out

    # -- session -> widget ----------------------------------------------------------------
    def _session_changed(self, session) -> None:
        self._main.call(self._refresh)  # a decision may be made on another thread

    def _refresh(self) -> None:
        if not self._closed and self.tiles:
            self.tiles = self._with_labels(self.tiles)

    def close(self) -> None:
        """Close the gallery and stop listening to the session (a search running is dropped)."""
        if not getattr(self, "_closed", True):  # once (ipywidgets' __del__ closes too)
            self._closed = True
            with self._lock:
                self._request += 1
            self.session.unobserve(self._session_changed)
            release_view(self.session, "gallery", self)
            self._payloads = {}
        super().close()

    # -- widget -> session ----------------------------------------------------------------
    def _on_message(self, widget, content, buffers) -> None:
        # JupyterLab 4.6 may send a widget's messages over a kernel subshell (ipykernel 7
        # runs them on a thread of their own): handled on the main thread, in order
        self._main.call(self._handle, content)

    def _handle(self, content) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "label":
                ids = [int(c) for c in content.get("clip_ids") or []]
                if len(ids) == 1:
                    self.label(ids[0], content.get("label"))
                else:
                    self.label_many(ids, content.get("label"))
            elif kind == "play":
                self.play(int(content.get("clip_id")))
            elif kind == "undo":
                self.undo()
            elif kind == "more":
                self.more()
            else:
                return
            if kind != "more":
                self.error = ""
        except Exception as exc:  # shown in the widget, with the traceback for the log
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()

    def _shown(self, clip_ids) -> list[int]:
        shown = {tile["clip_id"]: tile for tile in self.tiles}
        ids = [int(c) for c in clip_ids]
        gone = [c for c in ids if c not in shown]
        if gone:
            raise ValueError(f"clips {gone[:5]} are not in this gallery; nothing was stored")
        return ids

    def label(self, clip_id: int, label: str):
        """Label one tile's clip (committed by the session like any decision).

        The label event names the gallery's strategy (:data:`STRATEGY`) and the tile's
        reason ("search by example: #3 nearest to clip 12 (cosine 0.91)").
        """
        (clip_id,) = self._shown([clip_id])
        rank = next(tile["rank"] for tile in self.tiles if tile["clip_id"] == clip_id)
        out = self.session.label(clip_id, label, strategy=STRATEGY,
                                 reason=self.result.reason(rank - 1))
        self._refresh()
        return out

    def label_many(self, clip_ids, label: str):
        """Label several tiles' clips as one decision (one commit, one refit, one undo)."""
        ids = self._shown(clip_ids)
        if not ids:
            raise ValueError("no tile selected: select tiles (X or Shift-click) first")
        out = self.session.label_many(
            ids, label, strategy=STRATEGY,
            reason=f"search by example: labeled as a group from the clips nearest to "
                   f"{self.result.query}")
        self._refresh()
        return out

    def undo(self):
        """Take back the session's last decision of this labeler (a group whole)."""
        out = self.session.undo()
        self._refresh()
        return out

    def play(self, clip_id: int) -> None:
        """Send a tile's audio (with its context) to the browser and play it."""
        (clip_id,) = self._shown([clip_id])
        pay = self._payloads.get(clip_id)
        if pay is None:
            raise ValueError(f"the audio of clip {clip_id} cannot be read (see its tile)")
        with self.hold_sync():
            self.audio = pay.wav
            self.audio_clip = clip_id
            self.audio_offset_s = pay.clip_offset_s
            self.play_request += 1


def _query_text(query) -> str:
    if isinstance(query, (int, np.integer)):
        return f"clip {int(query)}"
    if isinstance(query, (str, bytes)) or hasattr(query, "__fspath__"):
        return f"file {Path(printable(query)).name}"
    if isinstance(query, np.ndarray) and query.dtype.kind == "f":
        return "a vector"
    try:
        return f"{len(query)} clips"
    except TypeError:
        return repr(query)
