"""The deep learners (issue 16): the CRNN learns a temporal pattern the forest cannot see.

A synthetic task: an up-chirp against a down-chirp with the same spectrum (one is the other
reversed in time). The logmel statistics (per-band mean and std over time) of the two are
the same up to noise, so the forest on them is at chance; the CRNN on the spectrogram
patches (``logmel-frames``) must learn the direction of the sweep.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from alwidget.features import LogMel, LogMelFrames, get_extractor
from alwidget.learn import (CRNN, EmbeddingHead, Learner, RandomForest, is_deep, make_model,
                            mutual_information, predictive_entropy)

SR = 16000


def chirps(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips of 1 s: an up- or down-chirp (500 -> 3000 Hz) in noise, as one signal."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    f0, f1 = 500.0, 3000.0
    up = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 2)).astype(np.float32)
    labels = np.array(["up", "down"] * (n // 2))
    rng.shuffle(labels)
    clips = []
    for lab in labels:
        s = up if lab == "up" else up[::-1]
        clips.append(rng.uniform(0.3, 1.0) * s + 0.05 * rng.standard_normal(SR).astype(np.float32))
    return np.concatenate(clips), labels


def features(extractor, y: np.ndarray, n: int) -> np.ndarray:
    return extractor.extract(y, SR, np.arange(n, dtype=float), np.ones(n))


def tiny_crnn(**kw) -> CRNN:
    params = dict(n_mels=32, channels=(4, 8), rnn_units=8, max_epochs=40, max_seconds=None,
                  tol=0.05, batch_size=16, random_state=0)
    return CRNN(**{**params, **kw})


FRAMES = LogMelFrames(n_mels=32, n_frames=32)
STATS = LogMel(stats=("mean", "std"), n_mels=32)


@pytest.fixture(scope="module")
def task():
    y_tr, lab_tr = chirps(40, seed=1)
    y_te, lab_te = chirps(40, seed=2)
    return y_tr, lab_tr, y_te, lab_te


def test_the_crnn_learns_the_direction_of_a_sweep_the_forest_on_statistics_cannot(task):
    y_tr, lab_tr, y_te, lab_te = task
    crnn = tiny_crnn().fit(features(FRAMES, y_tr, 40), lab_tr)
    acc_crnn = (crnn.predict(features(FRAMES, y_te, 40)) == lab_te).mean()
    forest = RandomForest(n_estimators=50, random_state=0).fit(features(STATS, y_tr, 40), lab_tr)
    acc_forest = (forest.predict(features(STATS, y_te, 40)) == lab_te).mean()
    assert acc_crnn >= 0.95, acc_crnn
    assert acc_forest <= 0.7, acc_forest  # chance is 0.5: nothing to learn from statistics


def test_logmel_frames_are_spectrograms_of_fixed_shape():
    ex = get_extractor("logmel-frames")
    assert ex.dim == ex.n_mels * ex.n_frames and ex.shape == (ex.n_mels, ex.n_frames)
    assert CRNN().n_mels == ex.n_mels  # the CRNN's default reads the default set
    y, _ = chirps(2, seed=0)
    V = FRAMES.extract(y, SR, np.array([0.0, 1.0, 1.9]), np.array([1.0, 1.0, 0.05]))
    assert V.shape == (3, 32 * 32) and np.isfinite(V).all()
    S = V[0].reshape(FRAMES.shape)  # bands x frames: an up-chirp's peak band rises in time
    peak = S.argmax(axis=0)
    assert peak[-3:].mean() > peak[:3].mean() + 5
    assert np.all(V[2].reshape(FRAMES.shape)[:, 4:] == V[2].min())  # short clip: padded
    with pytest.raises(ValueError, match="n_frames=0"):
        LogMelFrames(n_frames=0)
    with pytest.raises(ValueError, match="sample_rate=8000"):
        FRAMES.extract(y, 8000, np.array([0.0]), np.array([1.0]))


def test_same_seed_same_model_and_clone_is_unfitted(task):
    y_tr, lab_tr, y_te, _ = task
    X, Xt = features(FRAMES, y_tr, 40), features(FRAMES, y_te, 40)
    a = tiny_crnn(max_epochs=5).fit(X, lab_tr).predict_proba(Xt)
    b = tiny_crnn(max_epochs=5).fit(X, lab_tr).predict_proba(Xt)
    c = tiny_crnn(max_epochs=5, random_state=1).fit(X, lab_tr).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    fitted = tiny_crnn(max_epochs=2).fit(X, lab_tr)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "weights_")
    assert fitted.n_epochs_ == 2 and fitted.stopped_ == "epochs"


def test_caller_estimator_is_never_changed(task):
    y_tr, lab_tr, _, _ = task
    X = features(FRAMES, y_tr, 40)
    model = tiny_crnn(max_epochs=1)
    Learner(model, ["down", "up"]).fit(X, lab_tr)
    assert not hasattr(model, "weights_")


def test_time_budget_stops_the_training():
    X, y = np.random.default_rng(0).standard_normal((64, 32 * 32)).astype(np.float32), \
        np.array(["a", "b"] * 32)
    tiny_crnn(max_epochs=1).fit(X, y)  # torch's one-time set-up (its first optimiser step)
    m = tiny_crnn(max_epochs=10_000, tol=0.0, patience=10_000, max_seconds=0.2).fit(X, y)
    assert m.stopped_ == "budget" and m.n_epochs_ < 10_000
    assert m.fit_seconds_ < 0.2 + 1.0  # stops within a batch of the budget


def test_mc_dropout_gives_seeded_spread_and_entropy(task):
    y_tr, lab_tr, y_te, _ = task
    X, Xt = features(FRAMES, y_tr, 40), features(FRAMES, y_te, 40)
    m = tiny_crnn(max_epochs=3, dropout=0.5, mc_dropout=8).fit(X, lab_tr)
    P = m.predict_proba(Xt)
    np.testing.assert_array_equal(P, m.predict_proba(Xt))  # seeded passes
    passes = m.mc_proba(Xt, 8)
    assert passes.shape == (8, 40, 2)
    np.testing.assert_allclose(passes.mean(axis=0), P, rtol=1e-5, atol=1e-6)
    assert (mutual_information(passes) >= -1e-9).all() and mutual_information(passes).max() > 0
    assert predictive_entropy(P).shape == (40,)
    with pytest.raises(ValueError, match="mc_dropout=3 needs dropout > 0"):
        tiny_crnn(dropout=0.0, mc_dropout=3).fit(X, lab_tr)


@pytest.mark.parametrize("bad, match", [
    (dict(n_mels=7), "CRNN(n_mels=7, n_frames=None) reads each row as a spectrogram of a "
                     "multiple of 7 values: give it the 'logmel-frames' feature set"),
    (dict(n_mels=8, n_frames=4), "but CRNN(n_mels=8, n_frames=4) reads each row as a "
                                 "spectrogram of 8 x 4 = 32 values"),
    (dict(warm_epochs=0), "warm_epochs=0"),
    (dict(warm_start="yes"), "warm_start='yes'"),
    (dict(channels=()), "channels=()"),
    (dict(max_seconds=0), "max_seconds=0"),
    (dict(class_weight="rare"), "class_weight='rare'"),
    (dict(max_epochs=0), "max_epochs=0"),
])
def test_bad_parameters_are_named(bad, match):
    X, y = np.zeros((4, 64), np.float32), ["a", "b", "a", "b"]
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        tiny_crnn(**{**dict(n_mels=32), **bad}).fit(X, y)


def test_models_by_name():
    assert isinstance(make_model("crnn"), CRNN) and isinstance(make_model("head"), EmbeddingHead)
    assert make_model("crnn-mc5").mc_dropout == 5
    assert is_deep(make_model("crnn")) and is_deep(Learner(make_model("head")))
    assert not is_deep(make_model("forest"))
    with pytest.raises(ValueError, match="model='cnn' is not one of"):
        make_model("cnn")


@parametrize_with_checks([CRNN(n_mels=1, channels=(4,), rnn_units=4, max_epochs=30,
                               max_seconds=None, tol=0.05, random_state=0)],
                         expected_failed_checks=lambda est: {})
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_a_fitted_crnn_is_saved_as_arrays_and_loads_with_the_same_predictions(task, tmp_path):
    import pickle
    import zipfile

    from alwidget.model_file import load_model, save_model

    y_tr, lab_tr, y_te, _ = task
    X, Xt = features(FRAMES, y_tr, 40), features(FRAMES, y_te, 40)
    learner = Learner(tiny_crnn(max_epochs=3), ["down", "up"]).fit(X, lab_tr)
    fs = {"extractor": "logmel-frames", "config_hash": "x", "dim": X.shape[1]}
    save_model(tmp_path / "m.alw", learner, classes=["down", "up"], feature_set=fs)
    with zipfile.ZipFile(tmp_path / "m.alw") as z:
        assert all(n.endswith((".json", ".npy")) for n in z.namelist())
    loaded = load_model(tmp_path / "m.alw")
    np.testing.assert_allclose(loaded.predict_proba(Xt), learner.predict_proba(Xt), rtol=1e-6)
    again = pickle.loads(pickle.dumps(learner))  # joblib's workers: the weights travel as arrays
    np.testing.assert_array_equal(again.predict_proba(Xt), learner.predict_proba(Xt))


def test_mc_dropout_runs_the_trunk_once_and_a_row_does_not_depend_on_the_others(task):
    y_tr, lab_tr, y_te, _ = task
    X, Xt = features(FRAMES, y_tr, 40), features(FRAMES, y_te, 40)
    m = tiny_crnn(max_epochs=3, dropout=0.5, mc_dropout=6).fit(X, lab_tr)
    P = m.predict_proba(Xt)
    np.testing.assert_allclose(m.predict_proba(Xt[5:6])[0], P[5], rtol=1e-5)
    np.testing.assert_allclose(m.predict_proba(Xt[3:])[2], P[5], rtol=1e-5)
    calls = []
    net = m.network()
    trunk = net.embed
    net.embed = lambda x: calls.append(len(x)) or trunk(x)
    try:
        m.mc_proba(Xt, 6)
    finally:
        del net.embed
    assert calls == [40]  # one pass of the trunk for 6 passes of dropout


def test_a_failed_fit_leaves_no_learned_state():
    m = tiny_crnn(n_mels=7)
    with pytest.raises(ValueError, match="n_mels=7"):
        m.fit(np.zeros((4, 64), np.float32), ["a", "b", "a", "b"])
    assert not hasattr(m, "n_features_in_") and not hasattr(m, "classes_")


def test_warm_start_continues_from_the_previous_weights(task):
    y_tr, lab_tr, _, _ = task
    X = features(FRAMES, y_tr, 40)
    m = tiny_crnn(max_epochs=5, warm_start=True, warm_epochs=2).fit(X[:30], lab_tr[:30])
    first = {k: v.copy() for k, v in m.weights_.items()}
    assert not m.warm_started_
    m.fit(X, lab_tr)
    assert m.warm_started_ and m.n_epochs_ <= 2
    cold = tiny_crnn(max_epochs=5).fit(X[:30], lab_tr[:30])
    np.testing.assert_array_equal(cold.weights_["out.weight"], first["out.weight"])
    assert not np.array_equal(m.weights_["out.weight"], first["out.weight"])
    m.fit(X[:, :-32], lab_tr)  # another width (31 frames): a cold start
    assert not m.warm_started_
    m.fit(X[:, :-32], np.where(lab_tr == "up", "rise", "fall"))  # other classes: cold too
    assert not m.warm_started_


def test_a_fit_stops_at_the_next_batch_once_the_stop_event_is_set():
    import threading

    from alwidget.learn.neural import FitCancelled, stop_on

    X, y = np.random.default_rng(0).standard_normal((64, 32 * 32)).astype(np.float32), \
        np.array(["a", "b"] * 32)
    stop, batches = threading.Event(), []

    class Stopping(CRNN):
        def _network(self, n_features, n_classes):
            net = super()._network(n_features, n_classes)
            forward = net.forward

            def counted(x, gen):
                batches.append(len(x))
                if len(batches) == 3:
                    stop.set()
                return forward(x, gen)
            net.forward = counted
            return net

    m = Stopping(n_mels=32, channels=(4,), rnn_units=4, max_epochs=10**6, tol=0.0,
                 patience=10**6, max_seconds=None, batch_size=8)
    with stop_on(stop), pytest.raises(FitCancelled):
        m.fit(X, y)
    assert len(batches) == 3 and not hasattr(m, "weights_")


def test_loading_checks_the_weights_against_the_parameters(task, tmp_path):
    import json
    import zipfile

    from alwidget.model_file import load_model, save_model

    y_tr, lab_tr, _, _ = task
    X = features(FRAMES, y_tr, 40)
    learner = Learner(tiny_crnn(max_epochs=1), ["down", "up"]).fit(X, lab_tr)
    fs = {"extractor": "logmel-frames", "config_hash": "x", "dim": X.shape[1]}
    path = save_model(tmp_path / "m.alw", learner, classes=["down", "up"], feature_set=fs).path

    def tampered(name, **params):
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
        card = json.loads(members["card.json"])

        def walk(node):
            if isinstance(node, dict):
                if str(node.get("type", "")).endswith("CRNN"):
                    node["params"].update(params)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(card)
        members["card.json"] = json.dumps(card).encode()
        out = tmp_path / name
        with zipfile.ZipFile(out, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
        return out

    with pytest.raises(ValueError, match="weights_ do not fit its parameters"):
        load_model(tampered("shape.alw", rnn_units=5))
    with pytest.raises(ValueError, match="a network of .* weights, more than"):
        load_model(tampered("huge.alw", channels={"tuple": [100000, 100000]}))


def test_scoring_a_large_pool_after_each_refit_keeps_nothing_behind(task):
    """A session refits and scores its whole pool hundreds of times: nothing a scoring makes
    may outlive its model. (Scoring 2,048 rows or more once compiled the trunk with
    TorchScript, whose global store kept every compiled graph: ~8 MB per CRNN refit on
    FSDD, 14 GB over one benchmark run.)"""
    import gc
    import weakref

    import torch.jit._recursive as jit

    from alwidget.learn import neural

    y_tr, lab_tr, _, _ = task
    X = features(FRAMES, y_tr, 40)
    pool = np.tile(X, (2100 // len(X) + 1, 1))[:2100]  # at least the old compiling size
    compiled = getattr(jit, "concrete_type_store", None)  # torch's store of compiled graphs
    before = (len(compiled.methods_compiled) if compiled else 0, len(neural._NETWORKS))
    refs = []
    for seed in range(3):
        m = tiny_crnn(max_epochs=1, random_state=seed).fit(X, lab_tr)
        p = m.predict_proba(pool)  # in chunks of 64 rows: the same as the rows alone
        np.testing.assert_allclose(p[:40], m.predict_proba(X), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p[40:80], p[:40], rtol=1e-5, atol=1e-6)
        refs.append(weakref.ref(m))
        del m
    gc.collect()
    assert all(r() is None for r in refs)  # the learners and their networks are freed
    assert (len(compiled.methods_compiled) if compiled else 0, len(neural._NETWORKS)) == before


@pytest.mark.parametrize("shape", [(3, 4, 64, 48), (2, 3, 7, 5), (2, 2, 1, 3)])
def test_the_crnn_pooling_gives_torchs_max_pool_with_and_without_gradients(shape):
    import torch

    from alwidget.learn.networks import max_pool

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for ph in (1, 2):
        for pw in (1, 2):
            if shape[2] < ph or shape[3] < pw:
                continue
            want = torch.nn.functional.max_pool2d(x, (ph, pw))
            assert torch.equal(max_pool(x, ph, pw), want)  # scoring: strided views
            xg = x.clone().requires_grad_(True)
            got = max_pool(xg, ph, pw)  # training: torch's kernel, gradients flow
            got.sum().backward()
            assert torch.equal(got.detach(), want)
            assert xg.grad.sum().item() == pytest.approx(want.numel())


def test_a_warm_refit_stopped_midway_leaves_the_previous_fit_as_it_was(monkeypatch):
    """A warm start trains a copy of the previous network: a refit that dies after a few
    batches changes neither the model's weights nor its network nor its probabilities."""
    from conftest import die_in_training

    from alwidget.learn import neural

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 16 * 8)).astype(np.float32), np.array(["a", "b"] * 32)
    m = CRNN(n_mels=16, channels=(4,), rnn_units=4, max_epochs=3, warm_start=True,
             max_seconds=None, batch_size=8, random_state=0).fit(X, y)
    weights = {k: v.copy() for k, v in m.weights_.items()}
    state = {k: v.clone() for k, v in m.network().state_dict().items()}
    proba = m.predict_proba(X)
    batches = die_in_training(monkeypatch, 3, neural.FitCancelled("stopped after 3 batches"))
    with pytest.raises(neural.FitCancelled):
        m.fit(X[::-1].copy(), y[::-1].copy())
    monkeypatch.undo()
    assert len(batches) == 4  # 3 batches trained the copy before it died
    for k, v in weights.items():
        np.testing.assert_array_equal(m.weights_[k], v)
    for k, v in m.network().state_dict().items():
        assert (v == state[k]).all(), k
    np.testing.assert_array_equal(m.predict_proba(X), proba)
    assert m.fit(X, y).warm_started_  # and the next refit starts from it
