"""Search by example: exact neighbours, the kinds of query, and clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

import alwidget
from alwidget.features import LogMel, extract_features
from alwidget.search import SearchIndex, embed_file, search_by_example
from alwidget.store import NewAudio, Store
from conftest import write_audio


def brute_force(ids, X, Q, k, metric, combine="mean", exclude=()):
    """The reference: float64 numpy over every row, ties by ascending clip id."""
    X = np.asarray(X, np.float64)
    Q = np.atleast_2d(np.asarray(Q, np.float64))
    if metric == "cosine":
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        if combine == "mean":
            Q = Q.mean(0, keepdims=True)
            Q /= np.linalg.norm(Q)
        worse = -((X @ Q.T) / np.linalg.norm(X, axis=1)[:, None]).max(axis=1)
    else:
        if combine == "mean":
            Q = Q.mean(0, keepdims=True)
        worse = np.linalg.norm(X[:, None, :] - Q[None], axis=2).min(axis=1)
    worse[np.isin(ids, list(exclude))] = np.inf
    order = np.lexsort((ids, worse))[:k]
    order = order[np.isfinite(worse[order])]
    return ids[order], np.abs(worse[order])


def clustered(n, dim, seed=0, offset=40.0):
    """Clusters far from the origin (like dB features), so float32 cancellation matters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(8, dim)) + offset
    return (centres[rng.integers(8, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dim", [8, 96])
def test_neighbours_equal_a_brute_force_reference(metric, dim, monkeypatch):
    import alwidget.search.index as search_index

    monkeypatch.setattr(search_index, "CHUNK_ROWS", 1000)  # several chunks
    X = clustered(3000, dim)
    ids = np.random.default_rng(1).permutation(np.arange(10, 10 + 3 * 3000, 3))  # unsorted ids
    index = SearchIndex(ids, X)
    rng = np.random.default_rng(2)
    for _ in range(3):
        q = X[rng.integers(len(X))] + rng.normal(scale=0.3, size=dim)
        got = index.search(q, k=40, metric=metric)
        want_ids, want_scores = brute_force(ids, X, q, 40, metric)
        assert got.clip_ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(got.scores, want_scores, rtol=1e-6, atol=1e-6)
    Q = X[:3] + 0.1
    for combine in ("mean", "nearest"):
        got = index.search(Q, k=25, metric=metric, combine=combine, exclude=ids[:3])
        want_ids, _ = brute_force(ids, X, Q, 25, metric, combine, exclude=ids[:3])
        assert got.clip_ids.tolist() == want_ids.tolist()


def test_scores_order_ties_and_small_pools():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    index = SearchIndex([4, 3, 2, 1], X)
    r = index.search([1.0, 0.0], k=10)
    assert r.clip_ids.tolist() == [1, 3, 4, 2]  # cosine 1 for three clips: by clip id
    np.testing.assert_allclose(r.scores, [1, 1, 1, 0], atol=1e-12)
    r = index.search([1.0, 0.0], k=2, metric="euclidean", exclude=[1, 99])
    assert r.clip_ids.tolist() == [4, 3] and r.scores.tolist() == [0.0, 1.0]
    assert len(index.search([1.0, 0.0], k=5, exclude=[1, 2, 3, 4])) == 0


def toy_store(path, n=400, dim=16, seed=0):
    store = Store(path)
    store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 16000 * n, 1, "WAV", "PCM_16", "h", 0),
                    [(float(i), 1.0) for i in range(n)])
    X = clustered(n, dim, seed)
    fs = store.feature_set("toy", {}, dim)
    store.put_features(fs, store.clip_ids(), X)
    return store, fs, X


def test_clip_and_selection_queries_from_a_store(tmp_path):
    store, fs, X = toy_store(tmp_path / "p.db")
    ids = store.clip_ids()
    r = search_by_example(store, int(ids[7]), k=10)
    want, _ = brute_force(ids, X, X[7], 10, "cosine", exclude=[ids[7]])
    assert r.clip_ids.tolist() == want.tolist() and r.query == f"clip {ids[7]}"
    assert ids[7] not in r.clip_ids  # the query itself is left out...
    r = search_by_example(tmp_path / "p.db", int(ids[7]), k=1, include_query=True,
                          metric="euclidean")
    assert r.clip_ids.tolist() == [ids[7]] and r.scores[0] == 0  # ...unless asked for
    sel = ids[[3, 50, 120]]
    for combine in ("mean", "nearest"):
        r = search_by_example(store, sel, k=20, combine=combine, exclude=[ids[0]])
        want, _ = brute_force(ids, X, X[[3, 50, 120]], 20, "cosine", combine,
                              exclude=[*sel, ids[0]])
        assert r.clip_ids.tolist() == want.tolist()
        assert r.query == f"3 clips ({combine})"
    r = search_by_example(store, X[9].astype(np.float64), k=1, metric="euclidean")
    assert r.clip_ids.tolist() == [ids[9]] and r.query == "a vector"  # vectors exclude nothing
    index = SearchIndex.from_store(store, "toy")
    assert index.n == len(ids) and index.dim == 16 and index.feature_set == fs
    assert search_by_example(index, int(ids[7]), k=10).clip_ids.tolist() == \
        search_by_example(store, int(ids[7]), k=10).clip_ids.tolist()


def test_query_errors_are_clear(tmp_path):
    store, fs, X = toy_store(tmp_path / "p.db")
    index = SearchIndex.from_store(store)
    with pytest.raises(ValueError, match=r"clips \[99999\] are unknown"):
        search_by_example(index, 99999)
    with pytest.raises(ValueError, match=r"clips \[99999\] are unknown"):
        search_by_example(index, [1, 99999])
    with pytest.raises(ValueError, match="the selection is empty"):
        search_by_example(index, [])
    with pytest.raises(ValueError, match="the selection is empty"):
        search_by_example(index, np.array([], np.int64))
    with pytest.raises(ValueError, match="metric='manhattan' must be one of"):
        search_by_example(index, 1, metric="manhattan")
    with pytest.raises(ValueError, match="k=0 must be an integer >= 1"):
        search_by_example(index, 1, k=0)
    with pytest.raises(ValueError, match="must be one vector of length 16"):
        search_by_example(index, np.ones(3))
    with pytest.raises(ValueError, match="start_s and end_s are for an audio file"):
        search_by_example(index, 1, start_s=1.0)
    with pytest.raises(ValueError, match="'toy' has no extractor to embed an audio file"):
        search_by_example(index, write_audio(tmp_path / "q.wav"))
    with pytest.raises(ValueError, match="no store at .*typo.db"):
        search_by_example(tmp_path / "typo.db", 1)
    assert not (tmp_path / "typo.db").exists()
    empty = Store(tmp_path / "empty.db")
    with pytest.raises(ValueError, match="has no features yet.*extract_features"):
        search_by_example(empty, 1)
    with pytest.raises(ValueError, match="no vectors of that extractor; it has \\['toy'\\]"):
        SearchIndex.from_store(store, "yamnet")


@pytest.fixture
def audio_store(tmp_path):
    """Three recordings ingested as 1-s clips with logmel features; one is a single clip."""
    root = tmp_path / "in"
    write_audio(root / "long.wav", seconds=3.0, freq=600.0)
    write_audio(root / "tone.wav", seconds=2.0, freq=1500.0)
    write_audio(root / "one.wav", seconds=1.0, freq=3000.0)
    db = Store(tmp_path / "p.db")
    alwidget.ingest(root, db, clip_seconds=1.0, progress=False, verbose=False)
    fs = extract_features(db, "logmel", n_jobs=1, progress=False)
    return db, fs, root


def test_a_file_query_is_the_clip_vector_of_the_same_audio(audio_store, tmp_path):
    db, fs, root = audio_store
    src = db.clip_sources(db.clip_ids())
    ids, X = db.get_features(fs)
    # a stretch of a stored file: exactly that clip's vector
    (row,) = np.flatnonzero((np.char.endswith(np.array(src.path, str), "long.wav"))
                            & (src.start_s == 1.0))
    clip = int(src.clip_id[row])
    v = embed_file(root / "long.wav", fs, start_s=1.0, end_s=2.0)
    np.testing.assert_allclose(v, X[np.searchsorted(ids, clip)], rtol=0, atol=1e-5)
    r = search_by_example(db, root / "long.wav", start_s=1.0, end_s=2.0, k=1,
                          metric="euclidean")
    assert r.clip_ids.tolist() == [clip] and r.scores[0] < 1e-3
    assert r.query == "file long.wav 1–2 s"
    # a copy elsewhere of a file that is one clip: that clip's vector
    (row,) = np.flatnonzero(np.char.endswith(np.array(src.path, str), "/one.wav"))
    copy = tmp_path / "elsewhere" / "query.wav"
    copy.parent.mkdir()
    shutil.copy(root / "one.wav", copy)
    one = int(src.clip_id[row])
    np.testing.assert_allclose(embed_file(copy, fs), X[np.searchsorted(ids, one)], atol=1e-5)
    r = search_by_example(db, str(copy), k=3)
    assert r.clip_ids[0] == one and r.scores[0] > 0.9999 and r.query == "file query.wav"


def test_file_query_errors_name_the_file(audio_store, tmp_path):
    db, fs, root = audio_store
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match=r"cannot read the query audio file .*broken\.wav"):
        search_by_example(db, broken)
    with pytest.raises(ValueError, match=r"cannot read the query audio file .*missing\.wav"):
        search_by_example(db, tmp_path / "missing.wav")
    with pytest.raises(ValueError, match=r"end_s <= 3\.000 \(the length of .*long\.wav"):
        search_by_example(db, root / "long.wav", start_s=2.5, end_s=4.0)
    with pytest.raises(ValueError, match="0 <= start_s < end_s"):
        embed_file(root / "long.wav", fs, start_s=2.0, end_s=1.0)
    # features made with other settings are not comparable: refused, naming both hashes
    other = LogMel(n_mels=32)
    with pytest.raises(ValueError, match=f"config hash .* but the stored feature set is "
                                         f"logmel:{fs.config_hash}"):
        embed_file(root / "long.wav", fs, extractor=other)
    odd = db.feature_set("logmel", {"n_mels": 1}, fs.dim)
    db.put_features(odd, db.clip_ids(), np.ones((db.n_clips(), fs.dim), np.float32))
    with pytest.raises(ValueError, match=f"stored feature set is logmel:{odd.config_hash}"):
        search_by_example(SearchIndex.from_store(db, odd), root / "long.wav")
    sf.write(tmp_path / "short.wav", np.zeros(1600), 16000)  # a readable file still works
    assert embed_file(tmp_path / "short.wav", fs).shape == (fs.dim,)
