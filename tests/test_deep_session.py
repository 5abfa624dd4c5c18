"""Deep learners in the labeling session: chosen by name, refitted in the background, the last
model in use meanwhile (its plans say they are stale), and a kill mid-refit loses no label."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from alwidget.learn import CRNN, EmbeddingHead
from alwidget.session import Session
from alwidget.store import NewAudio, Store

CLASSES = ["background", "target"]
#: A toy 'logmel-frames' set of 4 bands x 4 frames (a CRNN learns only from that extractor).
SPECTROGRAMS = dict(extractor="logmel-frames", config={"n_mels": 4, "n_frames": 4})


def make_project(path, n=120, dim=8, extractor="toy", seed=0, config=None):
    """A store of ``n`` clips, half of them 'target' (shifted in feature space)."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    for i in range(n // 10):
        store.add_audio(NewAudio("/rec", f"n1_{i:03d}.wav", 16000, 16, 16000 * 10, 1,
                                 "WAV", "PCM_16", f"h{i}", 0),
                        [(float(k), 1.0) for k in range(10)])
    ids = store.clip_ids()
    truth = rng.random(len(ids)) < 0.5
    truth[:2] = [True, False]
    X = rng.normal(size=(len(ids), dim)).astype(np.float32) + truth[:, None] * 1.5
    store.put_features(store.feature_set(extractor, config or {}, dim), ids, X)
    return store, dict(zip(ids.tolist(), np.where(truth, "target", "background")))


class GatedHead(EmbeddingHead):
    """An embedding head whose fits wait for the test to open the gate (a slow refit)."""

    gate = threading.Event()
    started = threading.Event()

    def fit(self, X, y):
        GatedHead.started.set()
        assert GatedHead.gate.wait(60), "the test never opened the gate"
        return super().fit(X, y)


def label_both_classes(s, truth):
    s.label(next(c for c, lab in truth.items() if lab == "target"), "target")
    s.label(next(c for c, lab in truth.items() if lab == "background"), "background")


def test_a_refit_never_blocks_and_the_previous_model_stays_in_use(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    GatedHead.gate.set()
    model = GatedHead(hidden=8, max_epochs=20, max_seconds=None, random_state=0)
    with Session(store, classes=CLASSES, model=model, random_state=0) as s:
        assert s.current.reason == "random: no labels yet"
        label_both_classes(s, truth)
        assert s.wait_for_model(60) and s.learner is None  # the clip shown was planned before
        s.submit(truth[s.current.clip_id])
        first = s.learner
        assert first is not None and "stale model: lacks 1 label;" in s.current.reason
        assert s.wait_for_model(60)
        GatedHead.gate.clear()
        GatedHead.started.clear()
        s.submit(truth[s.current.clip_id])  # returns although the refit waits at the gate
        assert GatedHead.started.wait(60) and s.refitting
        s.submit(truth[s.current.clip_id])  # and again: planned with the last model
        assert s.learner is not first and s.current.reason.endswith("a newer one is training)")
        shown_with = s.learner
        assert s._planned.plan.stale == 2
        GatedHead.gate.set()
        assert s.wait_for_model(60) and not s.refitting
        s.submit(truth[s.current.clip_id])
        assert s.learner is not shown_with and s.n_labels == 6
        assert len(store.current_labels()) == 6
        assert s.last_retrain_s is not None and s.curve == []  # no validation: no F1


def test_after_an_undo_a_model_that_saw_the_undone_label_says_so(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    model = EmbeddingHead(hidden=8, max_epochs=20, max_seconds=None, random_state=0)
    with Session(store, classes=CLASSES, model=model, random_state=0) as s:
        label_both_classes(s, truth)
        s.submit(truth[s.current.clip_id])
        assert s.wait_for_model(60)  # fitted on the 3 labels
        s.undo()
        assert "stale model: has 1 label since undone or changed" in s.current.reason
        assert s.wait_for_model(60)
        s.submit(truth[s.current.clip_id])
        assert "stale model: lacks 1 label;" in s.current.reason


def test_background_fit_false_refits_in_the_plan(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, model="head", background_fit=False,
                 random_state=0) as s:
        label_both_classes(s, truth)
        assert isinstance(s.learner.estimator_, EmbeddingHead)
        assert "stale" not in s.current.reason and not s.refitting


def test_crnn_by_name_takes_the_spectrogram_set_or_says_what_to_run(tmp_path):
    store, _ = make_project(tmp_path / "p.db")
    with pytest.raises(ValueError, match="model='crnn' learns from log-mel spectrogram "
                                         "patches, and the store has none yet"):
        Session(store, classes=CLASSES, model="crnn")
    with pytest.raises(ValueError, match="model='svm' is not one of"):
        Session(store, classes=CLASSES, model="svm")
    frames = store.feature_set("logmel-frames", {"n_mels": 4, "n_frames": 4}, 16)
    store.put_features(frames, store.clip_ids(), np.zeros((len(store.clip_ids()), 16),
                                                          np.float32))
    with Session(store, classes=CLASSES, model="crnn", precompute=False) as s:
        assert s.feature_set.extractor == "logmel-frames" and s.model.n_mels == 4
        assert s.refitting is False
    with pytest.raises(ValueError, match="not 'toy' features"):
        Session(store, store.feature_sets()[0], classes=CLASSES, model="crnn")


class NoisyCRNN(CRNN):
    """A CRNN that says when a fit starts (the test kills the process then)."""

    def fit(self, X, y):
        sys.stdout.write(f"training {len(y)}\n")  # one write: lines of two threads never mix
        sys.stdout.flush()
        return super().fit(X, y)


def test_sigkill_during_a_crnn_refit_loses_no_label(tmp_path):
    path = tmp_path / "p.db"
    store, truth = make_project(path, dim=16, **SPECTROGRAMS)
    store.close()
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_deep_session import CLASSES, NoisyCRNN, make_project
        from alwidget.session import Session
        from alwidget.store import Store
        _, truth = make_project({str(tmp_path / "truth.db")!r}, dim=16)
        model = NoisyCRNN(n_mels=4, channels=(4,), rnn_units=4, max_epochs=10**6, tol=0.0,
                          patience=10**6, max_seconds=120, random_state=0)
        s = Session(Store({str(path)!r}), classes=CLASSES, model=model, random_state=5)
        for _ in sys.stdin:  # one answer per line the test sends
            clip = s.current.clip_id
            nxt = s.submit(truth[clip])
            sys.stdout.write(f"committed {{clip}} {{nxt.clip_id}}\\n")
            sys.stdout.flush()
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    committed, training = [], 0
    try:
        while len(committed) < 12 or not training:
            if len(committed) < 12:
                proc.stdin.write("answer\n")
                proc.stdin.flush()
            while True:
                line = proc.stdout.readline().split()
                assert line, "the labeling process ended"
                if line[0] == "training":
                    training += 1
                    if len(committed) >= 12:
                        break
                else:
                    committed.append(int(line[1]))
                    break
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # a refit has started and runs for up to 120 s
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = Store(path)
    labeled = set(store.current_labels().clip_id.tolist())
    assert set(committed) == labeled  # every committed label, and nothing half-written
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    model = CRNN(n_mels=4, channels=(4,), rnn_units=4, max_epochs=5, max_seconds=None,
                 random_state=0)
    with Session(store, classes=CLASSES, model=model, random_state=5) as again:
        assert again.n_labels == len(committed)
        assert again.wait_for_model(60)  # the same learner trains again from every label
        assert again._fitted.n_train == len(committed)  # fitted on every committed label


def test_crnn_session_from_audio_learns_from_cached_spectrograms(tmp_path):
    from conftest import write_audio

    from alwidget import extract_features, ingest
    from alwidget.features import LogMelFrames

    for i in range(6):
        write_audio(tmp_path / "rec" / f"f{i}.wav", 4.0, freq=3000 if i % 2 else 400)
    store = Store(tmp_path / "p.db")
    ingest(tmp_path / "rec", store, clip_seconds=1.0, n_jobs=1, progress=False)
    fs = extract_features(store, "logmel-frames", n_jobs=1, progress=False)
    ids, X = store.get_features(fs)
    assert X.shape == (24, LogMelFrames().dim)
    model = CRNN(channels=(4,), rnn_units=4, max_epochs=5, max_seconds=None, random_state=0)
    with Session(store, classes=CLASSES, model=model, random_state=0) as s:
        src = store.clip_sources(ids)
        high = [int(c) for c, p in zip(src.clip_id, src.path) if p.endswith(("1.wav", "3.wav"))]
        s.label(high[0], "target")
        s.label(next(int(c) for c in ids if int(c) not in high), "background")
        assert s.wait_for_model(60)
        s.submit("background")
        assert isinstance(s.learner.estimator_, CRNN) and "stale model" in s.current.reason
    assert fs == extract_features(store, "logmel-frames", n_jobs=1, progress=False)  # cached


def test_a_session_dropped_without_close_is_collected_and_its_trainer_ends(tmp_path):
    import gc
    import weakref

    store, truth = make_project(tmp_path / "p.db")
    s = Session(store, classes=CLASSES, model="head", random_state=0, precompute=False)
    label_both_classes(s, truth)
    assert s.wait_for_model(60)
    trainer, ref = s._trainer, weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None  # the trainer's thread holds it only weakly: the claim is released
    trainer.close()
    trainer._thread.join(60)
    assert not trainer._thread.is_alive()
