"""Each strategy's pick on small hand-worked pools, and determinism per seed."""

import numpy as np
import pytest

from alwidget.strategies import (STRATEGY_NAMES, AlternatingConfidence, Entropy,
                                 LeastConfidence, Margin, MedoidSampling, MismatchFirst,
                                 QueryContext, RandomSampling, SemiSupervised, farthest_first,
                                 make_strategy)


def binary(p, **kw):
    p = np.asarray(p, float)
    return QueryContext(n_pool=len(p), proba=np.c_[1 - p, p], classes=np.array(["rest", "target"]),
                        **kw)


def test_least_confidence_fixed_threshold_picks_the_clip_nearest_0_5():
    q = LeastConfidence().query(binary([0.1, 0.45, 0.7, 0.9]))
    assert q.indices.tolist() == [1]
    assert q.utilities[0] == pytest.approx(-0.05)
    assert "P(target) = 0.45" in q.reasons[0] and "fixed threshold 0.50" in q.reasons[0]


def test_least_confidence_tuned_threshold_follows_the_context():
    q = LeastConfidence("tuned").query(binary([0.1, 0.45, 0.7, 0.9], threshold=0.75))
    assert q.indices.tolist() == [2] and "tuned threshold 0.75" in q.reasons[0]
    q = LeastConfidence("tuned").query(binary([0.1, 0.45, 0.7, 0.9], threshold=0.2), batch_size=2)
    assert q.indices.tolist() == [0, 1]


def test_ties_are_broken_at_random_but_reproducibly():
    ctx = binary([0.4, 0.6, 0.9])
    picks = {LeastConfidence(random_state=s).query(ctx).indices[0] for s in range(20)}
    assert picks == {0, 1}
    assert all(LeastConfidence(random_state=3).query(ctx).indices[0]
               == LeastConfidence(random_state=3).query(ctx).indices[0] for _ in range(3))


def test_alternating_confidence_asks_a_confident_clip_every_kth_iteration():
    p = [0.5, 0.86, 0.97, 0.2, 0.9]
    ac = AlternatingConfidence(every=5)
    picks = [ac.query(binary(p, iteration=i)).indices[0] for i in range(10)]
    assert picks == [0, 0, 0, 0, 2, 0, 0, 0, 0, 2]
    q = ac.query(binary(p, iteration=4))
    assert q.reasons[0] == "high-confidence check every 5: P(target) = 0.97"
    # ac-10: the 10th query is the check
    assert AlternatingConfidence(every=10).query(binary(p, iteration=9)).indices[0] == 2
    assert AlternatingConfidence(every=10).query(binary(p, iteration=4)).indices[0] == 0


def test_alternating_confidence_falls_back_when_nothing_is_confident():
    q = AlternatingConfidence(every=2).query(binary([0.3, 0.55, 0.8], iteration=1))
    assert q.indices.tolist() == [1] and "no other P >= 0.85" in q.reasons[0]


def test_semi_supervised_pseudo_labels_are_balanced_and_most_confident_first():
    p = [0.5, 0.99, 0.96, 0.97, 0.01, 0.04, 0.3, 0.6]
    q = SemiSupervised(0.95).query(binary(p))
    assert q.indices.tolist() == [0]
    # 3 confident positives (1, 3, 2 by confidence) but only 2 negatives (4, 5): 2 each
    assert q.pseudo_indices.tolist() == [1, 3, 4, 5]
    assert q.pseudo_labels.tolist() == [1, 1, 0, 0]
    strict = SemiSupervised(0.98).query(binary(p))
    assert strict.pseudo_indices.tolist() == [1, 4]


def test_semi_supervised_never_pseudo_labels_the_queried_clip():
    # the least-confident clip under a tuned threshold of 0.96 is itself confident
    q = SemiSupervised(0.95, threshold="tuned").query(binary([0.96, 0.99, 0.01, 0.02], threshold=0.96))
    assert q.indices.tolist() == [0]
    assert 0 not in q.pseudo_indices.tolist()
    assert q.pseudo_indices.tolist() == [1, 2]


def test_random_is_seeded_and_without_repeats():
    ctx = QueryContext(n_pool=100, iteration=3)
    a = RandomSampling(7).query(ctx, 10).indices
    assert a.tolist() == RandomSampling(7).query(ctx, 10).indices.tolist()
    assert len(set(a.tolist())) == 10
    assert a.tolist() != RandomSampling(8).query(ctx, 10).indices.tolist()
    # another iteration, another draw
    assert a.tolist() != RandomSampling(7).query(QueryContext(n_pool=100, iteration=4), 10).indices.tolist()


def test_entropy_and_margin_batches():
    P = np.array([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    ctx = QueryContext(n_pool=4, proba=P)
    assert Entropy().query(ctx, 2).indices.tolist() == [1, 3]  # 1.10, then 0.80 > ln 2
    assert Margin().query(ctx, 2).indices.tolist() == [2, 1]


def blobs(n_per=60, centers=((0, 0), (20, 0), (0, 20)), seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(c, 1.0, (n_per, 2)) for c in centers])
    return X, np.repeat(np.arange(len(centers)), n_per)


def test_medoid_sampling_picks_one_medoid_per_cluster():
    X, cluster = blobs()
    q = MedoidSampling(random_state=0).query(QueryContext(n_pool=len(X), X_pool=X), 3)
    assert sorted(cluster[q.indices].tolist()) == [0, 1, 2]
    assert all(r == "medoid of a cluster of 60 clips" for r in q.reasons)
    # each medoid lies near its cluster's centre
    for i in q.indices:
        assert np.linalg.norm(X[i] - X[cluster == cluster[i]].mean(axis=0)) < 1.0


def test_medoid_sampling_on_a_large_pool_clusters_a_subsample():
    X, cluster = blobs(n_per=2000)
    q = MedoidSampling(max_exact=300, random_state=1).query(QueryContext(n_pool=len(X), X_pool=X), 3)
    assert sorted(cluster[q.indices].tolist()) == [0, 1, 2]
    assert sorted(int(r.split()[5]) for r in q.reasons) == [2000, 2000, 2000]


def test_farthest_first_order():
    X = np.array([[0.0], [1.0], [2.0], [6.0], [10.0]])
    picks, d = farthest_first(X, np.arange(5), np.array([[0.0]]), 4, np.random.default_rng(0))
    assert picks.tolist() == [4, 3, 2, 1] and d.tolist() == [10.0, 4.0, 2.0, 1.0]


def test_mismatch_first_takes_disagreements_in_farthest_first_order():
    X = np.array([[0.0], [1.0], [5.0], [9.0], [9.5], [3.0]])
    votes = np.array([["a", "b", "b", "a", "a", "a"],
                      ["a", "a", "a", "b", "b", "a"]], dtype=object)
    ctx = QueryContext(n_pool=6, X_pool=X, X_labeled=np.array([[0.0]]), committee=votes,
                       member_names=("propagation", "logistic regression"))
    q = MismatchFirst().query(ctx, 3)
    assert q.indices.tolist() == [4, 2, 1]  # 9.5 first, then 5 (4.5 away), then 1
    assert q.reasons[0].startswith("mismatch: propagation says a, logistic regression says b")


def test_mismatch_first_fills_with_the_most_uncertain():
    X = np.arange(5, dtype=float)[:, None]
    votes = np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    P = np.array([[0.9, 0.1], [0.55, 0.45], [0.5, 0.5], [0.8, 0.2], [0.7, 0.3]])
    ctx = QueryContext(n_pool=5, X_pool=X, X_labeled=X[:1], committee=votes, proba=P)
    q = MismatchFirst().query(ctx, 3)
    assert q.indices.tolist() == [2, 1, 4]
    assert q.reasons[1] == "uncertain (fewer mismatches than the batch): max P = 0.55"


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_is_deterministic_per_seed(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    p = rng.random(80)
    votes = np.stack([rng.integers(0, 2, 80), rng.integers(0, 2, 80)])
    ctx = QueryContext(n_pool=80, proba=np.c_[1 - p, p], X_pool=X, X_labeled=X[:2],
                       committee=votes, iteration=4, threshold=0.4)
    a = make_strategy(name, random_state=5).query(ctx, 4)
    b = make_strategy(name, random_state=5).query(ctx, 4)
    assert a.indices.tolist() == b.indices.tolist() and a.reasons == b.reasons
    assert len(set(a.indices.tolist())) == 4 and len(a.reasons) == 4


def test_unknown_strategy_and_bad_batch():
    with pytest.raises(ValueError, match="strategy 'lcc' is unknown"):
        make_strategy("lcc")
    with pytest.raises(ValueError, match="batch_size=0"):
        RandomSampling().query(QueryContext(n_pool=3), 0)
    with pytest.raises(ValueError, match="needs the model's probabilities"):
        LeastConfidence().query(QueryContext(n_pool=3))


def test_partition_by_tagger_is_disjoint_and_complete():
    from alwidget.strategies.partition import partition_by_tagger

    rng = np.random.default_rng(0)
    names = rng.choice(["Bird", "Rain", "Wind", "Frog"], size=500, p=[0.6, 0.3, 0.098, 0.002])
    prob = rng.random(500)
    prob[:3] = np.nan  # clips the tagger has not seen
    names[10:12], prob[10:12] = "Frog", 0.9  # two confident Frogs: too few for a set of their own
    parts = partition_by_tagger(names, prob, min_confidence=0.4, min_size=5)
    allpos = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(allpos), np.arange(500))  # disjoint and complete
    assert set(parts["uncertain"]) == set(np.flatnonzero(~(prob >= 0.4)))
    assert (names[parts["Bird"]] == "Bird").all() and (prob[parts["Bird"]] >= 0.4).all()
    assert "Frog" not in parts and "other" in parts  # fewer than 5 confident Frogs
    assert set(parts["other"]) >= {10, 11}
    sizes = [len(v) for v in parts.values()]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    with pytest.raises(ValueError, match="min_confidence=1.5 must be in"):
        partition_by_tagger(names, prob, min_confidence=1.5)


@pytest.mark.parametrize("name", STRATEGY_NAMES + ("lc@0.3", "ssal-0.9-tuned", "ac-3-tuned"))
def test_strategies_are_estimators_whose_name_builds_them_again(name):
    from sklearn.base import clone

    s = make_strategy(name, random_state=5)
    assert s.name == name
    twin = clone(s)
    assert twin is not s and twin.get_params() == s.get_params()
    assert make_strategy(s.name, random_state=5).get_params() == s.get_params()
    twin.set_params(random_state=6)
    assert s.random_state == 5 and twin.random_state == 6  # clone never shares state
    assert s.tunes_threshold == name.endswith("-tuned") or name == "lc-tuned"
    assert repr(s).startswith(type(s).__name__ + "(")


def test_bad_strategy_names_fail_at_once_with_the_choices():
    for bad in ("ssal-0.3", "ac-0", "best", "lc-"):
        with pytest.raises(ValueError, match="strategy"):
            make_strategy(bad)


def test_semi_supervised_with_three_classes_balances_by_predicted_class():
    P = np.array([[0.97, 0.02, 0.01], [0.99, 0.005, 0.005], [0.4, 0.3, 0.3],
                  [0.01, 0.98, 0.01], [0.02, 0.96, 0.02], [0.02, 0.02, 0.96],
                  [0.35, 0.3, 0.35]])
    q = SemiSupervised(0.95).query(QueryContext(n_pool=7, proba=P, classes=np.array(["a", "b", "c"])))
    assert q.indices.tolist() == [6]  # max P 0.35: the least confident
    # one confident "c" only: one of each class, the most confident first
    assert q.pseudo_indices.tolist() == [1, 3, 5] and q.pseudo_labels.tolist() == [0, 1, 2]
    assert set(q.pseudo_labels.tolist()) <= {0, 1, 2}  # never an invalid class (was -1)
    none = SemiSupervised(0.95).query(QueryContext(n_pool=3, proba=P[:3]))
    assert len(none.pseudo_indices) == 0  # a class never confidently predicted: no pseudo-labels


# -- the framework's disjoint sets ------------------------------------------------------------
def _set_of(sets) -> dict[int, int]:
    return {int(p): j for j, s in enumerate(sets) for p in s}


def test_disjoint_sets_follow_the_three_rules():
    from alwidget.strategies.partition import disjoint_sets

    rng = np.random.default_rng(0)
    # K = ceil(40 / 12) = 4 sets; "rare" m=2 < K, "four" m=4 = K, "many" m=34 > K
    names = np.array(["rare"] * 2 + ["four"] * 4 + ["many"] * 34)
    prob = rng.random(40)
    sets = disjoint_sets(names, prob, max_set=12)
    where = _set_of(sets)
    assert len(sets) == 4 and sorted(where) == list(range(40))  # each position once
    assert [len(s) for s in sets] == [12, 10, 9, 9]  # 2 + 1 + 9, 1 + 9, 1 + 8, 1 + 8
    assert {where[p] for p in (0, 1)} == {0}  # rule 1: a rare class, all in the first set
    four = 2 + np.argsort(prob[2:6], kind="stable")
    assert [where[int(p)] for p in four] == [0, 1, 2, 3]  # rule 2: one each, least certain first
    many = 6 + np.argsort(prob[6:], kind="stable")
    got = [where[int(p)] for p in many]
    assert got == sorted(got)  # rule 3: in order, the least certain in the first sets
    assert np.bincount(got).tolist() == [9, 9, 8, 8]  # evenly, the larger shares first
    for s in sets:  # each set least certain first
        assert np.all(np.diff(prob[s]) >= 0)


def test_disjoint_sets_stay_within_max_set_and_spill_forward():
    from alwidget.strategies.partition import disjoint_sets

    # 12 classes of 1 clip (rule 1: all want the first set) + 8 of one class: K = 4
    names = np.array([f"c{i}" for i in range(12)] + ["big"] * 8)
    prob = np.linspace(0.05, 0.95, 20)
    sets = disjoint_sets(names, prob, max_set=5)
    assert [len(s) for s in sets] == [5, 5, 5, 5]
    where = _set_of(sets)
    assert sorted(where) == list(range(20))
    # the least certain singletons stay in the first set; the rest move on, never back
    assert sorted(sets[0].tolist()) == [0, 1, 2, 3, 4]


def test_disjoint_sets_refuse_bad_input():
    from alwidget.strategies.partition import disjoint_sets

    assert disjoint_sets([], [], max_set=3) == []
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_set=.* must be an integer >= 1"):
            disjoint_sets(["a"], [0.5], max_set=bad)
    with pytest.raises(ValueError, match="must be 1-d arrays of the same length"):
        disjoint_sets(["a", "b"], [0.5], max_set=3)
    one = disjoint_sets(["a", "b", "a"], [np.nan, 0.2, 0.9], max_set=5)  # NaN: least certain
    assert [s.tolist() for s in one] == [[0, 1, 2]]
