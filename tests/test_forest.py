"""RandomForest: the algorithm (against scikit-learn and by hand), determinism, API, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from sklearn.tree import DecisionTreeClassifier

from alwidget.learn.forest import RandomForest


def _data(n_classes=2, n=400, seed=0, n_features=20):
    X, y = make_classification(n_samples=n, n_features=n_features, n_informative=8,
                               n_classes=n_classes, random_state=seed)
    return X.astype(np.float32), y


def _leaf_of(forest, tree, x):
    """Walk one tree by hand through the flat arrays (children pair up; a leaf is its own child)."""
    v = forest.tree_offsets_[tree]
    while forest.node_left_[v] != v:
        v = forest.node_left_[v] if x[forest.node_feature_[v]] <= forest.node_threshold_[v] \
            else forest.node_right_[v]
    return v


# --------------------------------------------------------------------------- the algorithm
def test_hand_worked_split_at_the_midpoint():
    X = [[0.0], [1.0], [2.0], [3.0]]
    forest = RandomForest(n_estimators=1, bootstrap=False, max_features=None).fit(X, [0, 0, 1, 1])
    assert forest.node_threshold_[0] == 1.5
    np.testing.assert_array_equal(forest.predict_proba(X), [[1, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_array_equal(forest.predict_proba([[1.4], [1.6]]), [[1, 0], [0, 1]])


@pytest.mark.parametrize("n_classes, tolerance", [(2, 0.02), (4, 0.03)])
def test_f1_matches_scikit_learn(n_classes, tolerance):
    # Same algorithm, different random numbers: mean macro-F1 over 3 seeds within
    # `tolerance` of RandomForestClassifier(n_estimators=100) (measured over 10 seeds:
    # mean difference -0.001 (2 classes) and +0.003 (4), per-seed sd 0.005 and 0.013).
    ours, theirs = [], []
    for seed in range(3):
        X, y = _data(n_classes, n=1300, seed=seed)
        Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
        ours.append(f1_score(yte, RandomForest(random_state=seed).fit(Xtr, ytr).predict(Xte),
                             average="macro"))
        sk = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
        theirs.append(f1_score(yte, sk.fit(Xtr, ytr).predict(Xte), average="macro"))
    assert abs(np.mean(ours) - np.mean(theirs)) <= tolerance, (ours, theirs)


def _children_gini(X, y, rows, feature, threshold):
    """Sample-weighted Gini impurity of the two children of a split of X[rows]."""
    total = 0.0
    for side in (X[rows, feature] <= threshold, X[rows, feature] > threshold):
        labels = y[rows][side]
        total += len(labels) - np.sum(np.bincount(labels) ** 2) / len(labels)
    return total


@pytest.mark.parametrize("seed", range(4))
def test_top_splits_match_scikit_learn_tree(seed):
    # bootstrap off and all features: the same greedy Gini tree as DecisionTreeClassifier.
    # The root split is the same; below it, equally good splits may differ (ties between
    # features are broken by the random feature order), so compare their quality.
    X, y = _data(3, n=200, seed=seed, n_features=10)
    ours = RandomForest(n_estimators=1, bootstrap=False, max_features=None,
                        random_state=seed).fit(X, y)
    tree = DecisionTreeClassifier(random_state=seed).fit(X, y).tree_
    assert ours.node_feature_[0] == tree.feature[0]
    assert ours.node_threshold_[0] == tree.threshold[0]
    goes_left = X[:, tree.feature[0]] <= tree.threshold[0]
    for rows, v, u in [(goes_left, ours.node_left_[0], tree.children_left[0]),
                       (~goes_left, ours.node_right_[0], tree.children_right[0])]:
        assert _children_gini(X, y, rows, ours.node_feature_[v], ours.node_threshold_[v]) == \
            pytest.approx(_children_gini(X, y, rows, tree.feature[u], tree.threshold[u]))


def test_constant_features_do_not_use_up_the_draws():
    # as in scikit-learn: drawing continues until a non-constant feature has been seen
    rng = np.random.default_rng(0)
    X = np.zeros((60, 30), np.float32)
    X[:, 17] = rng.standard_normal(60)
    y = (X[:, 17] > 0).astype(int)
    forest = RandomForest(n_estimators=20, max_features=1, random_state=0).fit(X, y)
    assert np.all(forest.node_feature_[forest.tree_offsets_[:-1]] == 17)
    assert np.all(forest.predict(X) == y)


def test_max_depth_1_grows_stumps():
    X, y = _data(2)
    forest = RandomForest(n_estimators=1, bootstrap=False, max_depth=1, random_state=0).fit(X, y)
    assert forest.tree_depth_.tolist() == [1]
    assert len(np.unique(forest.predict_proba(X), axis=0)) == 2
    deep = RandomForest(n_estimators=1, bootstrap=False, random_state=0).fit(X, y)
    assert deep.tree_depth_[0] > 1
    capped = RandomForest(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    assert capped.tree_depth_.max() <= 3


def test_min_samples_leaf_is_honoured():
    X, y = _data(2, n=200)
    forest = RandomForest(n_estimators=3, bootstrap=False, min_samples_leaf=7, random_state=0)
    forest.fit(X, y)
    for tree in range(3):
        _, per_leaf = np.unique([_leaf_of(forest, tree, x) for x in X], return_counts=True)
        assert per_leaf.min() >= 7
    # a fully grown tree on the same data has smaller leaves
    full = RandomForest(n_estimators=1, bootstrap=False, random_state=0).fit(X, y)
    assert np.unique([_leaf_of(full, 0, x) for x in X], return_counts=True)[1].min() < 7


def test_flat_arrays_describe_the_trees():
    X, y = _data(2, n=100)
    forest = RandomForest(n_estimators=4, random_state=1).fit(X, y)
    by_hand = np.mean([[forest.node_value_[_leaf_of(forest, t, x)] for t in range(4)]
                       for x in X[:20]], axis=1)
    np.testing.assert_allclose(forest.predict_proba(X[:20]), by_hand)


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_forest_whatever_n_jobs():
    X, y = _data(4)
    p1 = RandomForest(random_state=3, n_jobs=1).fit(X, y).predict_proba(X)
    p2 = RandomForest(random_state=3, n_jobs=2).fit(X, y).predict_proba(X)
    p3 = RandomForest(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(p1, p3)
    rs = np.random.RandomState(3)
    np.testing.assert_array_equal(p1, RandomForest(random_state=rs).fit(X, y).predict_proba(X))


def test_different_seeds_differ():
    X, y = _data(2)
    p0 = RandomForest(random_state=0).fit(X, y).predict_proba(X)
    p1 = RandomForest(random_state=1).fit(X, y).predict_proba(X)
    assert not np.array_equal(p0, p1)


# --------------------------------------------------------------------------- outputs
def test_probabilities_sum_to_one_in_classes_order():
    X, y = _data(4)
    names = np.array(["rain", "bird", "dog", "car"])[y]
    forest = RandomForest(n_estimators=30, random_state=0).fit(X, names)
    assert forest.classes_.tolist() == ["bird", "car", "dog", "rain"]
    P = forest.predict_proba(X)
    assert P.shape == (len(X), 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.mean(forest.classes_[P.argmax(axis=1)] == names) > 0.95  # training fit
    assert np.array_equal(forest.predict(X), forest.classes_[P.argmax(axis=1)])


def test_single_class_gives_a_column_of_ones():
    forest = RandomForest(n_estimators=10, random_state=0).fit([[0.0, 1.0], [2.0, 3.0]], ["a", "a"])
    assert forest.classes_.tolist() == ["a"]
    np.testing.assert_array_equal(forest.predict_proba([[5.0, 5.0], [0.0, 0.0]]), [[1.0], [1.0]])
    assert forest.predict([[1.0, 1.0]]).tolist() == ["a"]


def test_two_samples_one_per_class():
    X = np.array([[0.0, 5.0], [1.0, 3.0]])
    forest = RandomForest(random_state=0).fit(X, ["no", "yes"])
    P = forest.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert forest.predict(X).tolist() == ["no", "yes"]


def test_clone_get_params_and_pickle():
    forest = RandomForest(n_estimators=7, max_features=0.5, min_samples_leaf=2, max_depth=4,
                          bootstrap=False, random_state=5, n_jobs=1)
    params = forest.get_params()
    assert params == dict(n_estimators=7, max_features=0.5, min_samples_leaf=2, max_depth=4,
                          bootstrap=False, random_state=5, n_jobs=1)
    assert clone(forest).get_params() == params
    X, y = _data(2, n=100)
    forest.fit(X, y)
    assert forest.max_features_ == 10
    again = pickle.loads(pickle.dumps(forest))
    np.testing.assert_array_equal(again.predict_proba(X), forest.predict_proba(X))
    assert not hasattr(clone(forest), "classes_")


@pytest.mark.parametrize("max_features, expected", [("sqrt", 4), ("log2", 4), (None, 20),
                                                    (3, 3), (0.25, 5), (1.0, 20)])
def test_max_features_resolves(max_features, expected):
    X, y = _data(2, n=50)
    forest = RandomForest(n_estimators=1, max_features=max_features).fit(X, y)
    assert forest.max_features_ == expected


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("params, message", [
    (dict(n_estimators=0), "n_estimators=0"),
    (dict(n_estimators="100"), "n_estimators='100'"),
    (dict(max_features=0), "max_features=0"),
    (dict(max_features=21), "max_features=21"),
    (dict(max_features=1.5), "max_features=1.5"),
    (dict(max_features="auto"), "max_features='auto'"),
    (dict(min_samples_leaf=0), "min_samples_leaf=0"),
    (dict(max_depth=0), "max_depth=0"),
    (dict(bootstrap="yes"), "bootstrap='yes'"),
    (dict(n_jobs=0), "n_jobs=0"),
])
def test_bad_parameters_are_named(params, message):
    X, y = _data(2, n=30)
    with pytest.raises(ValueError, match=message):
        RandomForest(**params).fit(X, y)


def test_bad_inputs():
    X, y = _data(2, n=30)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RandomForest().fit(bad, y)
    with pytest.raises(ValueError, match="non-integer"):
        RandomForest().fit(X, y + 0.5)
    with pytest.raises(NotFittedError):
        RandomForest().predict_proba(X)
    forest = RandomForest(n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        forest.predict_proba(bad)
    with pytest.raises(ValueError, match="X has 3 features, but RandomForest was fitted with 20"):
        forest.predict_proba(X[:, :3])
