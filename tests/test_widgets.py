"""The labeling widget's Python side: decisions reach the session, errors show in the widget."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from alwidget.audio import printable
from alwidget.session import Session
from alwidget.store import NewAudio, Store
from alwidget.widgets import LabelingWidget
from alwidget.widgets import labeler as labeler_module
from alwidget.widgets.live import live_view
from alwidget.widgets.payload import clip_payload
from conftest import listening


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


def test_rerunning_the_labeler_cell_keeps_one_live_view(tmp_path, monkeypatch):
    s = Session(project(tmp_path), classes=["no", "yes"])
    views = [LabelingWidget(s) for _ in range(10)]  # the cell `LabelingWidget(session)`, 10 runs
    assert listening(s, LabelingWidget) == [views[-1]] and live_view(s, "labeler") is views[-1]
    assert all(v.comm is None for v in views[:-1]) and views[-1].comm is not None  # closed
    decoded = []
    real = labeler_module.clip_payload
    monkeypatch.setattr(labeler_module, "clip_payload",
                        lambda path, *a, **k: decoded.append(path) or real(path, *a, **k))
    views[-1].decide("label", "yes")
    assert len(decoded) == 1 and views[-1].status["n_labels"] == 1
    s.submit("no")  # decided elsewhere (e.g. on the map): only the live view shows the next clip
    assert len(decoded) == 2 and views[-1].status["n_labels"] == 2
    with pytest.raises(RuntimeError, match="was closed"):
        views[0].show_clip(int(s.current.clip_id))
    views[-1].close()
    assert listening(s, LabelingWidget) == [] and live_view(s, "labeler") is None
    s.submit("yes")
    assert len(decoded) == 2  # nobody decodes audio for a closed view


def test_a_path_that_is_not_utf8_is_shown_printable(tmp_path, monkeypatch):
    store = project(tmp_path)
    folder = os.fsencode(tmp_path)
    raw = os.path.join(folder, b"caf\xe9.wav")  # a Latin-1 name from an old recorder
    with open(raw, "wb") as f:
        sf.write(f, np.zeros(32000 * 3), 32000, format="WAV")
    store.add_audio(NewAudio(str(tmp_path), os.fsdecode(b"caf\xe9.wav"), 32000, 16, 96000, 1, "WAV",
                             "PCM_16", "latin1", 0), [(0.0, 1.0)])
    clip = int(store.clip_ids()[-1])
    fs = store.feature_sets()[0]
    store.put_features(fs, [clip], np.zeros((1, 4), np.float32))
    real = labeler_module.clip_payload  # playing such paths is the audio module's part
    monkeypatch.setattr(labeler_module, "clip_payload",
                        lambda path, *a, **k: real(str(tmp_path / "f0.wav"), *a, **k))
    w = LabelingWidget(Session(store, classes=["no", "yes"]))
    w.show_clip(clip, play=False)
    path = w.status["path"]
    assert path == printable(os.fsdecode(raw)) and path.endswith("caf\\xe9.wav")
    json.dumps(w.status, ensure_ascii=False).encode("utf-8")  # what the comm sends: no surrogates


def test_the_labeler_shows_text_as_text_never_as_html(tmp_path):
    w = LabelingWidget(Session(project(tmp_path), classes=["no", "<img src=x onerror=alert(1)>"]))
    w.decide("label", "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" in w.error  # kept as typed: the browser shows it as text
    js = LabelingWidget._esm
    assert "textContent" in js and "innerHTML" not in js and "insertAdjacentHTML" not in js
