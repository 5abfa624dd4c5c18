"""The framework's team rules: a group's medoid label (2/3, then the longest duration) and
how far labelers agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alwidget.team import Agreement, cohen_kappa, fleiss_kappa, medoid_label

GROUP = ["ann", "bob", "kim"]


def test_a_tag_in_two_of_three_annotations_is_the_label():
    a = {"ann": [("owl", 0.0, 1.0)], "bob": [("owl", 0.2, 0.4)], "kim": [("frog", 0.0, 1.0)]}
    assert medoid_label(a, GROUP) == Agreement("owl", 3, pytest.approx(2 / 3), True, False)


def test_several_passing_tags_the_longest_total_duration_wins_and_ties_are_settled():
    a = {"ann": [("owl", 0.0, 0.3), ("rain", 0.0, 1.0)],
         "bob": [("owl", 0.0, 0.3), ("rain", 0.0, 0.9)],
         "kim": [("owl", 0.0, 0.3)]}
    assert medoid_label(a, GROUP).label == "rain"  # 1.9 s of rain against 0.9 s of owl
    tie = {"ann": [("owl", 0.0, 0.5), ("rain", 0.0, 0.75)],
           "bob": [("owl", 0.0, 0.5), ("rain", 0.0, 0.75)],
           "kim": [("owl", 0.0, 0.5)]}  # 1.5 s of each
    assert medoid_label(tie, GROUP).label == "owl"  # equal durations: found in more annotations
    even = {"ann": [("rain", 0.0, 0.5), ("owl", 0.0, 0.5)],
            "bob": [("rain", 0.0, 0.5), ("owl", 0.0, 0.5)], "kim": [("frog", 0.0, 1.0)]}
    assert medoid_label(even, GROUP).label == "owl"  # all equal: the first by name


def test_no_agreement_goes_to_doubt_resolution_and_doubt_is_never_the_label():
    a = {"ann": [("owl", 0, 1)], "bob": [("frog", 0, 1)], "kim": [("rain", 0, 1)]}
    got = medoid_label(a, GROUP)
    assert got.label is None and got.doubt and got.complete
    assert got.agreement == pytest.approx(1 / 3)
    doubted = {g: [("Doubt", 0, 1)] for g in GROUP}
    assert medoid_label(doubted, GROUP).doubt  # everyone doubts: a doubt round, not a label


def test_missing_annotations_wait_and_a_single_labeler_decides_nothing():
    one = medoid_label({"ann": [("owl", 0, 1)]}, GROUP)
    assert one == Agreement(None, 1, pytest.approx(1 / 3), False, False)
    two = medoid_label({"ann": [("owl", 0, 1)], "bob": [("owl", 0, 1)]}, GROUP)
    assert two.label is None and not two.complete and not two.doubt  # kim has not labeled
    outsider = {"ann": [("owl", 0, 1)], "bob": [("owl", 0, 1)], "zoe": [("owl", 0, 1)]}
    assert medoid_label(outsider, GROUP).n_labelers == 2  # not in the group: not counted
    pair = {"ann": [("owl", 0, 1)], "bob": [("frog", 0, 1)]}
    assert medoid_label(pair, ["ann", "bob"]).doubt  # a pair must agree fully (2/3 of 2 -> 2)


@pytest.mark.parametrize("group, annotations, message", [
    (["ann"], {"ann": [("owl", 0, 1)]}, "a group of one cannot agree"),
    (["ann", "ann"], {}, "each once"),
    (GROUP, {"ann": [("owl", 0.5, 0.2)]}, "needs 0 <= onset_s < offset_s"),
    (GROUP, {"ann": [("owl", 0.5)]}, "must be \\(tag, onset_s, offset_s\\)"),
])
def test_bad_input_is_refused(group, annotations, message):
    with pytest.raises(ValueError, match=message):
        medoid_label(annotations, group)


def test_kappas_match_hand_computed_values_and_say_nan_when_chance_is_perfect():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a = rng.choice(["owl", "frog", "rain"], 200)
    b = np.where(rng.random(200) < 0.7, a, rng.choice(["owl", "frog", "rain"], 200))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert math.isnan(cohen_kappa(["owl"] * 3, ["owl"] * 3))
    rows = [["owl", "owl", "owl"], ["frog", "frog", "owl"], ["frog", "frog", "frog"]]
    assert fleiss_kappa(rows) == pytest.approx((7 / 9 - 41 / 81) / (1 - 41 / 81))
    assert fleiss_kappa([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same two or more labelers"):
        fleiss_kappa([["a", "b"], ["a"]])


# -- medoids: this window, then the same node, then other nodes ------------------------------
def test_medoids_this_window_first_then_the_same_node_then_other_nodes():
    from alwidget.team import medoid_priority

    ids = [40, 10, 30, 20, 50, 60]
    in_window = [False, False, True, False, True, False]
    same_node = [True, False, True, True, True, False]
    assert medoid_priority(ids, in_window, same_node, 10).tolist() == [30, 50, 20, 40, 10, 60]
    assert medoid_priority(ids, in_window, same_node, 3).tolist() == [30, 50, 20]
    assert medoid_priority(ids, in_window, same_node, 0).tolist() == []
    with pytest.raises(ValueError, match="give one of each per clip"):
        medoid_priority([1, 2], [True], [True, False], 1)
    with pytest.raises(ValueError, match="max_medoids=-1 must be an integer >= 0"):
        medoid_priority([1], [True], [True], -1)


# -- rounds in the store --------------------------------------------------------------------
def _archive(path):
    from alwidget.store import NewAudio, Store

    store = Store(path)
    for i, (node, day) in enumerate([("n1", 1), ("n1", 3), ("n1", 9), ("n2", 2)]):
        store.add_audio(NewAudio("/rec", f"{node}_{day}.wav", 16000, 16, 16000 * 3, 1, "WAV",
                                 "PCM_16", f"h{i}", 0, node=node,
                                 recorded_at=f"2024-05-{day:02d}T06:00:00"),
                        [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)])
    return store


def test_a_window_is_its_nodes_and_time_and_bad_windows_are_refused(tmp_path):
    from alwidget.store import StoreError

    store = _archive(tmp_path / "p.db")
    week = store.window_clips(["n1"], "2024-05-01", "2024-05-08")
    assert week.tolist() == [1, 2, 3, 4, 5, 6]  # n1's first two files, not day 9, not n2
    assert store.window_clips(None, "2024-05-02", "2024-05-03").tolist() == [10, 11, 12]
    assert len(store.window_clips()) == 12
    plan = store.db.execute("EXPLAIN QUERY PLAN SELECT c.id FROM audios a JOIN clips c ON "
                            "c.audio_id = a.id WHERE a.node_id IN (1) AND a.recorded_at >= ? "
                            "AND a.recorded_at < ?", ("2024-05-01", "2024-05-08")).fetchall()
    assert "audios_node_recorded" in " ".join(str(r) for r in plan)  # an index, not a scan
    with pytest.raises(StoreError, match=r"unknown node\(s\) \['n9'\]; the store's nodes are"):
        store.window_clips(["n9"])
    with pytest.raises(StoreError, match="is empty: end must be after start"):
        store.window_clips(["n1"], "2024-05-08", "2024-05-01")


def test_a_round_is_written_whole_and_its_proposals_settled(tmp_path):
    from alwidget.store import RoundProposal, StoreError

    store = _archive(tmp_path / "p.db")
    store.add_tag("owl")
    round_id = store.add_round([3, 1, 2], strategy="mal", params={"batch_size": 3},
                               window_start="2024-05-01", window_end="2024-05-08",
                               n_audios=2, n_sets=1, labeled_share=0.0)
    assert [p.clip_id for p in store.round_proposals(round_id)] == [1, 2, 3]
    store.settle_proposal(round_id, 2, status="medoid", label="owl", n_labelers=3,
                          agreement=2 / 3)
    assert store.round_proposals(round_id)[1] == RoundProposal(2, "medoid", "owl", 3,
                                                               pytest.approx(2 / 3))
    for bad, message in [(dict(status="medoid"), "a medoid needs its agreed label"),
                         (dict(status="gone"), "status='gone' must be one of"),
                         (dict(status="medoid", label="bat"), "'bat' is not in the ontology")]:
        with pytest.raises(StoreError, match=message):
            store.settle_proposal(round_id, 3, **bad)
    with pytest.raises(StoreError, match="clip 7 is not a proposal of round"):
        store.settle_proposal(round_id, 7, status="discarded")
    n = store.db.execute("SELECT COUNT(*) FROM al_iterations").fetchone()[0]
    with pytest.raises(StoreError, match="is not a stored clip"):
        store.add_round([1, 999], strategy="mal")  # whole or absent
    with pytest.raises(StoreError, match="proposes each clip once"):
        store.add_round([1, 1], strategy="mal")
    assert store.db.execute("SELECT COUNT(*) FROM al_iterations").fetchone()[0] == n


# -- Dawid-Skene beside the 2/3 rule ------------------------------------------------------------
def test_dawid_skene_beats_majority_vote_when_labelers_differ_in_skill():
    from alwidget.team import dawid_skene

    rng = np.random.default_rng(0)
    classes = ["owl", "frog", "rain"]
    truth = rng.integers(0, 3, 400)
    skill = {"ann": 0.9, "bob": 0.85, "cy": 0.45, "dee": 0.4, "zed": 0.35}
    rows = []
    for item, t in enumerate(truth):
        for who, p in skill.items():
            said = t if rng.random() < p else rng.integers(0, 3)
            rows.append((item, who, classes[said]))
    got = dawid_skene(rows)
    assert got.items == list(range(400)) and got.proba.shape == (400, 3)
    assert np.allclose(got.proba.sum(axis=1), 1.0)
    ds = np.mean([got.labels[i] == classes[t] for i, t in enumerate(truth)])
    votes = {}
    for item, _, label in rows:
        votes.setdefault(item, []).append(label)
    majority = np.mean([max(sorted(set(v)), key=v.count) == classes[t]
                        for (item, v), t in zip(sorted(votes.items()), truth)])
    assert ds > majority and ds > 0.9  # the careful labelers are trusted more
    acc = {w: np.trace(np.diag(np.bincount(truth, minlength=3) / 400) @ m) for w, m in
           got.confusion.items()}
    assert acc["ann"] > acc["cy"] > 0 and acc["bob"] > acc["zed"]
    with pytest.raises(ValueError, match="no annotations"):
        dawid_skene([])
