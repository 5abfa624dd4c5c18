"""A standard (Breiman) random forest classifier, compiled with numba.

Same algorithm as scikit-learn's ``RandomForestClassifier`` with its defaults
(Gini, bootstrap, ``max_features="sqrt"``, fully grown trees), but one compiled
call grows all trees and one scores all clips, so it has none of the per-tree
Python and joblib overhead that dominates at active-learning sizes (a few to a
few hundred labels, refitted after every label).

How a tree grows (as in scikit-learn's ``BestSplitter``):

* the tree sees a bootstrap sample: ``n`` draws with replacement, kept as a
  count per distinct sample (its weight); with ``class_weight``, each draw
  picks a sample with probability proportional to its class's weight, and
  without bootstrap every sample is kept once, weighted by its class's weight
  (scikit-learn's semantics since 1.9);
* at each node, candidate features are drawn without replacement until
  ``max_features`` have been examined *and* at least one of them was not
  constant in the node (drawing goes on while all drawn were constant, so a
  node is never a leaf for lack of a non-constant draw);
* for each candidate, the node's samples are put in order and every boundary
  between consecutive distinct values (more than 1e-7 apart) whose sides both
  hold ``min_samples_leaf`` distinct samples is scored by weighted Gini; the
  best threshold is the midpoint of the two values (float64; ``x <= t`` goes left);
* a node is a leaf when it is pure, holds fewer than ``2 * min_samples_leaf``
  (or 2) distinct samples, is at ``max_depth``, or has no valid split; its value
  is the weighted class fractions of its samples.

``predict_proba`` is the mean of the trees' leaf fractions. All trees live in
flat arrays (``node_*_``; ``tree_offsets_[t]`` is tree ``t``'s root), so the
model pickles as plain numpy.

Speed: trees grow in parallel (numba ``prange``), each from its own seed. A
large node orders a feature's values by picking its samples out of an order
computed once per fit, a small node by sorting. Prediction is parallel over
rows; leaves are their own children, so every row takes a tree's full depth
in branch-free steps, eight rows in lockstep. Timings: ``benchmarks/bench_forest.py``.

Compiling: the kernels are compiled on first use (about 10 s) and cached on
disk by numba; :func:`warm_up` does it ahead of time, e.g. at install or in a
background thread when a labeling session starts.
"""

from __future__ import annotations

import numbers
import os
import threading

import numba
import numpy as np
from numba import njit, prange
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

__all__ = ["RandomForest", "warm_up"]

_FEATURE_THRESHOLD = 1e-7  # values closer than this are not split apart (as in scikit-learn)
_EPSILON = np.finfo(np.float64).eps  # impurity at or below this is pure
_NO_MAX_DEPTH = 2**30
_PREDICT_CHUNK = 512  # most rows per parallel work item in predict_proba
_GROUP = 8  # rows traversing a tree in lockstep


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
    """Uniform integer in [0, k) (modulo bias below k / 2**64: negligible)."""
    return np.int64(_next_u64(state) % np.uint64(k))


@njit(cache=True)
def _draw_weighted(state, cumulative):
    """Index ``i`` drawn with probability proportional to ``cumulative[i] - cumulative[i - 1]``.

    ``cumulative`` is the running sum of positive weights; a uniform number
    in [0, total) is looked up by bisection (the first entry above it).
    """
    n = cumulative.size
    u = np.float64(_next_u64(state) >> np.uint64(11)) * 2.0**-53 * cumulative[n - 1]
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


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


# --------------------------------------------------------------------------- scoring splits
# Both scans go through a node's samples in the order of one feature's values and
# score every boundary between distinct values whose sides both keep
# ``min_samples_leaf`` distinct samples by ``sum_k L_k**2 / W_L + sum_k R_k**2 / W_R``
# (weighted class counts left and right; larger is better), which is equivalent to
# minimising the children's weighted Gini impurity. They return the best score if it
# beats ``best_score`` (ties keep the earlier split) and its position, else -1.
@njit(cache=True)
def _scan_incremental(xs, ids, m, y, weight, node_counts, node_sq, node_weight,
                      min_samples_leaf, left_counts, best_score):
    """Scan with the sums of squares updated per sample: exact for integer weights."""
    left_counts[:] = 0.0
    w_left = 0.0
    sq_left = 0.0
    sq_right = node_sq
    best_p = -1
    for p in range(m - 1):  # boundary between sorted positions p and p + 1
        s = ids[p]
        w = weight[s]
        c = y[s]
        a = left_counts[c]
        sq_left += w * (2.0 * a + w)  # (a + w)**2 - a**2
        sq_right += w * (w - 2.0 * (node_counts[c] - a))
        left_counts[c] = a + w
        w_left += w
        if xs[p + 1] <= xs[p] + _FEATURE_THRESHOLD:
            continue
        if p + 1 < min_samples_leaf or m - p - 1 < min_samples_leaf:
            continue
        score = sq_left / w_left + sq_right / (node_weight - w_left)
        if score > best_score:
            best_score = score
            best_p = p
    return best_score, best_p


@njit(cache=True)
def _scan_recomputed(xs, ids, m, y, weight, node_counts, node_weight, min_samples_leaf,
                     left_counts, best_score):
    """Scan with the sums of squares recomputed at each boundary, for non-integer weights.

    Per-sample increments of the sums of squares would accumulate rounding
    error along the scan with fractional weights (class weights without
    bootstrap); here only the class weights accumulate, and the right side's
    are the node's minus the left's, as in scikit-learn's Gini criterion.
    """
    left_counts[:] = 0.0
    w_left = 0.0
    best_p = -1
    for p in range(m - 1):
        s = ids[p]
        w = weight[s]
        left_counts[y[s]] += w
        w_left += w
        if xs[p + 1] <= xs[p] + _FEATURE_THRESHOLD:
            continue
        if p + 1 < min_samples_leaf or m - p - 1 < min_samples_leaf:
            continue
        sq_left = 0.0
        sq_right = 0.0
        for k in range(node_counts.size):
            sq_left += left_counts[k] * left_counts[k]
            sq_right += (node_counts[k] - left_counts[k]) ** 2
        score = sq_left / w_left + sq_right / (node_weight - w_left)
        if score > best_score:
            best_score = score
            best_p = p
    return best_score, best_p


# --------------------------------------------------------------------------- growing a tree
@njit(cache=True)
def _best_split(X, y, weight, integer_weights, samples, start, end, node, node_of, order,
                sorted_x, node_counts, node_weight, features, max_features, min_samples_leaf,
                xs, ids, todo, left_counts, state):
    """Best Gini split of the node holding ``samples[start:end]``: (feature, threshold).

    Returns feature -1 when no split is valid. Maximises
    ``sum_k L_k**2 / W_L + sum_k R_k**2 / W_R`` (weighted class counts left and
    right), which is equivalent to minimising the children's weighted Gini
    impurity; ties keep the first split found.

    A candidate feature's values in the node are put in order either by
    sorting them (small nodes) or, for large nodes, by picking the node's
    samples out of the whole training set's presorted order (``order``,
    ``sorted_x``), a branch-free linear pass that is cheaper than a sort.
    """
    n, n_features = X.shape
    n_classes = node_counts.size
    m = end - start
    use_presorted = 4.0 * m * np.log2(m) > n  # where picking beats sorting
    node_sq = 0.0
    for k in range(n_classes):
        node_sq += node_counts[k] * node_counts[k]
    if use_presorted:
        for p in range(start, end):
            node_of[samples[p]] = node
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

        if use_presorted:
            k = 0
            for q in range(n):
                s = order[f, q]
                xs[k] = sorted_x[f, q]
                ids[k] = s
                k += node_of[s] == node
        else:
            for p in range(m):
                s = samples[start + p]
                xs[p] = X[s, f]
                ids[p] = s
            _sort(xs, ids, m, todo)
        if xs[m - 1] <= xs[0] + _FEATURE_THRESHOLD:
            continue  # constant in this node
        found_nonconstant = True

        if integer_weights:
            best_score, best_p = _scan_incremental(xs, ids, m, y, weight, node_counts, node_sq,
                                                   node_weight, min_samples_leaf, left_counts,
                                                   best_score)
        else:
            best_score, best_p = _scan_recomputed(xs, ids, m, y, weight, node_counts,
                                                  node_weight, min_samples_leaf, left_counts,
                                                  best_score)
        if best_p >= 0:
            best_feature = f
            best_threshold = np.float64(xs[best_p]) / 2.0 + np.float64(xs[best_p + 1]) / 2.0
            if best_threshold == xs[best_p + 1] or best_threshold == np.inf:
                best_threshold = np.float64(xs[best_p])
    return best_feature, best_threshold


@njit(cache=True)
def _grow_tree(X, y, n_classes, sample_weight, cumulative_weight, weighted_draws,
               integer_weights, order, sorted_x, max_features, min_samples_leaf, max_depth,
               bootstrap, seed, feature, threshold, left, right, value):
    """Grow one tree into the given node arrays; return (node count, depth).

    With bootstrap, a sample's weight in the tree is the number of times it
    was drawn, each draw picking sample ``s`` with probability proportional
    to ``sample_weight[s]`` (uniformly unless ``weighted_draws``); without,
    it is ``sample_weight[s]``. Children of a split are numbered as a pair
    (right = left + 1) when the split is made; a leaf is its own child, with
    threshold +inf.
    """
    n, n_features = X.shape
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    _next_u64(state)  # decorrelate neighbouring seeds

    weight = np.zeros(n, np.float64)
    if bootstrap and weighted_draws:  # draw probability proportional to the sample's weight
        for _ in range(n):
            weight[_draw_weighted(state, cumulative_weight)] += 1.0
    elif bootstrap:
        for _ in range(n):
            weight[_rand_below(state, n)] += 1.0
    else:
        for s in range(n):  # a loop: a slice assignment here adds seconds of compile time
            weight[s] = sample_weight[s]
    samples = np.empty(n, np.uint32)  # distinct in-bag samples; each node owns a slice
    m = 0
    for s in range(n):
        if weight[s] > 0.0:
            samples[m] = s
            m += 1

    features = np.empty(n_features, np.int64)
    for f in range(n_features):
        features[f] = f
    node_of = np.empty(n, np.int64)  # node being split, for its in-bag samples
    node_of[:] = -1
    xs = np.empty(n + 1, X.dtype)
    ids = np.empty(n + 1, np.uint32)
    todo = np.empty((64, 2), np.int64)
    counts = np.empty(n_classes, np.float64)
    left_counts = np.empty(n_classes, np.float64)
    stack = np.empty((m + 2, 4), np.int64)  # nodes to grow: node, start, end, depth
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = 0, 0, m, 0
    top = 1
    n_nodes = 1
    tree_depth = 0
    while top > 0:
        top -= 1
        node, start, end, depth = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        tree_depth = max(tree_depth, depth)

        counts[:] = 0.0
        node_weight = 0.0
        for p in range(start, end):
            counts[y[samples[p]]] += weight[samples[p]]
            node_weight += weight[samples[p]]
        impurity = 1.0
        for k in range(n_classes):
            value[node, k] = counts[k] / node_weight
            impurity -= value[node, k] ** 2
        feature[node] = 0
        threshold[node] = np.inf
        left[node] = node
        right[node] = node
        if (depth >= max_depth or end - start < 2 or end - start < 2 * min_samples_leaf
                or impurity <= _EPSILON):
            continue
        f, t = _best_split(X, y, weight, integer_weights, samples, start, end, node, node_of,
                           order, sorted_x, counts, node_weight, features, max_features,
                           min_samples_leaf, xs, ids, todo, left_counts, state)
        if f < 0:
            continue
        i, j = start, end - 1  # partition samples[start:end]: x <= t first
        while i <= j:
            if X[samples[i], f] <= t:
                i += 1
            else:
                samples[i], samples[j] = samples[j], samples[i]
                j -= 1
        child = n_nodes
        n_nodes += 2
        feature[node] = f
        threshold[node] = t
        left[node] = child
        right[node] = child + 1
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = child + 1, i, end, depth + 1
        top += 1  # the right child waits; the left one grows next
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = child, start, i, depth + 1
        top += 1
    return n_nodes, tree_depth


@njit(parallel=True, nogil=True, cache=True)
def _grow_forest(X, y, n_classes, sample_weight, weighted_draws, integer_weights, order,
                 sorted_x, max_features, min_samples_leaf, max_depth, bootstrap, seeds):
    """Grow one tree per seed, in parallel; return the forest as flat arrays.

    ``sample_weight`` (float64, one per sample, all > 0) sets each sample's
    chance to be drawn into a bootstrap sample when ``weighted_draws`` (else
    draws are uniform), or its weight in every tree without bootstrap;
    ``integer_weights`` says the trees' weights are all integers.

    Returns ``tree_offsets, tree_depth, feature, threshold, left, right, value``
    (see :class:`RandomForest`'s attributes).
    """
    n_trees = seeds.size
    cumulative_weight = np.cumsum(sample_weight)
    max_nodes = 2 * X.shape[0] - 1  # a tree has at most one leaf per distinct sample
    feature = np.empty((n_trees, max_nodes), np.int32)
    threshold = np.empty((n_trees, max_nodes), np.float64)
    left = np.empty((n_trees, max_nodes), np.int32)
    right = np.empty((n_trees, max_nodes), np.int32)
    value = np.empty((n_trees, max_nodes, n_classes), np.float64)
    n_nodes = np.empty(n_trees, np.int64)
    depth = np.empty(n_trees, np.int64)
    for t in prange(n_trees):
        n_nodes[t], depth[t] = _grow_tree(X, y, n_classes, sample_weight, cumulative_weight,
                                          weighted_draws, integer_weights, order, sorted_x,
                                          max_features, min_samples_leaf, max_depth, bootstrap,
                                          seeds[t], feature[t], threshold[t], left[t], right[t],
                                          value[t])
    return _pack(n_nodes, depth, feature, threshold, left, right, value)


@njit(cache=True)
def _pack(n_nodes, depth, feature, threshold, left, right, value):
    """Put the trees' padded node arrays one after another; children become global indices."""
    offsets = np.zeros(n_nodes.size + 1, np.int64)
    for t in range(n_nodes.size):
        offsets[t + 1] = offsets[t] + n_nodes[t]
    total = offsets[-1]
    flat_feature = np.empty(total, np.int32)
    flat_threshold = np.empty(total, np.float64)
    flat_left = np.empty(total, np.int32)
    flat_right = np.empty(total, np.int32)
    flat_value = np.empty((total, value.shape[2]), np.float64)
    for t in range(n_nodes.size):
        for i in range(n_nodes[t]):
            v = offsets[t] + i
            flat_feature[v] = feature[t, i]
            flat_threshold[v] = threshold[t, i]
            flat_left[v] = offsets[t] + left[t, i]
            flat_right[v] = offsets[t] + right[t, i]
            for k in range(value.shape[2]):
                flat_value[v, k] = value[t, i, k]
    return offsets, depth, flat_feature, flat_threshold, flat_left, flat_right, flat_value


# --------------------------------------------------------------------------- prediction
@njit(parallel=True, nogil=True, cache=True)
def _forest_proba(X, chunk, tree_offsets, tree_depth, feature, threshold, left, value):
    """Mean over trees of the leaf class fractions, parallel over chunks of rows.

    Each row takes exactly ``tree_depth[t]`` branch-free steps in tree ``t``
    (leaves are their own children), ``_GROUP`` rows in lockstep so that
    their memory loads overlap. ``feature`` and ``left`` come as unsigned
    views, which spares numba's negative-index checks in the inner loop.
    """
    n = X.shape[0]
    n_trees = tree_depth.size
    n_classes = value.shape[1]
    out = np.empty((n, n_classes), np.float64)
    n_chunks = (n + chunk - 1) // chunk
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        for i in range(lo, hi):
            for k in range(n_classes):
                out[i, k] = 0.0
        nodes = np.empty(_GROUP, np.uint64)
        rows = np.empty(_GROUP, np.uint64)
        for t in range(n_trees):  # tree-major within a chunk keeps one tree in cache
            for g in range(lo, hi, _GROUP):
                for j in range(_GROUP):
                    nodes[j] = tree_offsets[t]
                    rows[j] = min(g + j, hi - 1)  # a short last group repeats its last row
                for _ in range(tree_depth[t]):
                    for j in range(_GROUP):
                        v = nodes[j]
                        nodes[j] = left[v] + np.uint64(X[rows[j], feature[v]] > threshold[v])
                for j in range(min(_GROUP, hi - g)):
                    for k in range(n_classes):
                        out[g + j, k] += value[nodes[j], k]
        for i in range(lo, hi):
            for k in range(n_classes):
                out[i, k] /= n_trees
    return out


# --------------------------------------------------------------------------- the estimator
def _n_threads(n_jobs) -> int:
    """joblib-style n_jobs (None = 1, -1 = all cores, -2 = all but one) capped at numba's pool."""
    n = 1 if n_jobs is None else n_jobs if n_jobs > 0 else (os.cpu_count() or 1) + 1 + n_jobs
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


_LAUNCH_LOCK = threading.Lock()


class _Threads:
    """Run numba's parallel kernels on ``n`` threads (thread-local; restored on exit).

    numba's ``workqueue`` threading layer aborts the process when two threads
    launch parallel kernels at once, so until another layer is known to be in
    use (``omp`` and ``tbb`` are thread-safe) launches take turns.
    """

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        try:
            self.lock = _LAUNCH_LOCK if numba.threading_layer() == "workqueue" else None
        except ValueError:  # no parallel launch yet: the layer is not chosen
            self.lock = _LAUNCH_LOCK
        if self.lock is not None:
            self.lock.acquire()
        self.previous = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.previous)
        if self.lock is not None:
            self.lock.release()


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _writeable(a: np.ndarray) -> np.ndarray:
    """``a``, copied if read-only (numba would compile separate kernels for read-only arrays)."""
    return a if a.flags.writeable else a.copy()


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
        Threads for fitting (over trees) and predicting (over rows): -1 means
        all cores, -2 all but one, None 1.
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes, for rare targets, with the semantics of
        scikit-learn's ``RandomForestClassifier`` (version 1.9 and later):
        with bootstrap, each of a tree's ``n`` draws picks a sample with
        probability proportional to its class's weight (a class weighing 2
        has its samples drawn twice as often), and the tree is grown on the
        draw counts; without bootstrap, each sample weighs its
        class's weight in every tree, splits minimise the weighted Gini
        impurity and leaves hold weighted class fractions. ``"balanced"``
        weighs class ``k`` by ``n_samples / (n_classes * n_k)``, computed on
        the whole ``y``, so a bootstrap sample holds every class about
        equally often. A dict maps class labels to positive weights; classes
        it does not name weigh 1, and names of classes absent from ``y`` (not
        labeled yet) are ignored. None weighs every class 1.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (sorted, as by ``np.unique``), the column order of
        :meth:`predict_proba`.
    n_classes_ : int
    n_features_in_ : int
    max_features_ : int
        The resolved number of features drawn per split.
    class_weight_ : ndarray of shape (n_classes,)
        The weight of each class of ``classes_`` (all 1 without ``class_weight``).
    tree_offsets_ : ndarray of shape (n_estimators + 1,)
        Tree ``t`` holds nodes ``tree_offsets_[t]`` to ``tree_offsets_[t+1] - 1``;
        its root is the first.
    tree_depth_ : ndarray of shape (n_estimators,)
        Depth of each tree (0 for a single leaf).
    node_feature_, node_threshold_ : ndarray of shape (n_nodes,)
        Split of each node: ``x[feature] <= threshold`` goes left. Leaves have
        feature 0 and threshold +inf.
    node_left_, node_right_ : ndarray of shape (n_nodes,)
        Children (global node indices; right = left + 1). A leaf is its own
        child (``node_left_[v] == v``), so prediction needs no leaf test.
    node_value_ : ndarray of shape (n_nodes, n_classes)
        Weighted class fractions of the node's in-bag samples.

    Notes
    -----
    Like scikit-learn, features are converted to float32 and thresholds kept
    in float64. scikit-learn up to 1.8 applied ``class_weight`` differently
    with bootstrap: uniform draws, with each draw count multiplied by the
    class weight; with fully grown trees (pure leaves) that barely moves the
    probabilities. Differences: another random number stream (a given
    ``random_state`` grows different, identically distributed trees); no
    ``sample_weight``, ``class_weight="balanced_subsample"``, ``max_samples``,
    out-of-bag score or feature importances; ``min_samples_split`` is fixed
    at 2 and ``min_samples_leaf`` is a count only.

    The first use compiles the kernels (about 10 s); numba caches them on disk
    (``__pycache__`` beside this module, or numba's user-wide cache when that
    is not writable), so later processes load them in a fraction of a second.
    :func:`warm_up` does that compilation ahead of time. Fitting briefly holds
    ``n_estimators x (2 n - 1)`` node slots. Several threads may use forests
    at once; under numba's ``workqueue`` threading layer their parallel
    kernels take turns.

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

    Class weights count a rare class more. Without bootstrap they weigh the
    samples in splits and leaves. One tree, one split (``max_depth=1``) at
    0.5; the right leaf holds one "dog" and two "bird" clips, weighted 1 and
    3 each, so P(bird) = 6 / 7:

    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], ["dog", "bird", "dog", "bird"]
    >>> stump = RandomForest(n_estimators=1, bootstrap=False, max_depth=1, random_state=0)
    >>> stump.set_params(class_weight={"bird": 3}).fit(X, y).predict_proba([[2.0]])
    array([[0.85714286, 0.14285714]])
    """

    def __init__(self, n_estimators=100, max_features="sqrt", min_samples_leaf=1, max_depth=None,
                 bootstrap=True, random_state=None, n_jobs=-1, class_weight=None):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.class_weight = class_weight

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

    def _class_weights(self, classes: np.ndarray, y_code: np.ndarray) -> np.ndarray:
        """Weight of each class of ``classes`` (float64, all positive and finite)."""
        cw = self.class_weight
        if cw is None:
            return np.ones(len(classes))
        if isinstance(cw, str) and cw == "balanced":
            return len(y_code) / (len(classes) * np.bincount(y_code, minlength=len(classes)))
        if isinstance(cw, dict):
            weights = np.ones(len(classes))
            for k, c in enumerate(classes.tolist()):
                if c in cw:
                    v = cw[c]
                    if (not isinstance(v, numbers.Real) or isinstance(v, bool)
                            or not np.isfinite(v) or v <= 0):
                        raise ValueError(f"class_weight={cw!r}: the weight of class {c!r} is "
                                         f"{v!r}; weights must be positive finite numbers")
                    weights[k] = float(v)
            return weights
        raise ValueError(f"class_weight={cw!r} must be None, 'balanced' or a dict "
                         "{class label: weight}")

    def fit(self, X, y):
        """Grow the forest on features ``X`` (n_samples, n_features) and labels ``y``.

        Returns
        -------
        self : RandomForest
        """
        X, y = check_X_y(X, y, dtype=np.float32, order="C")
        X = _writeable(X)
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            example = float(y[y != np.round(y)][0])
            raise ValueError(f"y is continuous (e.g. {example!r} is not a whole number); "
                             "RandomForest needs class labels")
        max_features = self._check_params(X.shape[1])
        classes, y_code = np.unique(y, return_inverse=True)
        class_weight = self._class_weights(classes, y_code)
        sample_weight = class_weight[y_code]
        weighted_draws = bool(np.ptp(sample_weight) > 0)  # else draws are uniform
        # with bootstrap, trees see draw counts; without, the class weights themselves
        integer_weights = bool(self.bootstrap) or bool(np.all(class_weight % 1 == 0))
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_estimators).astype(np.int64)
        max_depth = _NO_MAX_DEPTH if self.max_depth is None else int(self.max_depth)
        # every feature's samples in ascending order, shared by all trees
        columns = np.ascontiguousarray(X.T)
        order = np.argsort(columns, axis=1).astype(np.uint32)
        sorted_x = np.take_along_axis(columns, order, axis=1)

        with _Threads(_n_threads(self.n_jobs)):
            forest = _grow_forest(X, y_code.astype(np.uint32), len(classes), sample_weight,
                                  weighted_draws, integer_weights, order, sorted_x, max_features,
                                  int(self.min_samples_leaf), max_depth, bool(self.bootstrap),
                                  seeds)
        self.classes_ = classes
        self.n_classes_ = len(classes)
        self.n_features_in_ = X.shape[1]
        self.max_features_ = max_features
        self.class_weight_ = class_weight
        (self.tree_offsets_, self.tree_depth_, self.node_feature_, self.node_threshold_,
         self.node_left_, self.node_right_, self.node_value_) = forest
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: mean over trees of the leaf class fractions.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        X = _writeable(check_array(X, dtype=np.float32, order="C"))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but RandomForest is expecting "
                             f"{self.n_features_in_} features as input")
        n_threads = _n_threads(self.n_jobs)
        # a few chunks per thread, each a whole number of lockstep groups
        chunk = -(-len(X) // (4 * n_threads * _GROUP)) * _GROUP
        nodes = [_writeable(a) for a in (self.tree_offsets_, self.tree_depth_,
                                         self.node_feature_, self.node_threshold_,
                                         self.node_left_, self.node_value_)]
        offsets, depth, feature, threshold, left, value = nodes
        with _Threads(n_threads):
            return _forest_proba(X, min(chunk, _PREDICT_CHUNK), offsets, depth,
                                 feature.view(np.uint32), threshold, left.view(np.uint32), value)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row (the first in ``classes_`` on ties)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# --------------------------------------------------------------------------- compiling ahead
_warm = threading.Event()  # set once the kernels are compiled (or loaded) in this process
_WARM_UP_LOCK = threading.Lock()


def _compile_kernels() -> None:
    # fit and predict call the kernels with the same argument types whatever the data and
    # parameters (tests/test_forest.py checks), so one tiny forest compiles all there is
    X = np.random.default_rng(0).random((16, 3)).astype(np.float32)
    RandomForest(n_estimators=2, random_state=0).fit(X, np.arange(16) % 2).predict_proba(X)
    _warm.set()


def warm_up(background: bool = False) -> threading.Thread | None:
    """Compile the forest's kernels now (or load them from numba's disk cache).

    The first :class:`RandomForest` fit in a fresh environment compiles the
    numba kernels (several seconds) and caches them on disk; later processes
    only load them. Calling this at install time (``./dev.sh`` does) or when
    a labeling session starts keeps that wait away from the first label.
    Idempotent: once the kernels are loaded in this process, it returns at
    once.

    Parameters
    ----------
    background : bool, default=False
        Compile in a daemon thread and return it (join it to wait); False
        compiles before returning.

    Returns
    -------
    threading.Thread or None
        The started thread when ``background`` is true, else None.

    Examples
    --------
    >>> warm_up()
    >>> thread = warm_up(background=True)
    >>> thread.join()
    """
    if background:
        thread = threading.Thread(target=warm_up, name="alwidget-forest-warm-up", daemon=True)
        thread.start()
        return thread
    if not _warm.is_set():
        with _WARM_UP_LOCK:
            if not _warm.is_set():
                _compile_kernels()
    return None
