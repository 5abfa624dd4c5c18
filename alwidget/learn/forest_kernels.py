"""The compiled kernels of :class:`~alwidget.learn.RandomForest`: growing trees, scoring rows.

See :mod:`alwidget.learn.forest` for the algorithm. Everything here is numba: one call
(:func:`grow_forest`) grows all trees in parallel into flat node arrays, one call
(:func:`forest_proba`) scores all rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["GROUP", "forest_proba", "grow_forest"]

_FEATURE_THRESHOLD = 1e-7  # values closer than this are not split apart (as in scikit-learn)
_EPSILON = np.finfo(np.float64).eps  # impurity at or below this is pure
GROUP = 8  # rows traversing a tree in lockstep


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
def grow_forest(X, y, n_classes, sample_weight, weighted_draws, integer_weights, order,
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
def forest_proba(X, chunk, tree_offsets, tree_depth, feature, threshold, left, value):
    """Mean over trees of the leaf class fractions, parallel over chunks of rows.

    Each row takes exactly ``tree_depth[t]`` branch-free steps in tree ``t``
    (leaves are their own children), ``GROUP`` rows in lockstep so that
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
        nodes = np.empty(GROUP, np.uint64)
        rows = np.empty(GROUP, np.uint64)
        for t in range(n_trees):  # tree-major within a chunk keeps one tree in cache
            for g in range(lo, hi, GROUP):
                for j in range(GROUP):
                    nodes[j] = tree_offsets[t]
                    rows[j] = min(g + j, hi - 1)  # a short last group repeats its last row
                for _ in range(tree_depth[t]):
                    for j in range(GROUP):
                        v = nodes[j]
                        nodes[j] = left[v] + np.uint64(X[rows[j], feature[v]] > threshold[v])
                for j in range(min(GROUP, hi - g)):
                    for k in range(n_classes):
                        out[g + j, k] += value[nodes[j], k]
        for i in range(lo, hi):
            for k in range(n_classes):
                out[i, k] /= n_trees
    return out
