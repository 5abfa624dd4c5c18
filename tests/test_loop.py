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
