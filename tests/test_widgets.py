"""The labeling widget's Python side: decisions reach the session, errors show in the widget."""

import numpy as np
import soundfile as sf

from alwidget.session import Session
from alwidget.store import NewAudio, Store
from alwidget.widgets import LabelingWidget
from alwidget.widgets.payload import clip_payload


def project(tmp_path, n_files=6):
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "p.db")
    for i in range(n_files):
        path = tmp_path / f"f{i}.wav"
        sf.write(path, rng.normal(size=32000 * 3) * 0.1, 32000)
        store.add_audio(NewAudio(str(tmp_path), path.name, 32000, 16, 96000, 1, "WAV", "PCM_16",
                                 f"h{i}", 0), [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)])
    ids = store.clip_ids()
    fs = store.feature_set("toy", {}, 4)
    store.put_features(fs, ids, rng.normal(size=(len(ids), 4)).astype(np.float32))
    return store


def test_audio_is_binary_wav_with_context_and_never_autoplays(tmp_path):
    w = LabelingWidget(Session(project(tmp_path), classes=["no", "yes"]))
    assert w.audio[:4] == b"RIFF" and w.sample_rate == 32000 and not w.autoplay
    p = w.session.current
    assert w.clip_offset_s == min(1.0, p.start_s) and w.clip_duration_s == 1.0
    rows, cols = w.spec_shape
    assert rows == 128 and len(w.spec) == rows * cols
    assert w.status["reason"] == "random: no labels yet"
    assert w.status["features"] == "toy"  # the status line says which features the model uses


def test_decisions_go_to_the_session_with_the_region_as_an_event(tmp_path):
    store = project(tmp_path)
    w = LabelingWidget(Session(store, classes=["no", "yes"]))
    w.region = [0.25, 0.75]
    w.decide("label", "yes")
    w.decide("label", "no")
    w.decide("skip")
    w.decide("undo")
    assert w.error == "" and w.status["n_labels"] == 2
    (chunk,) = store.chunks()
    assert chunk["tag"] == "yes" and chunk["offset_s"] - chunk["onset_s"] == 0.5
    assert w.region == []  # a new clip starts without a region


def test_errors_are_shown_in_the_widget_not_swallowed(tmp_path, capsys):
    w = LabelingWidget(Session(project(tmp_path), classes=["no", "yes"]))
    w.decide("label", "cat")
    assert w.error.startswith("ValueError: label='cat' is not one of")
    assert "Traceback" in capsys.readouterr().err
    w.decide("accept")  # no model yet
    assert "no prediction to accept yet" in w.error
    w.decide("label", "no")
    assert w.error == ""


def test_payload_is_clipped_to_the_file(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(8000 * 2), 8000)
    p = clip_payload(str(path), 0.0, 1.0, context_s=1.0)
    assert (p.clip_offset_s, p.window_s, p.sample_rate) == (0.0, 2.0, 8000)
