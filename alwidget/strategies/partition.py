"""Partition a large pool into disjoint sets by a pretrained tagger (the data-centric framework).

Each clip goes to the set of its tagger's top-1 class when the tagger is
confident, and to one "uncertain" set otherwise; rare classes are pooled into
"other". Active learning can then run per set (e.g. medoids per set), so a
batch covers every kind of sound the tagger sees, not only the dominant one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UNCERTAIN", "OTHER", "disjoint_sets", "partition_by_tagger"]

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


def disjoint_sets(names, probability, max_set: int) -> list[np.ndarray]:
    """The framework's disjoint sets: a pool too large for one round, split so that the first
    sets hold the most uncertain and most diverse clips.

    With ``n`` clips, ``K = ceil(n / max_set)`` sets. The clips of each top-1 class (the
    tagger's), ``m`` of them, sorted by the tagger's probability of that class, lowest (least
    certain) first, go by the framework's three rules:

    1. ``m < K``: all of them to the first set (a rare class is seen in the first round);
    2. ``m = K``: one to each set, the least certain to the first;
    3. ``m > K``: spread evenly, ``m / K`` to each set (sizes differing by one at most,
       the larger first), in the same order: the least certain to the first sets.

    **Sizes stay within** ``max_set``: clips are placed in order of their rule's set, least
    certain first, and a clip whose set is full goes to the next set with room. As ``n <= K *
    max_set``, every clip finds one, and a clip never moves to an earlier set than its rule's.
    A NaN probability counts as the least certain.

    Parameters
    ----------
    names : array of str
        The tagger's top-1 class per clip (e.g. :func:`alwidget.tagger.top1`).
    probability : array of float
        The tagger's probability of that class.
    max_set : int
        The most clips one set (one round's pool) may hold.

    Returns
    -------
    list of ndarray of int64
        ``K`` disjoint sets of positions into ``names`` (every position in exactly one),
        each ordered least certain first.

    Examples
    --------
    Nine clips, at most four per set, so ``K = 3`` sets. "Owl" has 1 clip (rule 1: the first
    set), "Rain" 3 (rule 2: one per set, the least certain first), "Wind" 5 (rule 3: 2, 2, 1,
    least certain first):

    >>> names = ["Owl", "Rain", "Rain", "Rain", "Wind", "Wind", "Wind", "Wind", "Wind"]
    >>> prob = [0.9, 0.8, 0.4, 0.6, 0.1, 0.5, 0.3, 0.9, 0.7]
    >>> [s.tolist() for s in disjoint_sets(names, prob, max_set=4)]
    [[4, 6, 2, 0], [5, 3, 8], [1, 7]]

    Set 1 takes Wind's two least certain clips (4, 6), Rain's least certain (2) and the owl
    (0); set 2 the next (5, 8; 3); set 3 the most certain of each class (7; 1).
    """
    names = np.asarray(names, dtype=object).astype(str)
    probability = np.asarray(probability, dtype=np.float64)
    if names.shape != probability.shape or names.ndim != 1:
        raise ValueError(f"names {names.shape} and probability {probability.shape} must be "
                         "1-d arrays of the same length")
    if isinstance(max_set, bool) or not isinstance(max_set, (int, np.integer)) or max_set < 1:
        raise ValueError(f"max_set={max_set!r} must be an integer >= 1")
    n = len(names)
    if n == 0:
        return []
    k = -(-n // int(max_set))
    certainty = np.nan_to_num(probability, nan=-np.inf)
    rule_set = np.empty(n, np.int64)
    for name in np.unique(names):
        members = np.flatnonzero(names == name)
        members = members[np.lexsort((members, certainty[members]))]  # least certain first
        m = len(members)
        if m < k:
            rule_set[members] = 0
        elif m == k:
            rule_set[members] = np.arange(k)
        else:
            for j, chunk in enumerate(np.array_split(members, k)):
                rule_set[chunk] = j
    order = np.lexsort((np.arange(n), certainty, rule_set))  # by rule's set, least certain first
    sets: list[list[int]] = [[] for _ in range(k)]
    j = 0
    for position in order:
        j = max(j, int(rule_set[position]))
        while len(sets[j]) >= max_set:  # full: the next set with room
            j += 1
        sets[j].append(int(position))
    out = []
    for members in sets:  # each set least certain first
        members = np.asarray(members, np.int64)
        out.append(members[np.lexsort((members, certainty[members]))])
    return out
