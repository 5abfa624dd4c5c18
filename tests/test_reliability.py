"""Reliability under real use: bad input is refused before anything is written, read-only
projects open to look, and the command line answers user errors in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from alwidget.cli import main
from alwidget.session import Session
from alwidget.store import Store, StoreError
from test_session import CLASSES, make_project


def _tables(store) -> dict[str, int]:
    names = [r[0] for r in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sessions'")]
    return {n: store.db.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}


# -- the session validates before it writes ------------------------------------------------
def test_a_session_refused_for_bad_arguments_writes_nothing(tmp_path):
    store, _ = make_project(tmp_path / "p.db")
    before = _tables(store)
    for bad, message in [(dict(strategy="best"), "strategy 'best' is unknown"),
                         (dict(strategy="lc-tuned"), "tunes its threshold on a validation set"),
                         (dict(classes=["cat"]), "at least two distinct classes"),
                         (dict(classes=["a", "Doubt"]), "is the doubt class"),
                         (dict(budget=0), "budget=0 must be >= 1"),
                         (dict(clips=["abc"]), "must be an integer clip id"),
                         (dict(validation=(["abc"], ["target"])), "must be an integer clip id"),
                         (dict(clips=[10 ** 9]), "have no toy features")]:
        kwargs = dict(classes=CLASSES) | bad
        with pytest.raises(ValueError, match=message):
            Session(store, **kwargs)
    assert _tables(store) == before  # not even an ontology row


def test_opening_a_session_adds_no_class_until_a_label_uses_it(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=["cat", "dog", "target", "background"]) as s:
        assert store.tags() == []  # opening only looks
        s.submit("dog")
        assert store.tags() == ["dog"]  # the class a label used, nothing else
        s.doubt()
        assert store.tags() == ["dog", "Doubt"]


def test_a_clip_id_that_is_not_a_number_is_a_clear_error(tmp_path):
    store, _ = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES) as s:
        for call in (lambda: s.label("abc", "target"), lambda: s.label_many(["abc"], "target"),
                     lambda: s.queue([1.5]), lambda: s.submit("target", clip_id="7")):
            with pytest.raises(ValueError, match="must be an integer clip id"):
                call()
    assert len(store.active_events()) == 0


# -- read-only projects ---------------------------------------------------------------------
def test_a_read_only_project_opens_to_look_and_says_so_at_the_first_write(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0) as s:
        for _ in range(4):
            s.submit(truth[s.current.clip_id])
    store.close()
    ro = Store(tmp_path / "p.db", read_only=True)
    with Session(ro, classes=CLASSES, random_state=0) as look:
        assert look.n_labels == 4 and look.current is not None
        view = look.pool.view()
        assert (view.label >= 0).sum() == 4
        assert look.pool.projection("pca").coords.shape == (len(view.clip_ids), 2)
        with pytest.raises(StoreError, match="open read-only"):
            look.submit(truth[look.current.clip_id])
        assert look.n_labels == 4


# -- the command line ------------------------------------------------------------------------
def _cli(args, capsys):
    """Exit status, stdout and stderr of ``alwidget ARGS`` run in this process."""
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse refuses a value before the command runs
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("case, code, message", [
    ("not-sqlite", 3, "p.db' is not an alwidget database"),
    ("folder", 3, "p.db' is a folder, not a database file"),
    ("read-only", 5, "open read-only"),
    ("newer-schema", 3, "newer than this alwidget knows"),
    ("clip-inf", 2, "--clip-seconds inf must be a finite number > 0"),
    ("clip-nan", 2, "--clip-seconds nan must be a finite number > 0"),
    ("hop-negative", 2, "--hop-seconds -1 must be a finite number > 0"),
])
def test_the_cli_answers_user_errors_in_one_line_with_their_own_exit_code(
        tmp_path, capsys, monkeypatch, case, code, message):
    from conftest import write_audio

    write_audio(tmp_path / "rec" / "a.wav", 1.0)
    db = tmp_path / "p.db"
    args = ["ingest", str(tmp_path / "rec"), "--db", str(db), "--quiet"]
    if case == "not-sqlite":
        db.write_text("hello")
    elif case == "folder":
        db.mkdir()
    elif case == "read-only":
        Store(db).close()
        monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK)
    elif case == "newer-schema":
        s = Store(db)
        s.db.execute("PRAGMA user_version = 99")
        s.close()
    else:
        option, value = {"clip-inf": ("--clip-seconds", "inf"),
                         "clip-nan": ("--clip-seconds", "nan"),
                         "hop-negative": ("--hop-seconds", "-1")}[case]
        args += [option, value]
    rc, _, err = _cli(args, capsys)
    last = err.strip().splitlines()[-1]  # (argparse prints its usage before it)
    assert rc == code and message in last, (rc, err)
    assert last.startswith(("alwidget: error: ", "alwidget ingest: error: "))
    assert "Traceback" not in err


def test_the_cli_reports_a_full_disk_in_one_line_and_keeps_what_was_stored(
        tmp_path, capsys, monkeypatch):
    from conftest import write_audio

    import alwidget.store.store as store_module

    for k in range(120):  # enough rows to need new pages of the database file
        write_audio(tmp_path / "rec" / f"node_{k:04d}_20240501_120000.wav", 0.2, seed=k)
    real_init = store_module.Store.__init__

    def small_disk(self, *args, **kwargs):  # the disk fills up after the first file
        real_init(self, *args, **kwargs)
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    monkeypatch.setattr(store_module.Store, "__init__", small_disk)
    rc, _, err = _cli(["ingest", str(tmp_path / "rec"), "--db", str(tmp_path / "p.db"),
                       "--quiet"], capsys)
    assert rc == 4 and "is full" in err and "Traceback" not in err
    monkeypatch.setattr(store_module.Store, "__init__", real_init)
    s = Store(tmp_path / "p.db")
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = s.n_audios()
    assert 0 < stored < 120 and s.n_clips() == stored  # each file whole or absent
    rc, _, _ = _cli(["ingest", str(tmp_path / "rec"), "--db", str(tmp_path / "p.db"),
                     "--quiet"], capsys)
    assert rc == 0 and Store(tmp_path / "p.db").n_audios() == 120  # a re-run completes it


def test_a_full_disk_during_a_decision_stores_nothing_of_it_and_labeling_goes_on(tmp_path):
    from alwidget.store import StoreFull

    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES, random_state=0, precompute=False) as s:
        s.submit(truth[s.current.clip_id])
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
        done = 1
        with pytest.raises(StoreFull, match="is full: nothing of this step was stored"):
            for _ in range(500):  # the free room in the last pages runs out
                shown = s.current.clip_id
                s.submit(truth[shown])
                done += 1
        assert s.current.clip_id == shown and s.n_labels == done  # the failed one: absent
        assert len(store.active_events()) == done and shown not in store.current_labels().clip_id
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.db.execute(f"PRAGMA max_page_count = {10 * pages}")  # space freed
        s.submit(truth[shown], clip_id=shown)
        assert s.n_labels == done + 1 and shown in store.current_labels().clip_id


def test_debug_shows_the_traceback(tmp_path):
    db = tmp_path / "p.db"
    db.write_text("hello")
    run = subprocess.run([sys.executable, "-m", "alwidget.cli", "--debug", "features", "--db",
                          str(db)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" in run.stderr
    plain = subprocess.run([sys.executable, "-m", "alwidget.cli", "features", "--db", str(db)],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 3 and "Traceback" not in plain.stderr
    assert plain.stderr.strip() == (f"alwidget: error: {str(db)!r} is not an alwidget database "
                                    "(not an SQLite file); give a project database, or a new "
                                    "file name")


# -- imports are whole or absent; an empty feature set is never the default ----------------
@pytest.fixture
def imported_project(tmp_path):
    import soundfile as sf

    import alwidget

    (tmp_path / "audio").mkdir()
    for seed, name in enumerate(("a.wav", "b.wav")):  # two contents: two audios
        noise = np.random.default_rng(seed).standard_normal(2 * 8000)
        sf.write(tmp_path / "audio" / name, 0.01 * noise, 8000)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(tmp_path / "audio", store, clip_seconds=1.0, progress=False, verbose=False)
    empty = store.feature_set("precomputed:old", {}, 7)  # the oldest set, left empty
    alwidget.extract_features(store, "logmel", n_jobs=1, progress=False)
    return store, tmp_path, empty


@pytest.mark.parametrize("lines, message", [
    (["path,start_s,e0"], "has a header but no rows"),
    (["", "", ""], "is empty: it needs a header row"),
    (["path,start_s,e0", "audio/a.wav,0,1", "audio/a.wav,1"], "line 3 has 2 fields but the "
                                                              "header has 3"),
    (["path,start_s,e0", "", "audio/a.wav,0,1", "audio/a.wav,1"], "line 4 has 2 fields"),
    (["path,start_s,e0", "audio/a.wav,0,1", "audio/a.wav,1,1e300"], "beyond float32"),
])
def test_a_failed_import_leaves_no_feature_set(imported_project, lines, message):
    from alwidget import import_features

    store, tmp, _ = imported_project
    (tmp / "keys.csv").write_text("\n".join(lines) + "\n")
    before = [fs.extractor for fs in store.feature_sets()]
    with pytest.raises(ValueError, match=message):
        import_features(store, "big", tmp / "keys.csv")
    assert [fs.extractor for fs in store.feature_sets()] == before  # no precomputed:big


def test_an_empty_feature_set_is_never_chosen_by_default(imported_project):
    store, _, empty = imported_project
    assert store.feature_sets()[0] == empty and store.count_features(empty) == 0
    with Session(store, classes=CLASSES) as s:
        assert s.feature_set.extractor == "logmel"
        assert len(s.pool.view().clip_ids) == store.n_clips()


def test_an_interrupted_tagger_run_never_becomes_the_default_tagger(imported_project):
    from alwidget.tagger import tagger_sets, top1

    store, _, _ = imported_project
    store.feature_set("precomputed:tags", {}, 2, columns=["bird", "rain"])  # nothing stored
    assert tagger_sets(store) == []
    with pytest.raises(ValueError, match="no tagger probabilities"):
        top1(store)
    with Session(store, classes=CLASSES) as s:
        assert not s.pool.has_tagger


def test_import_features_finds_clips_through_a_linked_project_folder(imported_project):
    from alwidget import import_features

    store, tmp, _ = imported_project
    link = tmp / "linked"
    link.symlink_to(tmp)  # the same project reached through a link
    (tmp / "keys.csv").write_text("path,start_s,e0\naudio/a.wav,0,1\naudio/a.wav,1,2\n"
                                  "audio/b.wav,0,3\naudio/b.wav,1,4\n")
    fs = import_features(store, "linked", link / "keys.csv", root=link)
    assert store.count_features(fs) == 4 == store.n_clips()


# -- the session checks strong-label events before it writes --------------------------------
def test_strong_label_events_are_checked_and_their_classes_enter_the_ontology(tmp_path):
    store, truth = make_project(tmp_path / "p.db")
    with Session(store, classes=CLASSES) as s:
        for events, message in [([("rain", 0.0, 0.5)], "class 'rain' is not one of"),
                                ([("target", 0.5, 0.2)], "0 <= onset_s < offset_s"),
                                ([("target", float("nan"), 0.2)], "finite times"),
                                ([("target", 0.1)], "must be \\(class, onset_s, offset_s\\)")]:
            with pytest.raises(ValueError, match=message):
                s.submit("target", events=events)
        assert store.tags() == [] and len(store.active_events()) == 0
        other = next(c for c in CLASSES if c != "target")
        s.submit("target", events=[(other, 0.1, 0.4), ("target", 0.5, 0.9)])
        assert set(store.tags()) == {"target", other}
        chunks = store.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        assert chunks == 2


def test_a_read_only_project_looks_up_its_feature_sets_and_extracts_nothing(imported_project,
                                                                            monkeypatch):
    import alwidget.store.store as store_module
    from alwidget.features import LogMel, extract_features
    from alwidget.features.base import feature_set_for

    store, tmp, _ = imported_project
    store.close()
    ro = Store(tmp / "p.db", read_only=True)
    fs = feature_set_for(ro, LogMel())  # a lookup: no write
    assert ro.count_features(fs) == ro.n_clips()
    assert extract_features(ro, "logmel", progress=False) == fs  # nothing left to compute
    ro.close()
    # a file this user may not write (as root every file is writable: say it is not)
    monkeypatch.setattr(store_module.os, "access", lambda path, mode: mode != os.W_OK)
    assert Store(tmp / "p.db").read_only
    assert main(["features", "--db", str(tmp / "p.db")]) == 0


def test_a_missing_optional_package_is_named_with_its_own_exit_code(tmp_path, capsys,
                                                                    monkeypatch):
    import alwidget.features

    Store(tmp_path / "p.db").close()

    def needs_torch(*args, **kwargs):
        raise ImportError("PANNs needs torch and panns-hear (No module named 'torch'); "
                          "pip install 'alwidget[panns]'")

    monkeypatch.setattr(alwidget.features, "extract_features", needs_torch)
    rc, _, err = _cli(["features", "--db", str(tmp_path / "p.db"), "--extractor", "panns"],
                      capsys)
    assert rc == 7 and err.strip().endswith("pip install 'alwidget[panns]'")
    assert "Traceback" not in err and "internal error" not in err


def test_a_wal_database_in_a_read_only_folder_is_read_unless_commits_wait_in_its_wal(
        tmp_path, monkeypatch):
    """Where the folder may not be written, no -shm can be made and ``mode=ro`` cannot open
    a WAL database: it is read as an immutable file, which would miss commits still in the
    -wal file, so then it is refused with what to do."""
    import sqlite3

    from alwidget.store import StoreReadOnly

    db = tmp_path / "p.db"
    store, _ = make_project(db)
    n = store.n_clips()
    store.close()  # the last connection checkpoints: the -wal file is empty or gone
    real_connect = sqlite3.connect

    def no_shm(target, *args, **kwargs):  # what a read-only folder does to mode=ro
        if kwargs.get("uri") and "mode=ro" in str(target) and "immutable" not in str(target):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", no_shm)
    ro = Store(db, read_only=True)
    assert ro.n_clips() == n
    ro.close()
    (tmp_path / "p.db-wal").write_bytes(b"\0" * 64)  # commits waiting in the -wal file
    with pytest.raises(StoreReadOnly, match="recent changes in .*p.db-wal"):
        Store(db, read_only=True)
