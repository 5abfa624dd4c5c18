"""Simulated-oracle experiments: protocol, records, summary, outputs, CLI."""

import csv

import numpy as np
import pytest

from alwidget.cli import main
from alwidget.experiment import (NoisyOracle, describe_pairs, ordered_folds, run_rare_target,
                                 split, summarise)
from alwidget.store import Store


def rare_data(n=240, d=6, share=0.1, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < share
    X = rng.normal(size=(n, d)) + y[:, None] * 2.5
    labels = np.where(y, "bird", "noise")
    folds = np.arange(n) % 4 + 1
    return X, labels, folds


def test_split_uses_the_next_fold_for_validation_and_the_rest_as_pool():
    folds = np.array([1, 2, 3, 4, 1, 2, 3, 4])
    test, val, pool = split(folds, 4)
    assert test.tolist() == [3, 7] and val.tolist() == [0, 4] and pool.tolist() == [1, 2, 5, 6]
    with pytest.raises(ValueError, match="at least 3 folds"):
        split(np.array([1, 2, 1, 2]), 1)


def test_records_follow_the_protocol_and_are_deterministic():
    X, labels, folds = rare_data()
    kw = dict(strategies=["random", "lc", "ssal-0.95", "ac-5"], queries=11, seeds=[0, 1],
              n_jobs=1, progress=False)
    res = run_rare_target(X, labels, folds, ["bird"], **kw)
    assert len(res.records) == 4 * 4 * 2 * 12  # strategies x folds x seeds x (queries + 1)
    assert len(res.references) == 4 * 2
    for r in res.records:
        assert r["n_labels"] == 2 + r["iteration"]  # starts from 1 positive + 1 negative
        assert 0 <= r["f1"] <= 1 and 0 <= r["threshold"] <= 1
        assert (r["picked"] is None) == (r["iteration"] == 11)  # every fit but the last asks
    ssal = [r for r in res.records if r["strategy"] == "ssal-0.95"]
    assert max(r["n_pseudo"] for r in ssal) > 0  # pseudo-labels used, never counted as labels
    again = run_rare_target(X, labels, folds, ["bird"], **{**kw, "n_jobs": 2})
    key = lambda r: (r["strategy"], r["fold"], r["seed"], r["iteration"])  # noqa: E731
    assert sorted(res.records, key=key) == sorted(again.records, key=key)
    assert np.mean([r["f1"] for r in res.references]) > 0.8  # an easy target


def test_uncertainty_sampling_asks_more_positives_than_random_on_a_rare_target():
    X, labels, folds = rare_data(n=400, share=0.05, seed=3)
    res = run_rare_target(X, labels, folds, ["bird"], strategies=["random", "lc"],
                          queries=30, seeds=[0, 1, 2], n_jobs=2, progress=False)
    share = {r["strategy"]: r["positive_query_share"] for r in res.summary()}
    assert share["lc"] > 2 * share["random"]


def test_summary_values_are_means_of_the_records():
    records = [dict(strategy="s", n_labels=n, f1=f, query_positive=q)
               for n, f, q in [(10, 0.2, True), (10, 0.4, False), (11, 0.9, None)]]
    (row,) = summarise(records, [dict(f1=0.5)])
    assert row["f1_at_10"] == pytest.approx(0.3) and row["max_f1"] == 0.9
    assert row["max_f1_labels"] == 11 and row["mean_f1"] == pytest.approx(0.6)
    assert row["positive_query_share"] == 0.5 and row["f1_at_25"] is None
    assert row["mean_f1_seed_sd"] is None  # one seed: no spread to report
    two = [dict(strategy="s", n_labels=10, f1=f, query_positive=None, seed=k)
           for k, f in [(0, 0.2), (1, 0.6)]]
    assert summarise(two, [])[0]["mean_f1_seed_sd"] == pytest.approx(0.2 * 2 ** 0.5)  # ddof=1


def test_rarer_pool_and_bad_arguments():
    X, labels, folds = rare_data()
    res = run_rare_target(X, labels, folds, ["bird"], strategies=["random"], queries=1,
                          positive_share=0.02, n_jobs=1, progress=False)
    assert len(res.records) == 8
    with pytest.raises(ValueError, match=r"targets \['cat'\] are not among the labels"):
        run_rare_target(X, labels, folds, ["cat"], progress=False)
    with pytest.raises(ValueError, match="strategy 'best' is unknown"):
        run_rare_target(X, labels, folds, ["bird"], strategies=["best"], progress=False)


def test_noisy_oracle_flips_about_its_error_rate():
    truth = np.zeros(10000, bool)
    answers = NoisyOracle(0.2, random_state=0)(truth, 0)
    assert 0.18 < answers.mean() < 0.22
    multi = NoisyOracle(1.0, classes=["a", "b", "c"], confusion={"a": {"c": 1.0}}, random_state=0)
    assert set(multi(np.array(["a"] * 50, dtype=object), 0).tolist()) == {"c"}


def test_cli_from_a_feature_matrix(tmp_path, capsys):
    X, labels, folds = rare_data()
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "fold"])
        w.writerows(zip(labels, folds))
    out = tmp_path / "out"
    rc = main(["simulate", "--features", str(tmp_path / "X.npy"), "--labels",
               str(tmp_path / "labels.csv"), "--target", "bird", "--strategies", "random,lc",
               "--queries", "4", "--out", str(out), "--db", str(tmp_path / "r.db"),
               "--jobs", "1", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| lc |" in printed and "4 queries per run" in printed
    assert "test 4 → validation 1" in printed  # the pairs are printed
    with open(out / "records.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 4 * 5 and max(int(r["n_labels"]) for r in rows) == 6
    assert (out / "learning_curves.html").stat().st_size > 1_000_000  # plotly.js inline: offline
    assert "cdn.plot.ly" not in (out / "learning_curves.html").read_text()[:5000]
    store = Store(tmp_path / "r.db")
    assert store.db["experiment_records"].count == 40
    (features,) = [r[0] for r in store.db.execute("SELECT features FROM experiments")]
    assert features.startswith("matrix:X.npy:")  # two runs on other features can be told apart


def _beep_manifest(tmp_path):
    """24 clips of half a second, 'beep' at 3 kHz or 'hum', in 3 folds; returns the CSV."""
    from conftest import write_audio

    rows = []
    rng = np.random.default_rng(0)
    for i in range(24):
        target = i % 4 == 1  # positives in every fold
        write_audio(tmp_path / "a" / f"{i}.wav", 0.5, freq=3000 if target else 300 + 10 * i,
                    seed=int(rng.integers(1000)))
        rows.append((f"a/{i}.wav", "beep" if target else "hum", i % 3))
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "fold"])
        w.writerows(rows)
    return tmp_path / "m.csv"


def test_cli_from_a_manifest_of_audio(tmp_path, capsys):
    rc = main(["simulate", "--manifest", str(_beep_manifest(tmp_path)), "--target", "beep",
               "--strategies", "lc", "--queries", "2", "--out", str(tmp_path / "o"),
               "--jobs", "1", "--quiet"])
    assert rc == 0 and (tmp_path / "o" / "features.db").exists()
    store = Store(tmp_path / "o" / "features.db")
    assert store.n_clips() == 24
    (features,) = [r[0] for r in store.db.execute("SELECT features FROM experiments")]
    assert features.startswith("logmel:")


def test_cli_simulates_the_crnn_on_spectrogram_patches_of_the_manifest(tmp_path, capsys):
    rc = main(["simulate", "--manifest", str(_beep_manifest(tmp_path)), "--target", "beep",
               "--model", "crnn", "--strategies", "entropy", "--queries", "2",
               "--out", str(tmp_path / "o"), "--jobs", "1", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert "features: logmel-frames:" in capsys.readouterr().out  # the default with crnn
    store = Store(tmp_path / "o" / "features.db")
    (fs,) = store.feature_sets()
    ids, X = store.get_features(fs)
    assert X.shape == (24, fs.config["n_mels"] * fs.config["n_frames"])
    (params,) = [r[0] for r in store.db.execute("SELECT params FROM experiments")]
    # the network's frames came from the set's config (n_mels is 64 in both by default);
    # trained by epochs, no time budget
    assert f"n_frames={fs.config['n_frames']}" in params and "max_seconds=None" in params
    with open(tmp_path / "o" / "records.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 3 and {r["strategy"] for r in rows} == {"entropy"}


def test_batches_start_from_the_same_medoids_and_grow_by_the_batch(tmp_path):
    from sklearn.datasets import make_blobs

    from alwidget.experiment import run_batches

    X, c = make_blobs(240, centers=4, cluster_std=3.0, random_state=0)
    folds = np.arange(240) % 3
    kw = dict(strategies=["random", "entropy", "margin", "mal-mf"], batch_size=6, queries=3,
              n_jobs=1, progress=False)
    res = run_batches(X, c.astype(str), folds, **kw)
    assert len(res.records) == 4 * 3 * 4
    assert sorted({r["n_labels"] for r in res.records}) == [6, 12, 18, 24]
    first = {(r["fold"], r["accuracy"]) for r in res.records if r["iteration"] == 0}
    assert len(first) == 3  # one first batch per fold, shared by every strategy
    assert res.records == run_batches(X, c.astype(str), folds, **kw).records
    assert "accuracy / macro-F1" in res.summary_markdown()


def test_cli_batches_protocol(tmp_path, capsys):
    X, labels, folds = rare_data()
    labels = np.array(["a", "b", "c"])[np.arange(len(labels)) % 3]
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "fold"])
        w.writerows(zip(labels, folds))
    rc = main(["simulate", "--protocol", "batches", "--features", str(tmp_path / "X.npy"),
               "--labels", str(tmp_path / "labels.csv"), "--batch-size", "5", "--queries", "1",
               "--out", str(tmp_path / "o"), "--jobs", "1", "--quiet"])
    assert rc == 0 and "| mal-mf |" in capsys.readouterr().out


def test_a_chosen_seed_set_replaces_the_random_pair():
    X, labels, folds = rare_data()
    start = np.flatnonzero(labels == "bird")[:6].tolist() + [0, 1, 2, 3, 4, 5]
    res = run_rare_target(X, labels, folds, ["bird"], strategies=["lc"], queries=1,
                          initial=start, n_jobs=1, progress=False)
    first = {r["fold"]: r["n_labels"] for r in res.records if r["iteration"] == 0}
    for k, n in first.items():
        _, _, pool = split(folds, int(k))
        assert n == len(np.intersect1d(start, pool))


def test_folds_sort_as_numbers_and_an_explicit_order_is_kept():
    folds = np.array(["1", "2", "3", "10"] * 3)
    assert ordered_folds(folds) == ["1", "2", "3", "10"]  # not 1, 10, 2, 3
    test, val, _ = split(folds, "1")
    assert set(folds[val]) == {"2"}  # test fold 1 is validated on fold 2, not 10
    assert set(folds[split(folds, "10")[1]]) == {"1"}
    assert describe_pairs(folds) == ("test 1 → validation 2, test 2 → validation 3, "
                                     "test 3 → validation 10, test 10 → validation 1")
    assert ordered_folds(folds, order=["10", "3", "2", "1"]) == ["10", "3", "2", "1"]
    assert set(folds[split(folds, "10", order=["10", "3", "2", "1"])[1]]) == {"3"}
    with pytest.raises(ValueError, match="must list every fold once.*missing \\['3'\\]"):
        ordered_folds(folds, order=["1", "2", "10"])
    assert ordered_folds(np.array(["b", "a", "c"])) == ["a", "b", "c"]


def test_queries_count_the_clips_asked():
    X, labels, folds = rare_data()
    res = run_rare_target(X, labels, folds, ["bird"], strategies=["lc"], queries=7, n_jobs=1,
                          progress=False)
    one = [r for r in res.records if r["fold"] == "1"]
    assert len(one) == 8 and [r["n_labels"] for r in one] == list(range(2, 10))
    assert sum(r["picked"] is not None for r in one) == 7
    assert len({r["picked"] for r in one if r["picked"] is not None}) == 7  # never asked twice
    with pytest.raises(ValueError, match="queries=0 must be a positive integer"):
        run_rare_target(X, labels, folds, ["bird"], queries=0, progress=False)


def test_the_nearest_start_begins_from_the_random_pair_s_positive_alone():
    from alwidget.experiment import start_pair

    X, labels, folds = rare_data()
    y = labels == "bird"
    kw = dict(strategies=["lc"], queries=6, seeds=[0, 1], n_jobs=1, progress=False)
    near = run_rare_target(X, labels, folds, ["bird"], start="nearest", **kw)
    rand = run_rare_target(X, labels, folds, ["bird"], **kw)
    assert all(r["n_labels"] == 1 + r["iteration"] for r in near.records)
    assert all(r["n_labels"] == 2 + r["iteration"] for r in rand.records)
    assert near.params["cold_start"] == "nearest" and rand.params["cold_start"] == "random"
    assert "nearest clips" in near.params["start"]
    for r in near.records:
        if r["iteration"] == 0:  # one class known: no model, F1 0, and a nearest pick
            _, _, pool = split(folds, int(r["fold"]))
            positive = start_pair(y, pool, r["seed"], r["fold"])[0]
            Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
            rest = np.setdiff1d(pool, [positive])
            assert r["f1"] == 0 and r["picked"] == rest[np.argmax(Xn[rest] @ Xn[positive])]
    with pytest.raises(ValueError, match="start='far' must be one of"):
        run_rare_target(X, labels, folds, ["bird"], start="far", progress=False)
    with pytest.raises(ValueError, match="start_labels=0 must be a positive integer"):
        run_rare_target(X, labels, folds, ["bird"], start="nearest", start_labels=0,
                        progress=False)
    longer = run_rare_target(X, labels, folds, ["bird"], start="nearest", start_labels=4, **kw)
    assert "until a negative and 4 labels" in longer.params["start"]
    for (fold, seed) in {(r["fold"], r["seed"]) for r in longer.records}:
        run = sorted((r for r in longer.records if (r["fold"], r["seed"]) == (fold, seed)),
                     key=lambda r: r["iteration"])
        _, _, pool = split(folds, int(fold))
        positive = start_pair(y, pool, seed, fold)[0]
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        known, rest = [positive], np.setdiff1d(pool, [positive])
        for r in run[:3]:  # 1, 2, 3 labels: the nearest clip to any known positive
            want = rest[np.argmax((Xn[rest] @ Xn[known].T).max(axis=1))]
            assert r["picked"] == want
            known += [want] if y[want] else []
            rest = np.setdiff1d(rest, [want])


def _records(strategies, max_labels):
    return [dict(strategy=s, n_labels=n, f1=0.5 + 0.01 * i, query_positive=n % 2 == 0, seed=0,
                 fold="1") for i, s in enumerate(strategies) for n in range(2, max_labels + 1)]


def test_summary_table_shows_only_the_label_counts_the_runs_reached():
    from alwidget.experiment import ExperimentResult

    res = ExperimentResult(_records(["lc", "random"], 42), [dict(f1=0.9, n_labels=300)],
                           dict(queries=40))
    table = [line for line in res.summary_markdown().splitlines() if line.startswith("|")]
    head = table[0]
    assert "F1@10" in head and "F1@25" in head and "F1@50" not in head and "F1@100" not in head
    assert all(line.count("|") == head.count("|") for line in table)  # no ragged rows
    lc = next(line for line in table if line.startswith("| lc |"))
    assert "|  |" not in lc  # no empty cell
    full = ExperimentResult(_records(["lc"], 102), []).summary_markdown()
    assert "F1@50" in full and "F1@100" in full


def test_learning_curves_are_told_apart_and_the_reference_is_in_the_legend():
    from alwidget.experiment import ExperimentResult

    names = ["random", "lc", "lc-tuned", "ssal-0.95", "ac-5"]
    fig = ExperimentResult(_records(names, 30), [dict(f1=0.9, n_labels=300)]).figure()
    curves = [t for t in fig.data if t.name in names]
    assert [t.name for t in curves] == names
    looks = {(t.line.dash, t.marker.symbol) for t in curves}
    assert len(looks) == len(names)  # lc under ssal-0.95 still shows: other dash and marker
    assert len({t.line.dash for t in curves}) == len(names)
    (ref,) = [t for t in fig.data if t.name and t.name.startswith("reference")]
    assert ref.showlegend is not False and list(ref.y) == [0.9, 0.9] and "0.90" in ref.name
    assert not fig.layout.annotations  # no label drawn over the curves
