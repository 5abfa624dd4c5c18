"""The store: schema, foreign keys, migrations, transactions, labels, features."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import sqlite_utils

from alwidget.store import NewAudio, Store, StoreError
from alwidget.store.migrations import MIGRATIONS

# table -> {column: referenced table.column} for every foreign key the schema must have
FOREIGN_KEYS = {
    "projects": {},
    "sources": {},
    "node_types": {},
    "nodes": {"source_id": "sources.id", "node_type_id": "node_types.id"},
    "paths": {"project_id": "projects.id", "node_id": "nodes.id"},
    "ontology": {"parent_id": "ontology.id"},
    "labelers": {},
    "audios": {"path_id": "paths.id", "node_id": "nodes.id"},
    "chunks": {"audio_id": "audios.id", "tag_id": "ontology.id", "labeler_id": "labelers.id",
               "event_id": "label_events.id"},
    "al_iterations": {"project_id": "projects.id"},
    "proposals": {"iteration_id": "al_iterations.id", "clip_id": "clips.id"},
    "clips": {"audio_id": "audios.id"},
    "feature_sets": {},
    "features": {"clip_id": "clips.id", "feature_set_id": "feature_sets.id"},
    "label_events": {"clip_id": "clips.id", "labeler_id": "labelers.id",
                     "undoes": "label_events.id", "label": "ontology.tag",
                     "group_id": "label_events.id", "iteration_id": "al_iterations.id"},
    "sessions": {"labeler_id": "labelers.id", "clip_id": "clips.id"},
    "ingest_errors": {},
    "pseudo_labels": {"clip_id": "clips.id", "label": "ontology.tag", "event_id": "label_events.id"},
    "projections": {"feature_set_id": "feature_sets.id"},
    "experiments": {},
    "experiment_records": {"experiment_id": "experiments.id"},
    "labeler_groups": {},
    "group_members": {"labeler_id": "labelers.id", "group_id": "labeler_groups.id"},
    "team_settings": {},
    "assignments": {"iteration_id": "al_iterations.id", "clip_id": "clips.id",
                    "labeler_id": "labelers.id", "group_id": "labeler_groups.id"},
    "class_suggestions": {"labeler_id": "labelers.id"},
    "listed_files": {"audio_id": "audios.id"},
    "audio_levels": {"audio_id": "audios.id"},
}
COLUMNS = {
    "audios": {"file_name", "sample_rate", "bits_per_sample", "duration_s", "channels",
               "path_id", "node_id", "recorded_at", "content_hash"},
    "chunks": {"audio_id", "tag_id", "labeler_id", "onset_s", "offset_s", "created_at"},
    "ontology": {"tag", "parent_id", "suggested"},
    "al_iterations": {"window_start", "window_end", "n_audios", "n_folds", "created_at",
                      "labeled_share", "strategy", "params"},
    "proposals": {"iteration_id", "clip_id", "status", "label", "n_labelers", "agreement"},
    "clips": {"audio_id", "start_s", "duration_s"},
    "label_events": {"clip_id", "label", "labeler_id", "created_at", "strategy", "reason",
                     "model_version", "predicted_proba", "undoes", "group_id"},
    "feature_sets": {"extractor", "config_hash", "config", "dim", "columns"},
    "experiments": {"name", "params", "features"},
    "ingest_errors": {"path", "reason"},
}


def new_audio(name="a.wav", frames=16000 * 60, **kw) -> NewAudio:
    fields = dict(folder="/rec", file_name=name, sample_rate=16000, bits_per_sample=16,
                  frames=frames, channels=1, format="WAV", subtype="PCM_16",
                  content_hash="h-" + name, size_bytes=44 + 2 * frames)
    fields.update(kw)
    return NewAudio(**fields)


def test_schema_has_every_table_column_and_foreign_key(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(FOREIGN_KEYS) <= tables
    for table, fks in FOREIGN_KEYS.items():
        found = {r[3]: f"{r[2]}.{r[4]}" for r in con.execute(f"PRAGMA foreign_key_list({table})")}
        assert found == fks, table
    for table, cols in COLUMNS.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        assert cols <= have, (table, cols - have)
    views = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='view'")}
    assert "current_labels" in views
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_database_opens_in_sqlite_utils_unchanged(tmp_path, store):
    store.add_audio(new_audio(), [(0, 1.0)])
    db = sqlite_utils.Database(store.path)
    assert "audios" in db.table_names() and "current_labels" in db.view_names()
    assert db["clips"].count == 1
    cli = subprocess.run([sys.executable, "-m", "sqlite_utils", "tables", store.path, "--counts"],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "audios" in cli.stdout and "label_events" in cli.stdout


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.db["clips"].insert({"audio_id": 999, "start_s": 0, "duration_s": 1})


def test_reopening_migrates_nothing_and_keeps_data(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as s:
        s.add_audio(new_audio(), [(0, 1.0)])
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS) and s.n_audios() == 1


def test_a_database_migrated_to_7_as_it_shipped_gets_the_later_indexes(tmp_path):
    """Migration 7 once gained four indexes after it had shipped; migration 12 gives them to
    databases that were migrated before that (and is a no-op where they exist)."""
    path = tmp_path / "s.db"
    con = sqlite3.connect(path)
    for version, sql in enumerate(MIGRATIONS[:7], start=1):
        con.executescript(sql)
        con.execute(f"PRAGMA user_version = {version}")
    con.commit()
    con.close()
    with Store(path) as s:
        names = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert s.schema_version == len(MIGRATIONS)
    assert {"assignments_clip", "proposals_clip", "proposals_open", "audios_recorded"} <= names


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    con.close()
    with pytest.raises(StoreError, match="upgrade alwidget"):
        Store(path)


def test_add_audio_is_all_or_nothing(store):
    with pytest.raises(sqlite3.IntegrityError):  # the audio row is in, the second clip fails
        store.add_audio(new_audio(), [(0, 1.0), (0, 1.0)])  # a repeated window violates UNIQUE
    assert store.n_audios() == 0 and store.n_clips() == 0
    assert store.db["paths"].count == 0
    for bad in [(1.0, 0.0), (59.5, 1.0), (-1.0, 1.0)]:  # refused before any write
        with pytest.raises(StoreError, match="must lie inside 'a.wav' of 60 s"):
            store.add_audio(new_audio(), [(0, 1.0), bad])
    assert store.n_audios() == 0 and store.db["paths"].count == 0


def test_audio_round_trip(store):
    aid = store.add_audio(new_audio("n1_x.wav", node="n1", recorded_at="2024-05-01T12:00:00"),
                          [(0, 1.0)], project="p")
    (a,) = store.audios()
    assert a.id == aid and a.path == "/rec/n1_x.wav" and a.node == "n1"
    assert a.duration_s == 60.0 and a.recorded_at == "2024-05-01T12:00:00"
    assert store.find_audio("/rec/n1_x.wav") == a and store.find_audio("/rec/other.wav") is None


def _labeled_store(store):
    store.add_audio(new_audio(), [(0, 1.0), (1, 1.0)])
    store.add_tag("target")
    store.add_tag("background")
    return store


def test_labels_are_append_only_and_undo_restores_the_previous_label(store):
    _labeled_store(store)
    e1 = store.add_label(1, "background", strategy="lc", reason="least confident",
                         model_version=3, predicted_proba=0.51)
    e2 = store.add_label(1, "target")
    cur = store.current_labels()
    assert cur.clip_id.tolist() == [1] and cur.label.tolist() == ["target"]
    store.undo_decision(e2)
    cur = store.current_labels()
    assert cur.label.tolist() == ["background"] and cur.event_id.tolist() == [e1]
    store.undo_decision(e1)
    assert len(store.current_labels()) == 0
    with pytest.raises(StoreError, match="already undone"):
        store.undo_decision(e1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE label_events SET label = 'target'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM label_events")
    assert store.db["label_events"].count == 4


def test_skips_and_strong_labels(store):
    _labeled_store(store)
    skip = store.add_skip(2, reason="least confident")
    e = store.add_label(1, "target", events=[("target", 0.2, 0.6)])
    assert [(d.kind, d.clip_id) for d in store.active_events("expert")] == [("skip", 2), ("label", 1)]
    (chunk,) = store.chunks()
    assert (chunk["tag"], chunk["onset_s"], chunk["offset_s"]) == ("target", 0.2, 0.6)
    store.undo_decision(skip)
    assert [d.id for d in store.active_events()] == [e]
    with pytest.raises(StoreError, match="onset < offset"):
        store.add_label(2, "target", events=[("target", 0.5, 0.4)])
    assert store.db["label_events"].count == 3 and len(store.chunks()) == 1  # nothing half-written


def test_labels_per_labeler(store):
    _labeled_store(store)
    store.add_label(1, "target", labeler="ann")
    store.add_label(1, "background", labeler="bob")
    assert store.current_labels("ann").label.tolist() == ["target"]
    assert sorted(store.current_labels().label.tolist()) == ["background", "target"]


def test_label_must_be_in_the_ontology_and_clip_must_exist(store):
    _labeled_store(store)
    with pytest.raises(StoreError, match=r"label='dgo' is not in the ontology"):
        store.add_label(1, "dgo")
    with pytest.raises(StoreError, match="clip_id=99"):
        store.add_label(99, "target")
    assert store.db["label_events"].count == 0


def test_ontology_parents(store):
    store.add_tag("animal")
    store.add_tag("dog", parent="animal")
    with pytest.raises(StoreError, match="parent='plant'"):
        store.add_tag("rose", parent="plant")
    assert store.tags() == ["animal", "dog"]


def test_features_round_trip_and_missing(store):
    store.add_audio(new_audio(), [(0, 1.0), (1, 1.0), (2, 1.0)])
    fs = store.feature_set("toy", {"a": 1}, 4)
    assert store.feature_set("toy", {"a": 1}, 4) == fs
    assert store.feature_set("toy", {"a": 2}, 4).id != fs.id
    X = np.arange(8, dtype=np.float32).reshape(2, 4)
    store.put_features(fs, [3, 1], X)
    assert store.clips_without_features(fs).tolist() == [2]
    ids, got = store.get_features(fs)
    assert ids.tolist() == [1, 3] and got.dtype == np.float32
    np.testing.assert_array_equal(got, X[::-1])
    ids, got = store.get_features(fs, [3, 1])
    np.testing.assert_array_equal(got, X)
    with pytest.raises(StoreError, match=r"clips \[2\] have no toy features"):
        store.get_features(fs, [1, 2])
    with pytest.raises(StoreError, match="dim=4"):
        store.feature_set("toy", {"a": 1}, 5)


def test_non_finite_features_are_refused_and_nothing_is_stored(store):
    store.add_audio(new_audio(), [(0, 1.0), (1, 1.0)])
    fs = store.feature_set("toy", {}, 2)
    with pytest.raises(StoreError, match=r"clips \[2\] contain NaN"):
        store.put_features(fs, [1, 2], np.array([[0, 1], [np.nan, 1]], np.float32))
    assert len(store.clips_without_features(fs)) == 2


def test_store_is_usable_from_several_threads(store):
    store.add_audio(new_audio(), [(i, 1.0) for i in range(50)])
    store.add_tag("target")
    errors = []

    def label(clips):
        try:
            for c in clips:
                store.add_label(c, "target")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(range(k, 51, 4),)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(store.current_labels()) == 50


def test_two_connections_to_one_file(tmp_path):
    a, b = Store(tmp_path / "s.db"), Store(tmp_path / "s.db")
    a.add_audio(new_audio(), [(0, 1.0)])
    assert b.n_clips() == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope" / "s.db")


def test_pseudo_labels_are_kept_apart_from_human_labels(store):
    _labeled_store(store)
    store.add_label(1, "target")
    store.add_pseudo_labels([2], ["background"], strategy="ssal-0.95", model_version=4,
                            probabilities=[0.03])
    assert store.current_labels().clip_id.tolist() == [1]  # pseudo-labels never count
    pl = store.pseudo_labels(model_version=4)
    assert pl.clip_id.tolist() == [2] and pl.label.tolist() == ["background"]
    with pytest.raises(StoreError, match=r"\['dog'\] are not in the ontology"):
        store.add_pseudo_labels([2], ["dog"], strategy="ssal-0.95")


def test_a_version_1_database_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    con.execute("INSERT INTO paths (path) VALUES ('/old')")
    con.commit()
    con.close()
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.db["paths"].count == 1 and "pseudo_labels" in s.db.table_names()



def test_a_version_3_database_keeps_its_labels_and_gains_groups(tmp_path):
    path = tmp_path / "old3.db"
    con = sqlite3.connect(path)
    con.executescript("BEGIN; " + " ".join(MIGRATIONS[:3]) + " PRAGMA user_version = 3; COMMIT;")
    con.execute("INSERT INTO paths (path) VALUES ('/rec')")
    con.execute("INSERT INTO audios (path_id, file_name, sample_rate, duration_s, frames, channels,"
                " content_hash, size_bytes, ingested_at) VALUES (1, 'a.wav', 16000, 2, 32000, 1,"
                " 'h', 0, 'now')")
    con.executemany("INSERT INTO clips (audio_id, start_s, duration_s) VALUES (1, ?, 1)",
                    [(0,), (1,)])
    con.execute("INSERT INTO ontology (tag) VALUES ('dog')")
    con.execute("INSERT INTO label_events (clip_id, kind, label, created_at) "
                "VALUES (1, 'label', 'dog', 'now')")
    con.commit()
    con.close()
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        (d,) = s.active_events()
        assert (d.clip_id, d.label, d.group_id) == (1, "dog", None)
        group = s.add_labels([2], "dog")
        assert [e.group_id for e in s.active_events()] == [None, group[0]]


def test_a_group_decision_is_written_whole_and_undone_whole(store):
    store.add_audio(new_audio(frames=16000 * 4), [(k, 1.0) for k in range(4)])
    store.add_tag("dog")
    single = store.add_label(4, "dog")
    group = store.add_labels([1, 2, 3], "dog", reason="a region of the map")
    assert len(group) == 3 and {d.group_id for d in store.active_events()} == {None, group[0]}
    undone = store.undo_decision(group[1])  # any event of the group names the group
    assert len(undone) == 3 and [d.id for d in store.active_events()] == [single]
    with pytest.raises(StoreError, match="already undone"):
        store.undo_decision(group[0])
    with pytest.raises(StoreError, match="clip_id=99 is not a stored clip"):
        store.add_labels([1, 99], "dog")
    with pytest.raises(StoreError, match="label='cat' is not in the ontology"):
        store.add_labels([1], "cat")
    assert store.db["label_events"].count == 7  # the refused groups wrote nothing


def test_events_since_shows_what_other_writers_did(tmp_path):
    a = Store(tmp_path / "s.db")
    a.add_audio(new_audio(frames=32000), [(0, 1.0), (1, 1.0)])
    a.add_tag("dog")
    seen = a.last_event_id()
    b = Store(tmp_path / "s.db")  # another connection, as another kernel has
    e = b.add_label(1, "dog", labeler="bob")
    b.undo_decision(e)
    new = a.events_since(seen)
    assert [(d.kind, d.clip_id, d.labeler, d.undoes) for d in new] == [
        ("label", 1, "bob", None), ("undo", 1, "bob", e)]
    assert a.events_since(a.last_event_id()) == []


def test_claims_block_live_kernels_only_and_expire(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    store.add_audio(new_audio(frames=32000), [(0, 1.0), (1, 1.0)])
    other = textwrap.dedent(f"""
        import sys
        from alwidget.store import Store
        s = Store({str(path)!r})
        for line in sys.stdin:  # one command per line, answered on stdout
            clip = int(line)
            print(s.claim_clip("kernel-b", clip, labeler="ann", max_age_s=60),
                  sorted(s.claimed_clips("kernel-b", labeler="ann", max_age_s=60)), flush=True)
    """)
    kernel_b = subprocess.Popen([sys.executable, "-c", other], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)

    def ask_b(clip: int) -> list[str]:
        kernel_b.stdin.write(f"{clip}\n")
        kernel_b.stdin.flush()
        return kernel_b.stdout.readline().split()

    assert store.claim_clip("kernel-a", 1, labeler="ann", max_age_s=60)
    assert ask_b(1) == ["False", "[1]"]  # another live kernel may not take clip 1
    assert ask_b(2) == ["True", "[1]"]
    assert store.claimed_clips("kernel-a", labeler="ann", max_age_s=60) == frozenset({2})
    assert not store.claim_clip("kernel-a", 2, labeler="ann", max_age_s=60)
    assert store.claim_clip("same-kernel", 1, labeler="ann", max_age_s=60)  # same process: may
    assert not store.claim_clip("bob-here", 1, labeler="bob", max_age_s=60)  # not another labeler
    store.db.execute("UPDATE sessions SET seen_at = '2000-01-01T00:00:00.000+00:00' "
                     "WHERE id = 'kernel-b'")  # kernel-b showed clip 2 long ago: expired
    assert store.claimed_clips("kernel-a", labeler="ann", max_age_s=60) == frozenset()
    assert ask_b(2) == ["True", "[1]"]  # kernel-b may show clip 2 again; kernel-a still has 1
    store.end_session("kernel-a")
    store.end_session("same-kernel")
    assert ask_b(1) == ["True", "[]"]  # both sessions ended: clip 1 is free
    kernel_b.stdin.close()
    kernel_b.wait(timeout=30)
    # kernel-b's process has ended: its claim on clip 1 ends with it
    assert store.claimed_clips("kernel-a", labeler="ann", max_age_s=60) == frozenset()
    assert store.claim_clip("kernel-a", 1, labeler="ann", max_age_s=60)


def test_feature_set_column_names_are_kept(store):
    fs = store.feature_set("tags", {}, 3)
    assert fs.columns is None
    named = store.feature_set("tags", {}, 3, columns=["dog", "cat", "rain"])
    assert named.id == fs.id and named.columns == ("dog", "cat", "rain")
    assert store.feature_set("tags", {}, 3).columns == ("dog", "cat", "rain")
    assert store.feature_sets()[0].columns == ("dog", "cat", "rain")
    with pytest.raises(StoreError, match="other column names"):
        store.feature_set("tags", {}, 3, columns=["a", "b", "c"])
    with pytest.raises(StoreError, match="2 column names for the 3 columns"):
        store.feature_set("tags", {"x": 1}, 3, columns=["a", "b"])


def test_a_path_that_is_not_utf8_is_kept_losslessly(store):
    raw = b"/rec/caf\xe9_01.wav"  # Latin-1: not valid UTF-8
    path = os.fsdecode(raw)  # what os.listdir gives: surrogate escapes
    aid = store.add_audio(new_audio(os.path.basename(path), folder=os.path.dirname(path),
                                    content_hash="h-cafe"),
                          [(0, 1.0)])
    (a,) = store.audios()
    assert a.id == aid and os.fsencode(a.path) == raw  # the very bytes, to open the file
    assert store.find_audio(path) == a and store.clip_sources().path == [path]
    shown = store.db.execute("SELECT file_name FROM audios").fetchone()[0]
    assert shown == "caf\\xe9_01.wav"  # a display form in the text column
    assert store.find_audio("/rec/caf\\xe9_01.wav") is None  # the display form is not the file


def test_a_moved_audio_keeps_its_clips_and_labels(store):
    aid = store.add_audio(new_audio("a.wav"), [(0, 1.0)])
    store.add_tag("dog")
    store.add_label(1, "dog")
    assert [a.id for a in store.audios_with_content("h-a.wav")] == [aid]
    store.move_audio(aid, "/archive/2024/a.wav")
    assert store.find_audio("/rec/a.wav") is None
    assert store.find_audio("/archive/2024/a.wav").id == aid
    assert store.clip_sources().path == ["/archive/2024/a.wav"]
    assert store.current_labels().clip_id.tolist() == [1]
    with pytest.raises(StoreError, match="audio_id=9 is not a stored audio"):
        store.move_audio(9, "/x.wav")


def test_a_file_that_is_not_a_database_or_a_folder_gets_a_clear_error(tmp_path):
    (tmp_path / "notes.db").write_text("my notes, not a database")
    with pytest.raises(StoreError, match="notes.db' is not an alwidget database"):
        Store(tmp_path / "notes.db")
    assert (tmp_path / "notes.db").read_text() == "my notes, not a database"  # untouched
    (tmp_path / "proj.db").mkdir()
    with pytest.raises(StoreError, match="proj.db' is a folder, not a database file"):
        Store(tmp_path / "proj.db")


def test_a_read_only_database_opens_to_look_and_refuses_writes_clearly(tmp_path, monkeypatch):
    path = tmp_path / "p.db"
    with Store(path) as s:
        s.add_audio(new_audio(), [(0, 1.0)])
        s.add_tag("dog")
    ro = Store(path, read_only=True)
    assert ro.read_only and ro.n_clips() == 1 and ro.tags() == ["dog"]
    assert ro.add_tag("dog") == 1  # an existing tag is only read
    for write in (lambda: ro.add_label(1, "dog"), lambda: ro.add_tag("cat"),
                  lambda: ro.add_ingest_error("x.wav", "bad")):
        with pytest.raises(StoreError, match="open read-only .* copy the project"):
            write()
    ro.close()
    # a file the user may not write (as root, permissions do not stop writes: ask os.access)
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK)
    auto = Store(path)
    assert auto.read_only and auto.n_audios() == 1
    assert Store(path).db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 0


def test_a_full_disk_rolls_back_the_step_and_says_what_to_do(tmp_path):
    s = Store(tmp_path / "p.db")
    s.add_tag("dog")
    pages = s.db.execute("PRAGMA page_count").fetchone()[0]
    s.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
    clips = [(float(k), 1.0) for k in range(5000)]
    with pytest.raises(StoreError, match="the disk holding .* is full: nothing of this step"):
        s.add_audio(new_audio(frames=16000 * 5000), clips)
    assert s.n_audios() == 0 and s.n_clips() == 0  # whole or absent


def test_label_records_and_strong_events_say_where_they_came_from(store):
    aid = store.add_audio(new_audio(), [(0, 1.0), (1, 1.0), (2, 1.0)])
    for tag in ("dog", "cat"):
        store.add_tag(tag)
    store.add_label(1, "dog", labeler="ann", strategy="lc", reason="least sure",
                    events=[("dog", 0.25, 0.75)])
    store.add_label(3, "cat", labeler="raven-import", source="raven:a.txt")
    records = store.label_records()
    assert [(r.clip_id, r.path, r.start_s, r.end_s, r.label, r.labeler, r.source)
            for r in records] == [(1, "/rec/a.wav", 0.0, 1.0, "dog", "ann", None),
                                  (3, "/rec/a.wav", 2.0, 3.0, "cat", "raven-import", "raven:a.txt")]
    assert [r.clip_id for r in store.label_records(labeler="ann")] == [1]
    assert store.add_strong_events(aid, [("cat", 10.0, 12.5)], labeler="bob",
                                   source="raven:a.txt") == 1
    events = store.strong_events()
    assert [(e.label, e.onset_s, e.offset_s, e.labeler, e.source) for e in events] == [
        ("dog", 0.25, 0.75, "ann", None), ("cat", 10.0, 12.5, "bob", "raven:a.txt")]
    for bad, message in [([("owl", 1.0, 2.0)], "'owl' is not in the ontology"),
                         ([("cat", 59.0, 61.0)], "the file's duration 60 s")]:
        with pytest.raises(StoreError, match=message):
            store.add_strong_events(aid, bad)
    assert len(store.strong_events()) == 2


def test_detections_are_kept_apart_from_labels_and_say_what_is_left(store):
    store.add_audio(new_audio(), [(0, 1.0), (1, 1.0), (2, 1.0)])
    fs = store.feature_set("toy", {}, 2)
    with pytest.raises(StoreError, match="model 'm1' is not recorded"):
        store.put_detections("m1", [1], ["dog"], [0.5])
    store.add_model("m1", fs, {"classes": ["bg", "dog"]})
    store.add_model("m1", fs, {"ignored": True})  # recorded once
    assert store.model_cards() == {"m1": {"classes": ["bg", "dog"]}}
    store.put_detections("m1", [1, 3], ["dog", "dog"], [0.9, 0.2])
    assert store.clips_without_detections("m1").tolist() == [2]
    store.put_detections("m1", [3], ["dog"], [0.7])  # scored again: the new score
    d = store.detections("m1", min_score=0.5)
    assert d.clip_id.tolist() == [1, 3] and np.allclose(d.score, [0.9, 0.7])
    with pytest.raises(StoreError, match="probabilities in \\[0, 1\\]"):
        store.put_detections("m1", [2], ["dog"], [1.5])
    assert len(store.current_labels()) == 0 and len(store.detections("m1")) == 2


def test_get_features_of_scattered_repeated_and_unsorted_ids(store):
    store.add_audio(new_audio(frames=16000 * 5000), [(float(k), 1.0) for k in range(5000)])
    fs = store.feature_set("toy", {}, 3)
    ids = store.clip_ids()
    X = np.arange(len(ids) * 3, dtype=np.float32).reshape(-1, 3)
    store.put_features(fs, ids, X)
    rng = np.random.default_rng(0)
    for want in (rng.choice(ids, 1500, replace=False),  # scattered: several IN (...) reads
                 np.array([4000, 7, 4000, 12]),  # repeated and unsorted
                 np.arange(100, 2100)):  # a run: one range read
        got_ids, got = store.get_features(fs, want)
        assert got_ids.tolist() == want.tolist() and np.array_equal(got, X[want - 1])
    with pytest.raises(StoreError, match="have no toy features"):
        store.get_features(fs, [3, 10 ** 6])


def test_new_vectors_make_a_models_detections_of_those_clips_stale(store):
    store.add_audio(new_audio(), [(0, 1.0), (1, 1.0), (2, 1.0)])
    fs, other = store.feature_set("toy", {}, 2), store.feature_set("other", {}, 2)
    store.put_features(fs, [1, 2, 3], np.zeros((3, 2), np.float32))
    store.add_model("m1", fs, {})
    store.add_model("m2", other, {})
    store.put_detections("m1", [1, 2, 3], ["dog"] * 3, [0.9, 0.8, 0.7])
    store.put_detections("m2", [1], ["dog"], [0.9])
    store.put_features(fs, [2], np.ones((1, 2), np.float32))  # clip 2's vector changed
    assert store.clips_without_detections("m1").tolist() == [2]  # to score again
    assert len(store.detections("m2")) == 1  # another feature set's model: untouched
