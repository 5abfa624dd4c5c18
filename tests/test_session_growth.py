"""An open labeling session takes in the clips of a growing archive (new recordings ingested
and their features computed) at its next plan."""

import numpy as np

from alwidget.session import Session
from alwidget.store import NewAudio, Store

CLASSES = ["background", "target"]


def add_file(store, i, fs, rng):
    store.add_audio(NewAudio("/rec", f"n1_{i:03d}.wav", 16000, 16, 32000, 1, "WAV", "PCM_16",
                             f"h{i}", 0, node="n1", recorded_at=f"2024-05-01T10:00:{i:02d}"),
                    [(0.0, 1.0), (1.0, 1.0)])
    ids = store.clip_ids()[-2:]
    store.put_features(fs, ids, rng.normal(size=(2, 4)).astype(np.float32))
    return ids.tolist()


def test_a_session_sees_new_clips_at_its_next_plan(tmp_path):
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "p.db")
    fs = store.feature_set("toy", {}, 4)
    old = add_file(store, 0, fs, rng) + add_file(store, 1, fs, rng)
    with Session(store, classes=CLASSES, strategy="random", clips=old[:2],
                 random_state=0) as s:
        s.submit("background")
        s.submit("target")
        assert s.current is None  # its clips are all labeled
        assert s.add_new_clips() == 0  # the old clips outside clips= are not new
        new = add_file(store, 2, fs, rng)
        assert s.add_new_clips(clips=new) == 2
        assert s.current is not None and s.current.clip_id in new
        assert s.features()[0].tolist()[-2:] == new
        assert set(new) <= set(s.pool.view().clip_ids.tolist())
        s.submit("background")
        assert s.current.clip_id in new  # the next plan too
        assert s.add_new_clips() == 0  # nothing newer


def test_follow_archive_takes_new_clips_in_after_each_decision(tmp_path):
    rng = np.random.default_rng(1)
    store = Store(tmp_path / "p.db")
    fs = store.feature_set("toy", {}, 4)
    old = add_file(store, 0, fs, rng) + add_file(store, 1, fs, rng)
    with Session(store, classes=CLASSES, strategy="random", random_state=0) as s:
        s.follow_archive = True
        new = add_file(store, 2, fs, rng)
        assert s.current.clip_id in old  # the clip shown stays until the expert answers
        s.submit("background")
        assert s.features()[0].tolist() == old + new
        view = s.pool.view()
        assert set(new) <= set(view.clip_ids.tolist())
        seen = {s.current.clip_id}
        for _ in range(3):
            s.submit("target" if len(seen) % 2 else "background")
            if s.current is None:
                break
            seen.add(s.current.clip_id)
        assert set(new) & seen  # planned from the grown pool


def add_file_later(store, i):
    """A file's clips, without features yet."""
    store.add_audio(NewAudio("/rec", f"n1_{i:03d}.wav", 16000, 16, 32000, 1, "WAV", "PCM_16",
                             f"h{i}", 0, node="n1", recorded_at=f"2024-05-01T10:00:{i:02d}"),
                    [(0.0, 1.0), (1.0, 1.0)])
    return store.clip_ids()[-2:].tolist()


def test_features_stored_out_of_order_are_all_taken_in(tmp_path):
    rng = np.random.default_rng(2)
    store = Store(tmp_path / "p.db")
    fs = store.feature_set("toy", {}, 4)
    old = add_file(store, 0, fs, rng) + add_file(store, 1, fs, rng)
    with Session(store, classes=CLASSES, strategy="random", random_state=0) as s:
        assert s.follow_archive  # the default without clips=
        a, b = add_file_later(store, 2), add_file_later(store, 3)
        store.put_features(fs, b, rng.normal(size=(2, 4)).astype(np.float32))  # b first
        s.submit("background")
        assert set(b) <= set(s.pool.view().clip_ids.tolist())
        store.put_features(fs, a, rng.normal(size=(2, 4)).astype(np.float32))
        s.submit("target")
        ids, X = s.features()
        assert ids.tolist() == old + a + b  # every clip, ascending
        assert np.array_equal(X, store.get_features(fs, ids)[1])


def store_of_files(path, n, seed):
    """A store of ``n`` files of 2 clips with features; (store, feature set, rng)."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    fs = store.feature_set("toy", {}, 4)
    for i in range(n):
        add_file(store, i, fs, rng)
    return store, fs, rng


def test_the_pool_view_agrees_in_length_right_after_growth(tmp_path):
    store, fs, rng = store_of_files(tmp_path / "p.db", 4, seed=3)
    with Session(store, classes=CLASSES, strategy="lc", random_state=0,
                 precompute=False) as s:
        s.submit("background")
        s.submit("target")
        s.submit("background")
        assert s.pool.view().p_target is not None
        new = add_file(store, 9, fs, rng)
        assert s.add_new_clips() == 2
        view = s.pool.view()
        n = len(view.clip_ids)
        assert n == 10 and [len(view.status), len(view.label), len(view.predicted),
                            len(view.p_target)] == [n] * 4
        rows = np.isin(view.clip_ids, new)
        assert (view.predicted[rows] == -1).all() and np.isnan(view.p_target[rows]).all()
        assert np.isfinite(view.p_target[~rows]).any()


def test_a_filtered_session_keeps_its_filter_and_plain_ids_do_not_grow(tmp_path):
    from alwidget.nodes import clips_where

    rng = np.random.default_rng(4)
    store = Store(tmp_path / "p.db")
    fs = store.feature_set("toy", {}, 4)
    add_file(store, 0, fs, rng)
    add_file(store, 1, fs, rng)
    chosen = clips_where(store, "n1", start="2024-05-01T10:00:01")
    with Session(store, classes=CLASSES, strategy="random", clips=chosen,
                 random_state=0) as s, \
            Session(store, classes=CLASSES, strategy="random", clips=chosen.tolist(),
                    random_state=0, labeler="other") as plain:
        assert s.follow_archive and not plain.follow_archive
        store.add_audio(NewAudio("/rec", "n2_000.wav", 16000, 16, 32000, 1, "WAV", "PCM_16",
                                 "h-n2", 0, node="n2", recorded_at="2024-05-01T10:00:05"),
                        [(0.0, 1.0), (1.0, 1.0)])
        other = store.clip_ids()[-2:]
        store.put_features(fs, other, rng.normal(size=(2, 4)).astype(np.float32))
        new = add_file(store, 2, fs, rng)
        assert s.add_new_clips() == 2  # n1's new file, not n2's
        from alwidget.session.pool import STATUS_NAMES

        inside = s.pool.view().status != STATUS_NAMES.index("outside")
        ids = s.pool.view().clip_ids
        assert set(ids[inside & np.isin(ids, new + other.tolist())]) == set(new)
        assert plain.add_new_clips() == 0
        assert plain.add_new_clips(clips=new) == 2


def test_growing_writes_new_rows_after_the_old_ones_without_copying_them(tmp_path):
    """A 1M-clip archive's matrix is GBs: arrivals go into spare rows, not a new copy."""
    store, fs, rng = store_of_files(tmp_path / "p.db", 4, seed=4)
    with Session(store, classes=CLASSES, strategy="random", random_state=0,
                 precompute=False) as s:
        add_file(store, 4, fs, rng)
        assert s.add_new_clips() == 2
        ids, first = s.features()
        add_file(store, 5, fs, rng)
        assert s.add_new_clips() == 2
        ids, grown = s.features()
        assert np.shares_memory(first, grown)  # the 10 rows before were not copied
        assert np.array_equal(grown[:10], first) and len(grown) == 12
        assert np.array_equal(grown, store.get_features(fs, ids)[1])
        for i in range(6, 12):  # past the spare rows: a larger buffer, the same values
            add_file(store, i, fs, rng)
            s.add_new_clips()
        ids, X = s.features()
        assert len(ids) == 24 and np.array_equal(X, store.get_features(fs, ids)[1])
