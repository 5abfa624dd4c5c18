"""The labeling session: commits before moving on, precomputes exactly, undo, resume, SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alwidget.session import DOUBT, Session
from alwidget.store import NewAudio, Store


def make_project(path, n_files=20, clips_per_file=10, seed=0):
    """A store with synthetic features: 5 % of clips are 'target', shifted in feature space."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    for i in range(n_files):
        store.add_audio(NewAudio("/rec", f"n1_{i:03d}.wav", 16000, 16, 16000 * clips_per_file, 1,
                                 "WAV", "PCM_16", f"h{i}", 0),
                        [(float(k), 1.0) for k in range(clips_per_file)])
    ids = store.clip_ids()
    truth = rng.random(len(ids)) < 0.05
    truth[:2] = [True, False]
    X = rng.normal(size=(len(ids), 8)).astype(np.float32) + truth[:, None] * 2.0
    fs = store.feature_set("toy", {}, 8)
    store.put_features(fs, ids, X)
    return store, dict(zip(ids.tolist(), np.where(truth, "target", "background")))


CLASSES = ["background", "target"]


def test_cold_start_then_model_queries(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=1) as s:
        assert s.current.reason == "random: no labels yet" and s.current.model_version == 0
        first = s.current.clip_id
        nxt = s.submit(truth[first])
        assert store.current_labels().clip_id.tolist() == [first]  # committed before returning
        assert nxt.reason.startswith("random: only")
        # label the positives and negatives until both classes are present
        for _ in range(200):
            if s.status().n_positive and s.n_labels > s.status().n_positive:
                break
            s.submit(truth[s.current.clip_id])
        p = s.current
        assert p.reason.startswith("least confident") and p.p_target is not None
        assert p.path.startswith("/rec/n1_") and p.duration_s == 1.0


def test_precomputed_next_clip_is_exactly_a_fresh_refit(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    s = Session(store, classes=CLASSES, random_state=3)
    for _ in range(25):
        s.current  # noqa: B018 - the expert listens while plans are computed
        s._planner.wait()  # let the background finish, as 2 s of listening would
        s.submit(truth[s.current.clip_id])
        fresh = Session(Store(tmp_path / "p.db"), classes=CLASSES, random_state=3, precompute=False)
        assert (fresh.current.clip_id, fresh.current.reason) == (s.current.clip_id, s.current.reason)
        fresh.close()
    assert s.n_sync_plans == 0  # every answer found its plan ready
    s.close()


def test_skip_doubt_and_budget(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, budget=5, random_state=0) as s:
        skipped = s.current.clip_id
        s.skip()
        doubted = s.current.clip_id
        s.doubt()
        seen = {skipped, doubted}
        while not s.done:
            assert s.current.clip_id not in seen
            seen.add(s.current.clip_id)
            s.submit(truth[s.current.clip_id])
        assert s.n_labels == 5 and s.current is None
        with pytest.raises(ValueError, match="session is done"):
            s.submit("target")
    kinds = [(d.kind, d.label) for d in store.active_events()]
    assert kinds[:2] == [("skip", None), ("label", DOUBT)]


def test_undo_any_number_of_steps(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=2) as s:
        shown = []
        for _ in range(6):
            shown.append(s.current.clip_id)
            s.submit(truth[s.current.clip_id])
        skipped = s.current.clip_id
        s.skip()
        assert s.undo().clip_id == skipped  # the skip is undone first
        for clip in reversed(shown[-3:]):
            assert s.undo().clip_id == clip
        assert s.n_labels == 3
        assert store.current_labels().clip_id.tolist() == sorted(shown[:3])
        with pytest.raises(ValueError, match="label='cat'"):
            s.submit("cat")


def test_a_new_session_resumes_with_the_same_next_clip(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=4) as s:
        for _ in range(15):
            s.submit(truth[s.current.clip_id])
        expected = s.current.clip_id
    with Session(Store(tmp_path / "p.db"), classes=CLASSES, random_state=4) as again:
        assert again.current.clip_id == expected and again.n_labels == 15


def test_sigkill_loses_no_committed_label_and_resume_works(tmp_path):
    path = tmp_path / "p.db"
    store, truth = make_project(path)
    store.close()
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_session import CLASSES, make_project
        from alwidget.session import Session
        from alwidget.store import Store
        _, truth = make_project({str(tmp_path / "truth.db")!r})
        s = Session(Store({str(path)!r}), classes=CLASSES, random_state=5)
        for _ in sys.stdin:  # one answer per line the test sends
            clip = s.current.clip_id
            nxt = s.submit(truth[clip])
            print("committed", clip, nxt.clip_id, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    reported = []
    for _ in range(30):
        proc.stdin.write("answer\n")
        proc.stdin.flush()
        reported.append(proc.stdout.readline().split())
    proc.stdin.write("answer\n")  # one more answer in flight: the kill lands during it
    proc.stdin.flush()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = Store(path)
    labeled = set(store.current_labels().clip_id.tolist())
    committed = {int(r[1]) for r in reported}
    assert committed <= labeled  # every label reported as committed is in the database
    assert len(labeled) <= len(committed) + 1  # at most one more got in before the kill
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Session(store, classes=CLASSES, random_state=5) as again:
        assert again.n_labels == len(labeled)
        if len(labeled) == len(committed):
            assert again.current.clip_id == int(reported[-1][2])  # the clip the expert was on


def test_labeling_a_chosen_example_starts_the_model(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    positive = next(c for c, lab in truth.items() if lab == "target")
    with Session(store, classes=CLASSES, random_state=0) as s:
        negative = next(c for c, lab in truth.items() if lab == "background")
        assert s.label(positive, "target").reason == "random: only 'target' labeled so far"
        assert s.label(negative, "background").reason.startswith("least confident")
        assert s.n_labels == 2 and s.status().n_positive == 1
        with pytest.raises(ValueError, match="clips \\[99999\\]"):
            s.label(99999, "target")
    assert store.active_events()[0].reason == "chosen by the expert"


def test_pool_view_tracks_status_labels_and_predictions(tmp_path):
    from alwidget.session import STATUS_NAMES

    store, truth = make_project(tmp_path / "p.db")
    positive = next(c for c, lab in truth.items() if lab == "target")
    negative = next(c for c, lab in truth.items() if lab == "background")
    with Session(store, classes=CLASSES, random_state=0) as s:
        v = s.pool.view()
        assert (v.predicted == -1).all() and np.isnan(v.p_target).all()
        assert [STATUS_NAMES[k] for k in np.unique(v.status)] == ["unlabeled", "proposed"]
        s.label(positive, "target")
        s.label(negative, "background")
        skipped = s.current.clip_id
        s.skip()
        s.doubt() if s.current.clip_id != positive else None
        v = s.pool.view()
        row = {int(c): i for i, c in enumerate(v.clip_ids)}
        assert STATUS_NAMES[v.status[row[positive]]] == "labeled" and v.label[row[positive]] == 1
        assert v.label[row[negative]] == 0 and STATUS_NAMES[v.status[row[skipped]]] == "skipped"
        assert (v.status == STATUS_NAMES.index("doubt")).sum() == 1
        assert (v.status == STATUS_NAMES.index("proposed")).sum() == 1
        assert v.status[row[s.current.clip_id]] == STATUS_NAMES.index("proposed")
        assert v.p_target.dtype == np.float32 and np.isfinite(v.p_target).all()
        is_target = np.array([truth[int(c)] == "target" for c in v.clip_ids])
        assert v.p_target[is_target].mean() > v.p_target[~is_target].mean()  # a real model
        assert s.pool.proposal(positive).p_target == pytest.approx(v.p_target[row[positive]])


def test_queue_comes_before_the_strategy_and_observers_hear_every_change(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    heard = []
    with Session(store, classes=CLASSES, random_state=0) as s:
        s.observe(lambda session: heard.append(session.n_labels))
        wanted = [int(c) for c in store.clip_ids()[[50, 7, 120]]]
        s.queue(wanted)
        got = []
        for _ in range(4):
            got.append(s.current.clip_id)
            s.submit(truth[got[-1]])
        assert got[1:] == wanted and s.current.clip_id not in wanted  # then back to the strategy
        assert store.active_events()[1].reason == "queued by the expert"
        s.undo()
        assert heard == [0, 1, 2, 3, 4, 3]


def test_label_many_commits_a_group_and_refits_once(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    group = [c for c, lab in truth.items() if lab == "background"][:30]
    with Session(store, classes=CLASSES, random_state=0) as s:
        before = s.n_sync_plans
        s.label_many(group, "background")
        assert s.n_labels == 30 and s.n_sync_plans - before == 1
        assert sorted(store.current_labels().clip_id.tolist()) == sorted(group)
        with pytest.raises(ValueError, match="label='cat' is not one of"):
            s.label_many(group, "cat")
        with pytest.raises(ValueError, match="clips \\[99999\\]"):
            s.label_many([99999], "target")
    assert len(store.current_labels()) == 30  # the refused calls stored nothing


def test_validation_clips_cannot_be_labeled_for_training(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    held = [int(c) for c in store.clip_ids()[-20:]]
    with Session(store, classes=CLASSES, validation=(held, [truth[c] for c in held])) as s:
        with pytest.raises(ValueError, match=f"clips \\[{held[0]}\\] are in the validation set"):
            s.label(held[0], "target")
        with pytest.raises(ValueError, match="validation set"):
            s.label_many(held[:3], "background")
    assert len(store.current_labels()) == 0


def test_pool_view_shows_what_a_semi_supervised_strategy_would_label_itself(tmp_path):
    from alwidget.session import STATUS_NAMES

    store, truth = make_project(tmp_path / "p.db")
    positive = next(c for c, lab in truth.items() if lab == "target")
    negative = next(c for c, lab in truth.items() if lab == "background")
    with Session(store, classes=CLASSES, strategy="ssal-0.95", random_state=0) as s:
        s.label(positive, "target")
        s.label(negative, "background")
        for _ in range(10):
            s.submit(truth[s.current.clip_id])
        v = s.pool.view()
        pseudo = v.status == STATUS_NAMES.index("pseudo-labeled")
        plan_rows = s._planned.plan.pseudo_rows
        assert pseudo.any() and set(np.flatnonzero(pseudo)) <= set(plan_rows.tolist())
        confident = np.maximum(v.p_target[pseudo], 1 - v.p_target[pseudo])
        assert (confident >= 0.95).all()  # T_SSL: only confident predictions
        assert len(store.current_labels()) == 12  # shown on the map, not stored as labels


def test_semi_supervised_session_trains_on_pseudo_labels_and_resumes_exactly(tmp_path, monkeypatch):
    import alwidget.loop.core as session_module

    store, truth = make_project(tmp_path / "p.db")
    fit_sizes = []
    real_fit = session_module.Learner.fit

    def counting_fit(self, X, y):
        fit_sizes.append(len(y))
        return real_fit(self, X, y)

    monkeypatch.setattr(session_module.Learner, "fit", counting_fit)
    positive = next(c for c, lab in truth.items() if lab == "target")
    negative = next(c for c, lab in truth.items() if lab == "background")
    s = Session(store, classes=CLASSES, strategy="ssal-0.95", random_state=2)
    s.label(positive, "target")
    s.label(negative, "background")
    sync_before = s.n_sync_plans
    for _ in range(12):
        s._planner.wait()
        s.submit(truth[s.current.clip_id])
        fresh = Session(Store(tmp_path / "p.db"), classes=CLASSES, strategy="ssal-0.95",
                        random_state=2, precompute=False)
        assert fresh._state.pseudo == s._state.pseudo  # the pseudo-labels came back from the DB
        assert (fresh.current.clip_id, fresh.current.reason) == (s.current.clip_id, s.current.reason)
        fresh.close()
    last = store.active_events()[-1].id
    stored = store.pseudo_labels(event_id=last)
    assert len(stored) > 0 and len(stored) % 2 == 0  # balanced: as many targets as background
    assert (stored.label == "target").sum() == (stored.label == "background").sum()
    assert max(fit_sizes) > s.n_labels  # fits used more than the human labels
    assert s.n_sync_plans == sync_before  # the background plans carried the same pseudo-labels
    assert len(store.current_labels()) == 14  # pseudo-labels are never human labels
    s.close()
