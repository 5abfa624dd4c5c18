"""Recording nodes: the deployment from YAML or CSV (checked, written whole), nodes from the
deployment's paths at ingest, the shared node and time filter, node health (missing, silent
and clipped time, levels, review clip, a node that stopped), and incremental local ingest."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
import soundfile as sf

from alwidget.cli import main
from alwidget.ingestion import ingest
from alwidget.nodes import (DeploymentError, apply_deployment, clips_where, load_deployment,
                            node_health)
from alwidget.store import Store

YAML = """\
sources:
  - {name: port, latitude: 43.36, longitude: -8.39, description: industrial port}
node_types:
  - {name: audiomoth, description: AudioMoth 1.2}
nodes:
  - name: n1
    type: audiomoth
    source: port
    location: quay 3
    sample_rate: 8000
    gain_db: 30
    installed_at: 2024-05-01T00:00:00
    file_seconds: 10
    paths: [{root}/a]
  - name: n2
    type: audiomoth
    source: port
    installed_at: 2024-05-01
    removed_at: 2024-05-03T00:00:00
    duty_cycle: 0.5
"""


def write(path, y, sr=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(y, np.float64), sr, subtype="PCM_16")
    return path


def tone(seconds=10.0, sr=8000, level=0.1, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    return level * np.sin(2 * np.pi * (300 + seed) * t) \
        + 0.001 * np.random.default_rng(seed).standard_normal(len(t))


def test_a_yaml_deployment_is_read_checked_and_written(tmp_path):
    path = tmp_path / "deployment.yaml"
    path.write_text(YAML.replace("{root}", str(tmp_path)))
    store = Store(tmp_path / "p.db")
    apply_deployment(store, path)
    apply_deployment(store, path)  # again: the same rows, nothing doubled
    n1, n2 = store.nodes_info()
    assert (n1.name, n1.node_type, n1.source, n1.location, n1.sample_rate, n1.gain_db,
            n1.installed_at, n1.file_seconds) == ("n1", "audiomoth", "port", "quay 3", 8000,
                                                  30.0, "2024-05-01T00:00:00", 10.0)
    assert (n2.installed_at, n2.removed_at, n2.duty_cycle) == ("2024-05-01T00:00:00",
                                                               "2024-05-03T00:00:00", 0.5)
    assert store.path_nodes() == {f"{tmp_path}/a": "n1"}
    con = sqlite3.connect(tmp_path / "p.db")
    assert con.execute("SELECT name, latitude FROM sources").fetchall() == [("port", 43.36)]
    assert con.execute("SELECT name, description FROM node_types").fetchall() == \
        [("audiomoth", "AudioMoth 1.2")]


@pytest.mark.parametrize("body, message", [
    ("name,gain\nn1,3\n", r"unknown field\(s\) \['gain'\]"),
    ("name,sample_rate\nn1,48k\n", r"node 'n1': sample_rate='48k' is not a finite number"),
    ("name,installed_at,removed_at\nn1,2024-05-02,2024-05-01\n", "must come after"),
    ("name,duty_cycle\nn1,1.5\n", r"duty_cycle=1.5 must be in \(0, 1\]"),
    ("name\nn1\nn1\n", "described twice"),
    ("name,installed_at\nn1,May 1st\n", "not an ISO 8601 time"),
    ("name,type\n,x\n", "has no name"),
])
def test_a_bad_deployment_names_the_file_node_and_field_and_stores_nothing(tmp_path, body,
                                                                           message):
    path = tmp_path / "nodes.csv"
    path.write_text(body)
    with pytest.raises(DeploymentError, match=message) as err:
        load_deployment(path)
    assert str(path) in str(err.value)
    store = Store(tmp_path / "p.db")
    assert main(["ingest", str(tmp_path / "none"), "--db", str(tmp_path / "p.db"),
                 "--deployment", str(path), "--quiet"]) == 2
    assert store.nodes_info() == []


def test_ingest_takes_the_node_from_the_deployments_paths(tmp_path, capsys):
    path = tmp_path / "deployment.yaml"
    path.write_text(YAML.replace("{root}", str(tmp_path)))
    write(tmp_path / "a" / "rec_20240501_100000.wav", tone())
    write(tmp_path / "b" / "rec_20240501_100000.wav", tone(seed=3))
    assert main(["ingest", str(tmp_path / "a"), str(tmp_path / "b"), "--db",
                 str(tmp_path / "p.db"), "--deployment", str(path), "--quiet"]) == 0
    assert "deployment" in capsys.readouterr().out
    audios = Store(tmp_path / "p.db").audios()
    assert [(a.node, a.recorded_at) for a in audios] == [("n1", "2024-05-01T10:00:00"),
                                                         (None, "2024-05-01T10:00:00")]


def test_clips_where_is_the_one_filter_by_node_and_time(tmp_path):
    for node in ("n1", "n2"):
        for hour in (9, 10, 11):
            write(tmp_path / node / f"{node}_20240501_{hour:02d}0000.wav", tone(2, seed=hour + 10 * (node == "n2")))
    store = Store(tmp_path / "p.db")
    ingest(tmp_path, store, name_pattern="{node}_{time:%Y%m%d_%H%M%S}", progress=False,
           verbose=False)
    src = store.clip_sources(clips_where(store, ["n2"], "2024-05-01T10:00", "2024-05-01T11:00"))
    assert [os.path.basename(p) for p in sorted(set(src.path))] == ["n2_20240501_100000.wav"]
    assert len(clips_where(store)) == store.n_clips()
    assert len(clips_where(store, start="2024-05-02")) == 0
    with pytest.raises(ValueError, match=r"nodes=\['n9'\] are not nodes.*known: \['n1', 'n2'\]"):
        clips_where(store, ["n9"])
    with pytest.raises(ValueError, match="must come after"):
        clips_where(store, start="2024-05-02", end="2024-05-01")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        clips_where(store, start="yesterday")


def test_node_health_shares_levels_review_clip_and_a_stopped_node(tmp_path):
    """n1 sends three 10-s files on day 1 (one clipped) and one on day 2; n2's second file
    is silent, and it stops sending on day 1."""
    (tmp_path / "d.csv").write_text(
        "name,installed_at,file_seconds\n"
        "n1,2024-05-01T10:00:00,10\n"
        "n2,2024-05-01T10:00:00,10\n")
    store = Store(tmp_path / "p.db")
    apply_deployment(store, tmp_path / "d.csv")
    clipped = tone(level=0.1)
    clipped[8000:12000] = 1.0  # half a second at full scale
    for name, y in [("n1_20240501_100000", tone(seed=1)), ("n1_20240501_100010", clipped),
                    ("n1_20240501_100020", tone(seed=2)), ("n1_20240502_100000", tone(seed=4)),
                    ("n2_20240501_100000", tone(seed=5)),
                    ("n2_20240501_100010", np.zeros(80000))]:
        write(tmp_path / "rec" / f"{name}.wav", y)
    ingest(tmp_path / "rec", store, clip_seconds=5, name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
           progress=False, verbose=False)
    report = node_health(store, now="2024-05-02T10:00:10", stale_after_s=3600)
    assert report.nodes == ["n1", "n2"] and report.days == ["2024-05-01", "2024-05-02"]
    day = report.cell("n1", "2024-05-01")
    assert day.n_files == 3 and day.received_s == 30.0
    assert day.expected_s == 14 * 3600  # 10:00 to midnight
    assert day.clipped == pytest.approx(5 / 300)  # 5 frames of 0.1 s among 300
    assert day.status == "bad"  # 99.9 % of the expected time is missing
    assert os.path.basename(day.review[1]) == "n1_20240501_100010.wav"  # the clipped one
    assert day.review[2] == 0.0 and day.levels_db == (-22.5, -22.5, -22.5)  # a 0.1 sine
    n2 = report.cell("n2", "2024-05-01")
    assert n2.silent == pytest.approx(0.5) and n2.clipped == 0.0
    assert os.path.basename(n2.review[1]) == "n2_20240501_100010.wav"  # the silent one
    assert report.cell("n2", "2024-05-02").received_s == 0.0
    assert report.cell("n2", "2024-05-02").missing == 1.0
    assert day.longest_gap_s == 0.0  # three files back to back
    assert report.cell("n1", "2024-05-02").longest_gap_s == 86400 - 30  # since 10:00:30
    assert "longest gap 24.0 h" in report.cell("n1", "2024-05-02").summary()
    assert report.stopped == {"n2": "2024-05-01T10:00:20"}
    assert "stopped: n2: last heard 2024-05-01T10:00:20" in str(report)
    (tmp_path / "d2.csv").write_text("name,installed_at\nn3,2024-05-03T00:00:00\n")
    apply_deployment(store, tmp_path / "d2.csv")
    report = node_health(store, ["n3"], now="2024-05-03T12:00:00")
    assert report.stopped == {"n3": None}  # installed and never heard
    # now= with an offset is converted to UTC, as start= and end= are: 12:00:30+02:00 is
    # 10:00:30 UTC, 10 s after n1's last file ended (not stopped, while 12:00:30 is)
    stale = {"stale_after_s": 3600}
    assert "n1" not in node_health(store, ["n1"], now="2024-05-02T12:00:30+02:00",
                                   **stale).stopped
    assert "n1" in node_health(store, ["n1"], now="2024-05-02T12:00:30", **stale).stopped
    assert "n1" not in node_health(store, ["n1"], now="2024-05-02T10:00:30Z", **stale).stopped
    with pytest.raises(ValueError, match="now='noon' is not an ISO 8601"):
        node_health(store, now="noon")
    with pytest.raises(ValueError, match="not nodes"):
        node_health(store, ["nx"])


def test_a_local_rerun_reads_only_new_and_touched_files(tmp_path):
    for k in range(6):
        write(tmp_path / "rec" / f"n1_20240501_10{k:02d}00.wav", tone(1, seed=k))
    store = Store(tmp_path / "p.db")
    first = ingest(tmp_path / "rec", store, progress=False, verbose=False)
    assert (first.read, first.added) == (6, 6)
    second = ingest(tmp_path / "rec", store, progress=False, verbose=False)
    assert (second.read, second.added, second.unchanged) == (0, 0, 6)
    assert "6 not read again" in str(second)
    write(tmp_path / "rec" / "n1_20240501_110000.wav", tone(1, seed=20))
    touched = tmp_path / "rec" / "n1_20240501_100000.wav"
    os.utime(touched, ns=(1, 1))
    third = ingest(tmp_path / "rec", store, progress=False, verbose=False)
    # the folder changed: its files compared by size, mtime and inode (the touched one read)
    assert (third.read, third.added, third.unchanged) == (2, 1, 6)
    full = ingest(tmp_path / "rec", store, progress=False, verbose=False, full_listing=True)
    assert (full.read, full.added, full.unchanged) == (0, 0, 7)  # every file examined
    # a file moved keeps its audio, and is not read again at its new place
    os.rename(touched, tmp_path / "rec" / "moved.wav")
    fourth = ingest(tmp_path / "rec", store, progress=False, verbose=False)
    assert fourth.read == 1 and len(fourth.moved) == 1
    assert ingest(tmp_path / "rec", store, progress=False, verbose=False).read == 0


def test_export_takes_the_same_node_and_time_filter(tmp_path, capsys):
    for node in ("n1", "n2"):
        write(tmp_path / "rec" / f"{node}_20240501_100000.wav", tone(2, seed=int(node[1])))
    db = tmp_path / "p.db"
    store = Store(db)
    ingest(tmp_path / "rec", store, name_pattern="{node}_{time:%Y%m%d_%H%M%S}", progress=False,
           verbose=False)
    store.add_tag("owl")
    for clip in store.clip_ids():
        store.add_label(int(clip), "owl")
    store.close()
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "out"), "--format", "csv",
                 "--nodes", "n2", "--start", "2024-05-01", "--end", "2024-05-02"]) == 0
    assert "exported 2 clip labels" in capsys.readouterr().out
    rows = (tmp_path / "out" / "labels.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and all("n2_20240501_100000.wav" in r for r in rows)
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "o2"), "--nodes", "n7"]) == 2
    assert "not nodes" in capsys.readouterr().err


def test_ingest_options_are_checked_before_anything_is_read(tmp_path, capsys):
    write(tmp_path / "rec" / "n1_20240501_100000.wav", tone(1))
    db = tmp_path / "p.db"
    base = ["ingest", str(tmp_path / "rec"), "--db", str(db), "--quiet"]
    assert main(base + ["--features", "nosuch"]) == 2
    assert main(base + ["--max-runs", "2"]) == 2
    assert main(base + ["--watch", "1", "--max-runs", "0"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "--max-runs counts the runs of --watch" in err
    assert "Traceback" not in err and Store(db).n_audios() == 0


def test_a_version_7_database_gains_nodes_and_the_ledger_and_is_read_once_more(tmp_path):
    from alwidget.store.migrations import MIGRATIONS

    write(tmp_path / "rec" / "n1_20240501_100000.wav", tone(1))
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("BEGIN; " + " ".join(MIGRATIONS[:7]) + " PRAGMA user_version = 7; COMMIT;")
    con.close()
    with Store(db) as store:  # migrated to the newest in one transaction per version
        assert store.schema_version == len(MIGRATIONS) >= 9
        first = ingest(tmp_path / "rec", store, name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
                       progress=False, verbose=False)
        assert first.added == 1 and store.nodes_info()[0].installed_at is None
    # a database ingested before version 8: nothing in listed_files, so one more full read
    con = sqlite3.connect(db)
    con.execute("DELETE FROM listed_files")
    con.commit()
    con.close()
    with Store(db) as store:
        again = ingest(tmp_path / "rec", store, progress=False, verbose=False)
        assert (again.read, again.unchanged, again.added) == (1, 1, 0)
        assert ingest(tmp_path / "rec", store, progress=False, verbose=False).read == 0


def test_deployment_paths_one_string_relative_symlinked_and_bad(tmp_path):
    real = tmp_path / "disk" / "n1"
    write(real / "n1_20240501_100000.wav", tone())
    (tmp_path / "deploy").mkdir()
    os.symlink(tmp_path / "disk", tmp_path / "deploy" / "link")
    path = tmp_path / "deploy" / "d.yaml"
    # one path as a string, relative to the deployment file, through a symlinked folder
    path.write_text("nodes:\n  - name: n1\n    paths: link/n1/\n")
    d = load_deployment(path)
    assert d.paths == [(os.path.realpath(real), "n1")]
    store = Store(tmp_path / "p.db")
    apply_deployment(store, d)
    ingest(str(tmp_path / "deploy" / "link" / "n1"), store, progress=False, verbose=False)
    assert [a.node for a in store.audios()] == ["n1"]  # ingest meets the folder resolved
    path.write_text("nodes:\n  - name: n1\n    paths: {a: 1}\n")
    with pytest.raises(DeploymentError, match=r"node 'n1': paths=\{'a': 1\} must be a folder"):
        load_deployment(path)
    path.write_text("nodes:\n  - name: n1\n    paths: [3]\n")
    with pytest.raises(DeploymentError, match=r"node 'n1': paths=\[3\]"):
        load_deployment(path)


def test_credentials_in_a_deployment_path_are_refused_and_never_stored(tmp_path):
    secret = "s3cr3t-deploy-key"
    path = tmp_path / "d.csv"
    path.write_text(f"name,paths\nn1,s3://AKIA:{secret}@port/n1\n")
    with pytest.raises(DeploymentError, match="node 'n1': paths: s3://...@port/n1: "
                       "credentials in a URL are refused") as err:
        load_deployment(path)
    assert secret not in str(err.value)
    store = Store(tmp_path / "p.db")
    from alwidget.store import NodeInfo
    with pytest.raises(ValueError, match="credentials in a URL are refused"):
        store.put_deployment([NodeInfo("n1")], paths=[(f"s3://AKIA:{secret}@port/n1", "n1")])
    assert store.path_nodes() == {}
    from alwidget.audio import open_audio
    with pytest.raises(ValueError, match="credentials in a URL are refused") as err:
        open_audio(f"s3://AKIA:{secret}@port/n1/a.wav")
    assert secret not in str(err.value)


def test_yaml_node_names_stay_text_as_written_and_bad_files_are_named(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("sources:\n  - {name: 007}\nnodes:\n"
                    "  - {name: 01, source: 007, type: 2, sample_rate: 48000}\n"
                    "  - {name: 010}\n  - {name: 08}\n  - {name: 1_000, description: 12}\n")
    d = load_deployment(path)
    assert [n.name for n in d.nodes] == ["01", "010", "08", "1_000"]  # not 1, 8, 8, 1000
    assert (d.nodes[0].source, d.nodes[0].node_type, d.nodes[0].sample_rate) == \
        ("007", "2", 48000)
    assert d.sources[0]["name"] == "007" and d.nodes[3].description == "12"
    path.write_text("nodes:\n  - {name: [1, 2]}\n")
    with pytest.raises(DeploymentError, match=r"d\.yaml.*name=\[1, 2\] must be one name"):
        load_deployment(path)
    bad = tmp_path / "d.csv"
    bad.write_bytes(b"name,location\nn1,Caf\xe9 quay\n")  # Latin-1, not UTF-8
    with pytest.raises(DeploymentError, match=r"d\.csv' is not UTF-8 text.*save it as UTF-8"):
        load_deployment(bad)


def test_times_with_a_time_zone_are_compared_in_utc_and_the_start_is_included(tmp_path):
    from alwidget.store import Store
    from alwidget.store.nodes import iso_time

    store = Store(tmp_path / "tz.db")
    assert store.checked_window(None, "2024-05-01T14:00+02:00", "2024-05-01T13:00Z")[1:] == \
        ("2024-05-01T12:00:00", "2024-05-01T13:00:00")
    assert iso_time("2024-05-01T12:00:00", "start") <= "2024-05-01T12:00:00"  # included
