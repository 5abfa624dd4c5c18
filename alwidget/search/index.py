"""The index: one feature set in memory, answering exact nearest-neighbour queries by cosine
similarity or Euclidean distance (see :mod:`alwidget.search` for how)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import FeatureSet, Store

__all__ = ["CHUNK_ROWS", "COMBINE", "METRICS", "SearchIndex", "SearchResult",
           "resolve_feature_set"]

#: Metrics: "cosine" (scores are cosine similarities, higher is nearer) and "euclidean"
#: (scores are distances, lower is nearer).
METRICS = ("cosine", "euclidean")
#: How several examples make one query: "mean" (their centroid; for cosine the mean of the
#: unit vectors, so every example weighs the same) or "nearest" (a clip scores its best
#: score over the examples: clips like any one of them).
COMBINE = ("mean", "nearest")
#: Rows of the index per float32 matrix product (bounds the temporaries of a query).
CHUNK_ROWS = 1 << 16

_EPS32 = float(np.finfo(np.float32).eps)
_BUILD_ROWS = 8192  # rows converted to float64 at a time while building


def resolve_feature_set(store: Store, feature_set: FeatureSet | str | None) -> FeatureSet:
    """The feature set to search: the one given, the newest with vectors of the extractor
    named, or the store's default (the oldest set with vectors)."""
    if isinstance(feature_set, FeatureSet):
        return feature_set
    sets = [fs for fs in store.feature_sets() if store.has_features(fs)]
    if not sets:
        raise ValueError(f"{store!r} has no features yet: search needs a feature set with "
                         "vectors; run alwidget.extract_features(store, 'logmel') (or "
                         "`alwidget features --db ...`) first")
    if feature_set is None:
        return store.default_feature_set()  # the oldest set with vectors
    named = [fs for fs in sets if fs.extractor == str(feature_set)]
    if not named:
        raise ValueError(f"feature_set={feature_set!r}: the store has no vectors of that "
                         f"extractor; it has {sorted({fs.extractor for fs in sets})}")
    return named[-1]


@dataclass(frozen=True)
class SearchResult:
    """The clips nearest to a query, nearest first.

    Attributes
    ----------
    clip_ids : ndarray of int64
    scores : ndarray of float64
        Cosine similarity (higher is nearer) or Euclidean distance (lower is nearer).
    metric : str
        One of :data:`METRICS`.
    query : str
        What was searched for, for display ("clip 12", "3 clips (mean)", "file a.wav").
    """

    clip_ids: np.ndarray
    scores: np.ndarray
    metric: str
    query: str

    def __len__(self) -> int:
        return len(self.clip_ids)

    def reason(self, i: int) -> str:
        """Why the ``i``-th result (0-based) was shown, e.g. for a label event's reason.

        Examples
        --------
        >>> r = SearchResult(np.array([7]), np.array([0.9312]), "cosine", "clip 3")
        >>> r.reason(0)
        'search by example: #1 nearest to clip 3 (cosine 0.931)'
        """
        return (f"search by example: #{i + 1} nearest to {self.query} "
                f"({self.metric} {self.scores[i]:.3g})")


class SearchIndex:
    """Exact nearest-neighbour search over one feature set, in memory.

    Parameters
    ----------
    clip_ids : array of int
        One id per row, distinct.
    X : array (n, dim)
        The vectors (stored as float32, centred on their mean).
    feature_set : FeatureSet, optional
        Where the vectors come from (needed to embed audio files with its extractor).

    Attributes
    ----------
    clip_ids : ndarray of int64, ascending
    n, dim : int
    nbytes : int
        Memory the index holds.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> index = SearchIndex([10, 11, 12], X)
    >>> r = index.search(np.array([1.0, 0.0]), k=2)
    >>> r.clip_ids.tolist(), np.round(r.scores, 3).tolist()
    ([10, 11], [1.0, 0.994])
    >>> index.search(np.array([1.0, 0.0]), k=1, metric="euclidean", exclude=[10]).clip_ids
    array([11])
    """

    def __init__(self, clip_ids, X, *, feature_set: FeatureSet | None = None):
        ids = np.asarray(clip_ids, dtype=np.int64).ravel()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != len(ids):
            raise ValueError(f"X of shape {X.shape} does not match {len(ids)} clip ids "
                             "(one row per clip)")
        if len(ids) == 0:
            raise ValueError("no vectors to search: the feature set is empty")
        if not np.all(np.diff(ids) > 0):
            order = np.argsort(ids, kind="stable")
            ids, X = ids[order], X[order]
            if np.any(np.diff(ids) == 0):
                raise ValueError(f"clip ids repeat (e.g. {ids[:-1][np.diff(ids) == 0][:3]}); "
                                 "give each clip one row")
        self.clip_ids = ids
        self.feature_set = feature_set
        self.dim = X.shape[1]
        # centred rows: Euclidean distances keep their digits in float32 (no large norms)
        mean = np.zeros(self.dim, np.float64)
        for a in range(0, len(ids), _BUILD_ROWS):
            mean += X[a:a + _BUILD_ROWS].sum(axis=0, dtype=np.float64)
        self.mean = mean / len(ids)
        self._X = np.empty((len(ids), self.dim), np.float32)
        self._sq = np.empty(len(ids), np.float32)  # squared norms of the centred rows
        self._cn = np.empty(len(ids), np.float32)  # their norms (for error bounds)
        self._norm = np.empty(len(ids), np.float64)  # norms of the raw rows (cosine)
        step = _BUILD_ROWS
        for a in range(0, len(ids), step):
            x = np.asarray(X[a:a + step], np.float64)
            if not np.isfinite(x).all():
                bad = ids[a:a + step][~np.isfinite(x).all(axis=1)][:5].tolist()
                raise ValueError(f"vectors of clips {bad} contain NaN or inf")
            c = x - self.mean
            self._X[a:a + len(x)] = c
            sq = np.einsum("ij,ij->i", c, c)
            self._sq[a:a + len(x)] = sq
            self._cn[a:a + len(x)] = np.sqrt(sq)
            self._norm[a:a + len(x)] = np.sqrt(np.einsum("ij,ij->i", x, x))

    @classmethod
    def from_store(cls, store: Store | str | os.PathLike,
                   feature_set: FeatureSet | str | None = None) -> "SearchIndex":
        """Load one feature set of a store (default: the store's default set).

        ``feature_set`` may be a :class:`~alwidget.store.FeatureSet` or an extractor's name
        (its most recent set with vectors).

        Examples
        --------
        >>> index = SearchIndex.from_store("project.db", "logmel")  # doctest: +SKIP
        """
        opened = not isinstance(store, Store)
        if opened and not Path(store).is_file():
            raise ValueError(f"no store at {str(store)!r}: give the project's database "
                             "(made by alwidget.ingest)")
        store = Store(store) if opened else store  # writes nothing
        try:
            fs = resolve_feature_set(store, feature_set)
            ids, X = store.get_features(fs)
        finally:
            if opened:
                store.close()
        if len(ids) == 0:
            raise ValueError(f"feature set {fs.extractor}:{fs.config_hash} has no vectors; run "
                             f"alwidget.extract_features(store, {fs.extractor!r}) first")
        return cls(ids, X, feature_set=fs)

    @property
    def n(self) -> int:
        return len(self.clip_ids)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._X, self._sq, self._cn, self._norm, self.clip_ids))

    def __repr__(self) -> str:
        what = "" if self.feature_set is None else f" of {self.feature_set.extractor}"
        return f"SearchIndex({self.n} clips x {self.dim}{what}, {self.nbytes / 2**20:.0f} MiB)"

    def rows(self, clip_ids) -> np.ndarray:
        """Row of each clip id; a clear error naming clips the index does not hold."""
        want = np.asarray(clip_ids, dtype=np.int64).ravel()
        pos = np.minimum(np.searchsorted(self.clip_ids, want), self.n - 1)
        bad = want[self.clip_ids[pos] != want]
        if len(bad):
            what = ("" if self.feature_set is None
                    else f" {self.feature_set.extractor} features")
            raise ValueError(f"clips {bad[:5].tolist()} are unknown or have no{what} vector "
                             "here; give clip ids of the store (store.clip_ids())")
        return pos

    def vectors(self, clip_ids) -> np.ndarray:
        """The vectors (float64) of clips, in the order given (as stored, up to the float32
        rounding of the centred rows)."""
        return self._X[self.rows(clip_ids)].astype(np.float64) + self.mean

    def search(self, query, *, k: int = 50, metric: str = "cosine", exclude=None,
               combine: str = "mean", description: str = "a vector") -> SearchResult:
        """The ``k`` clips nearest to ``query``: one vector (dim,) or several (m, dim).

        Parameters
        ----------
        query : array (dim,) or (m, dim)
        k : int, default 50
        metric : {"cosine", "euclidean"}
        exclude : iterable of int, optional
            Clip ids never returned (unknown ids are ignored).
        combine : {"mean", "nearest"}
            How several query vectors are combined (see :data:`COMBINE`).
        description : str
            What the query is, kept in :attr:`SearchResult.query`.
        """
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} must be one of {METRICS}")
        if combine not in COMBINE:
            raise ValueError(f"combine={combine!r} must be one of {COMBINE}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k={k!r} must be an integer >= 1")
        Q = np.asarray(query, dtype=np.float64)
        Q = Q[None, :] if Q.ndim == 1 else Q
        if Q.ndim != 2 or Q.shape[1] != self.dim or len(Q) == 0:
            raise ValueError(f"query of shape {np.shape(query)} must be one vector of length "
                             f"{self.dim} (the feature set's dim) or a non-empty (m, {self.dim})")
        if not np.isfinite(Q).all():
            raise ValueError("the query vector contains NaN or inf")
        if metric == "cosine":
            qn = np.linalg.norm(Q, axis=1)
            if not (qn > 0).all():
                raise ValueError("a query vector is all zeros: cosine similarity is undefined; "
                                 "use metric='euclidean'")
            Q = Q / qn[:, None]
        if combine == "mean" and len(Q) > 1:
            Q = Q.mean(axis=0, keepdims=True)
            if metric == "cosine":
                if not np.linalg.norm(Q) > 0:
                    raise ValueError("the examples' unit vectors cancel out (their mean is "
                                     "zero); use combine='nearest'")
                Q = Q / np.linalg.norm(Q)
        keep = np.ones(self.n, bool)
        if exclude is not None:
            ex = np.asarray(list(exclude) if not isinstance(exclude, np.ndarray) else exclude,
                            np.int64).ravel()
            pos = np.minimum(np.searchsorted(self.clip_ids, ex), self.n - 1)
            keep[pos[self.clip_ids[pos] == ex]] = False
        n_open = int(keep.sum())
        k = min(int(k), n_open)
        if k == 0:
            return SearchResult(np.empty(0, np.int64), np.empty(0), metric, description)
        worse = self._approx(Q, metric)  # float32, lower is nearer
        worse[~keep] = np.inf
        c = min(n_open, 2 * k + 16)
        cand = np.argpartition(worse, c - 1)[:c] if c < self.n else np.flatnonzero(keep)
        exact = self._exact(Q, cand, metric)
        if c < n_open:
            # a row left out could still be among the k nearest if its float32 score, less
            # its error bound, reaches the k-th exact score: score those exactly too
            kth = np.partition(exact, k - 1)[k - 1]
            kth = kth * kth if metric == "euclidean" else kth
            maybe = np.flatnonzero(worse - self._error_bound(Q, metric) <= kth)
            maybe = np.setdiff1d(maybe, cand, assume_unique=True)
            if len(maybe):
                cand = np.concatenate([cand, maybe])
                exact = np.concatenate([exact, self._exact(Q, maybe, metric)])
        order = np.lexsort((self.clip_ids[cand], exact))[:k]
        scores = exact[order] if metric == "euclidean" else -exact[order]
        return SearchResult(self.clip_ids[cand[order]], scores, metric, description)

    # -- the float32 pass and the float64 scores of candidates ---------------------------
    def _approx(self, Q: np.ndarray, metric: str) -> np.ndarray:
        """Per row, float32, lower is nearer: -cosine, or the squared Euclidean distance."""
        Qc = (Q - self.mean) if metric == "euclidean" else Q
        q32 = np.ascontiguousarray(Qc.T, dtype=np.float32)
        shift = (Q @ self.mean).astype(np.float32)  # cosine: x.q = (x - mean).q + mean.q
        qq = (Qc * Qc).sum(axis=1).astype(np.float32)
        out = np.empty(self.n, np.float32)
        for a in range(0, self.n, CHUNK_ROWS):
            s = self._X[a:a + CHUNK_ROWS] @ q32  # (chunk, m)
            if metric == "cosine":
                norm = self._norm[a:a + CHUNK_ROWS]
                best = (s + shift).max(axis=1)
                w = np.where(norm > 0, -best / np.maximum(norm, 1e-30), 0)
            elif len(Q) == 1:
                w = self._sq[a:a + CHUNK_ROWS] - 2 * s[:, 0] + qq[0]
            else:
                w = (self._sq[a:a + CHUNK_ROWS, None] - 2 * s + qq).min(axis=1)
            out[a:a + len(w)] = w
        return out

    def _error_bound(self, Q: np.ndarray, metric: str) -> np.ndarray:
        """Per row, a bound on the error of :meth:`_approx` (float32 arithmetic).

        A float32 dot product of length ``dim`` errs by at most ``dim * eps * |x| |q|``
        (the rows are centred, so ``|x|`` is small); the rest is a few roundings.
        """
        g = 2 * (self.dim + 4) * _EPS32
        cn = self._cn.astype(np.float64)
        if metric == "cosine":  # |q| = 1
            spread = g * cn + 4 * _EPS32 * (cn + np.linalg.norm(self.mean))
            return np.where(self._norm > 0, spread / np.maximum(self._norm, 1e-30), 0) + 1e-12
        qc = float(np.linalg.norm(Q - self.mean, axis=1).max())
        return g * (cn * cn + 2 * cn * qc + qc * qc) + 1e-12

    def _exact(self, Q: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
        """Per candidate row, float64, lower is nearer: -cosine or Euclidean distance."""
        out = np.empty(len(rows), np.float64)
        step = max(1, CHUNK_ROWS // 4)
        for a in range(0, len(rows), step):
            r = rows[a:a + step]
            x = self._X[r].astype(np.float64) + self.mean
            if metric == "cosine":
                norm = self._norm[r]
                cos = (x @ Q.T) / np.maximum(norm, 1e-300)[:, None]
                out[a:a + len(r)] = np.where(norm > 0, -cos.max(axis=1), 0.0)
            else:  # directly, without cancellation
                out[a:a + len(r)] = np.min(
                    [np.sqrt(np.einsum("ij,ij->i", x - q, x - q)) for q in Q], axis=0)
        return out
