"""PANNs CNN14 from a local checkpoint (a synthetic one here): shapes, determinism, errors."""

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="torch not installed; ./dev.sh test installs the CPU build")
pytest.importorskip("panns_hear", reason="panns-hear not installed; ./dev.sh test installs it")

from alwidget.features import PANNs, PANNsTags  # noqa: E402

SR = 32000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A CNN14 checkpoint in the released format ({"model": state_dict}), random weights."""
    from panns_hear.models import Cnn14

    torch.manual_seed(0)
    model = Cnn14(sample_rate=SR, window_size=1024, hop_size=320, mel_bins=64, fmin=50,
                  fmax=14000, classes_num=527)
    path = tmp_path_factory.mktemp("panns") / "Cnn14_synthetic.pth"
    torch.save({"model": {k: v.half() for k, v in model.state_dict().items()}}, path)  # smaller
    return str(path)


def audio(seconds=3.0):
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def test_embeddings_and_tags_per_clip(checkpoint):
    y = audio()
    starts, durations = np.array([0.0, 1.0, 2.0, 2.8]), np.array([1.0, 1.0, 1.0, 0.2])
    E = PANNs(checkpoint).extract(y, SR, starts, durations)
    P = PANNsTags(checkpoint).extract(y, SR, starts, durations)
    assert E.shape == (4, 2048) and P.shape == (4, 527) and E.dtype == np.float32
    assert np.isfinite(E).all() and ((P >= 0) & (P <= 1)).all()
    again = PANNs(checkpoint).extract(y, SR, starts[::-1], durations[::-1])
    assert np.allclose(again[::-1], E, atol=1e-5)  # eval mode: deterministic, order-free
    assert not np.allclose(E[0], E[1])


def _rename_in_pickle(path, old: bytes, new: bytes) -> None:
    """Replace a module name inside the pickle of a torch checkpoint (a zip)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i)) for i in z.infolist()]
    assert any(old in data for i, data in items if i.filename.endswith("data.pkl"))
    with zipfile.ZipFile(path, "w") as z:
        for info, data in items:
            z.writestr(info, data.replace(old, new) if info.filename.endswith("data.pkl")
                       else data)


class _RunsCode:
    """Unpickled, it would write a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_checkpoint_is_part_of_the_config_and_errors_say_what_to_do(checkpoint, tmp_path,
                                                                         monkeypatch):
    cfg = PANNs(checkpoint).config()
    assert len(cfg["checkpoint_sha256"]) == 64
    monkeypatch.delenv("ALWIDGET_PANNS_CHECKPOINT", raising=False)
    with pytest.raises(ValueError, match="alwidget never downloads it"):
        PANNs().config()
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        PANNs(str(tmp_path / "nowhere.pth")).config()
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"x": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="is not a CNN14 checkpoint"):
        PANNs(str(bad)).extract(audio(1), SR, np.array([0.0]), np.array([1.0]))
    # the original training script also pickled its sampler's numpy state beside the weights
    full = tmp_path / "with_sampler.pth"
    torch.save({"model": torch.load(checkpoint)["model"],
                "sampler": {"random_state": np.random.RandomState(0).get_state()}}, full)
    E = PANNs(str(full)).extract(audio(1), SR, np.array([0.0]), np.array([1.0]))
    assert E.shape == (1, 2048)
    # as the released checkpoints hold it: pickled by numpy 1, which names numpy.core
    old = tmp_path / "numpy1.pth"
    torch.save({"model": torch.load(checkpoint)["model"], "iteration": np.int64(660000),
                "sampler": {"random_state": np.random.RandomState(0).get_state()}}, old)
    _rename_in_pickle(old, b"numpy._core.multiarray", b"numpy.core.multiarray")
    E = PANNs(str(old)).extract(audio(1), SR, np.array([0.0]), np.array([1.0]))
    assert E.shape == (1, 2048)
    # a checkpoint that would run code when unpickled is refused, and the code never runs
    planted = tmp_path / "planted.pth"
    torch.save({"model": torch.load(checkpoint)["model"], "x": _RunsCode(str(tmp_path / "ran"))},
               planted)
    with pytest.raises(ValueError, match="cannot be read as weights only.*never unpickles"):
        PANNs(str(planted)).extract(audio(1), SR, np.array([0.0]), np.array([1.0]))
    assert not (tmp_path / "ran").exists()
    with pytest.raises(ValueError, match="sample_rate=16000 must be 32000"):
        PANNs(checkpoint).extract(audio(1), 16000, np.array([0.0]), np.array([1.0]))


def test_through_the_store_by_name(checkpoint, tmp_path, monkeypatch):
    import alwidget

    monkeypatch.setenv("ALWIDGET_PANNS_CHECKPOINT", checkpoint)
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "a.wav", audio(2.0), 16000)  # resampled to 32 kHz on load
    db = tmp_path / "p.db"
    alwidget.ingest(folder, db, clip_seconds=1.0, progress=False)
    fs = alwidget.extract_features(db, "panns", n_jobs=1, progress=False)
    ids, X = alwidget.Store(db).get_features(fs)
    assert fs.extractor == "panns" and X.shape == (4, 2048)


def test_the_taggers_class_names_are_stored_with_its_probabilities(checkpoint, tmp_path,
                                                                   monkeypatch):
    import alwidget
    from alwidget.tagger import tagger_sets, top1

    monkeypatch.delenv("ALWIDGET_PANNS_LABELS", raising=False)
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "a.wav", audio(2.0), SR)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(folder, store, clip_seconds=1.0, progress=False)
    with pytest.warns(UserWarning, match="panns-tags has no class names: give PANNsTags"):
        fs = alwidget.extract_features(store, PANNsTags(checkpoint), n_jobs=1, progress=False)
    assert fs.columns is None and tagger_sets(store) == []
    with pytest.raises(ValueError, match="class_labels='class_labels_indices.csv'\\)\\) again"):
        top1(store)
    labels = tmp_path / "class_labels_indices.csv"
    names = [f"class {i}" for i in range(527)]
    with open(labels, "w", newline="") as f:
        f.write("index,mid,display_name\n" + "".join(f"{i},/m/{i},{n}\n" for i, n in enumerate(names)))
    again = alwidget.extract_features(store, PANNsTags(checkpoint, class_labels=str(labels)),
                                      n_jobs=1, progress=False)
    assert again.id == fs.id and again.columns == tuple(names)
    ids, top, p = top1(store)
    _, P = store.get_features(fs)
    assert top.tolist() == [names[i] for i in P.argmax(axis=1)] and len(ids) == 2
    (tmp_path / "short.csv").write_text("index,mid,display_name\n0,/m/0,dog\n")
    with pytest.raises(ValueError, match="short.csv' names 1 classes; the CNN14 tagger has 527"):
        PANNsTags(checkpoint, class_labels=str(tmp_path / "short.csv")).columns
