"""Learners over a fixed class list, medoid propagation, committee, tuned threshold."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from alwidget.learn import Committee, Learner, MedoidPropagation, f1_at, tune_threshold


def test_learner_columns_follow_the_fixed_class_list():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    m = Learner(LogisticRegression(), classes=["c", "a", "b"]).fit(X, ["b", "b", "a", "a"])
    P = m.predict_proba([[0.5], [10.5]])
    assert P.shape == (2, 3) and np.all(P[:, 0] == 0)  # "c" never labeled
    assert m.predict([[0.5], [10.5]]).tolist() == ["b", "a"]
    np.testing.assert_allclose(P.sum(axis=1), 1)


def test_learner_with_one_labeled_class_predicts_it_with_certainty():
    m = Learner(LogisticRegression(), classes=[False, True]).fit([[0.0]], [True])
    assert m.predict_proba([[5.0], [-5.0]]).tolist() == [[0.0, 1.0], [0.0, 1.0]]


def test_learner_never_changes_the_given_estimator():
    est = LogisticRegression(C=0.5)
    Learner(est, classes=[0, 1]).fit([[0.0], [1.0]], [0, 1])
    assert not hasattr(est, "coef_") and est.C == 0.5
    clone(Learner(est, classes=[0, 1]))


def test_learner_rejects_unknown_labels_and_bad_class_lists():
    with pytest.raises(ValueError, match=r"labels \['dog'\] are not in classes"):
        Learner(LogisticRegression(), classes=["a", "b"]).fit([[0.0], [1.0]], ["a", "dog"])
    with pytest.raises(ValueError, match="at least two distinct classes"):
        Learner(LogisticRegression(), classes=["a"]).fit([[0.0]], ["a"])


def test_learner_without_a_class_list_uses_the_classes_seen_at_fit():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    m = Learner(LogisticRegression()).fit(X, ["rain", "rain", "bird", "bird"])
    assert m.classes_.tolist() == ["bird", "rain"]  # sorted, as np.unique
    P = m.predict_proba([[0.5], [10.5]])
    assert P.shape == (2, 2) and P[0, 1] > 0.5 and P[1, 0] > 0.5
    assert m.predict([[0.5]]).tolist() == ["rain"]
    one = Learner(LogisticRegression()).fit([[0.0], [1.0]], [7, 7])
    assert one.classes_.tolist() == [7] and one.predict_proba([[3.0]]).tolist() == [[1.0]]
    assert one.predict([[3.0]]).dtype.kind == "i"  # the labels' own type, not object


def test_learner_checks_inputs_like_scikit_learn():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    m = Learner(LogisticRegression()).fit(X, [0, 1, 1])
    assert m.n_features_in_ == 2
    with pytest.raises(ValueError, match="X has 1 features, but Learner is expecting 2"):
        m.predict_proba([[0.0], [1.0]])
    with pytest.raises(ValueError, match="NaN"):
        m.predict([[np.nan, 0.0]])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        Learner(LogisticRegression()).fit(X, [0.5, 1.0, 2.5])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Learner(LogisticRegression(), classes=[0, 1]).fit(X, [0, 1])
    with pytest.raises(TypeError, match="has no predict_proba"):
        Learner(LinearSVC()).fit(X, [0, 1, 1])


def test_fixed_class_list_accepts_object_labels_of_any_type():
    # experiments pass labels as object arrays, e.g. of ints: fine with a class list
    X = np.array([[0.0], [1.0], [10.0]])
    m = Learner(LogisticRegression(), classes=[0, 1, 2]).fit(X, np.array([0, 2, 2], object))
    assert m.predict_proba(X).shape == (3, 3) and m.predict(X).tolist()[-1] == 2


def test_medoid_propagation_takes_the_nearest_labeled_clip_and_keeps_the_distance():
    m = MedoidPropagation().fit(np.array([[0.0, 0.0], [10.0, 0.0]]), ["a", "b"])
    labels, dist = m.propagate(np.array([[3.0, 4.0], [10.0, 1.0]]))
    assert labels.tolist() == ["a", "b"] and dist.tolist() == [5.0, 1.0]
    assert m.predict_proba(np.array([[9.0, 0.0]])).tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="X has 1 features, but MedoidPropagation is expecting 2"):
        m.propagate(np.array([[1.0]]))


def test_committee_votes_and_mismatches():
    X = np.r_[np.zeros((5, 1)), np.ones((5, 1)) * 10]
    y = ["a"] * 5 + ["b"] * 5
    c = Committee(classes=["a", "b", "c"]).fit(X, y)
    votes = c.votes(np.array([[1.0], [9.0]]))
    assert votes.shape == (2, 2) and votes.tolist() == [["a", "b"], ["a", "b"]]
    assert c.predict_proba(np.array([[1.0]])).shape == (1, 3)
    assert c.names_ == ("propagation", "logistic regression")


def test_committee_without_a_class_list_and_with_given_members():
    X = np.r_[np.zeros((5, 1)), np.ones((5, 1)) * 10]
    y = np.array([2] * 5 + [7] * 5)
    c = Committee(members=[("lr", LogisticRegression()), ("nn", MedoidPropagation())]).fit(X, y)
    assert c.classes_.tolist() == [2, 7] and c.names_ == ("lr", "nn")
    assert c.votes(np.array([[1.0], [9.0]])).tolist() == [[2, 7], [2, 7]]
    assert c.predict(np.array([[9.0]])).tolist() == [7]
    with pytest.raises(ValueError, match="X has 2 features, but Committee is expecting 1"):
        c.votes(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"members=\[\] must name at least one"):
        Committee(members=[]).fit(X, y)
    members = [("lr", LogisticRegression(C=0.3))]
    Committee(members=members).fit(X, y)
    assert not hasattr(members[0][1], "coef_")  # members are cloned, never fitted in place


def brute_force(y, p, default=0.5):
    cands = np.unique(np.append(p, default))
    scores = np.array([f1_at(y, p, t) for t in cands])
    best = scores.max()
    ties = cands[np.isclose(scores, best)]
    return ties[np.argmin(np.abs(ties - default))], best


@pytest.mark.parametrize("seed", range(20))
def test_tuned_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(40) < 0.2
    p = np.round(np.clip(y * 0.3 + rng.random(40) * 0.7, 0, 1), 2)  # with ties
    t, f = tune_threshold(y, p)
    bt, bf = brute_force(y, p)
    assert f == pytest.approx(bf) and t == pytest.approx(bt)


def test_tuned_threshold_hand_worked_and_no_positive():
    assert tune_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.35, 0.9])) == (0.35, 1.0)
    assert tune_threshold(np.array([0, 0]), np.array([0.1, 0.9])) == (0.5, 0.0)
