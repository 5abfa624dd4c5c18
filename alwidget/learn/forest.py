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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .forest_kernels import GROUP, forest_proba, grow_forest
from .validation import features, features_and_labels

__all__ = ["RandomForest", "warm_up"]

_NO_MAX_DEPTH = 2**30
_PREDICT_CHUNK = 512  # most rows per parallel work item in predict_proba


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
        X, y = features_and_labels(X, y, np.float32)
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
            forest = grow_forest(X, y_code.astype(np.uint32), len(classes), sample_weight,
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
        X = features(X, np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but RandomForest is expecting "
                             f"{self.n_features_in_} features as input")
        n_threads = _n_threads(self.n_jobs)
        # a few chunks per thread, each a whole number of lockstep groups
        chunk = -(-len(X) // (4 * n_threads * GROUP)) * GROUP
        nodes = [_writeable(a) for a in (self.tree_offsets_, self.tree_depth_,
                                         self.node_feature_, self.node_threshold_,
                                         self.node_left_, self.node_value_)]
        offsets, depth, feature, threshold, left, value = nodes
        with _Threads(n_threads):
            return forest_proba(X, min(chunk, _PREDICT_CHUNK), offsets, depth,
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
