"""The demo corpus: deterministic, rare targets, names carrying node and time."""

import csv
import hashlib

import pytest

import alwidget
from alwidget.demo import NAME_PATTERN, make_demo
from alwidget.store import Store


def digest(folder):
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_corpus_other_seed_other(tmp_path):
    kw = dict(n_nodes=2, files_per_node=3, progress=False)
    make_demo(tmp_path / "a", seed=1, **kw)
    make_demo(tmp_path / "b", seed=1, **kw)
    make_demo(tmp_path / "c", seed=2, **kw)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_default_corpus_has_2000_clips_3_percent_targets_and_ingests_cleanly(tmp_path):
    labels = make_demo(tmp_path / "demo", progress=False)
    rows = list(csv.DictReader(open(labels)))
    assert len(rows) == 2000
    assert sum(r["label"] == "target" for r in rows) == 60
    assert {r["fold"] for r in rows} == {"1", "2", "3", "4", "5"}
    summary = alwidget.ingest(tmp_path / "demo" / "audio", tmp_path / "s.db",
                              name_pattern=NAME_PATTERN, progress=False, verbose=False)
    assert (summary.added, summary.clips, summary.errors, summary.unmatched_names) == (200, 2000, [], 0)
    audios = Store(tmp_path / "s.db").audios()
    assert {a.node for a in audios} == {"node01", "node02", "node03", "node04"}
    assert all(a.recorded_at.startswith("2024-05-01T") for a in audios)


def test_bad_arguments():
    with pytest.raises(ValueError, match="target_share=0"):
        make_demo("unused", target_share=0)
