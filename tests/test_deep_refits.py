"""The background trainer of the deep learners, as the review of issue 16 found it wanting:
staleness by training set (undo then label), a growing archive, failed refits, close during a
refit, no refit on a skip or a queue change, and a CRNN given features it cannot read.

Synchronisation is by events and ``wait_for_model``, never by sleeping."""

from __future__ import annotations

import contextlib
import threading
import traceback
import warnings

import numpy as np
import pytest

from alwidget.learn import CRNN, EmbeddingHead
from alwidget.loop import LoopCore
from alwidget.session import Session
from alwidget.store import NewAudio

from test_deep_session import (CLASSES, SPECTROGRAMS, GatedHead, label_both_classes,
                               make_project)


class CountingHead(EmbeddingHead):
    """A head that records the size of every training set it is fitted on."""

    sizes: list = []

    def fit(self, X, y):
        CountingHead.sizes.append(len(y))
        return super().fit(X, y)


class FailingHead(EmbeddingHead):
    """A head whose fits raise while ``fail`` is set."""

    fail = threading.Event()
    attempts: list = []

    def fit(self, X, y):
        FailingHead.attempts.append(len(y))
        if FailingHead.fail.is_set():
            raise MemoryError("out of memory in the refit")
        return super().fit(X, y)


class EndlessHead(EmbeddingHead):
    """A head that trains until it is stopped, and says when it has started."""

    started = threading.Event()

    def fit(self, X, y):
        EndlessHead.started.set()
        return super().fit(X, y)


def head(cls=EmbeddingHead, **kw):
    return cls(**{**dict(hidden=8, max_epochs=20, max_seconds=None, random_state=0), **kw})


def test_undo_then_a_new_label_plans_with_a_model_that_says_it_is_stale(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    GatedHead.gate.set()
    with Session(store, classes=CLASSES, model=head(GatedHead), random_state=0) as s:
        label_both_classes(s, truth)
        assert s.wait_for_model(60)
        a = s.current.clip_id
        s.submit(truth[a])  # label A
        assert s.wait_for_model(60) and any(r == s._row[a] for r, _ in s._fitted.key)
        GatedHead.gate.clear()
        GatedHead.started.clear()
        s.undo()  # the refit without A waits at the gate
        assert GatedHead.started.wait(60)
        s.submit(truth[s.current.clip_id])  # label B: as many decisions as with A
        plan = s._planned.plan
        assert plan.iteration == plan.model_iteration  # what the old count compared
        assert (plan.model_lacks, plan.model_extra, plan.stale) == (1, 1, 2)
        assert "stale model: lacks 1 label, has 1 label since undone or changed; a newer one " \
               "is training" in s.current.reason
        GatedHead.gate.set()
        assert s.wait_for_model(60)
        s.submit(truth[s.current.clip_id])
        assert s._planned.plan.model_extra == 0  # the newest model no longer has A


@contextlib.contextmanager
def _counting_session(store, truth):
    """A session with a CountingHead (its fit sizes cleared) whose model is of three labels:
    both classes, one answer, each refit waited for."""
    CountingHead.sizes.clear()
    with Session(store, classes=CLASSES, model=head(CountingHead), random_state=0) as s:
        label_both_classes(s, truth)
        assert s.wait_for_model(60)
        s.submit(truth[s.current.clip_id])
        assert s.wait_for_model(60)
        yield s


def test_a_skip_or_a_queue_change_asks_for_no_refit(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with _counting_session(store, truth) as s:
        fits = list(CountingHead.sizes)
        s.skip()
        s.queue([int(c) for c in store.clip_ids()[-3:]])
        assert s.wait_for_model(60) and not s.refitting
        assert CountingHead.sizes == fits  # the same labels: no refit
        assert "stale" not in s.current.reason  # the model is of these labels


def test_a_growing_archive_is_scored_with_the_last_model_without_a_refit(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with _counting_session(store, truth) as s:
        fits = len(CountingHead.sizes)
        store.add_audio(NewAudio("/rec", "new.wav", 16000, 16, 160000, 1, "WAV", "PCM_16",
                                 "hnew", 0), [(float(k), 1.0) for k in range(10)])
        new = np.array([c for c in store.clip_ids().tolist() if c not in truth])
        X_new = np.random.default_rng(1).normal(size=(len(new), 8)).astype(np.float32) + 5
        store.put_features(s.feature_set, new, X_new)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "planning ... failed" would be a warning
            s.submit(truth[s.current.clip_id])
            assert "planning failed" not in s.current.reason
            assert len(s._fitted.proba) == len(s._core.X) == len(truth) + len(new)
            expect = s._fitted.learner.predict_proba(X_new)
            np.testing.assert_allclose(s._fitted.proba[-len(new):], expect, rtol=1e-5)
            for planned in s._planner.ready():  # the plans ahead, made with the new rows too
                assert "planning failed" not in planned.proposal.reason
        assert s.wait_for_model(60)
        assert len(CountingHead.sizes) == fits + 1  # only the new label asked for a refit


def test_a_failed_refit_is_kept_shown_warned_once_and_retried(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    FailingHead.fail.set()
    FailingHead.attempts.clear()
    with Session(store, classes=CLASSES, model=head(FailingHead), random_state=0) as s:
        with pytest.warns(RuntimeWarning, match="a background refit failed.*MemoryError: "
                                                "out of memory in the refit"):
            label_both_classes(s, truth)
            assert not s.wait_for_model(60)  # done, but failed
        assert isinstance(s.last_refit_error, MemoryError)
        assert s.status().refit_error == "MemoryError: out of memory in the refit"
        # the kept error names where it failed but holds none of the failed fit's data
        fits = [f for f, _ in traceback.walk_tb(s.last_refit_error.__traceback__)
                if f.f_code.co_name == "fit"]
        assert fits and not any("X" in f.f_locals for f in fits)
        assert s.learner is None
        s.submit(truth[s.current.clip_id])  # retried at the next decision, warned no more
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            assert not s.wait_for_model(60)
        assert len(FailingHead.attempts) == 2
        assert s.current.reason == ("random: the last refit failed (MemoryError: out of memory "
                                    "in the refit); retrying at the next decision")
        FailingHead.fail.clear()
        s.submit(truth[s.current.clip_id])
        assert s.wait_for_model(60) and s.last_refit_error is None
        assert s.status().refit_error is None
        FailingHead.fail.set()  # once a model exists: it stays in use, the reason says why
        s.submit(truth[s.current.clip_id])
        assert not s.wait_for_model(60)
        s.submit(truth[s.current.clip_id])
        assert not s.wait_for_model(60)
        assert s.learner is not None and "the last refit failed (MemoryError: out of memory " \
                                         "in the refit), retrying" in s.current.reason
        FailingHead.fail.clear()


def test_close_stops_a_running_refit_joins_it_and_adopts_nothing_after(tmp_path):
    store, truth = make_project(tmp_path / "p.db", n=400)
    EndlessHead.started.clear()
    model = head(EndlessHead, max_epochs=10**9, tol=0.0, patience=10**9, batch_size=1)
    s = Session(store, classes=CLASSES, model=model, random_state=0)
    label_both_classes(s, truth)
    assert EndlessHead.started.wait(60) and s.refitting
    trainer = s._trainer
    s.close()  # stops the fit at its next batch and joins the thread
    assert not trainer._thread.is_alive() and s._fitted is None
    rows, labels, _ = s._training(s._state)
    fitted = LoopCore(s._core.X, CLASSES, model=head()).fit(rows, labels, iteration=2)
    s._adopt(s._state, fitted)  # a model arriving after close is not adopted
    assert s._fitted is None


def test_a_crnn_instance_needs_the_spectrogram_set_of_its_shape(tmp_path):
    store, _ = make_project(tmp_path / "p.db")
    with pytest.raises(ValueError, match="learns from log-mel spectrogram patches, not 'toy'"):
        Session(store, store.feature_sets()[0], classes=CLASSES, model=CRNN())
    frames = store.feature_set(SPECTROGRAMS["extractor"], SPECTROGRAMS["config"], 16)
    store.put_features(frames, store.clip_ids(),
                       np.zeros((len(store.clip_ids()), 16), np.float32))
    with pytest.raises(ValueError, match=r"reads spectrograms of 8 bands x any number of frames, "
                                         r"but the feature set 'logmel-frames' \(.*\) has 4 x 4: "
                                         r"give CRNN\(n_mels=4, n_frames=4\)"):
        Session(store, frames, classes=CLASSES, model=CRNN(n_mels=8))
    model = CRNN(n_mels=4)
    with Session(store, frames, classes=CLASSES, model=model, precompute=False) as s:
        assert (s.model.n_mels, s.model.n_frames) == (4, 4) and model.n_frames is None


_in_fit = threading.local()


class DyingCRNN(CRNN):
    """A CRNN whose fits say they run (``_in_fit``): the test makes those die."""

    def fit(self, X, y):
        _in_fit.on = True
        try:
            return super().fit(X, y)
        finally:
            _in_fit.on = False


def test_a_crnn_refit_that_dies_mid_training_leaves_the_previous_crnn_untouched(tmp_path,
                                                                               monkeypatch):
    from conftest import die_in_training

    die = threading.Event()
    batches = die_in_training(monkeypatch, 3, MemoryError("killed after 3 batches of the refit"),
                              when=lambda: getattr(_in_fit, "on", False) and die.is_set())
    store, truth = make_project(tmp_path / "p.db", dim=16, **SPECTROGRAMS)
    model = DyingCRNN(n_mels=4, channels=(4,), rnn_units=4, max_epochs=5, warm_epochs=5,
                      batch_size=2, max_seconds=None, warm_start=True, random_state=0)
    with Session(store, classes=CLASSES, model=model, random_state=0) as s:
        label_both_classes(s, truth)
        for _ in range(4):
            s.submit(truth[s.current.clip_id])
        assert s.wait_for_model(60)
        before = s._fitted.learner  # the model the trainer adopted
        assert before.estimator_.warm_started_  # refits start from the previous CRNN
        crnn, X = before.estimator_, s._core.X
        proba = crnn.predict_proba(X)
        weights = {k: v.clone() for k, v in crnn.network().state_dict().items()}
        die.set()
        with pytest.warns(RuntimeWarning, match="a background refit failed.*MemoryError: "
                                                "killed after 3 batches"):
            s.submit(truth[s.current.clip_id])  # a warm-started refit from `before` dies
            assert not s.wait_for_model(60)
        assert len(batches) > 3  # it died in training, not before
        assert s._fitted.learner is before  # the previous CRNN stays in use, its weights kept
        assert s.learner is before  # and plans the clip shown
        for k, v in crnn.network().state_dict().items():
            assert (v == weights[k]).all(), k
        np.testing.assert_array_equal(crnn.predict_proba(X), proba)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s.submit(truth[s.current.clip_id])  # planned after the failure: the reason says so
            assert not s.wait_for_model(60)
        assert not [w for w in caught if "refit failed" in str(w.message)]  # the same: warned once
        assert s._fitted.learner is before
        assert "the last refit failed (MemoryError: killed after 3 batches" in s.current.reason
        die.clear()
        s.submit(truth[s.current.clip_id])
        assert s.wait_for_model(60) and s._fitted.learner is not before  # the next is adopted
        assert s._fitted.learner.estimator_.warm_started_
