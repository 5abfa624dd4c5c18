"""Importing embeddings computed elsewhere: keys by file + offset, all checked before writing."""

import csv

import numpy as np
import pytest
import soundfile as sf

import alwidget
from alwidget.features import import_features


@pytest.fixture
def project(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("a.wav", "b.wav"):
        noise = np.random.default_rng(ord(name[0])).standard_normal(3 * 8000)
        sf.write(audio / name, 0.01 * noise, 8000)  # contents differ: ingest stores each once
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(audio, store, clip_seconds=1.0, progress=False)
    return store, tmp_path


def write_keys(path, rows, extra=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "start_s"] + (extra or []))
        w.writerows(rows)


def keys_of_all(extra=lambda k: []):
    return [[f"audio/{n}", f"{s:.3f}"] + extra(k) for k, (n, s) in
            enumerate((n, s) for n in ("a.wav", "b.wav") for s in (0.0, 1.0, 2.0))]


def test_npy_vectors_land_on_the_right_clips(project):
    store, tmp = project
    X = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)
    write_keys(tmp / "keys.csv", keys_of_all()[::-1])  # any order
    np.save(tmp / "emb.npy", X)
    fs = import_features(store, "perch", tmp / "keys.csv", tmp / "emb.npy")
    assert fs.extractor == "precomputed:perch" and fs.dim == 4
    ids, got = store.get_features(fs)
    src = store.clip_sources(ids)
    first = [i for i, (p, s) in enumerate(zip(src.path, src.start_s)) if p.endswith("a.wav") and s == 0]
    assert got[first[0]].tolist() == X[5].tolist()  # the last key row was a.wav @ 0 s


def test_vectors_in_the_csv_and_a_later_import_adds_to_the_same_set(project):
    store, tmp = project
    rows = keys_of_all(lambda k: [k, 10 * k])
    write_keys(tmp / "k1.csv", rows[:3], ["e0", "e1"])
    write_keys(tmp / "k2.csv", rows[3:], ["e0", "e1"])
    with pytest.warns(UserWarning, match="3 clips of the store have no precomputed:x vector"):
        fs = import_features(store, "x", tmp / "k1.csv")
    again = import_features(store, "x", tmp / "k2.csv")
    assert again == fs and len(store.get_features(fs)[0]) == 6


@pytest.mark.parametrize("rows,vectors,message", [
    ([["audio/c.wav", "0"]], np.zeros((1, 2)), "match no clip in the store, e.g. \\['audio/c.wav @ 0 s'\\]"),
    ([["audio/a.wav", "0.5"]], np.zeros((1, 2)), "match no clip"),
    ([["audio/a.wav", "0"], ["audio/a.wav", "0.0"]], np.zeros((2, 2)), "several vectors to clips"),
    ([["audio/a.wav", "0"]], np.zeros((2, 2)), "has shape \\(2, 2\\); it needs one row per key row \\(1\\)"),
    ([["audio/a.wav", "0"]], np.full((1, 2), np.nan), "rows \\[0\\] contain NaN or inf"),
    ([["audio/a.wav", "soon"]], np.zeros((1, 2)), "start_s='soon' is not a number of seconds"),
])
def test_bad_input_is_refused_and_nothing_is_stored(project, rows, vectors, message):
    store, tmp = project
    write_keys(tmp / "keys.csv", rows)
    np.save(tmp / "emb.npy", vectors)
    with pytest.raises(ValueError, match=message):
        import_features(store, "bad", tmp / "keys.csv", tmp / "emb.npy")
    assert all(fs.extractor != "precomputed:bad" for fs in store.feature_sets())


def test_missing_columns_are_named(project):
    store, tmp = project
    with open(tmp / "keys.csv", "w") as f:
        f.write("file,offset\naudio/a.wav,0\n")
    with pytest.raises(ValueError, match="has no column \\['path', 'start_s'\\]"):
        import_features(store, "x", tmp / "keys.csv", tmp / "none.npy")


def test_a_relative_keys_path_and_an_excel_csv_work(project, monkeypatch):
    store, tmp = project
    monkeypatch.chdir(tmp)
    rows = keys_of_all(lambda k: [k])
    with open("keys.csv", "w", newline="", encoding="utf-8-sig") as f:  # with a BOM
        w = csv.writer(f)
        w.writerow(["path", "start_s", "e0"])
        w.writerows(rows)
    fs = import_features(store, "rel", "keys.csv")
    ids, X = store.get_features(fs)
    src = store.clip_sources(ids)
    order = sorted(range(6), key=lambda i: (src.path[i], src.start_s[i]))
    assert [X[i, 0] for i in order] == [0, 1, 2, 3, 4, 5]  # each vector on its own clip


def test_imported_tagger_probabilities_give_a_top1_partition(project):
    from alwidget.tagger import top1
    from alwidget.strategies.partition import partition_by_tagger

    store, tmp = project
    P = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4],
                  [0.95, 0.0, 0.05], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]], dtype=np.float32)
    write_keys(tmp / "keys.csv", keys_of_all())
    np.save(tmp / "p.npy", P)
    fs = import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy")
    ids, names, prob = top1(store, fs, ["bird", "rain", "wind"])
    assert sorted(names.tolist()) == ["bird", "bird", "bird", "rain", "wind", "wind"]
    parts = partition_by_tagger(names, prob, min_confidence=0.6)
    assert sorted(len(v) for v in parts.values()) == [1, 1, 2, 2]  # bird 2, rain, wind, uncertain 2
    with pytest.raises(ValueError, match="2 class names for the 3 columns"):
        top1(store, fs, ["bird", "rain"])
