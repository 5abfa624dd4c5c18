"""A re-run of ingest lists only what changed: local folders whose modification time is
unchanged are not listed (no file examined), each folder of object storage is listed from
after its newest stored key; new files and folders are found, removed and moved files are
handled, an interrupted run is completed, and a full listing finds what the quick one cannot
(files rewritten in place, objects uploaded late under an older key). Calls to the file
system and requests to the S3 server (moto on 127.0.0.1) are counted, never timed."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
import soundfile as sf

import alwidget.ingestion.run as run_module
from alwidget.ingestion import ingest
from alwidget.store import Store

from moto_s3 import BUCKET, reset_s3fs, s3_server

PATTERN = "{node}_{time:%Y%m%d_%H%M%S}"


def wav(seed: int, seconds: float = 1.0, sr: int = 8000) -> bytes:
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * (200 + 10 * seed) * np.arange(int(seconds * sr)) / sr)
    buf = io.BytesIO()
    sf.write(buf, y + 0.01 * rng.standard_normal(len(y)), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def name(node: str, minute: int) -> str:
    return f"{node}_20240501_10{minute:02d}00.wav"


def age(root) -> None:
    """Date every file and folder below ``root`` a minute back (as if written long before
    the run; a folder modified within RECENT_NS of a listing, or holding a file modified
    within the settle time, is listed again)."""
    past = time.time_ns() - 60 * 10**9
    for folder, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(folder, f), ns=(past, past))
        os.utime(folder, ns=(past, past))


def quiet(paths, store, **kw):
    kw.setdefault("name_pattern", PATTERN)
    return ingest(paths, store, progress=False, verbose=False, **kw)


class Calls:
    """Counts the folders listed (``os.scandir``) and the paths examined (``os.stat``)."""

    def __init__(self, monkeypatch):
        self.scanned, self.stats = [], []
        scandir, stat = os.scandir, os.stat
        monkeypatch.setattr(os, "scandir", lambda p=".": (self.scanned.append(os.fspath(p)),
                                                         scandir(p))[1])
        monkeypatch.setattr(os, "stat", lambda p, *a, **k: (self.stats.append(os.fspath(p)),
                                                            stat(p, *a, **k))[1])

    def clear(self):
        self.scanned.clear()
        self.stats.clear()

    def files_stated(self):
        return [p for p in self.stats if p.endswith(".wav")]


@pytest.fixture
def archive(tmp_path):
    """rec/n1 and rec/n2, 3 files each, ingested once, every folder dated back."""
    for node in ("n1", "n2"):
        for m in range(3):
            path = tmp_path / "rec" / node / name(node, m)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wav(m + (10 if node == "n2" else 0)))
    store = Store(tmp_path / "p.db")
    assert quiet(tmp_path / "rec", store).added == 6
    age(tmp_path / "rec")
    assert quiet(tmp_path / "rec", store).folders_skipped == 0  # records the dated folders
    return tmp_path / "rec", store


def test_nothing_new_lists_no_folder_and_examines_no_file(archive, monkeypatch):
    rec, store = archive
    calls = Calls(monkeypatch)
    summary = quiet(rec, store)
    assert (summary.files, summary.read, summary.added, summary.folders_skipped) == (0, 0, 0, 3)
    assert calls.scanned == [] and calls.files_stated() == []
    assert set(calls.stats) == {str(p) for p in (rec, rec / "n1", rec / "n2")}
    assert "3 folders unchanged since the last run not listed" in str(summary)


def test_a_new_file_in_a_folder_is_found_and_only_that_folder_listed(archive, monkeypatch):
    rec, store = archive
    (rec / "n1" / name("n1", 9)).write_bytes(wav(30))
    calls = Calls(monkeypatch)
    summary = quiet(rec, store)
    assert (summary.files, summary.read, summary.added) == (4, 1, 1)  # n1's 4 names listed
    assert summary.folders_skipped == 2 and calls.scanned == [str(rec / "n1")]
    assert calls.files_stated() == [str(rec / "n1" / name("n1", 9))]  # known ones: by inode
    assert store.n_audios() == 7


def test_a_new_folder_below_an_unchanged_one_is_found(archive, monkeypatch):
    rec, store = archive
    day = rec / "n2" / "2024-05-02"
    day.mkdir()
    (day / name("n2", 30)).write_bytes(wav(31))
    (rec / "n3").mkdir()  # and a new node folder beside the others
    (rec / "n3" / name("n3", 0)).write_bytes(wav(32))
    summary = quiet(rec, store)
    assert (summary.read, summary.added) == (2, 2)
    assert {a.node for a in store.audios()} == {"n1", "n2", "n3"}
    age(rec)
    quiet(rec, store)  # records the folders as dated now
    calls = Calls(monkeypatch)
    again = quiet(rec, store)
    assert (again.files, again.folders_skipped, calls.scanned) == (0, 5, [])
    (day / name("n2", 31)).write_bytes(wav(33))  # below n2, whose own entries stay the same
    calls.clear()
    deeper = quiet(rec, store)
    assert (deeper.added, deeper.folders_skipped, calls.scanned) == (1, 4, [str(day)])


def test_removed_and_moved_files_and_a_removed_folder(archive, monkeypatch):
    rec, store = archive
    (rec / "n1" / name("n1", 0)).unlink()
    os.rename(rec / "n2" / name("n2", 1), rec / "n1" / name("n2", 1))
    summary = quiet(rec, store)
    assert (summary.read, summary.added, summary.errors) == (1, 0, [])
    assert summary.moved == [(str(rec / "n2" / name("n2", 1)), str(rec / "n1" / name("n2", 1)))]
    assert store.n_audios() == 6  # a removed file's audio stays (and its labels)
    for f in (rec / "n2").iterdir():
        f.unlink()
    (rec / "n2").rmdir()
    quiet(rec, store)
    assert os.fsencode(rec / "n2") not in store.listed_folders_under(os.fsencode(rec))
    (rec / "n2").mkdir()  # a folder of that name again: listed, its file found
    (rec / "n2" / name("n2", 5)).write_bytes(wav(40))
    assert quiet(rec, store).added == 1


def test_a_file_fixed_in_place_is_read_again_though_its_folder_is_unchanged(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    good = wav(1)
    (rec / name("n1", 0)).write_bytes(wav(2))
    (rec / name("n1", 1)).write_bytes(good[: len(good) // 2])  # cut short
    age(rec)
    store = Store(tmp_path / "p.db")
    first = quiet(rec, store)
    assert first.added == 1 and "truncated" in first.errors[0][1]
    with open(rec / name("n1", 1), "r+b") as fh:  # completed in place: the folder's time stays
        fh.write(good)
    past = time.time_ns() - 30 * 10**9
    os.utime(rec / name("n1", 1), ns=(past, past))  # written a while ago
    second = quiet(rec, store)  # a file that failed is examined (not its whole folder)
    assert (second.read, second.added, second.errors) == (1, 1, [])
    assert second.folders_skipped == 1
    assert quiet(rec, store).folders_skipped == 1  # its error resolved: skipped again


def test_a_file_rewritten_in_place_is_found_by_a_full_listing(archive, monkeypatch):
    rec, store = archive
    path = rec / "n1" / name("n1", 0)
    folder = os.stat(path.parent)
    with open(path, "r+b") as fh:  # new content at the same inode
        fh.write(wav(77))
    past = folder.st_mtime_ns - 10**9
    os.utime(path, ns=(past, past))  # not "being written"
    assert os.stat(path.parent).st_mtime_ns == folder.st_mtime_ns  # the folder unchanged
    assert quiet(rec, store).read == 0
    calls = Calls(monkeypatch)
    full = quiet(rec, store, full_listing=True)
    assert full.full_listing and full.changed == [str(path)] and full.read == 1
    assert full.files == 6 and len(calls.scanned) == 3 and full.folders_skipped == 0


def test_a_rerun_completes_an_interrupted_run(tmp_path, monkeypatch):
    rec = tmp_path / "rec"
    for m in range(6):
        (rec / "n1").mkdir(parents=True, exist_ok=True)
        (rec / "n1" / name("n1", m)).write_bytes(wav(m))
    age(rec)
    store = Store(tmp_path / "p.db")
    real, seen = run_module.examine, []

    def interrupted(path, *args):
        seen.append(path)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return real(path, *args)

    monkeypatch.setattr(run_module, "examine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quiet(rec, store, n_jobs=1)
    monkeypatch.setattr(run_module, "examine", real)
    assert store.n_audios() == 3
    again = quiet(rec, store)  # no folder was recorded: listed again, the rest read
    assert (again.read, again.added) == (3, 3) and store.n_audios() == 6


# -- object storage -------------------------------------------------------------------
@pytest.fixture
def server(monkeypatch):
    with s3_server() as s:
        reset_s3fs()
        for k, v in s.env().items():
            monkeypatch.setenv(k, v)
        s.client().create_bucket(Bucket=BUCKET)
        yield s
        reset_s3fs()


def put(server, keys, seed0=0):
    c = server.client()
    for i, k in enumerate(keys):
        c.put_object(Bucket=BUCKET, Key=k, Body=wav(seed0 + i))


def lists(server):
    """The query strings of the LIST requests the server answered."""
    return [r[3] for r in server.requests if r[0] == "GET" and r[1] == BUCKET]


def object_gets(server):
    return [r for r in server.requests if r[0] == "GET" and r[1].startswith(BUCKET + "/")]


def test_s3_nothing_new_lists_each_folder_once_from_its_newest_key(server, tmp_path):
    put(server, [f"2024/{n}/{name(n, m)}" for n in ("n1", "n2", "n3") for m in range(4)])
    store = Store(tmp_path / "p.db")
    url = f"s3://{BUCKET}/2024"
    assert quiet(url, store).added == 12
    server.requests.clear()
    summary = quiet(url, store)
    assert (summary.files, summary.read, summary.prefixes_from_key) == (0, 0, 3)
    queries = lists(server)
    assert len(queries) == 4 and object_gets(server) == []  # the prefix + one per folder
    assert sum("delimiter=%2F" in q for q in queries) == 4  # subfolders found by each
    assert sorted(q.split("start-after=")[1].split("&")[0] for q in queries[1:]) == \
        [f"2024%2F{n}%2F{name(n, 3)}" for n in ("n1", "n2", "n3")]
    # a new object in a folder and a new folder: found, with one more LIST
    put(server, [f"2024/n2/{name('n2', 9)}", f"2024/n4/{name('n4', 0)}"], seed0=50)
    server.requests.clear()
    grown = quiet(url, store)
    assert (grown.files, grown.read, grown.added) == (2, 2, 2) and len(lists(server)) == 5


def test_s3_a_prefix_holding_objects_is_listed_from_its_newest_one(server, tmp_path):
    put(server, [f"flat/{name('n1', m)}" for m in range(5)])
    store = Store(tmp_path / "p.db")
    url = f"s3://{BUCKET}/flat/"
    assert quiet(url, store).added == 5
    put(server, [f"flat/{name('n1', 7)}", f"flat/{name('n1', 3)[:-4]}b.wav"], seed0=20)
    put(server, ["flat/zz/" + name("n1", 0)], seed0=40)  # a new folder, sorting after
    server.requests.clear()
    summary = quiet(url, store)
    assert (summary.read, summary.added) == (2, 2)  # the newer object and the new folder's
    assert [q for q in lists(server) if "delimiter" in q][0].count("start-after=flat%2F") == 1
    late = quiet(url, store, full_listing=True)  # the late one, under an older key
    assert (late.read, late.added) == (1, 1) and store.n_audios() == 8


def test_s3_late_upload_removed_object_and_interrupted_run(server, tmp_path, monkeypatch):
    keys = [f"2024/n1/{name('n1', m)}" for m in range(6)]
    put(server, keys)
    store = Store(tmp_path / "p.db")
    url = f"s3://{BUCKET}/2024"
    real, seen = run_module.examine, []

    def interrupted(path, *args):
        seen.append(path)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return real(path, *args)

    monkeypatch.setattr(run_module, "examine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quiet(url, store, n_jobs=1)
    monkeypatch.setattr(run_module, "examine", real)
    assert store.n_audios() == 3
    resumed = quiet(url, store)  # no folder recorded (the run did not end): listed whole
    assert (resumed.files, resumed.read, resumed.added) == (6, 3, 3)
    assert resumed.prefixes_from_key == 0
    assert quiet(url, store).prefixes_from_key == 1  # recorded now: n1 from its newest key
    # late: a key sorting before the newest one is not listed by default
    put(server, [f"2024/n1/{name('n1', 0)[:-4]}late.wav"], seed0=60)
    assert quiet(url, store).read == 0
    assert quiet(url, store, full_listing=True).added == 1
    # removed: an object deleted and its content uploaded under a new key
    c = server.client()
    body = c.get_object(Bucket=BUCKET, Key=keys[1])["Body"].read()
    c.delete_object(Bucket=BUCKET, Key=keys[1])
    c.put_object(Bucket=BUCKET, Key="2024/n1/zz_moved.wav", Body=body)  # after n1's newest
    quick = quiet(url, store, name_pattern=None)  # keys[1] was not listed: kept, a copy
    assert quick.added == 0 and len(quick.duplicates) == 1 and quick.moved == []
    full = quiet(url, store, name_pattern=None, full_listing=True)  # listed: it is gone
    assert [m[0] for m in full.moved] == [f"s3://{BUCKET}/{keys[1]}"]


def test_watch_lists_fully_every_n_runs_and_the_options_are_checked(tmp_path, monkeypatch,
                                                                     capsys):
    import alwidget.cli
    import alwidget.ingestion

    from alwidget.cli import main

    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / name("n1", 0)).write_bytes(wav(1))
    db = str(tmp_path / "p.db")
    full, real = [], alwidget.ingestion.ingest

    def spy(*args, **kw):
        full.append(kw["full_listing"])
        return real(*args, **kw)

    monkeypatch.setattr(alwidget.ingestion, "ingest", spy)
    monkeypatch.setattr(alwidget.cli, "_poll_wait", lambda seconds: None)
    base = ["ingest", str(tmp_path / "rec"), "--db", db, "--quiet"]
    assert main(base + ["--watch", "60", "--max-runs", "5", "--full-listing-every", "2"]) == 0
    assert full == [False, True, False, True, False]
    full.clear()
    assert main(base + ["--watch", "60", "--max-runs", "3"]) == 0  # default: once a day
    assert full == [False, False, False]
    assert alwidget.cli.FULL_LISTING_SECONDS == 86400
    full.clear()
    assert main(base + ["--full-listing"]) == 0 and full == [True]
    assert main(base + ["--full-listing-every", "2"]) == 2
    assert main(base + ["--watch", "60", "--full-listing-every", "0"]) == 2
    err = capsys.readouterr().err
    assert "--full-listing-every counts the runs of --watch" in err
    assert "--full-listing-every 0 must be >= 1" in err
