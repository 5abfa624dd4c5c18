"""A round touches its window, not the archive: the statements it runs read through indexes
(never a whole table or a whole feature set), SQLite's work to plan it is the same in an
archive four times larger, it reads embeddings only for its first disjoint set and its
medoids however large the window, and reading the agreed labels grows with the labels, not
their square (the 1M-clip benchmark: benchmarks/bench_rounds.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from alwidget.store import Store
from alwidget.team import Team
from alwidget.team.synthetic import SimulatedLabeler, synthetic_archive

BIG = ("audios", "clips", "features")
WEEK1, WEEK2 = ("2024-05-01", "2024-05-08"), ("2024-05-08", "2024-05-15")
MAX_SET, MAX_MEDOIDS = 60, 10


def _archive(path):
    store = Store(path)  # 3 nodes x 14 days x 4 files x 10 clips: 1,680 clips, 280 a node-week
    truth = synthetic_archive(store, n_nodes=3, days=14, files_per_day=4, dim=16)
    return store, truth


def _team(store, truth, **kw):
    """A team with one round labeled on node2's first week: medoids from another node and
    window than the round under test, more of them than ``MAX_MEDOIDS``."""
    team = Team.create(store, batch_size=24, max_set=MAX_SET, max_medoids=MAX_MEDOIDS, **kw)
    team.plan_round(["node2"], *WEEK1)
    labelers = {who: SimulatedLabeler(who, error=0.0, doubt=0.0)
                for names in team.groups.values() for who in names}
    for who, lab in labelers.items():
        for r, clip in team.queue(who):
            team.annotate(who, clip, lab.events(truth[clip]), round_id=r)
    assert len(store.agreed_labels()) > MAX_MEDOIDS
    return team


class _Trace:
    """Every statement the store's connection runs inside the block."""

    def __init__(self, store):
        self.store, self.statements = store, []

    def __enter__(self):
        self.store._conn.set_trace_callback(self.statements.append)
        return self

    def __exit__(self, *exc):
        self.store._conn.set_trace_callback(None)

    def plans(self):
        """{statement: its EXPLAIN QUERY PLAN details} of the reads, one per shape."""
        out = {}
        for sql in self.statements:
            key = re.sub(r"\?(\s*,\s*\?)+", "?,...", re.sub(r"\b\d+\b|'[^']*'", "?", sql))
            if key not in out and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                out[key] = (sql, [r[3] for r in self.store._conn.execute(
                    "EXPLAIN QUERY PLAN " + sql)])
        return {sql: details for sql, details in out.values()}


def _whole_reads(sql: str, details: list[str]) -> list[str]:
    """The plan's steps that read a whole table of the archive (a SCAN of audios, clips or
    features), a whole feature set (its key range without clip ids) or a whole node's audios
    (the index without the time range)."""
    alias = {t: t for t in BIG}
    for table, name in re.findall(r"\b(audios|clips|features)\s+(?:AS\s+)?(\w+)", sql, re.I):
        if name.upper() not in ("WHERE", "ON", "JOIN", "USING", "ORDER", "GROUP", "LIMIT",
                                "LEFT", "INNER", "VALUES", "SET"):
            alias[name] = table
    probe = re.search(r"\bEXISTS\s*\(|\bLIMIT\s+1\b", sql, re.I)  # stops at its first row
    bad = []
    for d in details:
        words = d.split()
        if len(words) < 2 or words[0] not in ("SCAN", "SEARCH") or words[1] not in alias:
            continue
        table = alias[words[1]]
        if words[0] == "SCAN" or (table == "features" and "clip_id" not in d and not probe) \
                or (table == "audios" and not re.search(r"recorded_at|rowid", d)):
            bad.append(d)
    return bad


def test_the_window_read_searches_the_node_time_index(tmp_path):
    store, _ = _archive(tmp_path / "a.db")
    with _Trace(store) as trace:
        window = store.window_clips(["node1"], *WEEK2)
        n_audios = store.window_audio_count(["node1"], *WEEK2)
    assert len(window) == 280 and n_audios == 28
    plans = trace.plans()
    reads = [(sql, d) for sql, d in plans.items() if "audios" in sql]
    assert len(reads) == 2
    for sql, details in reads:
        assert any("audios_node_recorded (node_id=? AND recorded_at>? AND recorded_at<?)" in d
                   for d in details), details
        assert not _whole_reads(sql, details), details
    (clips_step,) = [d for sql, ds in reads for d in ds if re.match(r"SEARCH c\b", d)]
    assert "(audio_id=?)" in clips_step  # each audio's clips by key, not a scan of clips


@pytest.mark.parametrize("pick", ["scattered", "a run"])
def test_features_by_clip_id_are_read_through_the_primary_key(tmp_path, pick):
    store, _ = _archive(tmp_path / "f.db")
    fs = store.default_feature_set()
    ids = np.arange(1, 1681, 7) if pick == "scattered" else np.arange(300, 400)
    with _Trace(store) as trace:
        got, X = store.get_features(fs, ids[::-1])
    assert got.tolist() == ids[::-1].tolist() and X.shape == (len(ids), 16)
    plans = trace.plans()
    assert plans
    for sql, details in plans.items():
        assert "features" in sql
        assert details and all(
            re.match(r"SEARCH features USING PRIMARY KEY \(feature_set_id=\? AND clip_id", d)
            for d in details), details


def test_a_round_reads_embeddings_only_for_its_first_set_and_its_medoids(tmp_path, monkeypatch):
    store, truth = _archive(tmp_path / "r.db")
    team = _team(store, truth)
    requested: dict[str, list[int]] = {"embedding": [], "tagger": []}
    get_features = Store.get_features

    def counted(self, feature_set, clip_ids=None):
        assert clip_ids is not None, "a round never reads a whole feature set"
        kind = "tagger" if feature_set.columns is not None else "embedding"
        requested[kind].append(len(clip_ids))
        return get_features(self, feature_set, clip_ids)

    monkeypatch.setattr(Store, "get_features", counted)
    start, end = "2024-05-01", "2024-05-15"  # two weeks of node1: 560 clips, 10 sets
    window = store.window_clips(["node1"], start, end)
    assert len(window) == 560 > 9 * MAX_SET
    r = team.plan_round(["node1"], start, end)
    row = store.rounds()[-1]
    assert row["id"] == r and row["strategy"] == "mal-mf" and row["n_sets"] == 10
    n_medoids = row["params"]["n_medoids"]
    assert n_medoids == MAX_MEDOIDS
    # the embeddings: the medoids and the first set, in one read; never the window
    assert sum(requested["embedding"]) == n_medoids + row["params"]["set_sizes"][0]
    assert sum(requested["embedding"]) <= MAX_SET + MAX_MEDOIDS
    # the tagger: the window's unlabeled clips (to split them), once each
    assert sum(requested["tagger"]) == row["params"]["n_unlabeled"] == len(window)


@pytest.mark.parametrize("named", [True, False], ids=["feature sets named",
                                                    "default feature sets"])
def test_no_statement_of_a_round_reads_a_whole_table_or_feature_set(tmp_path, named):
    store, truth = _archive(tmp_path / "w.db")
    kw = dict(features="synthetic-embedding", tagger="synthetic-tagger") if named else {}
    team = _team(store, truth, **kw)
    with _Trace(store) as trace:
        team.plan_round(["node1"], "2024-05-01", "2024-05-15")
    assert store.rounds()[-1]["n_sets"] == 10
    plans = trace.plans()
    touched = [sql for sql in plans if re.search(r"\b(audios|clips|features)\b", sql)]
    assert any("features" in sql for sql in touched) and any("audios" in sql for sql in touched)
    whole = {sql[:120]: _whole_reads(sql, details) for sql, details in plans.items()}
    assert not {sql: d for sql, d in whole.items() if d}


def _store_work(tmp_path, name, days):
    """SQLite virtual-machine steps (in tens) of planning one round on node1's second week,
    in an archive of ``days`` days with the same history."""
    store = Store(tmp_path / f"{name}.db")
    truth = synthetic_archive(store, n_nodes=3, days=days, files_per_day=4, dim=16)
    team = _team(store, truth)
    steps = [0]

    def count():
        steps[0] += 1
        return 0  # go on

    store._conn.set_progress_handler(count, 10)
    try:
        team.plan_round(["node1"], *WEEK2)
    finally:
        store._conn.set_progress_handler(None, 10)
    store.close()
    return steps[0]


def test_the_store_work_of_a_round_does_not_grow_with_the_archive(tmp_path, monkeypatch):
    small = _store_work(tmp_path, "small", days=14)
    large = _store_work(tmp_path, "large", days=56)  # 4x the archive, the same window
    assert large < 1.1 * small, (small, large)
    # the check has teeth: counting a whole feature set to find the default one (as
    # default_feature_set once did) makes the work grow with the archive
    monkeypatch.setattr(Store, "has_features", lambda self, fs: self.count_features(fs) > 0)
    small = _store_work(tmp_path, "small-count", days=14)
    large = _store_work(tmp_path, "large-count", days=56)
    assert large > 1.5 * small, (small, large)


def _label_work(store, n_labels):
    """VM steps (in tens) of reading the agreed labels when ``n_labels`` clips hold one (rounds
    of 400 settled proposals, written directly)."""
    with store.transaction():
        store._conn.execute("DELETE FROM proposals")
        for k in range(0, n_labels, 400):
            round_id = store._conn.execute(
                "INSERT INTO al_iterations (strategy, created_at) VALUES ('mal-mf', '2024')"
            ).lastrowid
            store._conn.executemany(
                "INSERT INTO proposals (iteration_id, clip_id, status, label) VALUES "
                "(?, ?, 'medoid', 'Engine')",
                [(round_id, 1 + 3 * c) for c in range(k, min(k + 400, n_labels))])
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    store._conn.set_progress_handler(count, 10)
    try:
        assert len(store.agreed_labels()) == n_labels
    finally:
        store._conn.set_progress_handler(None, 10)
    return steps[0]


def test_reading_the_agreed_labels_grows_with_the_labels_not_their_square(tmp_path):
    store, _ = _archive(tmp_path / "l.db")
    store.add_tag("Engine")
    few, many = _label_work(store, 100), _label_work(store, 400)
    assert many < 6 * few, (few, many)  # 4x the labels: ~4x the work (16x if quadratic)
