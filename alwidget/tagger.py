"""A tagger's stored class probabilities: which sets hold them, and each clip's top-1 class.

A tagger (``yamnet-tags``, ``panns-tags``, or probabilities imported with
``alwidget.import_features(..., column_names=[...])``) is stored as a feature set whose
columns carry names, one class per column. This module only reads the store, so anything
downstream (the session, the map, strategies) can use it without importing the extractors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .store import FeatureSet, Store

__all__ = ["tagger_sets", "top1"]

#: Extractors of the built-in taggers, and how to record their class names in an older store.
_RERUN = {
    "yamnet-tags": "run alwidget.extract_features(store, 'yamnet-tags') again to record the "
                   "class names; it computes nothing new",
    "panns-tags": "run alwidget.extract_features(store, PANNsTags(checkpoint, class_labels="
                  "'class_labels_indices.csv')) again to record the class names; it computes "
                  "nothing new",
}


def tagger_sets(store: Store) -> list[FeatureSet]:
    """The store's feature sets that name their columns (class probabilities) and hold
    vectors, oldest first (an interrupted tagger run leaves an empty set: never listed).

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> tagger_sets(store)
    []
    >>> fs = store.feature_set("precomputed:tags", {}, 2, columns=["bird", "rain"])
    >>> tagger_sets(store)  # no probabilities yet
    []
    """
    return [fs for fs in store.feature_sets()
            if fs.columns is not None and store.has_features(fs)]


def top1(store: Store, feature_set: FeatureSet | None = None,
         column_names: Sequence[str] | None = None):
    """Each clip's most likely class by a tagger's stored probabilities.

    Parameters
    ----------
    store : Store
    feature_set : FeatureSet, optional
        The tagger's probabilities; default the newest of :func:`tagger_sets`.
    column_names : sequence of str, optional
        One class name per column; default the names stored with ``feature_set``.

    Returns
    -------
    clip_ids : ndarray of int64
        The clips that have the tagger's probabilities, ascending.
    names : ndarray of object (str)
        Each clip's most likely class.
    probability : ndarray of float32
        Its probability.

    Raises
    ------
    ValueError
        When the store has no tagger probabilities, or the set's class names are unknown
        (the message says how to record them), or ``column_names`` has the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(":memory:")
    >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 32000, 1, "WAV", "PCM_16",
    ...                              "h", 0), [(0.0, 1.0), (1.0, 1.0)])
    >>> fs = store.feature_set("precomputed:tags", {}, 3, columns=["bird", "rain", "wind"])
    >>> store.put_features(fs, [1, 2], np.array([[0.9, 0.1, 0.0], [0.2, 0.1, 0.7]]))
    >>> ids, names, p = top1(store)
    >>> ids.tolist(), names.tolist(), [round(float(x), 2) for x in p]
    ([1, 2], ['bird', 'wind'], [0.9, 0.7])
    """
    if feature_set is None:
        feature_set = _default_set(store)
    if column_names is not None:
        names_of = [str(n) for n in column_names]
        if len(names_of) != feature_set.dim:
            raise ValueError(f"{len(names_of)} class names for the {feature_set.dim} columns of "
                             f"{feature_set.extractor}; pass column_names= with one name per "
                             "column")
    elif feature_set.columns is not None:
        names_of = list(feature_set.columns)
    else:
        how = _RERUN.get(feature_set.extractor) or (
            "import it again with alwidget.import_features(..., column_names=[...]) under the "
            "same name, or pass column_names= (one name per column) here")
        raise ValueError(f"the class names of {feature_set.extractor} are not stored; {how}")
    ids, P = store.get_features(feature_set)
    best = P.argmax(axis=1) if len(P) else np.empty(0, np.int64)
    names = np.asarray(names_of, dtype=object)[best]
    return ids, names, P[np.arange(len(P)), best].astype(np.float32)


def _default_set(store: Store) -> FeatureSet:
    """The newest tagger set, or a clear error saying how to get one."""
    sets = tagger_sets(store)
    if sets:
        return sets[-1]
    unnamed = [fs for fs in store.feature_sets() if fs.extractor in _RERUN]
    if unnamed:
        raise ValueError(f"the class names of {unnamed[-1].extractor} are not stored; "
                         f"{_RERUN[unnamed[-1].extractor]}")
    raise ValueError("the store has no tagger probabilities; run alwidget.extract_features("
                     "store, 'yamnet-tags'), or import a tagger's probabilities with "
                     "alwidget.import_features(..., column_names=[...])")
