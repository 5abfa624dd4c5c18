"""Partition a large pool into disjoint sets by a pretrained tagger (the data-centric framework).

Each clip goes to the set of its tagger's top-1 class when the tagger is
confident, and to one "uncertain" set otherwise; rare classes are pooled into
"other". Active learning can then run per set (e.g. medoids per set), so a
batch covers every kind of sound the tagger sees, not only the dominant one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UNCERTAIN", "OTHER", "partition_by_tagger"]

UNCERTAIN = "uncertain"
OTHER = "other"


def partition_by_tagger(names, probability, *, min_confidence: float = 0.5,
                        min_size: int = 1) -> dict[str, np.ndarray]:
    """Disjoint sets of pool positions, keyed by the tagger's top-1 class.

    Parameters
    ----------
    names : array of str
        Top-1 class per clip (e.g. from ``session.pool.tagger_top1()`` or
        :func:`alwidget.tagger.top1`).
    probability : array of float
        The tagger's probability of that class.
    min_confidence : float, default 0.5
        Clips below it go to ``"uncertain"``.
    min_size : int, default 1
        Classes with fewer confident clips are pooled into ``"other"``.

    Returns
    -------
    dict of str to ndarray of int64
        Every position appears in exactly one set; sets are ordered largest first.

    Examples
    --------
    >>> parts = partition_by_tagger(["Bird", "Bird", "Rain", "Bird"], [0.9, 0.2, 0.8, 0.7])
    >>> {k: v.tolist() for k, v in parts.items()}
    {'Bird': [0, 3], 'Rain': [2], 'uncertain': [1]}
    """
    names = np.asarray(names, dtype=object).astype(str)
    probability = np.asarray(probability, dtype=np.float64)
    if names.shape != probability.shape or names.ndim != 1:
        raise ValueError(f"names {names.shape} and probability {probability.shape} must be "
                         "1-d arrays of the same length")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence={min_confidence!r} must be in [0, 1]")
    if min_size < 1:
        raise ValueError(f"min_size={min_size!r} must be >= 1")
    confident = np.nan_to_num(probability, nan=-1.0) >= min_confidence
    key = np.where(confident, names, UNCERTAIN)
    kinds, counts = np.unique(key[confident], return_counts=True)
    small = {str(k) for k, c in zip(kinds, counts) if c < min_size}
    if small:
        key = np.where(np.isin(key, list(small)), OTHER, key)
    sets = {str(k): np.flatnonzero(key == k) for k in np.unique(key)}
    return dict(sorted(sets.items(), key=lambda kv: (-len(kv[1]), kv[0])))
