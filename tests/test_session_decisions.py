"""Every decision names its clip, is whole or absent, and sessions on one database see each other."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alwidget.session import DOUBT, Session, StaleDecision
from alwidget.store import Store
from test_session import CLASSES, make_project


def test_a_decision_for_a_clip_no_longer_shown_is_refused_and_stores_nothing(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0) as s:
        shown = s.current.clip_id
        s.submit(truth[shown], clip_id=shown)
        for call in (lambda: s.submit("target", clip_id=shown),  # the double press
                     lambda: s.skip(clip_id=shown), lambda: s.doubt(clip_id=shown),
                     lambda: s.undo(clip_id=shown)):
            with pytest.raises(StaleDecision, match=f"clip {shown}, which is no longer shown"):
                call()
        assert len(store.active_events()) == 1 and store.db["label_events"].count == 1
        assert s.undo(clip_id=s.current.clip_id).clip_id == shown  # named right: it works


def test_a_group_label_is_one_decision_and_one_undo_takes_it_back(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    group = [c for c, lab in truth.items() if lab == "background"][:12]
    with Session(store, classes=CLASSES, random_state=0) as s:
        first = s.current.clip_id
        s.submit(truth[first])
        before = s.current.clip_id
        s.label_many(group, "background")
        assert s.n_labels == 13
        assert s.undo().clip_id == before  # the whole group is taken back ...
        assert s.n_labels == 1 and store.current_labels().clip_id.tolist() == [first]
        assert s.undo().clip_id == first  # ... and the decision before it comes next
    with Session(Store(tmp_path / "p.db"), classes=CLASSES, random_state=0) as again:
        assert again.n_labels == 0  # resumed from the store: the same


def test_when_planning_fails_the_state_still_moves_and_no_clip_is_labeled_twice(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0, precompute=False) as s:
        real = s._core.plan

        def broken(*args, **kwargs):
            raise RuntimeError("the model ran out of memory")

        s._core.plan = broken
        seen = set()
        with pytest.warns(UserWarning, match="picked at random: RuntimeError"):
            for _ in range(6):
                clip = s.current.clip_id
                assert clip not in seen
                seen.add(clip)
                s.submit(truth[clip], clip_id=clip)
        assert s.current.reason.startswith("random: planning failed (RuntimeError: the model")
        assert s.n_labels == 6 and len(store.current_labels()) == 6
        s._core.plan = real
        s.submit(truth[s.current.clip_id])
        assert len(set(store.current_labels().clip_id.tolist())) == 7


def test_lc_tuned_tunes_on_validation_in_the_session_and_is_stored_by_its_name(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    held = [int(c) for c in store.clip_ids()[-60:]]
    with pytest.raises(ValueError, match="'lc-tuned' tunes its threshold on a validation set"):
        Session(store, classes=CLASSES, strategy="lc-tuned")
    positive = next(c for c, lab in truth.items() if lab == "target" and c not in held)
    with Session(store, classes=CLASSES, strategy="lc-tuned", random_state=1,
                 validation=(held, [truth[c] for c in held])) as s:
        s.label(positive, "target")
        thresholds = set()
        for _ in range(15):
            s.submit(truth[s.current.clip_id])
            if s.current.strategy == "lc-tuned":
                thresholds.add(round(s.threshold, 6))
                assert f"tuned threshold {s.threshold:.2f}" in s.current.reason
        assert thresholds - {0.5}  # really tuned, not the fixed 0.5
        assert s.curve and all(0 <= f <= 1 for _, f in s.curve)
    assert {e.strategy for e in store.active_events()} >= {"lc-tuned"}


def test_semi_supervised_with_three_classes_trains_on_valid_balanced_pseudo_labels(tmp_path):
    store, _ = make_project(tmp_path / "p.db", n_files=30)
    ids = store.clip_ids()
    fs = store.feature_sets()[0]
    rng = np.random.default_rng(0)
    kind = np.arange(len(ids)) % 3
    X = rng.normal(size=(len(ids), 8)).astype(np.float32) * 0.3 + kind[:, None] * 3.0
    store.put_features(fs, ids, X)
    names = np.array(["rain", "wind", "bird"])[kind]
    truth = dict(zip(ids.tolist(), names.tolist()))
    with Session(store, classes=["rain", "wind", "bird"], strategy="ssal-0.9",
                 random_state=0) as s:
        s.label_many(ids[:9:3], "rain")  # three examples of each sound
        s.label_many(ids[1:10:3], "wind")
        s.label_many(ids[2:11:3], "bird")
        for _ in range(4):
            s.submit(truth[s.current.clip_id])
        stored = store.pseudo_labels(event_id=store.active_events()[-1].id)
        assert len(stored) > 0 and set(stored.label.tolist()) <= {"rain", "wind", "bird"}
        counts = {c: int((stored.label == c).sum()) for c in ("rain", "wind", "bird")}
        assert len(set(counts.values())) == 1  # as many of each class
        assert all(truth[int(c)] == lab for c, lab in zip(stored.clip_id, stored.label))


def test_two_sessions_on_one_database_see_each_others_decisions(tmp_path):
    store_a, truth = make_project(tmp_path / "p.db")
    a = Session(store_a, classes=CLASSES, random_state=0, labeler="ann")
    b = Session(Store(tmp_path / "p.db"), classes=CLASSES, random_state=0, labeler="bob")
    shown_to_b = b.current.clip_id
    a.label(shown_to_b, truth[shown_to_b])  # ann labels, on a map, the clip bob is listening to
    with pytest.raises(StaleDecision, match=f"clip {shown_to_b} was just labeled by ann"):
        b.submit("target", clip_id=shown_to_b)
    assert store_a.current_labels().label.tolist() == [truth[shown_to_b]]  # bob's never stored
    assert b.current.clip_id != shown_to_b and b.n_labels == 1  # b moved on, and counts ann's
    b.submit(truth[b.current.clip_id])
    a.submit(truth[a.current.clip_id])  # a reads bob's label before committing: no conflict
    assert a.n_labels == 3 == b.n_labels + 1 and DOUBT not in truth.values()
    a.close()
    b.close()


def test_two_kernels_labeling_one_database_never_share_a_clip(tmp_path):
    path = tmp_path / "p.db"
    store, truth = make_project(path, n_files=40)
    store.close()
    kernel = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_session import CLASSES, make_project
        from alwidget.session import Session, StaleDecision
        from alwidget.store import Store
        _, truth = make_project({str(tmp_path)!r} + f"/truth{{sys.argv[1]}}.db", n_files=40)
        s = Session(Store({str(path)!r}), classes=CLASSES, random_state=0, labeler="expert")
        print("ready", flush=True)
        sys.stdin.readline()  # both kernels start labeling together
        for _ in range(40):
            clip = s.current.clip_id
            try:
                s.submit(truth[clip], clip_id=clip)
                print("committed", clip, flush=True)
            except StaleDecision:
                print("refused", clip, repr(sys.exc_info()[1]), flush=True)
        s.close()
    """)
    kernels = [subprocess.Popen([sys.executable, "-c", kernel, str(i)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for i in range(2)]
    try:
        for k in kernels:
            assert k.stdout.readline().strip() == "ready"
        for k in kernels:
            k.stdin.write("go\n")
            k.stdin.flush()
        outputs = [k.communicate(timeout=300)[0].split("\n") for k in kernels]
    finally:
        for k in kernels:
            k.kill()
            k.wait()
    assert all(k.returncode == 0 for k in kernels)
    shown = [[int(line.split()[1]) for line in out if line] for out in outputs]
    committed = [int(line.split()[1]) for out in outputs for line in out
                 if line.startswith("committed")]
    events = Store(path).active_events()
    labeled = [e.clip_id for e in events if e.kind == "label"]
    assert len(labeled) == len(set(labeled))  # 0 duplicated clips
    assert sorted(labeled) == sorted(committed) == sorted(set(committed))  # 0 lost decisions
    assert len(committed) == 80  # no decision had to be refused ...
    assert not set(shown[0]) & set(shown[1])  # ... because no clip was shown in both kernels


def test_a_session_asks_only_about_its_clips(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    ids = store.clip_ids()
    mine = [int(c) for c in ids[:50]]
    with Session(store, classes=CLASSES, random_state=0, clips=mine) as s:
        for _ in range(30):
            assert s.current.clip_id in mine
            s.submit(truth[s.current.clip_id])
        outside = int(ids[-1])
        s.label(outside, truth[outside])  # the expert may still label any clip with features
        from alwidget.session import STATUS_NAMES
        v = s.pool.view()
        assert (v.status[50:] == STATUS_NAMES.index("outside")).sum() == len(ids) - 51
    with pytest.raises(ValueError, match=r"clips \[99999\] have no toy features"):
        Session(store, classes=CLASSES, clips=[99999])


# -- regressions found in review --------------------------------------------------------
def test_a_store_that_fails_after_the_commit_never_lets_a_clip_be_labeled_twice(tmp_path):
    import sqlite3

    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0) as s:
        real = store.claimed_clips
        calls = []

        def locked(*args, **kwargs):  # another kernel holds the write lock past the timeout
            calls.append(1)
            if len(calls) == 1:
                raise sqlite3.OperationalError("database is locked")
            return real(*args, **kwargs)

        store.claimed_clips = locked
        first = s.current.clip_id
        with pytest.warns(UserWarning, match="the store did not answer"):
            s.submit(truth[first], clip_id=first)
        assert s.current.clip_id != first  # the session moved on all the same
        with pytest.raises(StaleDecision):
            s.submit("target", clip_id=first)
        assert [e.clip_id for e in store.active_events()] == [first]


def test_validation_clips_labeled_elsewhere_are_never_trained_on(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    held = [int(c) for c in store.clip_ids()[-40:]]
    with Session(Store(tmp_path / "p.db"), classes=CLASSES, labeler="bob") as bob:
        bob.label_many([c for c in held if truth[c] == "background"][:12], "background")
    with Session(store, classes=CLASSES, labeler="ann", random_state=0,
                 validation=(held, [truth[c] for c in held])) as ann:
        positive = next(c for c, lab in truth.items() if lab == "target" and c not in held)
        ann.label(positive, "target")
        for _ in range(3):
            ann.submit(truth[ann.current.clip_id])
        assert ann._planned.plan.n_train == 4  # ann's 4 labels; bob's 12 are validation clips


def test_a_strategy_given_without_a_seed_is_seeded_by_the_session(tmp_path):
    from alwidget.strategies import LeastConfidence

    store, truth = make_project(tmp_path / "p.db", n_files=60)
    ids = store.clip_ids()
    positive = next(c for c, lab in truth.items() if lab == "target")
    negative = next(c for c, lab in truth.items() if lab == "background")
    store.add_tag("target")
    store.add_tag("background")
    store.add_label(positive, "target")
    store.add_label(negative, "background")
    picks = set()
    for _ in range(4):
        with Session(Store(tmp_path / "p.db"), classes=CLASSES, random_state=7,
                     strategy=LeastConfidence(), precompute=False) as s:
            picks.add(s.current.clip_id)
    assert len(picks) == 1 and len(ids) == 600  # resumable: the same next clip every time


def test_a_clip_put_in_doubt_loses_its_pseudo_label(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    positive = next(c for c, lab in truth.items() if lab == "target")
    negatives = [c for c, lab in truth.items() if lab == "background"][:3]
    with Session(store, classes=CLASSES, strategy="ssal-0.9", random_state=0) as s:
        s.label(positive, "target")
        s.label_many(negatives, "background")
        for _ in range(6):
            s.submit(truth[s.current.clip_id])
        pseudo = dict(s._next_pseudo())
        assert pseudo, "the model labels some clips itself"
        doubtful = next(iter(pseudo))
        s.label(doubtful, DOUBT)
        plan = s._planned.plan
        trained = plan.n_train - s.n_labels
        assert trained == len([c for c in pseudo if c != doubtful])


def test_undo_after_another_kernel_undid_takes_back_nothing_more(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    a = Session(store, classes=CLASSES, random_state=0)
    a.submit(truth[a.current.clip_id])
    second = a.current.clip_id
    a.submit(truth[second])
    other = Store(tmp_path / "p.db")  # this labeler's other kernel undoes the last decision
    other.undo_decision(other.active_events()[-1].id)
    with pytest.raises(StaleDecision, match="already undone in another session"):
        a.undo()
    assert a.n_labels == 1 and len(store.active_events()) == 1  # the first label stays
    a.close()


def test_a_clip_labeled_and_undone_elsewhere_can_still_be_decided(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0, labeler="ann") as ann:
        shown = ann.current.clip_id
        bob = Store(tmp_path / "p.db")
        bob.add_tag("target")
        bob.undo_decision(bob.add_label(shown, "target", labeler="bob"))  # a slip, taken back
        ann.submit(truth[shown], clip_id=shown)  # nothing in force on it: not refused
        assert [(e.clip_id, e.labeler) for e in store.active_events()] == [(shown, "ann")]


def test_pseudo_labels_of_clips_without_these_features_are_left_out(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    ids = store.clip_ids()
    positive = next(c for c, lab in truth.items() if lab == "target")
    negatives = [c for c, lab in truth.items() if lab == "background"][:3]
    with Session(store, classes=CLASSES, strategy="ssal-0.9", random_state=0) as s:
        s.label(positive, "target")
        s.label_many(negatives, "background")
        for _ in range(5):
            s.submit(truth[s.current.clip_id])
        pseudo = [c for c, _ in s._next_pseudo()]
    half = store.feature_set("half", {}, 8)  # features for fewer clips than the pseudo-labels
    keep = np.setdiff1d(ids, pseudo[: len(pseudo) // 2 + 1])
    _, X = store.get_features(store.feature_sets()[0], keep)
    store.put_features(half, keep, X)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "planning the next clip failed" would be an error
        with Session(store, half, classes=CLASSES, strategy="ssal-0.9", random_state=0) as again:
            assert again.current.strategy == "ssal-0.9"


def test_a_failed_read_after_the_commit_keeps_the_state_and_never_decides_twice(tmp_path):
    import sqlite3

    import alwidget.session.decisions as decisions

    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0, labeler="ann") as s:
        bob = Store(tmp_path / "p.db")
        bob.add_tag("background")
        other = next(c for c, lab in truth.items() if lab == "background" and c != s.current.clip_id)
        s.queue([other])  # ann asks to hear it next ...
        bob.add_label(other, "background", labeler="bob")  # ... and bob labels it meanwhile
        real = decisions.read_state

        def broken(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        decisions.read_state = broken
        try:
            first = s.current.clip_id
            with pytest.warns(UserWarning, match="the store did not answer"):
                s.submit(truth[first], clip_id=first)  # stored: no exception for the caller
        finally:
            decisions.read_state = real
        assert [e.clip_id for e in store.active_events("ann")] == [first]
        # ann's re-read failed, but claiming the queued clip found bob's label: never shown
        assert s.current.clip_id != other and s.n_labels == 2
        assert [e.clip_id for e in store.active_events()].count(other) == 1
        # a plan behind its state (whatever went wrong) never decides a decided clip again
        s._state = s._state.with_labels([s.current.clip_id], "background")
        stuck = s._planned.proposal.clip_id
        with pytest.raises(StaleDecision, match=f"clip {stuck} is decided already"):
            s.submit("target")
        assert [e.clip_id for e in store.active_events()].count(stuck) == 0


def test_a_claim_the_store_cannot_take_costs_only_the_claim(tmp_path):
    import sqlite3

    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0) as s:
        def locked(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        store.claim_clip = locked
        with pytest.warns(UserWarning, match="may not be claimed"):
            s.submit(truth[s.current.clip_id])
        assert s.n_labels == 1 and s.current is not None


def test_labels_on_validation_clips_never_count_towards_the_budget(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    held = [int(c) for c in store.clip_ids()[-40:]]
    with Session(Store(tmp_path / "p.db"), classes=CLASSES, labeler="bob") as bob:
        bob.label_many(held[:12], "background")
    with Session(store, classes=CLASSES, labeler="ann", budget=10,
                 validation=(held, [truth[c] for c in held])) as ann:
        assert ann.n_labels == 0 and not ann.done and ann.status().n_labels == 0
        assert ann.pool.view().n_labels == 0
