"""Detections of a saved model over the archive: stored apart from labels, resumable, merged
into events in Raven tables, by recording time, only with the model's features, on Dask."""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np
import pytest

from alwidget.detect import detect, detection_events, merge_clips
from alwidget.detect import run as detect_run
from alwidget.detect.command import add_parser
from alwidget.exchange import read_selection_table
from alwidget.learn import RandomForest
from alwidget.model_file import save_model
from alwidget.store import NewAudio, Store

DIM = 4
#: per file: positive ("owl") clips; every file has 10 one-second clips
OWLS = {"a.wav": [1, 2, 3, 6], "b.wav": [0, 9]}
TIMES = {"a.wav": "2024-05-01T06:00:00", "b.wav": "2024-05-01T07:00:00", "c.wav": None}


def vectors(n, owl, rng):
    X = rng.normal(0.0, 0.3, (n, DIM)).astype(np.float32)
    X[owl, 0] += 3.0
    return X


def make_store(path, *, with_features=True):
    store = Store(path)
    rng = np.random.default_rng(0)
    for i, (name, when) in enumerate(TIMES.items()):
        store.add_audio(NewAudio("/rec", name, 16000, 16, 16000 * 10, 1, "WAV", "PCM_16",
                                 f"h{i}", 0, recorded_at=when), [(s, 1.0) for s in range(10)])
    if with_features:
        fs = store.feature_set("toy", {"v": 1}, DIM)
        src = store.clip_sources()
        owl = np.array([int(s) in OWLS.get(p.rsplit("/", 1)[1], [])
                        for p, s in zip(src.path, src.start_s)])
        store.put_features(fs, src.clip_id, vectors(len(src), owl, rng))
    return store


def owl_clip_ids(store):
    src = store.clip_sources()
    return sorted(int(c) for c, p, s in zip(src.clip_id, src.path, src.start_s)
                  if int(s) in OWLS.get(p.rsplit("/", 1)[1], []))


def fit_forest(classes, n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n)
    X = rng.normal(0.0, 0.3, (n, DIM)).astype(np.float32)
    for k, c in enumerate(classes):
        X[y == c, 0] += 3.0 * k
    return RandomForest(n_estimators=20, random_state=0).fit(X, y)


@pytest.fixture
def project(tmp_path):
    store = make_store(tmp_path / "p.db")
    fs = store.feature_sets()[0]
    model = save_model(tmp_path / "owl.alwmodel", fit_forest(["rain", "owl"]),
                       classes=["rain", "owl"], target="owl", threshold=0.5, feature_set=fs)
    return store, model


def test_detections_are_stored_and_human_labels_untouched(project):
    store, model = project
    store.add_tag("owl")
    store.add_tag("rain")
    ids = store.clip_ids()
    store.add_label(int(ids[0]), "rain", labeler="ann")
    store.add_label(int(ids[1]), "rain", labeler="ann")  # the model will say owl here
    before = [(r.clip_id, r.label, r.labeler, r.event_id) for r in store.label_records()]

    summary = detect(store, model.path, progress=False)

    after = [(r.clip_id, r.label, r.labeler, r.event_id) for r in store.label_records()]
    assert after == before
    found = store.detections(model.model_id)
    assert summary.n_scored == summary.n_clips == len(found) == 30
    assert set(found.label) == {"owl"}  # binary: the target and P(target)
    positive = found.clip_id[found.score >= 0.5].tolist()
    assert positive == owl_clip_ids(store)
    assert model.model_id in store.model_cards()
    assert summary.n_positive == 6


def test_positive_clips_are_merged_into_events_in_raven_tables_and_csv(project, tmp_path):
    store, model = project
    summary = detect(store, model, out_dir=tmp_path / "out", progress=False)

    assert sorted(p.name for p in summary.tables) == ["a.Table.1.selections.txt",
                                                      "b.Table.1.selections.txt"]
    a = read_selection_table(tmp_path / "out" / "a.Table.1.selections.txt")
    assert [(r.start_s, r.end_s, r.label) for r in a] == [(1.0, 4.0, "owl"), (6.0, 7.0, "owl")]
    b = read_selection_table(tmp_path / "out" / "b.Table.1.selections.txt")
    assert [(r.start_s, r.end_s) for r in b] == [(0.0, 1.0), (9.0, 10.0)]
    assert not (tmp_path / "out" / "c.Table.1.selections.txt").exists()  # no detections

    found = store.detections(model.model_id)
    score = dict(zip(found.clip_id.tolist(), found.score.tolist()))
    ids = owl_clip_ids(store)
    with open(summary.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], float(r["begin_s"]), float(r["end_s"]), int(r["clips"]))
            for r in rows] == [("/rec/a.wav", 1.0, 4.0, 3), ("/rec/a.wav", 6.0, 7.0, 1),
                               ("/rec/b.wav", 0.0, 1.0, 1), ("/rec/b.wav", 9.0, 10.0, 1)]
    assert float(rows[0]["score"]) == pytest.approx(max(score[c] for c in ids[:3]), abs=1e-6)
    assert rows[0]["begin_time"] == "2024-05-01T06:00:01"

    (tmp_path / "out" / "mine.txt").write_text("kept")
    again = detect(store, model, out_dir=tmp_path / "out", recorded_from="2024-05-01T07:00",
                   progress=False)  # the folder now shows this run only
    assert [p.name for p in again.tables] == ["b.Table.1.selections.txt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".alwidget-detect.json", "b.Table.1.selections.txt", "detections.csv", "mine.txt"]


def test_overlapping_clips_merge_and_classes_stay_apart():
    events = merge_clips([0.0, 0.5, 1.0, 3.0, 0.5], [1.0, 1.5, 2.0, 4.0, 1.5],
                         ["owl", "owl", "owl", "owl", "frog"], [0.6, 0.9, 0.7, 0.8, 0.99])
    assert events == [(0.0, 2.0, "owl", 0.9, 3), (0.5, 1.5, "frog", 0.99, 1),
                      (3.0, 4.0, "owl", 0.8, 1)]
    assert merge_clips([0, 3], [1, 4], ["owl"] * 2, [0.5, 0.6], gap_s=2.0) == [
        (0.0, 4.0, "owl", 0.6, 2)]


def test_an_interrupted_run_resumes_and_scores_only_the_rest(project, monkeypatch):
    store, model = project
    calls = []
    real = detect_run.score_vectors

    def stopped_on_third_batch(m, X):
        calls.append(len(X))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(m, X)

    monkeypatch.setattr(detect_run, "score_vectors", stopped_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        detect(store, model, batch_clips=7, progress=False)
    assert len(store.detections(model.model_id)) == 14  # two batches committed

    calls.clear()
    monkeypatch.setattr(detect_run, "score_vectors", lambda m, X: calls.append(len(X))
                        or real(m, X))
    summary = detect(store, model, batch_clips=7, progress=False)
    assert sum(calls) == summary.n_scored == 16 and summary.n_skipped == 14
    resumed = store.detections(model.model_id)
    assert len(resumed) == 30

    calls.clear()
    again = detect(store, model, progress=False)  # nothing left: nothing scored
    assert calls == [] and again.n_scored == 0 and again.n_positive == 6
    every = detect(store, model, new_only=False, progress=False)  # --all: scored again
    assert every.n_scored == 30
    assert np.allclose(store.detections(model.model_id).score, resumed.score)


def test_a_time_window_selects_clips_by_recording_time(project):
    store, model = project
    summary = detect(store, model, recorded_from="2024-05-01T06:00:02",
                     recorded_to="2024-05-01T07:00:01", progress=False)
    src = store.clip_sources(store.detections(model.model_id).clip_id)
    scored = sorted((p.rsplit("/", 1)[1], float(s)) for p, s in zip(src.path, src.start_s))
    assert scored == [("a.wav", float(s)) for s in range(2, 10)] + [("b.wav", 0.0)]
    assert summary.n_clips == summary.n_scored == 9
    assert summary.n_untimed == 10  # c.wav has no recording time
    assert [(e.path, e.begin_s, e.end_s) for e in summary.events] == [
        ("/rec/a.wav", 2.0, 4.0), ("/rec/a.wav", 6.0, 7.0), ("/rec/b.wav", 0.0, 1.0)]
    with pytest.raises(ValueError, match="must come before"):
        detect(store, model, recorded_from="2024-05-02", recorded_to="2024-05-01",
               progress=False)
    with pytest.raises(ValueError, match="ISO 8601"):
        detect(store, model, recorded_from="yesterday", progress=False)


def test_given_clips_only(project):
    store, model = project
    ids = store.clip_ids()[:5]
    summary = detect(store, model, clips=ids, progress=False)
    assert store.detections(model.model_id).clip_id.tolist() == ids.tolist()
    assert summary.n_clips == 5
    with pytest.raises(ValueError, match="not clips of"):
        detect(store, model, clips=[10_000], progress=False)


def test_a_model_of_another_feature_set_is_refused_and_nothing_stored(project, tmp_path):
    store, _ = project
    other = save_model(tmp_path / "y.alwmodel", fit_forest(["rain", "owl"]),
                       classes=["rain", "owl"], feature_set={"extractor": "yamnet",
                                                             "config_hash": "beef", "dim": DIM})
    with pytest.raises(ValueError, match="yamnet"):
        detect(store, other.path, out_dir=tmp_path / "out", progress=False)
    assert store.model_cards() == {} and len(store.detections(other.model_id)) == 0
    assert not (tmp_path / "out").exists()


def test_clips_without_features_are_left_for_after_extraction(tmp_path):
    store = make_store(tmp_path / "p.db", with_features=False)
    fs = store.feature_set("toy", {"v": 1}, DIM)
    model = save_model(tmp_path / "m.alwmodel", fit_forest(["rain", "owl"]),
                       classes=["rain", "owl"], target="owl", feature_set=fs)
    with pytest.raises(ValueError, match="extract them first"):  # none has features
        detect(store, model, progress=False)
    assert len(store.detections(model.model_id)) == 0

    rng = np.random.default_rng(1)
    ids = store.clip_ids()
    store.put_features(fs, ids[:12], vectors(12, np.zeros(12, bool), rng))
    with pytest.warns(UserWarning, match="18 clips .* no toy features"):
        summary = detect(store, model, progress=False)
    assert (summary.n_scored, summary.n_without_features) == (12, 18)
    store.put_features(fs, ids[12:], vectors(18, np.zeros(18, bool), rng))
    summary = detect(store, model, progress=False)  # after extraction: only the rest
    assert (summary.n_scored, summary.n_skipped, summary.n_without_features) == (18, 12, 0)


def test_multi_class_stores_the_top_class_and_reports_all_but_background(tmp_path):
    store = make_store(tmp_path / "p.db")
    fs = store.feature_sets()[0]
    model = save_model(tmp_path / "m.alwmodel", fit_forest(["background", "owl"]),
                       classes=["background", "owl"], target=None, feature_set=fs)
    three = save_model(tmp_path / "3.alwmodel", fit_forest(["Background", "owl", "frog"]),
                       classes=["Background", "owl", "frog"], feature_set=fs)
    assert three.target is None
    summary = detect(store, three, progress=False)
    found = store.detections(three.model_id)
    owls = owl_clip_ids(store)
    assert sorted(found.clip_id[found.label == "owl"].tolist()) == owls
    assert set(found.label[~np.isin(found.clip_id, owls)]) == {"Background"}
    assert summary.n_positive == 6 and {e.label for e in summary.events} == {"owl"}
    assert detection_events(store, three, classes=["frog"]) == []
    with pytest.raises(ValueError, match="name one or more"):
        detect(store, three, classes=["cat"], progress=False)
    assert model.target == "owl"  # two classes: binary, its target the last class

    frogs = save_model(tmp_path / "f.alwmodel", fit_forest(["Background", "owl", "frog"]),
                       classes=["Background", "owl", "frog"], target="frog", feature_set=fs)
    summary = detect(store, frogs, progress=False)  # a target among three: top class stored
    assert set(store.detections(frogs.model_id).label) == {"owl", "Background"}
    assert summary.n_positive == 0  # only the target is reported: no clip's top class


def test_cli_prints_one_line_and_writes_tables(project, tmp_path, capsys):
    store, model = project
    parser = argparse.ArgumentParser(prog="alwidget")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["detect", "--model", str(model.path), "--db", store.path,
                              "--quiet"])
    assert args.func(args) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "30 clips scored" in line and "4 events" in line
    out = tmp_path / "detections" / model.model_id
    assert (out / "detections.csv").exists() and (out / "a.Table.1.selections.txt").exists()
    args = parser.parse_args(["detect", "--model", str(model.path), "--db",
                              str(tmp_path / "missing.db")])
    with pytest.raises(ValueError, match="does not exist"):
        args.func(args)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["detect", "--model", "m", "--db", "d", "--threshold", "2"])


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed", reason="dask.distributed not installed")
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.slow
def test_dask_gives_the_scores_of_the_local_run(project, tmp_path, client):
    store, model = project
    make_store(tmp_path / "copy.db").close()  # the same clips and vectors
    local = detect(store, model, progress=False)
    on_dask = detect(tmp_path / "copy.db", model, client=client, batch_clips=7,
                     out_dir=tmp_path / "out", progress=False)
    a, b = store.detections(model.model_id), Store(tmp_path / "copy.db").detections(
        model.model_id)
    assert a.clip_id.tolist() == b.clip_id.tolist() and a.label.tolist() == b.label.tolist()
    assert np.array_equal(a.score, b.score)
    assert on_dask.n_scored == local.n_scored == 30 and on_dask.events == local.events
    assert not (tmp_path / "copy.db.detect" / model.model_id).exists()  # files merged, gone


@pytest.mark.slow
def test_dask_commits_scores_a_stopped_run_left(project, tmp_path, client):
    from alwidget.detect.distributed import score_partition
    from alwidget.features.distributed import partition_name, run_partition, write_npz

    store, model = project
    fs = store.feature_sets()[0]
    ids, X = store.get_features(fs, store.clip_ids()[:5])
    work = tmp_path / "p.db.detect" / model.model_id
    work.mkdir(parents=True)
    name = partition_name(ids)
    write_npz(work / f"in-{name}.npz", ids=ids, X=X)
    run_partition(score_partition, (model, str(work / f"in-{name}.npz")),
                  str(work / f"part-{name}.npz"))  # written on a worker before the stop
    summary = detect(store, model, client=client, progress=False)
    assert summary.n_scored == 25 and len(store.detections(model.model_id)) == 30
    assert not work.exists()
