"""A tagger's top-1 class per clip, from class names stored with its probabilities."""

import csv
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

import alwidget
from alwidget.features import LogMel, extract_features, import_features
from alwidget.tagger import tagger_sets, top1

P = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4],
              [0.95, 0.0, 0.05], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]], dtype=np.float32)


@pytest.fixture
def project(tmp_path):
    """Two 3-s files as 1-s clips: 6 clips, a.wav @ 0, 1, 2 then b.wav @ 0, 1, 2."""
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.wav", "b.wav"):
        sf.write(audio / name, 0.1 * rng.standard_normal(3 * 16000), 16000)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(audio, store, clip_seconds=1.0, progress=False, verbose=False)
    return store, tmp_path


def write_keys(path, extra_header=(), extra=lambda k: []):
    keys = [(n, s) for n in ("a.wav", "b.wav") for s in (0, 1, 2)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "start_s", *extra_header])
        w.writerows([f"audio/{n}", s, *extra(k)] for k, (n, s) in enumerate(keys))


def test_imported_probabilities_with_names_from_npy_give_each_clips_top_class(project):
    store, tmp = project
    write_keys(tmp / "keys.csv")
    np.save(tmp / "p.npy", P)
    fs = import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy",
                         column_names=["bird", "rain", "wind"])
    assert fs.columns == ("bird", "rain", "wind")
    assert tagger_sets(store) == [fs]
    ids, names, prob = top1(store)  # the only tagger set is the default
    assert ids.tolist() == store.clip_ids().tolist()
    assert names.tolist() == ["bird", "rain", "wind", "bird", "wind", "bird"]
    assert prob.dtype == np.float32 and prob.tolist() == pytest.approx([0.9, 0.7, 0.4, 0.95, 0.8, 0.5])


def test_the_header_of_csv_vector_columns_names_them_when_asked(project):
    store, tmp = project
    write_keys(tmp / "keys.csv", ["dog", "cat"], lambda k: [k % 2, 1 - k % 2])
    embeddings = import_features(store, "emb", tmp / "keys.csv")
    assert embeddings.columns is None and tagger_sets(store) == []  # embeddings are no tagger
    fs = import_features(store, "pets", tmp / "keys.csv", column_names=True)
    assert fs.columns == ("dog", "cat") and tagger_sets(store) == [fs]
    np.save(tmp / "v.npy", np.zeros((6, 2)))
    with pytest.raises(ValueError, match="column_names=True takes the names from the header"):
        import_features(store, "pets2", tmp / "keys.csv", tmp / "v.npy", column_names=True)
    ids, names, _ = top1(store, fs)
    assert names.tolist() == ["cat", "dog"] * 3
    assert top1(store, fs, column_names=["hund", "katze"])[1].tolist() == ["katze", "hund"] * 3


def test_names_added_to_a_set_imported_without_them(project):
    store, tmp = project
    write_keys(tmp / "keys.csv")
    np.save(tmp / "p.npy", P)
    fs = import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy")
    assert fs.columns is None and tagger_sets(store) == []
    with pytest.raises(ValueError, match="class names of precomputed:tags are not stored; import "
                                         "it again with .*column_names="):
        top1(store, fs)
    again = import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy",
                            column_names=["bird", "rain", "wind"])
    assert again.id == fs.id and again.columns == ("bird", "rain", "wind")
    assert top1(store)[1].tolist()[:3] == ["bird", "rain", "wind"]


def test_import_refuses_wrong_or_different_names_and_stores_nothing(project):
    store, tmp = project
    write_keys(tmp / "keys.csv")
    np.save(tmp / "p.npy", P)
    with pytest.raises(ValueError, match="column_names has 2 names for the 3 columns of .*p.npy"):
        import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy", column_names=["a", "b"])
    assert store.feature_sets() == []
    fs = import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy",
                         column_names=["bird", "rain", "wind"])
    with pytest.raises(ValueError, match="stored with other column names \\(column 2: 'wind', "
                                         "now 'storm'\\); import under another name"):
        import_features(store, "tags", tmp / "keys.csv", tmp / "p.npy",
                        column_names=["bird", "rain", "storm"])
    assert store.feature_sets() == [fs]


def test_clear_errors_when_no_names_are_known(project):
    store, tmp = project
    with pytest.raises(ValueError, match="the store has no tagger probabilities; run "
                                         "alwidget.extract_features\\(store, 'yamnet-tags'\\)"):
        top1(store)
    # a yamnet-tags set from before names were stored (no model needed to make one)
    fs = store.feature_set("yamnet-tags", {"any": "config"}, 3)
    store.put_features(fs, store.clip_ids(), P)
    with pytest.raises(ValueError, match="run alwidget.extract_features\\(store, 'yamnet-tags'\\) "
                                         "again to record the class names; it computes nothing"):
        top1(store)
    with pytest.raises(ValueError, match="2 class names for the 3 columns of yamnet-tags"):
        top1(store, fs, ["bird", "rain"])
    assert top1(store, fs, ["bird", "rain", "wind"])[1].tolist()[0] == "bird"


@dataclass(frozen=True)
class NamedLogMel(LogMel):
    """logmel with a name per column, like a tagger; counts the files it computes."""

    @property
    def columns(self):
        return tuple(f"c{i}" for i in range(self.dim))

    def extract(self, y, sample_rate, starts, durations):
        COMPUTED.append(len(starts))
        return super().extract(y, sample_rate, starts, durations)


COMPUTED: list[int] = []


def test_extract_features_records_the_extractors_column_names_even_with_nothing_to_compute(project):
    store, _ = project
    ex = NamedLogMel()
    # features computed before names were recorded: the set exists without names
    old = store.feature_set(ex.name, ex.config(), ex.dim)
    ids, X = store.get_features(extract_features(store, LogMel(), n_jobs=1, progress=False))
    assert old.columns is None and len(ids) == 6
    COMPUTED.clear()
    fs = extract_features(store, ex, n_jobs=1, progress=False)
    assert COMPUTED == []  # every clip had features: nothing computed, nothing read
    assert fs.id == old.id and fs.columns == ex.columns
    assert [s.columns for s in store.feature_sets()] == [ex.columns]
    assert tagger_sets(store) == [fs]


class WrongNames(LogMel):
    @property
    def columns(self):
        return ("only", "two")


def test_an_extractor_with_the_wrong_number_of_names_is_refused(project):
    store, _ = project
    with pytest.raises(ValueError, match="extractor 'logmel' names 2 columns but gives dim=296"):
        extract_features(store, WrongNames(), n_jobs=1, progress=False)
    assert store.feature_sets() == []
