"""The neural head on embeddings (issue 16): rare targets, seeds, checks, by name in simulate."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from alwidget.cli import main
from alwidget.experiment import run_rare_target
from alwidget.learn import EmbeddingHead, make_model


def rare(n=400, dim=16, share=0.03, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < share, "rare", "rest")
    X = rng.normal(size=(n, dim)).astype(np.float32) + (y == "rare")[:, None] * 1.2
    return X, y


def test_class_weights_find_a_rare_target_that_plain_weights_miss():
    X, y = rare(seed=1)
    Xt, yt = rare(seed=2)
    recall = {}
    for cw in ("balanced", None):
        head = EmbeddingHead(hidden=0, class_weight=cw, max_seconds=None, random_state=0)
        pred = head.fit(X, y).predict(Xt)
        recall[cw] = float(np.mean(pred[yt == "rare"] == "rare"))
    assert recall["balanced"] >= 0.8 and recall["balanced"] > recall[None]


def test_hidden_layer_and_logistic_are_seeded():
    X, y = rare()
    for hidden in (0, 32):
        a = EmbeddingHead(hidden=hidden, max_epochs=30, max_seconds=None, random_state=3)
        b = EmbeddingHead(hidden=hidden, max_epochs=30, max_seconds=None, random_state=3)
        np.testing.assert_array_equal(a.fit(X, y).predict_proba(X), b.fit(X, y).predict_proba(X))
    with pytest.raises(ValueError, match="hidden=-1"):
        EmbeddingHead(hidden=-1).fit(X, y)
    fitted = EmbeddingHead(random_state=0, max_seconds=None).fit(X, y)
    assert sorted(fitted.weights_) == ["hidden.bias", "hidden.weight", "out.bias", "out.weight"]


def test_the_head_runs_the_rare_target_protocol_through_the_loop_core():
    X, y = rare(n=200, share=0.1)
    res = run_rare_target(X, y, np.arange(200) % 4, ["rare"], strategies=["entropy"], queries=4,
                          model=make_model("head", max_epochs=20), n_jobs=1, progress=False)
    assert sorted({r["n_labels"] for r in res.records}) == [2, 3, 4, 5, 6]
    assert "EmbeddingHead" in res.params["model"]


def test_simulate_command_takes_a_model_by_name(tmp_path, capsys):
    X, y = rare(n=120, share=0.15)
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "fold"])
        w.writerows(zip(y, np.arange(120) % 3))
    rc = main(["simulate", "--features", str(tmp_path / "X.npy"), "--labels",
               str(tmp_path / "labels.csv"), "--target", "rare", "--strategies", "entropy",
               "--model", "head", "--queries", "3", "--out", str(tmp_path / "out"),
               "--jobs", "1", "--quiet"])
    assert rc == 0 and "| entropy |" in capsys.readouterr().out
    rc = main(["simulate", "--features", str(tmp_path / "X.npy"), "--labels",
               str(tmp_path / "labels.csv"), "--model", "mlp", "--out", str(tmp_path / "o2")])
    assert rc != 0 and "model='mlp' is not one of" in capsys.readouterr().err
    rc = main(["simulate", "--features", str(tmp_path / "X.npy"), "--labels",
               str(tmp_path / "labels.csv"), "--model", "crnn", "--out", str(tmp_path / "o3")])
    assert rc != 0 and ("--model crnn learns from log-mel spectrogram patches, not --features: "
                        "use --manifest with --extractor logmel-frames") in capsys.readouterr().err


@parametrize_with_checks([EmbeddingHead(hidden=8, max_epochs=100, max_seconds=None,
                                        random_state=0)],
                         expected_failed_checks=lambda est: {})
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
