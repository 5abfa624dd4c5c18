"""Maps of the pool: PCA / t-SNE / UMAP, cached in the store, extended by transform."""

import numpy as np
import pytest

from alwidget.projections import Projection, compute_projection
from alwidget.store import NewAudio, Store


@pytest.fixture(autouse=True)
def fresh_map_estimates(monkeypatch):
    """Each test starts from a fresh process's map-time estimates: maps computed earlier in
    this process (on a fast machine) scale them, e.g. below the second under which "about N s
    left" is left out."""
    from alwidget.projections import progress

    monkeypatch.setattr(progress, "_SPEED", {})
    monkeypatch.setattr(progress, "_RAN", set())


def make_store(path, n, dim=8, seed=0, start=0):
    store = Store(path)
    rng = np.random.default_rng(seed)
    with store.transaction():
        store.add_audio(NewAudio("/maps", f"a{start}.wav", 16000, 16, 16000 * n, 1, "WAV",
                                 "PCM_16", f"h{start}", 0), [(float(k), 1.0) for k in range(n)])
    fs = store.feature_set("toy", {}, dim)
    new = store.clips_without_features(fs)
    centres = np.array([[0.0] * dim, [6.0] * dim])
    X = centres[np.arange(len(new)) % 2] + rng.normal(size=(len(new), dim))
    store.put_features(fs, new, X)
    return store, fs


def test_pca_map_is_cached_across_reopen(tmp_path):
    db = tmp_path / "p.db"
    store, fs = make_store(db, 50)
    p = compute_projection(store, fs, "pca")
    assert isinstance(p, Projection) and not p.from_cache
    assert p.coords.shape == (50, 2) and p.coords.dtype == np.float32
    assert np.array_equal(p.clip_ids, store.clip_ids())
    store.close()
    again = compute_projection(Store(db), fs, "pca")
    assert again.from_cache and np.array_equal(again.coords, p.coords)


def test_two_clusters_stay_apart_in_tsne(tmp_path):
    store, fs = make_store(tmp_path / "t.db", 200)
    seen = []
    p = compute_projection(store, fs, "tsne", progress=lambda f, m: seen.append(f))
    even, odd = p.coords[::2], p.coords[1::2]
    gap = np.linalg.norm(even.mean(0) - odd.mean(0))
    assert gap > 3 * max(even.std(0).max(), odd.std(0).max())
    assert seen[-1] == 1.0 and seen == sorted(seen)
    same = compute_projection(Store(tmp_path / "other.db"), make_store(tmp_path / "other.db", 200)[1],
                              "tsne")
    assert np.allclose(same.coords, p.coords)  # seeded: same inputs, same map


def test_new_clips_are_placed_without_moving_old_ones(tmp_path):
    db = tmp_path / "n.db"
    store, fs = make_store(db, 120)
    first = compute_projection(store, fs, "tsne")
    store.close()
    store, fs = make_store(db, 20, seed=1, start=1)  # new audio, new clips; a fresh Store
    second = compute_projection(store, fs, "tsne")
    assert not second.from_cache and len(second.clip_ids) == 140
    old = np.isin(second.clip_ids, first.clip_ids)
    assert np.array_equal(second.coords[old], first.coords)
    assert second.n_fit == 120 and np.isfinite(second.coords).all()


def test_large_pool_is_fitted_on_a_subsample(tmp_path):
    store, fs = make_store(tmp_path / "s.db", 300)
    p = compute_projection(store, fs, "tsne", max_fit=100)
    assert p.n_fit == 100 and p.subsampled and "fitted on 100" in p.describe()
    assert np.isfinite(p.coords).all()


def test_sidecar_model_survives_a_restart(tmp_path):
    import alwidget.projections as proj

    db = tmp_path / "r.db"
    store, fs = make_store(db, 100)
    compute_projection(store, fs, "tsne")
    assert list((tmp_path / "r.db.maps").glob("*.model"))
    proj._MODELS.clear()  # as after a kernel restart
    store, fs = make_store(db, 10, seed=2, start=1)
    p = compute_projection(store, fs, "tsne")
    assert p.n_fit == 100 and len(p.clip_ids) == 110


def test_bad_arguments_name_the_value(tmp_path):
    store, fs = make_store(tmp_path / "b.db", 20)
    with pytest.raises(ValueError, match="method='mds' must be one of"):
        compute_projection(store, fs, "mds")
    with pytest.raises(ValueError, match="takes no parameter \\['perplexity'\\]"):
        compute_projection(store, fs, "umap", perplexity=5)
    with pytest.raises(ValueError, match="no features yet"):
        compute_projection(Store(":memory:"), method="pca")


@pytest.mark.slow
def test_umap_map_and_transform(tmp_path):
    db = tmp_path / "u.db"
    store, fs = make_store(db, 200)
    p = compute_projection(store, fs, "umap")
    even, odd = p.coords[::2], p.coords[1::2]
    assert np.linalg.norm(even.mean(0) - odd.mean(0)) > 2 * max(even.std(0).max(), odd.std(0).max())
    store, fs = make_store(db, 10, seed=3, start=1)
    q = compute_projection(store, fs, "umap")
    assert len(q.clip_ids) == 210 and np.array_equal(q.coords[:200], p.coords)


def test_changed_features_make_a_new_map(tmp_path):
    store, fs = make_store(tmp_path / "c.db", 60)
    first = compute_projection(store, fs, "pca")
    ids, X = store.get_features(fs)
    store.put_features(fs, ids, X * 100 + 5)  # e.g. a re-import replaced the vectors
    again = compute_projection(store, fs, "pca")
    assert not again.from_cache and not np.allclose(again.coords, first.coords)


def test_a_map_fitted_on_a_small_pool_is_refitted_when_the_pool_grows(tmp_path):
    db = tmp_path / "g.db"
    store, fs = make_store(db, 40)
    assert compute_projection(store, fs, "tsne").n_fit == 40
    store, fs = make_store(db, 100, seed=5, start=1)
    assert compute_projection(store, fs, "tsne").n_fit == 140  # more than doubled: fit again


def test_a_model_file_of_another_fit_is_not_used(tmp_path):
    import shutil

    import alwidget.projections as proj

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    store_a, fs = make_store(a / "p.db", 100, seed=0)
    compute_projection(store_a, fs, "tsne")
    store_b, fs_b = make_store(b / "p.db", 100, seed=9)  # other features, same layout
    first_b = compute_projection(store_b, fs_b, "tsne")
    shutil.rmtree(b / "p.db.maps")
    shutil.copytree(a / "p.db.maps", b / "p.db.maps")  # a stale folder from another project
    proj._MODELS.clear()
    store_b, fs_b = make_store(b / "p.db", 10, seed=3, start=1)
    with pytest.warns(UserWarning, match="belongs to another fit"):
        again = compute_projection(store_b, fs_b, "tsne")
    assert again.n_fit == 110  # refitted, not placed by the other project's model
    assert len(first_b.clip_ids) == 100


def test_equal_parameters_share_one_cache_entry(tmp_path):
    store, fs = make_store(tmp_path / "e.db", 60)
    compute_projection(store, fs, "tsne", perplexity=10)
    assert compute_projection(store, fs, "tsne", perplexity=10.0).from_cache
    assert compute_projection(store, fs, "tsne", perplexity=np.int64(10)).from_cache


def test_progress_says_the_stage_the_time_spent_and_the_time_left(tmp_path):
    import threading

    store, fs = make_store(tmp_path / "p.db", 300)
    seen = []
    compute_projection(store, fs, "tsne", max_fit=200, progress=lambda f, m: seen.append((f, m)))
    fractions, messages = [f for f, _ in seen], [m for _, m in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[-2] < 1.0
    assert messages[0].startswith("t-SNE: nearest neighbours of 200 clips · 0 s so far, about ")
    iterations = [m for m in messages if m.startswith("t-SNE: iteration ")]
    assert len(iterations) >= 70  # every 10 of openTSNE's 750 iterations, measured
    assert iterations[-1].startswith("t-SNE: iteration 750/750")
    assert any(m.startswith("t-SNE: placing the other 100 clips by transform: 100/100") for m in
               messages)
    assert all(" so far" in m for m in messages[:-1]) and messages[-1] == "map ready"
    for t in threading.enumerate():  # the heartbeat stopped with the map
        if t.name == "alwidget-map-progress":
            t.join(10)
            assert not t.is_alive()


def test_a_stage_without_callbacks_still_reports_its_clock_and_estimate():
    """umap-learn has no per-epoch callback: the heartbeat reports the time spent and what is
    left by the stage's expected length, and says so when the stage runs past it."""
    import threading

    from alwidget.projections.progress import MapProgress

    now, seen, new = [0.0], [], threading.Condition()

    def report(fraction, message):
        with new:
            seen.append((fraction, message))
            new.notify_all()

    def reported(text):
        with new:
            return new.wait_for(lambda: any(text in m for _, m in seen), timeout=10)

    with MapProgress(report, "demo", [("layout", 10_000)], tick=0.01,
                     clock=lambda: now[0]) as p:  # 10 s expected (0.001 s a clip)
        p.stage("layout", "neighbours and layout")
        now[0] = 4.0  # nothing reports: only the heartbeat can tell the clock moved
        assert reported("demo: neighbours and layout · 4 s so far, about 6 s left")
        now[0] = 15.0
        assert reported("15 s so far, longer than the 10 s expected")
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and max(fractions) <= 0.9  # never done by estimate


def test_measured_progress_gives_the_time_left_from_its_rate():
    from alwidget.projections.progress import MapProgress

    now, seen = [0.0], []
    p = MapProgress(lambda f, m: seen.append(m), "demo", [("neighbours", 1000), ("layout", 9000)],
                    tick=0, clock=lambda: now[0])
    p.stage("neighbours", "neighbours")
    now[0] = 2.0  # twice as long as expected: later stages are expected slower too
    p.stage("layout", "iteration 0/750")
    now[0] = 12.0
    p.step(0.25, "iteration 190/750")  # a quarter in 10 s: about 30 s left
    assert seen[-1] == "demo: iteration 190/750 · 12 s so far, about 30 s left"
    p.finish("map ready")
    assert seen[-1] == "map ready"
