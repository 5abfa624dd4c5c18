"""The labeling widget's Python side: decisions reach the session, errors show in the widget."""

import asyncio
import json
import os
import threading
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import traitlets

from alwidget.audio import printable
from alwidget.session import STATUS_NAMES, Session
from alwidget.store import NewAudio, Store
from alwidget.widgets import LabelingWidget
from alwidget.widgets import labeler as labeler_module
from alwidget.widgets.labeler import curve_by_labels, feature_band
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


def test_listening_settings_have_defaults_and_refuse_bad_values(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], budget=40)
    w = LabelingWidget(s)
    assert (w.playback_rate, w.preserve_pitch, w.loop, w.gain, w.play_context, w.freq_range) == (
        1.0, True, False, 1.0, True, [])
    assert w.target_labels == 40  # the session's budget, else 100
    w = LabelingWidget(s, playback_rate=0.25, loop=True, gain=3.0, play_context=False,
                       freq_range=[500.0, 12000.0], target_labels=7)
    assert (w.playback_rate, w.loop, w.gain, w.play_context, w.freq_range, w.target_labels) == (
        0.25, True, 3.0, False, [500.0, 12000.0], 7)
    for name, bad, said in [("playback_rate", 3.0, r"playback_rate=3.0 must be in \[0.25, 2.0\]"),
                            ("playback_rate", 0.1, "playback_rate=0.1"),
                            ("gain", 5.0, r"gain=5.0 must be in \[0, 4.0\]"),
                            ("freq_range", [8000.0, 50.0], "low_hz < high_hz"),
                            ("freq_range", [1.0], "must be"),
                            ("target_labels", 0, "target_labels=0 must be >= 1")]:
        with pytest.raises(traitlets.TraitError, match=said):
            setattr(w, name, bad)
    with pytest.raises(ValueError, match="accept_confidence=0.3"):
        LabelingWidget(s, accept_confidence=0.3)


def test_each_decision_is_confirmed_with_its_clip_and_counted(tmp_path):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"])
    w = LabelingWidget(s)
    clip = lambda: w.status["clip_id"]  # noqa: E731

    a = clip()
    w.decide("skip", clip_id=a)
    assert w.message == f"Skipped clip {a}" and (w.status["n_skipped"], w.status["n_doubt"]) == (1, 0)
    b = clip()
    w.region = [0.1, 0.4]
    w.decide("label", "yes", clip_id=b)
    assert w.message == f"Labeled clip {b} as yes with an event 0.10–0.40 s"
    c = clip()
    w.decide("doubt", clip_id=c)
    assert w.message == f"Put clip {c} in Doubt (for a later round)" and w.status["n_doubt"] == 1
    w.decide("undo", clip_id=clip())
    assert w.message.startswith(f"Undid: put clip {c} in Doubt") and w.status["n_doubt"] == 0
    assert w.message.endswith(f"clip {clip()} is shown again")
    s.submit("no", clip_id=clip())  # decided elsewhere (a map, code): the widget cannot name it
    w.decide("undo", clip_id=clip())
    assert w.message.startswith("Undid your last decision;") and w.status["n_labels"] == 1
    w.decide("undo", clip_id=clip())
    assert w.message.startswith(f"Undid: labeled clip {b} as yes with an event")
    assert w.status["n_labels"] == 0 and w.error == ""
    w.decide("skip", clip_id=a)  # no longer shown: refused, nothing said as done
    assert "no longer shown" in w.error and w.message.startswith(f"Undid: labeled clip {b}")

    picked = next(int(i) for i in store.clip_ids() if int(i) not in (a, clip()))
    w.show_clip(picked, play=False)
    assert w.message.startswith(f"Showing clip {picked}, chosen on the map")
    w.decide("skip", clip_id=picked)
    assert w.message == f"Skipped clip {picked}: back to the queue, nothing stored"
    assert w.status["n_skipped"] == 1


def test_a_queue_made_elsewhere_is_announced(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"])
    w = LabelingWidget(s)
    assert w.status["n_queued"] == 0
    ids = [int(i) for i in s.store.clip_ids() if int(i) != w.status["clip_id"]][:3]
    s.queue(ids)  # e.g. "Queue all" under a map selection
    assert w.message == "3 clips queued: asked next (3 in the queue)"
    assert s.status().n_queued == 3


def test_status_counts_what_the_pool_view_shows(tmp_path):
    s = Session(project(tmp_path), classes=["no", "yes"], precompute=False)
    s.label(s.current.clip_id, "yes")
    s.doubt()
    s.skip()
    ids = [int(i) for i in s.store.clip_ids() if int(i) not in s.pool.view().clip_ids[
        s.pool.view().status != STATUS_NAMES.index("unlabeled")]]
    s.queue(ids[:2])
    st = s.status()
    counts = np.bincount(s.pool.view().status, minlength=len(STATUS_NAMES))
    assert (st.n_skipped, st.n_doubt, st.n_queued) == (1, 1, 2)
    assert st.n_skipped == counts[STATUS_NAMES.index("skipped")]
    assert st.n_doubt == counts[STATUS_NAMES.index("doubt")]
    s.label(ids[0], "no")  # a queued clip decided leaves the queue
    assert s.status().n_queued == 1


def test_enter_accepts_only_a_confident_prediction(tmp_path, monkeypatch):
    store = project(tmp_path)
    s = Session(store, classes=["no", "yes"], precompute=False)
    w = LabelingWidget(s)
    p = s.current
    sure = replace(p, predicted="yes", confidence=0.9, p_target=0.9)
    assert w.confident(sure) and not w.confident(replace(sure, confidence=0.55, p_target=0.55))
    assert not w.confident(replace(p, predicted=None, confidence=None))
    assert w.confident(replace(sure, p_target=None))  # several classes: no threshold
    monkeypatch.setattr(Session, "threshold", property(lambda self: 0.95))
    assert not w.confident(sure)  # the tuned threshold says "no" at P(yes) = 0.9
    assert w.confident(replace(sure, predicted="no", p_target=0.1))
    monkeypatch.undo()

    w.decide("label", "no")
    w.decide("label", "yes")  # a model now: a prediction for every clip
    shown = s.current
    assert shown.predicted is not None and w.status["confident"] == w.confident()
    n = store.db["label_events"].count
    monkeypatch.setattr(w, "confident", lambda proposal=None: False)
    w.decide("accept", clip_id=shown.clip_id)
    assert w.error.startswith(f"the model is unsure about clip {shown.clip_id} ({shown.predicted}, ")
    assert "Nothing was stored" in w.error and store.db["label_events"].count == n
    monkeypatch.setattr(w, "confident", lambda proposal=None: True)
    w.decide("accept", clip_id=shown.clip_id)
    assert w.error == "" and store.db["label_events"].count == n + 1
    assert w.message == f"Accepted the model's {shown.predicted} for clip {shown.clip_id}"


def test_the_learning_curve_has_one_point_per_label_count(tmp_path):
    store = project(tmp_path, n_files=10)
    ids = [int(i) for i in store.clip_ids()]
    s = Session(store, classes=["no", "yes"], validation=(ids[:6], ["no", "yes"] * 3))
    w = LabelingWidget(s)
    for action, label in [("label", "no"), ("label", "yes"), ("label", "no"), ("undo", None),
                          ("skip", None), ("label", "yes"), ("undo", None), ("label", "no"),
                          ("label", "yes")]:
        w.decide(action, label)
    assert w.error == ""
    counts = [n for n, _ in s.curve]
    assert counts != sorted(set(counts))  # the session's record goes back and forth
    curve = w.status["curve"]
    assert [n for n, _ in curve] == sorted(set(counts))
    assert curve == curve_by_labels(s.curve) and curve[-1] == tuple(s.curve[-1])


def test_what_is_shown_and_what_the_model_hears(tmp_path):
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "p.db")
    path = tmp_path / "bat.wav"
    sf.write(path, rng.normal(size=48000 * 3) * 0.1, 48000)
    store.add_audio(NewAudio(str(tmp_path), path.name, 48000, 16, 48000 * 3, 1, "WAV", "PCM_16",
                             "h", 0), [(1.0, 1.0)])
    logmel = {"sample_rate": 16000, "n_mels": 64, "fmin": 50.0, "fmax": 8000.0, "n_fft": 512}
    fs = store.feature_set("logmel", logmel, 2)
    store.put_features(fs, store.clip_ids(), np.zeros((1, 2), np.float32))
    w = LabelingWidget(Session(store, classes=["no", "yes"]))
    assert (w.sample_rate, w.fmin, w.fmax) == (32000, 50.0, 16000.0)  # above the model's 8 kHz
    w = LabelingWidget(w.session, max_rate=48000)  # the file's own rate: up to 24 kHz
    assert (w.sample_rate, w.fmax) == (48000, 24000.0)
    with pytest.raises(ValueError, match="max_rate=1000 must be in"):
        LabelingWidget(w.session, max_rate=1000)
    assert w.feature_band == {
        "name": "logmel", "fmin": 50.0, "fmax": 8000.0, "sample_rate": 16000, "n_mels": 64,
        "text": "The model learns from logmel features: a 64-band log-mel spectrogram, "
                "50 Hz–8 kHz, at 16 kHz."}
    assert feature_band(store.feature_set("toy", {}, 2)) == {
        "name": "toy", "fmin": None, "fmax": None, "sample_rate": None, "n_mels": None,
        "text": "The model learns from toy features (its own analysis of the audio)."}
    w = LabelingWidget(w.session, spectrogram="features")  # as the model's features see it
    assert (w.sample_rate, w.spec_shape[0], w.fmin, w.fmax) == (16000, 64, 50.0, 8000.0)
    with pytest.raises(ValueError, match="spectrogram='both' must be"):
        LabelingWidget(w.session, spectrogram="both")
    (tmp_path / "toy").mkdir()
    toy = Session(project(tmp_path / "toy"), classes=["no", "yes"])
    with pytest.raises(ValueError, match="toy features give no mel bands"):
        LabelingWidget(toy, spectrogram="features")


def test_a_decision_sent_over_a_kernel_subshell_runs_on_the_main_thread(tmp_path):
    # JupyterLab 4.6 sends widget messages over a subshell: ipykernel 7 handles them on a
    # thread of their own, while the session's notices and the traits belong to the main one
    s = Session(project(tmp_path), classes=["no", "yes"])

    async def kernel():
        w = LabelingWidget(s)  # made on the thread of the running loop, as in a kernel
        clip, ran, done = w.status["clip_id"], [], asyncio.Event()
        real = w.decide

        def decide(*args, **kwargs):
            ran.append(threading.current_thread())
            real(*args, **kwargs)
            done.set()

        w.decide = decide
        sub = threading.Thread(target=w._on_message, name="subshell",
                               args=(w, {"type": "decide", "action": "skip", "clip_id": clip}, []))
        sub.start()
        sub.join()
        assert ran == []  # handed to the loop: it runs when the loop is free
        await asyncio.wait_for(done.wait(), timeout=30)
        return w, clip, ran

    w, clip, ran = asyncio.run(kernel())
    assert ran == [threading.main_thread()] and w.message == f"Skipped clip {clip}"


def test_a_notice_posted_from_another_thread_runs_later_on_the_loops_thread():
    from alwidget.widgets.live import MainThread

    assert not MainThread().running
    ran = []
    MainThread().post(ran.append, "no loop")  # no kernel: nobody to tell, nothing runs
    assert ran == []

    async def main():
        main_thread = MainThread()
        assert main_thread.running
        lock = threading.Lock()
        with lock:  # e.g. the session's lock, held by the notifying thread
            t = threading.Thread(target=main_thread.post,
                                 args=(lambda: ran.append(threading.current_thread().name),))
            t.start()
            t.join()
            assert ran == []  # not run at once (it could not take the lock)
        await asyncio.sleep(0)  # the loop's next turn runs it
        return threading.current_thread().name

    assert ran == [] and asyncio.run(main()) == ran[0]


def test_importing_alwidget_in_a_kernel_starts_no_thread_and_imports_no_widgets():
    """No import in the background: a thread importing plotly's widget while a cell imported
    scikit-learn (both import narwhals) failed that cell with a _DeadlockError (2 of 7 notebook test runs),
    and it no longer made the first clip sooner (benchmarks/results/first_run.md)."""
    import subprocess
    import sys

    code = ("import sys, types, threading; sys.modules['ipykernel'] = types.ModuleType('ipykernel')\n"
            "before = set(threading.enumerate())\n"
            "import alwidget\n"
            "print(sorted(t.name for t in set(threading.enumerate()) - before),"
            " 'alwidget.widgets' in sys.modules, 'plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "[] False False", out.stderr  # scripts pay for what they use
