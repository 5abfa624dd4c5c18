"""Manifests of audio: one clip per row (its own window, or the whole file), in manifest order."""

import csv

import numpy as np
import pytest

from alwidget.audio import load_mono
from alwidget.datasets import from_manifest, from_matrix
from alwidget.features import LogMel
from alwidget.store import Store
from conftest import write_audio

LENGTHS = {"a.wav": 1.64, "b.wav": 4.0, "c.wav": 0.7}


@pytest.fixture
def audio(tmp_path):
    """Three files of different lengths and tones in tmp_path/audio."""
    for i, (name, seconds) in enumerate(LENGTHS.items()):
        write_audio(tmp_path / "audio" / name, seconds, freq=300.0 * (i + 1), seed=i)
    return tmp_path


def write_manifest(path, rows, header=("path", "start_s", "duration_s", "label", "fold")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def expected(tmp, rows):
    """The logmel vector of each row's window, computed straight from its file."""
    out = []
    for path, start, duration, *_ in rows:
        y, sr = load_mono(tmp / "audio" / path, 16000)
        out.append(LogMel().extract(y, sr, np.array([float(start)]), np.array([float(duration)]))[0])
    return np.array(out)


def clips_of(store):
    src = store.clip_sources()
    return sorted((p.rsplit("/", 1)[1], round(s, 6), round(d, 6))
                  for p, s, d in zip(src.path, src.start_s, src.duration_s))


def test_whole_files_of_different_lengths_keep_each_rows_duration(audio):
    rows = [[f"audio/{n}", 0, s, n[0], 1 + k % 2] for k, (n, s) in enumerate(LENGTHS.items())]
    db = audio / "p.db"
    data = from_manifest(write_manifest(audio / "m.csv", rows), db, n_jobs=1, progress=False)
    store = Store(db)
    assert clips_of(store) == [("a.wav", 0, 1.64), ("b.wav", 0, 4.0), ("c.wav", 0, 0.7)]
    assert data.labels.tolist() == ["a", "b", "c"] and data.folds.tolist() == ["1", "2", "1"]
    np.testing.assert_allclose(data.X, expected(audio, [[n, 0, s] for n, s in LENGTHS.items()]),
                               rtol=1e-4, atol=1e-3)


def test_two_windows_of_one_file_and_rows_in_manifest_order(audio):
    rows = [["audio/b.wav", 2.5, 1.5, "late", 1],
            ["audio/a.wav", 0.0, 1.0, "first", 2],
            ["audio/b.wav", 0.25, 0.5, "early", 1],
            ["audio/a.wav", 0.0, 1.0, "same again", 3]]  # a repeated window is one clip
    db = audio / "p.db"
    manifest = write_manifest(audio / "m.csv", rows)
    data = from_manifest(manifest, db, n_jobs=1, progress=False)
    store = Store(db)
    assert clips_of(store) == [("a.wav", 0, 1.0), ("b.wav", 0.25, 0.5), ("b.wav", 2.5, 1.5)]
    assert data.labels.tolist() == ["late", "first", "early", "same again"]
    np.testing.assert_allclose(data.X, expected(audio, [[p[6:], s, d] for p, s, d, *_ in rows]),
                               rtol=1e-4, atol=1e-3)
    # running again adds nothing and gives the same rows
    n_audios, n_clips = store.n_audios(), store.n_clips()
    again = from_manifest(manifest, db, n_jobs=1, progress=False)
    assert (store.n_audios(), store.n_clips()) == (n_audios, n_clips)
    np.testing.assert_array_equal(again.X, data.X)
    assert again.labels.tolist() == data.labels.tolist()


@pytest.mark.parametrize("row, message", [
    (["audio/b.wav", "soon", 1, "x", 1], "line 3 \\(audio/b.wav\\): start_s='soon' must be a number of seconds >= 0"),
    (["audio/b.wav", -0.5, 1, "x", 1], "line 3 \\(audio/b.wav\\): start_s='-0.5' must be a number of seconds >= 0"),
    (["audio/b.wav", 0, 0, "x", 1], "line 3 \\(audio/b.wav\\): duration_s='0' must be a number of seconds > 0"),
    (["audio/b.wav", 0, -1, "x", 1], "duration_s='-1' must be a number of seconds > 0"),
    (["audio/b.wav", 0, "nan", "x", 1], "duration_s='nan' must be a number of seconds > 0"),
    (["audio/b.wav", 0, "long", "x", 1], "duration_s='long' must be a number"),
    (["audio/b.wav", 1.0, "", "x", 1], "line 3 \\(audio/b.wav\\): start_s is given but duration_s is empty"),
    (["audio/b.wav", "", 1.0, "x", 1], "duration_s is given but start_s is empty"),
    (["audio/b.wav", 3.5, 1.0, "x", 1], "line 3 \\(audio/b.wav\\): the window start_s=3.5, "
                                        "duration_s=1 ends at 4.5 s, after the end of the file \\(4 s\\)"),
    (["audio/c.wav", 0, 0.75, "x", 1], "line 3 \\(audio/c.wav\\): .* ends at 0.75 s, after the end"),
])
def test_a_bad_row_names_its_line_and_file_and_nothing_is_stored(audio, row, message):
    rows = [["audio/a.wav", 0, 1.0, "ok", 1], row, ["audio/c.wav", 0, 0.5, "ok", 1]]
    db = audio / "p.db"
    with pytest.raises(ValueError, match=message):
        from_manifest(write_manifest(audio / "m.csv", rows), db, n_jobs=1, progress=False)
    store = Store(db)
    assert (store.n_audios(), store.n_clips(), store.ingest_errors()) == (0, 0, [])


def test_start_s_without_a_duration_s_column_is_refused(audio):
    rows = [["audio/a.wav", 0, "x", 1]]
    manifest = write_manifest(audio / "m.csv", rows, ("path", "start_s", "label", "fold"))
    with pytest.raises(ValueError, match="has a start_s column but no duration_s column"):
        from_manifest(manifest, audio / "p.db", n_jobs=1, progress=False)
    assert Store(audio / "p.db").n_audios() == 0


def test_a_new_window_of_a_stored_file_becomes_a_clip_of_it(audio):
    db = audio / "p.db"
    from_manifest(write_manifest(audio / "m.csv", [["audio/a.wav", 0, 1.0, "x", 1]]), db,
                  n_jobs=1, progress=False)
    rows = [["audio/c.wav", 0, 0.7, "x", 1], ["audio/a.wav", 0.5, 1.0, "y", 1]]
    data = from_manifest(write_manifest(audio / "m2.csv", rows), db, n_jobs=1, progress=False)
    assert clips_of(Store(db)) == [("a.wav", 0, 1.0), ("a.wav", 0.5, 1.0), ("c.wav", 0, 0.7)]
    assert Store(db).n_audios() == 2 and data.labels.tolist() == ["x", "y"]
    bad = [["audio/a.wav", 0.5, 99.0, "y", 1]]
    with pytest.raises(ValueError, match="line 2 \\(audio/a.wav\\): the window start_s=0.5, "
                                         "duration_s=99 ends at 99.5 s, after the end"):
        from_manifest(write_manifest(audio / "m3.csv", bad), db, n_jobs=1, progress=False)
    assert len(clips_of(Store(db))) == 3  # nothing was added


def test_without_windows_each_row_is_one_whole_file(audio):
    rows = [["audio/b.wav", "b", 1], ["audio/a.wav", "a", 2]]
    db = audio / "p.db"
    manifest = write_manifest(audio / "m.csv", rows, ("path", "label", "fold"))
    data = from_manifest(manifest, db, n_jobs=1, progress=False)
    assert clips_of(Store(db)) == [("a.wav", 0, 1.64), ("b.wav", 0, 4.0)]
    np.testing.assert_allclose(data.X, expected(audio, [["b.wav", 0, 4.0], ["a.wav", 0, 1.64]]),
                               rtol=1e-4, atol=1e-3)
    # a file stored before as 1-s clips has no whole-file clip: said, not silently cut
    from alwidget.ingestion import ingest

    other = audio / "q.db"
    ingest(audio / "audio" / "b.wav", other, clip_seconds=1.0, progress=False, verbose=False)
    with pytest.raises(ValueError, match="line 2 \\(audio/b.wav\\): the file is stored in .* "
                                         "with other clips, not as one whole-file clip"):
        from_manifest(manifest, other, n_jobs=1, progress=False)


def test_a_row_whose_file_cannot_be_read_is_dropped_with_a_warning(audio, capsys):
    (audio / "audio" / "broken.wav").write_bytes(b"RIFF not audio")
    rows = [["audio/a.wav", 0, 1.0, "a", 1], ["audio/broken.wav", 0, 1.0, "b", 1]]
    data = from_manifest(write_manifest(audio / "m.csv", rows), audio / "p.db", n_jobs=1,
                         progress=False)
    assert data.labels.tolist() == ["a"] and len(data.X) == 1
    assert "1 manifest rows have no clip" in capsys.readouterr().out
    assert [e.path for e in Store(audio / "p.db").ingest_errors()] == [str(audio / "audio" / "broken.wav")]


def test_the_demos_labels_csv_of_many_one_second_windows(tmp_path):
    from alwidget.demo import make_demo

    labels = make_demo(tmp_path / "demo", n_nodes=2, files_per_node=2, file_seconds=4,
                       progress=False)
    with open(labels, newline="") as f:
        rows = list(csv.DictReader(f))
    db = tmp_path / "demo.db"
    data = from_manifest(labels, db, n_jobs=1, progress=False)
    store = Store(db)
    assert len(rows) == 16 and store.n_clips() == 16 and store.n_audios() == 4
    assert data.X.shape == (16, LogMel().dim)
    assert data.labels.tolist() == [r["label"] for r in rows]
    assert len(np.unique(data.X.round(3), axis=0)) == 16  # every row its own clip


def test_from_matrix_checks_rows(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    write_manifest(tmp_path / "l.csv", [["a", 1], ["b", 2]], ("label", "fold"))
    with pytest.raises(ValueError, match="has shape \\(3, 2\\); expected \\(2, d\\)"):
        from_matrix(tmp_path / "X.npy", tmp_path / "l.csv")


@pytest.mark.shared
def test_fsdd_whole_files_with_their_rounded_durations_per_row(shared_data, tmp_path):
    """The reported case: whole files of different lengths, duration_s per row."""
    with open(shared_data / "fsdd" / "manifest.csv", newline="") as f:
        src = list(csv.DictReader(f))[:40]
    rows = [[r["path"], 0, r["duration"], r["label"], r["speaker"]] for r in src]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    db = tmp_path / "fsdd.db"
    data = from_manifest(manifest, db, audio_root=shared_data / "fsdd", n_jobs=1, progress=False)
    assert len(data.X) == 40 and len(set(r[2] for r in rows)) > 20  # many different lengths
    store = Store(db)
    got = {p.rsplit("/", 1)[1]: d for p, d in zip(store.clip_sources().path,
                                                   store.clip_sources().duration_s)}
    assert [got[r[0].rsplit("/", 1)[1]] for r in rows] == [float(r[2]) for r in rows]
