"""The loop core: one active-learning step, and the same picks from a session as from simulate."""

import csv

import numpy as np
import pytest

from alwidget.cli import main
from alwidget.experiment import split, start_pair
from alwidget.learn import f1_at
from alwidget.loop import LoopCore, model_seed
from alwidget.session import Session
from alwidget.store import NewAudio, Store


def rare(n=240, d=6, share=0.1, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < share
    X = (rng.normal(size=(n, d)) + y[:, None] * 2.0).astype(np.float32)
    return X, y


def test_cold_start_is_random_and_says_why():
    X, y = rare()
    core = LoopCore(X, ["noise", "bird"], strategy="lc", random_state=1)
    plan = core.plan([], [], pool=np.arange(240), iteration=0)
    assert plan.learner is None and plan.proba is None and plan.strategies == ("random",)
    assert plan.reasons == ("random: no labels yet",)
    one = core.plan([3], ["noise"], pool=np.arange(4, 240), iteration=1)
    assert one.reasons == ("random: only 'noise' labeled so far",) and one.learner is None
    again = LoopCore(X, ["noise", "bird"], strategy="lc", random_state=1)
    assert again.plan([3], ["noise"], pool=np.arange(4, 240), iteration=1).picks == one.picks
    # a strategy that needs no model runs as it is (MAL's medoids)
    mal = LoopCore(X, ["noise", "bird"], strategy="mal", random_state=1)
    assert mal.plan([], [], pool=np.arange(240), iteration=0).strategies == ("mal",)


def test_a_plan_is_fixed_by_seed_and_iteration_and_never_by_label_order():
    X, y = rare()
    labeled = np.r_[np.flatnonzero(y)[:3], np.flatnonzero(~y)[:5]]
    pool = np.setdiff1d(np.arange(240), labeled)
    names = np.where(y, "bird", "noise")
    core = LoopCore(X, ["noise", "bird"], strategy="lc", random_state=4)
    a = core.plan(labeled, names[labeled], pool=pool, iteration=8)
    b = core.plan(labeled[::-1], names[labeled][::-1], pool=pool, iteration=8)
    np.testing.assert_array_equal(a.proba, b.proba)  # training order does not matter
    assert a.picks.tolist() == b.picks.tolist() and a.strategies == ("lc",)
    c = core.plan(labeled, names[labeled], pool=pool, iteration=9)
    assert not np.array_equal(a.proba, c.proba)  # another iteration, another forest seed
    assert model_seed(4, 8) != model_seed(4, 9) and model_seed(None, 8) is None


def test_queued_rows_come_first_and_pseudo_labels_never_override_humans():
    X, y = rare()
    names = np.where(y, "bird", "noise")
    labeled = np.r_[np.flatnonzero(y)[:3], np.flatnonzero(~y)[:5]]
    pool = np.setdiff1d(np.arange(240), labeled)
    core = LoopCore(X, ["noise", "bird"], strategy="ssal-0.95", random_state=0, batch_size=2)
    plan = core.plan(labeled, names[labeled], pool=pool, iteration=8, queued=[labeled[0], pool[7]])
    assert plan.picks[0] == pool[7] and plan.strategies == ("expert", "ssal-0.95")
    assert plan.reasons[0] == "queued by the expert"  # a labeled row in the queue is ignored
    # pseudo-labels on a labeled row, or contradicting it, are dropped
    pseudo = ([labeled[0], pool[0]], ["noise", "noise"])
    fitted = core.plan(labeled, names[labeled], pool=pool[1:], iteration=9, pseudo=pseudo)
    assert fitted.n_train == len(labeled) + 1


def test_tuned_strategies_need_validation_and_read_the_tuned_threshold():
    X, y = rare()
    with pytest.raises(ValueError, match="'lc-tuned' tunes its threshold on a validation set"):
        LoopCore(X, ["noise", "bird"], strategy="lc-tuned")
    names = np.where(y, "bird", "noise")
    val = np.arange(200, 240)
    core = LoopCore(X, ["noise", "bird"], strategy="lc-tuned", validation=(val, names[val]))
    labeled = np.r_[np.flatnonzero(y[:200])[:4], np.flatnonzero(~y[:200])[:6]]
    pool = np.setdiff1d(np.arange(200), labeled)
    plan = core.plan(labeled, names[labeled], pool=pool, iteration=10)
    assert plan.threshold == pytest.approx(
        __import__("alwidget.learn", fromlist=["tune_threshold"]).tune_threshold(
            y[val], plan.proba[val, 1])[0])
    assert f"tuned threshold {plan.threshold:.2f}" in plan.reasons[0]
    assert plan.strategies == ("lc-tuned",) and plan.val_f1 is not None


def test_a_committee_drives_mismatch_first_through_the_core():
    from sklearn.datasets import make_blobs

    from alwidget.learn import Committee

    X, c = make_blobs(200, centers=3, cluster_std=3.0, random_state=0)
    names = c.astype(str)
    labeled = np.r_[[np.flatnonzero(c == k)[0] for k in range(3)], np.arange(40, 46)]
    core = LoopCore(X, ["0", "1", "2"], model=Committee(classes=["0", "1", "2"]),
                    strategy="mal-mf", batch_size=5, random_state=0)
    plan = core.plan(labeled, names[labeled], pool=np.setdiff1d(np.arange(200), labeled),
                     iteration=len(labeled))
    assert len(plan.picks) == 5 and plan.strategies == ("mal-mf",) * 5
    assert any(r.startswith("mismatch: propagation says") for r in plan.reasons)


def _store_of(path, X):
    store = Store(path)
    store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 16000 * len(X), 1, "WAV", "PCM_16",
                             "h", 0), [(float(k), 1.0) for k in range(len(X))])
    fs = store.feature_set("toy", {}, X.shape[1])
    store.put_features(fs, store.clip_ids(), X)
    return store


@pytest.mark.parametrize("strategy", ["lc", "lc-tuned", "ssal-0.95", "ac-5", "random"])
def test_a_session_answered_by_an_oracle_makes_the_picks_and_f1_of_simulate(tmp_path, strategy):
    X, y = rare(seed=2)
    folds = np.arange(len(X)) % 4 + 1
    seed, queries = 3, 14
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "fold"])
        w.writerows(zip(np.where(y, "bird", "noise"), folds))
    assert main(["simulate", "--features", str(tmp_path / "X.npy"), "--labels",
                 str(tmp_path / "labels.csv"), "--target", "bird", "--strategies", strategy,
                 "--queries", str(queries), "--seeds", str(seed), "--out", str(tmp_path / "o"),
                 "--jobs", "1", "--quiet"]) == 0
    with open(tmp_path / "o" / "records.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["fold"] == "1"]
    sim_picks = [int(r["picked"]) for r in rows if r["picked"]]
    sim_f1 = [float(r["f1"]) for r in rows]

    store = _store_of(tmp_path / "p.db", X)
    clip = store.clip_ids()  # row i is clip clip[i]
    test, val, pool = split(folds, 1)
    truth = {int(clip[i]): ("bird" if y[i] else "noise") for i in range(len(X))}
    s = Session(store, classes=["noise", "bird"], strategy=strategy, random_state=seed,
                validation=(clip[val], [truth[c] for c in clip[val]]), clips=clip[pool])
    for row in start_pair(y, pool, seed, 1):
        s.label(clip[row], truth[int(clip[row])])
    picks, f1 = [], []
    for _ in range(queries + 1):
        f1.append(f1_at(y[test], s.pool.view().p_target[test], s.threshold))
        if len(f1) == queries + 1:
            break
        picks.append(int(np.searchsorted(clip, s.current.clip_id)))
        s.submit(truth[s.current.clip_id], clip_id=s.current.clip_id)
    s.close()
    assert picks == sim_picks and len(picks) == queries
    assert f1 == sim_f1
    events = store.active_events()
    assert {e.strategy for e in events[2:]} <= {strategy, "random"}  # the name the user chose


def _cosine_order(X, known, pool):
    """Brute-force reference: pool rows by cosine distance to their nearest known row."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    d = 1 - (Xn[pool] @ Xn[known].T).max(axis=1)
    return pool[np.argsort(d, kind="stable")], np.sort(d, kind="stable")


def test_nearest_start_asks_the_clips_nearest_the_known_positive_by_cosine():
    X, y = rare()
    pos = int(np.flatnonzero(y)[0])
    X[7] = 10 * X[pos]  # cosine distance 0, far in Euclidean distance
    pool = np.setdiff1d(np.arange(240), [pos])
    core = LoopCore(X, ["noise", "bird"], strategy="lc", random_state=1, batch_size=6,
                    start="nearest")
    plan = core.plan([pos], ["bird"], pool=pool, iteration=1)
    want, dist = _cosine_order(X.astype(np.float64), [pos], pool)
    assert plan.picks.tolist() == want[:6].tolist() and plan.picks[0] == 7
    assert np.linalg.norm(X[7] - X[pos]) > np.median(np.linalg.norm(X - X[pos], axis=1))
    assert plan.strategies == ("nearest",) * 6 and plan.learner is None
    assert plan.reasons[0] == "nearest to the known positive (cosine distance 0.000)"
    assert plan.reasons[3] == f"nearest to the known positive (cosine distance {dist[3]:.3f})"
    np.testing.assert_allclose(plan.utilities, 1 - dist[:6], atol=1e-9)
    # several positives: the distance to the nearest one; a strategy without a model too
    known = np.flatnonzero(y)[:3]
    rest = np.setdiff1d(np.arange(240), known)
    mal = LoopCore(X, ["noise", "bird"], strategy="mal", random_state=1, batch_size=4,
                   start="nearest")
    many = mal.plan(known, ["bird"] * 3, pool=rest, iteration=3)
    assert many.picks.tolist() == _cosine_order(X.astype(np.float64), known, rest)[0][:4].tolist()
    assert all(r.startswith("nearest to the 3 known positives") for r in many.reasons)
    # once a second class is labeled, the strategy; before any positive, the random rule
    both = core.plan([pos, 3], ["bird", "noise"], pool=np.setdiff1d(pool, [3]), iteration=2)
    assert both.strategies == ("lc",) * 6 and both.learner is not None
    neg = core.plan([3], ["noise"], pool=np.setdiff1d(np.arange(240), [3]), iteration=1)
    assert neg.reasons == ("random: only 'noise' labeled so far",) * 6
    assert core.plan([], [], pool=np.arange(240), iteration=0).strategies == ("random",) * 6
    # queued rows still come first; validation positives are never known positives
    queued = core.plan([pos], ["bird"], pool=pool, iteration=1, queued=[pool[-1]])
    assert queued.picks.tolist() == [pool[-1]] + [r for r in want if r != pool[-1]][:5]
    held = LoopCore(X, ["noise", "bird"], start="nearest", validation=([pos], ["bird"]))
    assert held.plan([pos], ["bird"], pool=pool, iteration=1).strategies == ("random",)


def test_the_random_start_is_the_default_and_a_bad_start_is_refused():
    X, y = rare()
    pos = int(np.flatnonzero(y)[0])
    pool = np.setdiff1d(np.arange(240), [pos])
    default = LoopCore(X, ["noise", "bird"], random_state=1).plan([pos], ["bird"], pool=pool,
                                                                  iteration=1)
    explicit = LoopCore(X, ["noise", "bird"], random_state=1, start="random").plan(
        [pos], ["bird"], pool=pool, iteration=1)
    assert default.picks.tolist() == explicit.picks.tolist()
    assert default.reasons == ("random: only 'bird' labeled so far",)
    with pytest.raises(ValueError, match=r"start='search' must be one of \['random', 'nearest'\]"):
        LoopCore(X, ["noise", "bird"], start="search")


@pytest.mark.parametrize("strategy", ["lc", "random"])
def test_a_session_with_the_nearest_start_makes_the_picks_and_f1_of_the_simulation(
        tmp_path, strategy):
    from alwidget.experiment import run_rare_target

    X, y = rare(seed=2, share=0.05)
    folds = np.arange(len(X)) % 4 + 1
    seed, queries = 3, 12
    res = run_rare_target(X, np.where(y, "bird", "noise"), folds, ["bird"], strategies=[strategy],
                          queries=queries, seeds=[seed], start="nearest", n_jobs=1,
                          progress=False)
    rows = sorted((r for r in res.records if r["fold"] == "1"), key=lambda r: r["iteration"])
    sim_picks = [r["picked"] for r in rows if r["picked"] is not None]
    sim_f1 = [r["f1"] for r in rows]
    assert rows[0]["n_labels"] == 1 and res.params["cold_start"] == "nearest"

    store = _store_of(tmp_path / "p.db", X)
    clip = store.clip_ids()
    test, val, pool = split(folds, 1)
    truth = {int(clip[i]): ("bird" if y[i] else "noise") for i in range(len(X))}
    s = Session(store, classes=["noise", "bird"], strategy=strategy, random_state=seed,
                validation=(clip[val], [truth[c] for c in clip[val]]), clips=clip[pool],
                start="nearest")
    positive = start_pair(y, pool, seed, 1)[0]
    s.label(clip[positive], "bird")
    assert s.current.reason.startswith("nearest to the known positive (cosine distance")
    picks, f1, reasons = [], [], []
    for _ in range(queries + 1):
        p = np.nan_to_num(s.pool.view().p_target[test], nan=0.0)
        f1.append(f1_at(y[test], p, s.threshold))
        if len(f1) == queries + 1:
            break
        picks.append(int(np.searchsorted(clip, s.current.clip_id)))
        reasons.append(s.current.reason)
        s.submit(truth[s.current.clip_id], clip_id=s.current.clip_id)
    s.close()
    assert picks == sim_picks and len(picks) == queries
    assert f1 == sim_f1
    # the nearest clips until the first negative, then the strategy
    first_neg = next(i for i, r in enumerate(picks) if not y[r])
    assert all(r.startswith("nearest to the") for r in reasons[:first_neg + 1])
    assert not any(r.startswith("nearest") for r in reasons[first_neg + 1:])
    want = _cosine_order(X.astype(np.float64), [positive], np.setdiff1d(pool, [positive]))[0]
    assert picks[0] == want[0]


def test_start_labels_keeps_the_nearest_start_past_the_first_negative():
    X, y = rare()
    pos, neg = np.flatnonzero(y)[:2], np.flatnonzero(~y)[:3]
    core = LoopCore(X, ["noise", "bird"], random_state=0, start="nearest", start_labels=5,
                    batch_size=3)
    labeled = np.r_[pos, neg[:2]]  # 4 labels, both classes: a model, still the nearest start
    pool = np.setdiff1d(np.arange(240), labeled)
    plan = core.plan(labeled, ["bird", "bird", "noise", "noise"], pool=pool, iteration=4)
    assert plan.learner is not None and plan.strategies == ("nearest",) * 3
    assert plan.picks.tolist() == _cosine_order(X.astype(np.float64), pos, pool)[0][:3].tolist()
    assert plan.reasons[0].startswith("nearest to the 2 known positives")
    labeled = np.r_[pos, neg]  # 5 labels: the strategy
    after = core.plan(labeled, ["bird"] * 2 + ["noise"] * 3,
                      pool=np.setdiff1d(np.arange(240), labeled), iteration=5)
    assert after.strategies == ("lc",) * 3
    only_neg = core.plan(neg, ["noise"] * 3, pool=np.setdiff1d(np.arange(240), neg), iteration=3)
    assert only_neg.strategies == ("random",) * 3  # no positive known: the one-class rule
    with pytest.raises(ValueError, match="start_labels=0 must be a positive integer"):
        LoopCore(X, ["noise", "bird"], start="nearest", start_labels=0)


def test_a_model_fitted_on_other_labels_is_stale_whatever_the_decision_count():
    from alwidget.learn import EmbeddingHead

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (20, 4)), rng.normal(3, 1, (20, 4))].astype(np.float32)
    core = LoopCore(X, ["a", "b"], model=EmbeddingHead(hidden=0, max_seconds=None),
                    strategy="entropy", random_state=0)
    with_a = core.fit([0, 39, 5], ["a", "b", "a"], iteration=3)  # label A (row 5)
    assert with_a.key == ((0, "a"), (5, "a"), (39, "b"))
    plan = core.plan([0, 39, 6], ["a", "b", "a"], pool=range(7, 39), iteration=3,
                     fitted=with_a, refit=False)  # A undone, B (row 6) labeled: 3 decisions
    assert (plan.model_lacks, plan.model_extra, plan.stale) == (1, 1, 2)
    assert plan.reasons[0].endswith("(stale model: lacks 1 label, has 1 label since undone or "
                                    "changed; a newer one is training)")
    same = core.plan([0, 39, 5], ["a", "b", "a"], pool=range(7, 39), iteration=4,
                     fitted=with_a, refit=False)  # a skip since: the same training set
    assert same.stale == 0 and "stale" not in same.reasons[0]
    assert core.training_key([5, 39, 0], ["a", "b", "a"]) == with_a.key


def test_rows_added_after_a_fit_are_scored_with_its_model():
    from alwidget.learn import EmbeddingHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    core = LoopCore(X[:20], ["a", "b"], model=EmbeddingHead(hidden=0, max_seconds=None),
                    random_state=0)
    fitted = core.fit([0, 1], ["a", "b"], iteration=2)
    core.X = X  # the archive grew by 10 rows
    plan = core.plan([0, 1], ["a", "b"], pool=range(2, 30), iteration=2, fitted=fitted,
                     refit=False)
    assert plan.proba.shape == (30, 2)
    np.testing.assert_allclose(plan.proba[20:], fitted.learner.predict_proba(X[20:]), rtol=1e-6)
    assert core.scored(plan.fitted) is plan.fitted


def test_a_forest_with_warm_start_still_learns_the_new_labels():
    """scikit-learn's ensembles read warm_start as "add trees": refitted warm on new labels,
    a forest would keep the trees of its first two labels. The loop fits them afresh."""
    import warnings

    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (40, 4)), rng.normal(3, 1, (40, 4))]
    with pytest.warns(UserWarning, match="warm_start=True of RandomForestClassifier is not "
                                          "used: the loop fits it afresh"):
        core = LoopCore(X, ["a", "b"], model=RandomForestClassifier(n_estimators=10,
                        warm_start=True, random_state=0), random_state=0)
    first = core.plan([0, 40], ["a", "b"], pool=range(1, 40), iteration=2)
    rows = [0, 40, *range(1, 11), *range(41, 51)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Warm-start fitting without increasing n_estimators"
        grown = core.plan(rows, ["a", "b"] + ["a"] * 10 + ["b"] * 10, pool=range(11, 40),
                          iteration=22, previous=first.fitted)
    forest = grown.learner.estimator_
    assert forest is not first.learner.estimator_
    assert sum(len(t.tree_.value) for t in forest.estimators_) > sum(
        len(t.tree_.value) for t in first.learner.estimator_.estimators_)  # grown on 22 labels


def test_warm_start_follows_the_plans_and_a_simulation_stays_reproducible():
    from alwidget.experiment import run_rare_target
    from alwidget.learn import EmbeddingHead

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (40, 4)), rng.normal(2, 1, (8, 4))].astype(np.float32)
    head = EmbeddingHead(hidden=4, max_epochs=30, max_seconds=None, warm_start=True,
                         warm_epochs=3)
    core = LoopCore(X, ["a", "b"], model=head, random_state=0)
    first = core.plan([0, 40], ["a", "b"], pool=range(1, 40), iteration=2)
    grown = core.plan([0, 40, 1], ["a", "b", "a"], pool=range(2, 40), iteration=3,
                      previous=first.fitted)
    assert grown.learner.estimator_.warm_started_ and grown.learner.estimator_.n_epochs_ <= 3
    assert not first.learner.estimator_.warm_started_  # the previous fit is not changed
    changed = core.plan([0, 40, 1], ["a", "b", "b"], pool=range(2, 40), iteration=3,
                        previous=grown.fitted)  # a label changed: a fresh start
    assert not changed.learner.estimator_.warm_started_
    y = np.r_[np.zeros(40), np.ones(8)].astype(int)
    folds = np.tile([0, 1, 2], 16)
    runs = [run_rare_target(X, np.where(y, "b", "a"), folds, ["b"], strategies=["entropy"],
                            queries=5, seeds=[0], model=head, n_jobs=1, progress=False)
            for _ in range(2)]
    assert [r["f1"] for r in runs[0].records] == [r["f1"] for r in runs[1].records]
