"""Queries: a clip, a selection, an audio file (embedded with the feature set's extractor) or
a vector, turned into vectors and asked of a :class:`~alwidget.search.SearchIndex`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..audio import info as audio_info, printable
from ..features import get_extractor
from ..features.base import extract_clips
from ..store import FeatureSet
from ..store.types import short_hash
from .index import SearchIndex, SearchResult

__all__ = ["embed_file", "search_by_example"]


# -- queries --------------------------------------------------------------------------------


def embed_file(path: str | os.PathLike, feature_set: FeatureSet, *, start_s: float | None = None,
               end_s: float | None = None, extractor=None) -> np.ndarray:
    """The vector (dim,) of an audio file, or of ``[start_s, end_s)`` of it, in a feature set.

    The file is embedded as one window with the feature set's own extractor (found by name
    in :data:`alwidget.features.EXTRACTORS`, or given), which must have the stored set's
    configuration: features of another configuration are not comparable. A window as long
    as the store's clips compares best.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from alwidget.features import LogMel
    >>> from alwidget.store import Store
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).normal(size=32000) * 0.1, 16000)
    >>> fs = Store(":memory:").feature_set("logmel", LogMel().config(), LogMel().dim)
    >>> embed_file(path, fs, start_s=0.5, end_s=1.5).shape
    (296,)
    """
    if extractor is None:
        try:
            extractor = get_extractor(feature_set.extractor)
        except ValueError:
            raise ValueError(f"feature set {feature_set.extractor!r} has no extractor to embed "
                             "an audio file with (it was imported, or its extractor is not "
                             "known); search by clip id or vector instead") from None
    else:
        extractor = get_extractor(extractor)
    config = json.dumps(extractor.config(), sort_keys=True)
    if (extractor.name != feature_set.extractor
            or json.loads(config) != feature_set.config or extractor.dim != feature_set.dim):
        theirs = short_hash(f"{extractor.name}:{config}")
        raise ValueError(
            f"the {extractor.name} extractor here has config hash {theirs} but the stored "
            f"feature set is {feature_set.extractor}:{feature_set.config_hash}; vectors of "
            "different settings are not comparable. Embed the file with the stored settings "
            f"({feature_set.config}) or search another feature set")
    shown = printable(path)
    try:
        duration = audio_info(path).duration
    except Exception as exc:
        raise ValueError(f"cannot read the query audio file {shown}: "
                         f"{type(exc).__name__}: {exc}") from None
    a = 0.0 if start_s is None else float(start_s)
    b = duration if end_s is None else float(end_s)
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b <= duration + 1e-6):
        raise ValueError(f"start_s={start_s!r}, end_s={end_s!r} must satisfy 0 <= start_s < "
                         f"end_s <= {duration:.3f} (the length of {shown} in seconds)")
    try:
        X = extract_clips(extractor, os.fspath(path), np.array([a]), np.array([b - a]))
    except Exception as exc:
        raise ValueError(f"cannot embed the query audio file {shown}: "
                         f"{type(exc).__name__}: {exc}") from None
    return np.asarray(X[0], np.float64)


def _is_path(query) -> bool:
    return isinstance(query, (str, bytes, os.PathLike))


def search_by_example(source, query, *, feature_set: FeatureSet | str | None = None,
                      k: int = 50, metric: str = "cosine", exclude: Iterable[int] | None = None,
                      include_query: bool = False, combine: str = "mean",
                      start_s: float | None = None, end_s: float | None = None) -> SearchResult:
    """The ``k`` clips nearest to an example, nearest first.

    Parameters
    ----------
    source : Store, path of a store, or SearchIndex
        A :class:`SearchIndex` answers at once; a store is loaded into one first (for many
        queries, build the index once with :meth:`SearchIndex.from_store`).
    query : int, sequence of int, path, or array
        * a clip id;
        * several clip ids (e.g. a selection on a map), combined by ``combine``: "mean"
          searches near their centroid (for cosine, the mean of their unit vectors),
          "nearest" scores each clip by its best match among them;
        * an audio file (``str`` or ``Path``), embedded with the feature set's own extractor
          (:func:`embed_file`), the whole file or ``[start_s, end_s)``;
        * a float vector (dim,), or several (m, dim) combined like clips.
    feature_set : FeatureSet or extractor name, optional
        Which feature set of a store (default: its oldest with vectors). Ignored for an index.
    k : int, default 50
    metric : {"cosine", "euclidean"}, default "cosine"
        Scores are cosine similarities (higher is nearer) or Euclidean distances.
    exclude : iterable of int, optional
        Clip ids never returned (e.g. clips labeled already).
    include_query : bool, default False
        Return the query's own clips too (by default they are left out).
    combine : {"mean", "nearest"}, default "mean"
    start_s, end_s : float, optional
        Part of an audio file query, in seconds.

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError
        An unknown clip, an empty selection, an unreadable audio file (named), a store
        without features, an extractor whose settings differ from the stored set's.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> index = SearchIndex(np.arange(1, 101), rng.normal(size=(100, 8)))
    >>> r = search_by_example(index, 5, k=3)
    >>> len(r), 5 in r.clip_ids, r.query
    (3, False, 'clip 5')
    >>> search_by_example(index, [5, 9], k=3, combine="nearest").query
    '2 clips (nearest)'
    >>> search_by_example(index, 1000)
    Traceback (most recent call last):
    ...
    ValueError: clips [1000] are unknown or have no vector here; give clip ids of the store (store.clip_ids())
    """
    index = source if isinstance(source, SearchIndex) else SearchIndex.from_store(source,
                                                                                   feature_set)
    own: list[int] = []
    if _is_path(query):
        if index.feature_set is None:
            raise ValueError("this index was made from vectors without a feature set: it "
                             "cannot embed an audio file; use SearchIndex.from_store")
        Q = embed_file(query, index.feature_set, start_s=start_s, end_s=end_s)
        part = "" if start_s is None and end_s is None else \
            f" {start_s or 0:g}–{'end' if end_s is None else format(end_s, 'g')} s"
        what = f"file {Path(printable(query)).name}{part}"
    elif start_s is not None or end_s is not None:
        raise ValueError("start_s and end_s are for an audio file query only")
    elif isinstance(query, np.ndarray) and query.dtype.kind == "f":
        Q = query
        what = "a vector" if query.ndim == 1 else f"{len(query)} vectors ({combine})"
    elif isinstance(query, (int, np.integer)) and not isinstance(query, (bool, np.bool_)):
        own = [int(query)]
        Q = index.vectors(own)
        what = f"clip {own[0]}"
    elif isinstance(query, (Sequence, np.ndarray, set, frozenset)):
        items = list(query)
        if not items:
            raise ValueError("the selection is empty: select some clips (or give a clip id, "
                             "an audio file or a vector)")
        if all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
               for c in items):
            own = list(dict.fromkeys(int(c) for c in items))
            Q = index.vectors(own)
            what = f"clip {own[0]}" if len(own) == 1 else f"{len(own)} clips ({combine})"
        else:
            Q = np.asarray(items, dtype=np.float64)  # a vector given as a list of numbers
            what = "a vector" if Q.ndim == 1 else f"{len(Q)} vectors ({combine})"
    else:
        raise TypeError(f"query={query!r} must be a clip id, clip ids, an audio file path or "
                        "a vector")
    leave = [] if include_query else own
    if exclude is not None:
        leave = leave + [int(c) for c in exclude]
    return index.search(Q, k=k, metric=metric, exclude=leave or None, combine=combine,
                        description=what)

