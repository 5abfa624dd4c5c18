"""A standard (Breiman) random forest classifier, compiled with numba.

Same algorithm as scikit-learn's ``RandomForestClassifier`` with its defaults
(Gini, bootstrap, ``max_features="sqrt"``, fully grown trees), but one compiled
call grows all trees and one scores all clips, so it has none of the per-tree
Python and joblib overhead that dominates at active-learning sizes (a few to a
few hundred labels, refitted after every label).

How a tree grows (as in scikit-learn's ``BestSplitter``):

* the tree sees a bootstrap sample: ``n`` draws with replacement, kept as a
  count per distinct sample (its weight);
* at each node, candidate features are drawn without replacement until
  ``max_features`` have been examined *and* at least one of them was not
  constant in the node (so a node never stops just because it drew only
  constant features); all features are tried before giving up;
* for each candidate, the node's samples are sorted and every boundary between
  consecutive distinct values (more than 1e-7 apart) whose sides both hold
  ``min_samples_leaf`` distinct samples is scored by weighted Gini; the best
  threshold is the midpoint of the two values (in float64; ``x <= t`` goes left);
* a node is a leaf when it is pure, holds fewer than ``2 * min_samples_leaf``
  (or 2) distinct samples, is at ``max_depth``, or has no valid split; its value
  is the weighted class fractions of its samples.

``predict_proba`` is the mean of the trees' leaf fractions. All trees live in
flat arrays (``node_*_``; ``tree_offsets_[t]`` is tree ``t``'s root), so the
model pickles as plain numpy.
"""

from __future__ import annotations

import numbers
import os

import numba
import numpy as np
from numba import njit, prange
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

__all__ = ["RandomForest"]

_FEATURE_THRESHOLD = 1e-7  # values closer than this are not split apart (as in scikit-learn)
_EPSILON = np.finfo(np.float64).eps  # impurity at or below this is pure
_LEAF = -1  # node_left_ / node_right_ of a leaf; node_feature_ of a leaf is -2 as in sklearn
_NO_MAX_DEPTH = 2**30
_PREDICT_CHUNK = 128  # rows per parallel work item in predict_proba


# --------------------------------------------------------------------------- random numbers
# A tiny explicit-state generator (splitmix64): each tree owns its state, so
# results do not depend on which thread grows which tree.

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _next_u64(state):
    state[0] += _GAMMA
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _rand_below(state, k):
    """Uniform integer in [0, k) (k < 2**32, so the modulo bias is < 2**-32)."""
    return np.int64((_next_u64(state) >> np.uint64(32)) % np.uint64(k))


# --------------------------------------------------------------------------- sorting
@njit(cache=True)
def _sort(keys, vals, n, todo):
    """Sort ``keys[:n]`` ascending in place, moving ``vals`` along with them.

    Quicksort with a median-of-three pivot, three-way partition (fast on
    repeated values) and insertion sort for short runs. Iterative (numba
    cannot cache recursive functions): the larger side waits on the ``todo``
    stack and the smaller is sorted first, so at most log2(n) ranges wait
    (``todo`` has 64 rows).
    """
    todo[0, 0] = 0
    todo[0, 1] = n
    n_todo = 1
    while n_todo > 0:
        n_todo -= 1
        lo, hi = todo[n_todo, 0], todo[n_todo, 1]
        while hi - lo > 16:
            a, b, c = keys[lo], keys[(lo + hi) // 2], keys[hi - 1]
            pivot = max(min(a, b), min(max(a, b), c))
            lt, i, gt = lo, lo, hi  # [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > pivot
            while i < gt:
                if keys[i] < pivot:
                    keys[i], keys[lt] = keys[lt], keys[i]
                    vals[i], vals[lt] = vals[lt], vals[i]
                    lt += 1
                    i += 1
                elif keys[i] > pivot:
                    gt -= 1
                    keys[i], keys[gt] = keys[gt], keys[i]
                    vals[i], vals[gt] = vals[gt], vals[i]
                else:
                    i += 1
            if lt - lo < hi - gt:  # defer the larger side, go on with the smaller
                todo[n_todo, 0], todo[n_todo, 1] = gt, hi
                hi = lt
            else:
                todo[n_todo, 0], todo[n_todo, 1] = lo, lt
                lo = gt
            n_todo += 1
        for i in range(lo + 1, hi):
            k, v = keys[i], vals[i]
            j = i - 1
            while j >= lo and keys[j] > k:
                keys[j + 1] = keys[j]
                vals[j + 1] = vals[j]
                j -= 1
            keys[j + 1] = k
            vals[j + 1] = v


# --------------------------------------------------------------------------- growing a tree
@njit(cache=True)
def _best_split(X, y, weight, samples, start, end, node_counts, node_weight, features,
                max_features, min_samples_leaf, xs, ids, todo, left_counts, state):
    """Best Gini split of ``samples[start:end]``: (feature, threshold), feature -1 if none.

    Maximises ``sum_k L_k**2 / W_L + sum_k R_k**2 / W_R`` (weighted class
    counts left/right), which is equivalent to minimising the children's
    weighted Gini impurity; ties keep the first split found.
    """
    n_features = X.shape[1]
    m = end - start
    best_score = -np.inf
    best_feature = -1
    best_threshold = 0.0
    n_visited = 0
    found_nonconstant = False
    for j in range(n_features):
        if n_visited >= max_features and found_nonconstant:
            break
        r = j + _rand_below(state, n_features - j)  # draw without replacement (Fisher-Yates)
        features[j], features[r] = features[r], features[j]
        f = features[j]
        n_visited += 1

        for p in range(m):
            s = samples[start + p]
            xs[p] = X[s, f]
            ids[p] = s
        _sort(xs, ids, m, todo)
        if xs[m - 1] <= xs[0] + _FEATURE_THRESHOLD:
            continue  # constant in this node
        found_nonconstant = True

        left_counts[:] = 0.0
        w_left = 0.0
        for p in range(m - 1):  # candidate boundary between sorted positions p and p + 1
            s = ids[p]
            left_counts[y[s]] += weight[s]
            w_left += weight[s]
            if xs[p + 1] <= xs[p] + _FEATURE_THRESHOLD:
                continue
            if p + 1 < min_samples_leaf or m - p - 1 < min_samples_leaf:
                continue
            sq_left = 0.0
            sq_right = 0.0
            for k in range(left_counts.size):
                sq_left += left_counts[k] * left_counts[k]
                rk = node_counts[k] - left_counts[k]
                sq_right += rk * rk
            score = sq_left / w_left + sq_right / (node_weight - w_left)
            if score > best_score:
                best_score = score
                best_feature = f
                best_threshold = np.float64(xs[p]) / 2.0 + np.float64(xs[p + 1]) / 2.0
                if best_threshold == xs[p + 1] or best_threshold == np.inf:
                    best_threshold = np.float64(xs[p])
    return best_feature, best_threshold


@njit(cache=True)
def _push(stack, top, start, end, depth, parent, is_left):
    stack[top, 0] = start
    stack[top, 1] = end
    stack[top, 2] = depth
    stack[top, 3] = parent
    stack[top, 4] = is_left


@njit(cache=True)
def _grow_tree(X, y, n_classes, max_features, min_samples_leaf, max_depth, bootstrap, seed,
               feature, threshold, left, right, value):
    """Grow one tree into the given node arrays (depth first, preorder); return its node count."""
    n, n_features = X.shape
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    _next_u64(state)  # decorrelate neighbouring seeds

    weight = np.zeros(n, np.float64)
    if bootstrap:
        for _ in range(n):
            weight[_rand_below(state, n)] += 1.0
    else:
        weight[:] = 1.0
    samples = np.flatnonzero(weight > 0.0)  # distinct in-bag samples; nodes own slices of it

    m = samples.size
    features = np.arange(n_features)
    xs = np.empty(m, X.dtype)
    ids = np.empty(m, samples.dtype)
    todo = np.empty((64, 2), np.int64)
    counts = np.empty(n_classes, np.float64)
    left_counts = np.empty(n_classes, np.float64)
    # stack of nodes to grow: start, end, depth, parent, is_left
    stack = np.empty((m + 2, 5), np.int64)
    _push(stack, 0, 0, m, 0, -1, 0)
    top = 1
    n_nodes = 0
    while top > 0:
        top -= 1
        start, end, depth, parent, is_left = (stack[top, 0], stack[top, 1], stack[top, 2],
                                              stack[top, 3], stack[top, 4])
        node = n_nodes
        n_nodes += 1
        if parent >= 0:
            if is_left:
                left[parent] = node
            else:
                right[parent] = node

        counts[:] = 0.0
        for p in range(start, end):
            counts[y[samples[p]]] += weight[samples[p]]
        node_weight = counts.sum()
        value[node] = counts / node_weight
        impurity = 1.0 - np.sum(value[node] ** 2)
        feature[node] = -2
        threshold[node] = -2.0
        left[node] = _LEAF
        right[node] = _LEAF
        if (depth >= max_depth or end - start < 2 or end - start < 2 * min_samples_leaf
                or impurity <= _EPSILON):
            continue
        f, t = _best_split(X, y, weight, samples, start, end, counts, node_weight, features,
                           max_features, min_samples_leaf, xs, ids, todo, left_counts, state)
        if f < 0:
            continue
        feature[node] = f
        threshold[node] = t
        i, j = start, end - 1  # partition samples[start:end]: x <= t first
        while i <= j:
            if X[samples[i], f] <= t:
                i += 1
            else:
                samples[i], samples[j] = samples[j], samples[i]
                j -= 1
        _push(stack, top, i, end, depth + 1, node, 0)  # right pushed first: left grows first
        _push(stack, top + 1, start, i, depth + 1, node, 1)
        top += 2
    return n_nodes


@njit(parallel=True, cache=True)
def _grow_forest(X, y, n_classes, max_features, min_samples_leaf, max_depth, bootstrap, seeds):
    """Grow one tree per seed, in parallel; return padded per-tree node arrays and node counts."""
    n_trees = seeds.size
    max_nodes = 2 * X.shape[0] - 1  # a tree has at most one leaf per distinct sample
    feature = np.empty((n_trees, max_nodes), np.int32)
    threshold = np.empty((n_trees, max_nodes), np.float64)
    left = np.empty((n_trees, max_nodes), np.int32)
    right = np.empty((n_trees, max_nodes), np.int32)
    value = np.empty((n_trees, max_nodes, n_classes), np.float64)
    n_nodes = np.empty(n_trees, np.int64)
    for t in prange(n_trees):
        n_nodes[t] = _grow_tree(X, y, n_classes, max_features, min_samples_leaf, max_depth,
                                bootstrap, seeds[t], feature[t], threshold[t], left[t],
                                right[t], value[t])
    return feature, threshold, left, right, value, n_nodes


# --------------------------------------------------------------------------- prediction
@njit(parallel=True, cache=True)
def _forest_proba(X, tree_offsets, feature, threshold, left, right, value):
    """Mean over trees of the leaf class fractions, parallel over chunks of rows."""
    n = X.shape[0]
    n_trees = tree_offsets.size - 1
    out = np.zeros((n, value.shape[1]), np.float64)
    n_chunks = (n + _PREDICT_CHUNK - 1) // _PREDICT_CHUNK
    for c in prange(n_chunks):
        lo = c * _PREDICT_CHUNK
        hi = min(lo + _PREDICT_CHUNK, n)
        for t in range(n_trees):  # tree-major within a chunk keeps one tree in cache
            root = tree_offsets[t]
            for i in range(lo, hi):
                node = root
                while left[node] != _LEAF:
                    if X[i, feature[node]] <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                for k in range(value.shape[1]):
                    out[i, k] += value[node, k]
    return out / n_trees


# --------------------------------------------------------------------------- the estimator
def _n_threads(n_jobs) -> int:
    """joblib-style n_jobs (None = 1, -1 = all cores, -2 = all but one) capped at numba's pool."""
    n = 1 if n_jobs is None else n_jobs if n_jobs > 0 else (os.cpu_count() or 1) + 1 + n_jobs
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


class _Threads:
    """Run numba's parallel kernels on ``n`` threads (thread-local; restored on exit)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.previous = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.previous)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


class RandomForest(ClassifierMixin, BaseEstimator):
    """Random forest classifier (Breiman), compiled with numba; fast at small sizes.

    The algorithm of scikit-learn's ``RandomForestClassifier`` (Gini,
    bootstrap, best split among ``max_features`` random features, midpoint
    thresholds, leaves holding class fractions, probabilities averaged over
    trees), without its per-tree overhead: fitting 100 trees on 200 labeled
    clips takes milliseconds. See the module docstring for the growth rules.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of trees.
    max_features : {"sqrt", "log2"}, int, float or None, default="sqrt"
        Features drawn at each split: ``"sqrt"``/``"log2"`` of the number of
        features (at least 1), an int count, a float fraction in (0, 1], or
        None for all.
    min_samples_leaf : int, default=1
        Fewest distinct (in-bag) samples each side of a split must keep.
    max_depth : int or None, default=None
        Deepest level a node may have (root is 0); None grows until pure.
    bootstrap : bool, default=True
        Grow each tree on ``n`` draws with replacement; False uses every
        sample once.
    random_state : int, RandomState instance or None, default=None
        Seeds the trees (one seed per tree is drawn up front, so results do
        not depend on ``n_jobs``).
    n_jobs : int or None, default=-1
        Threads for fitting (over trees) and predicting (over rows); -1 means
        all cores, None means 1.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (sorted, as by ``np.unique``), the column order of
        :meth:`predict_proba`.
    n_classes_ : int
    n_features_in_ : int
    max_features_ : int
        The resolved number of features drawn per split.
    tree_offsets_ : ndarray of shape (n_estimators + 1,)
        Tree ``t`` holds nodes ``tree_offsets_[t]`` to ``tree_offsets_[t+1] - 1``;
        its root is the first.
    node_feature_, node_threshold_ : ndarray of shape (n_nodes,)
        Split of each node (``x[feature] <= threshold`` goes left); -2 at leaves.
    node_left_, node_right_ : ndarray of shape (n_nodes,)
        Children (global node indices), -1 at leaves.
    node_value_ : ndarray of shape (n_nodes, n_classes)
        Weighted class fractions of the node's in-bag samples.

    Notes
    -----
    Differences from scikit-learn: its random number stream (so a given
    ``random_state`` grows different, equally distributed trees), no sample
    weights, ``min_samples_split`` fixed at 2, ``min_samples_leaf`` only as a
    count. Fitting holds ``n_estimators x (2 n - 1)`` node slots briefly.
    The parallel kernels are thread-safe under numba's ``omp`` or ``tbb``
    threading layers (not ``workqueue``) when called from several threads.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = ["rain", "rain", "bird", "bird"]
    >>> forest = RandomForest(n_estimators=1, bootstrap=False, random_state=0).fit(X, y)
    >>> forest.classes_
    array(['bird', 'rain'], dtype='<U4')
    >>> forest.node_threshold_[0]
    np.float64(1.5)
    >>> forest.predict_proba([[1.4], [1.6]])
    array([[0., 1.],
           [1., 0.]])
    >>> RandomForest(random_state=0).fit(X, y).predict([[0.2], [2.9]])
    array(['rain', 'bird'], dtype='<U4')
    """

    def __init__(self, n_estimators=100, max_features="sqrt", min_samples_leaf=1, max_depth=None,
                 bootstrap=True, random_state=None, n_jobs=-1):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self, n_features: int) -> int:
        """Validate the parameters; return the resolved max_features."""
        if not _is_int(self.n_estimators) or self.n_estimators < 1:
            raise ValueError(f"n_estimators={self.n_estimators!r} must be an int >= 1")
        if not _is_int(self.min_samples_leaf) or self.min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf={self.min_samples_leaf!r} must be an int >= 1")
        if self.max_depth is not None and (not _is_int(self.max_depth) or self.max_depth < 1):
            raise ValueError(f"max_depth={self.max_depth!r} must be None or an int >= 1")
        if not isinstance(self.bootstrap, (bool, np.bool_)):
            raise ValueError(f"bootstrap={self.bootstrap!r} must be True or False")
        if self.n_jobs is not None and (not _is_int(self.n_jobs) or self.n_jobs == 0):
            raise ValueError(f"n_jobs={self.n_jobs!r} must be None or a nonzero int "
                             "(-1 = all cores)")
        mf = self.max_features
        if mf is None:
            return n_features
        if isinstance(mf, str) and mf in ("sqrt", "log2"):
            return max(1, int(np.sqrt(n_features) if mf == "sqrt" else np.log2(n_features)))
        if _is_int(mf):
            if not 1 <= mf <= n_features:
                raise ValueError(f"max_features={mf!r} must be between 1 and the number of "
                                 f"features ({n_features})")
            return int(mf)
        if isinstance(mf, numbers.Real) and not isinstance(mf, bool) and 0.0 < mf <= 1.0:
            return max(1, int(mf * n_features))
        raise ValueError(f"max_features={mf!r} must be 'sqrt', 'log2', None, an int >= 1 "
                         "or a float in (0, 1]")

    def fit(self, X, y):
        """Grow the forest on features ``X`` (n_samples, n_features) and labels ``y``.

        Returns
        -------
        self : RandomForest
        """
        X, y = check_X_y(X, y, dtype=np.float32, order="C")
        check_classification_targets(y)
        max_features = self._check_params(X.shape[1])
        classes, y_code = np.unique(y, return_inverse=True)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_estimators).astype(np.int64)
        max_depth = _NO_MAX_DEPTH if self.max_depth is None else int(self.max_depth)

        with _Threads(_n_threads(self.n_jobs)):
            feature, threshold, left, right, value, n_nodes = _grow_forest(
                X, y_code.astype(np.intp), len(classes), max_features,
                int(self.min_samples_leaf), max_depth, bool(self.bootstrap), seeds)

        # pack the padded per-tree arrays into flat ones; children become global indices
        offsets = np.zeros(len(seeds) + 1, np.int64)
        np.cumsum(n_nodes, out=offsets[1:])
        used = np.arange(feature.shape[1]) < n_nodes[:, None]
        shift = offsets[:-1, None].astype(np.int32)
        self.classes_ = classes
        self.n_classes_ = len(classes)
        self.n_features_in_ = X.shape[1]
        self.max_features_ = max_features
        self.tree_offsets_ = offsets
        self.node_feature_ = feature[used]
        self.node_threshold_ = threshold[used]
        self.node_left_ = np.where(left == _LEAF, _LEAF, left + shift)[used]
        self.node_right_ = np.where(right == _LEAF, _LEAF, right + shift)[used]
        self.node_value_ = value[used]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: mean over trees of the leaf class fractions.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        check_is_fitted(self, "tree_offsets_")
        X = check_array(X, dtype=np.float32, order="C")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but RandomForest was fitted with "
                             f"{self.n_features_in_} features")
        with _Threads(_n_threads(self.n_jobs)):
            return _forest_proba(X, self.tree_offsets_, self.node_feature_, self.node_threshold_,
                                 self.node_left_, self.node_right_, self.node_value_)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row (the first in ``classes_`` on ties)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
