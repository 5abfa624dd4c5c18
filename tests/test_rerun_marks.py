"""What a re-run may skip, and what it must not: each folder of object storage is listed from
after the key a complete listing of *that folder* found (never from keys that another ingest
stored), per leaf folder (date-first layouts), a listing that fails part-way moves nothing, a
file that failed is tried again a few times or when it changes (never its whole folder), a
local file still being written is not stored cut short for good, a file replaced under the
same name is found, and a folder's listing error is cleared once it lists. Requests to the S3
server (moto on 127.0.0.1) and file system calls are counted, never timed."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf

import alwidget.ingestion.run as run_module
from alwidget.ingestion import ingest, parse_name
from alwidget.ingestion.sources import MAX_ATTEMPTS
from alwidget.store import Store

from test_rerun_listing import age, lists, name, put, quiet, server, wav  # noqa: F401

from moto_s3 import BUCKET

URL = f"s3://{BUCKET}"


# -- object storage ---------------------------------------------------------------------
def test_s3_a_prefix_first_listed_after_one_object_or_one_day_finds_everything(server,
                                                                             tmp_path):
    keys = [f"2024/n1/{name('n1', m)}" for m in range(5)] + \
        [f"2024/n2/{name('n2', m)}" for m in range(3)]
    put(server, keys)
    store = Store(tmp_path / "a.db")
    assert quiet(f"{URL}/{keys[4]}", store).added == 1  # one object first
    whole = quiet(f"{URL}/2024/", store)
    assert (whole.added, whole.prefixes_from_key) == (7, 0)  # never listed whole: all of it
    assert quiet(f"{URL}/2024/", store).prefixes_from_key == 2  # n1/, n2/ from their keys
    # an object directly in the prefix first: its folders are still found
    put(server, ["2024/zz_20240501_000000.wav"], seed0=99)
    other = Store(tmp_path / "b.db")
    assert quiet(f"{URL}/2024/zz_20240501_000000.wav", other).added == 1
    assert quiet(f"{URL}/2024/", other).added == 8
    # one day folder first, then the whole archive: the other days are found
    days = [f"arch/n1/2024-05-0{d}/{name('n1', d)}" for d in (1, 2, 3)]
    put(server, days, seed0=200)
    third = Store(tmp_path / "c.db")
    assert quiet(f"{URL}/arch/n1/2024-05-02/", third).added == 1
    assert quiet(f"{URL}/arch/", third).added == 2


def test_s3_a_date_first_layout_finds_the_new_files_of_every_node(server, tmp_path):
    put(server, [f"port/2024-05-01/{n}/{name(n, m)}" for n in ("n1", "n2") for m in (0, 1)])
    store = Store(tmp_path / "p.db")
    first = quiet(f"{URL}/port", store, folder_pattern="{time:%Y-%m-%d}/{node}")
    assert first.added == 4
    # n1's new object sorts before n2's newest key in the same day folder
    put(server, [f"port/2024-05-01/n1/{name('n1', 5)}", f"port/2024-05-02/n2/{name('n2', 0)}"],
        seed0=10)
    server.requests.clear()
    again = quiet(f"{URL}/port", store, folder_pattern="{time:%Y-%m-%d}/{node}")
    assert (again.files, again.added) == (2, 2)
    # one LIST per folder: port/, two days, three node folders (one of them new)
    queries = lists(server)
    assert len(queries) == 6 and all("delimiter=%2F" in q for q in queries)
    assert any("prefix=port%2F2024-05-01%2Fn1%2F" in q and "start-after=port%2F2024-05-01%2Fn1"
               in q for q in queries)
    assert {a.node for a in store.audios()} == {"n1", "n2"}


def test_s3_a_listing_that_fails_part_way_moves_no_audio_to_a_copy(server, tmp_path,
                                                                   monkeypatch):
    import s3fs

    put(server, [f"a/n1/{name('n1', 0)}"], seed0=1)
    server.client().put_object(Bucket=BUCKET, Key=f"a/n1/{name('n1', 1)}", Body=b"broken")
    store = Store(tmp_path / "p.db")
    first = quiet(f"{URL}/a", store)
    assert (first.added, len(first.errors)) == (1, 1)
    put(server, [f"b/n1/{name('n1', 0)}"], seed0=1)  # a copy elsewhere
    real, failed = s3fs.S3FileSystem.call_s3, []

    def flaky(self, method, *args, **kw):
        if method == "list_objects_v2" and kw.get("Prefix") == "a/n1/":
            failed.append(kw)
            raise ConnectionError("network dropped while listing")
        return real(self, method, *args, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "call_s3", flaky)
    summary = quiet([f"{URL}/a", f"{URL}/b"], store)
    assert failed and summary.moved == []
    assert "cannot list it: ConnectionError" in summary.errors[0][1]
    assert [a.path for a in store.audios()] == [f"{URL}/a/n1/{name('n1', 0)}"]
    assert summary.duplicates == [(f"{URL}/b/n1/{name('n1', 0)}",
                                   f"{URL}/a/n1/{name('n1', 0)}")]


def test_s3_a_broken_object_is_tried_a_few_times_and_its_error_cleared_when_deleted(
        server, tmp_path):
    put(server, [f"a/n1/{name('n1', m)}" for m in range(5)])
    broken = f"a/n1/{name('n1', 2)[:-4]}x.wav"
    server.client().put_object(Bucket=BUCKET, Key=broken, Body=b"truncated upload")
    store = Store(tmp_path / "p.db")
    assert len(quiet(f"{URL}/a", store).errors) == 1
    reads = []
    for _ in range(MAX_ATTEMPTS):
        server.requests.clear()
        summary = quiet(f"{URL}/a", store)
        reads.append(summary.read)
        # its folder is listed from its newest key, never whole again
        assert all("start-after" in q for q in lists(server) if "a%2Fn1%2F" in q)
    assert reads == [1] * (MAX_ATTEMPTS - 1) + [0]  # tried MAX_ATTEMPTS times in all
    assert store.ingest_errors()[0].attempts == MAX_ATTEMPTS
    server.client().delete_object(Bucket=BUCKET, Key=broken)
    assert quiet(f"{URL}/a", store, full_listing=True).errors == []
    assert store.ingest_errors() == []  # deleted: its error is past


# -- local folders ----------------------------------------------------------------------
def _tone(seconds: float, sr: int = 8000) -> np.ndarray:
    return 0.1 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * sr)) / sr)


def test_a_local_file_still_being_written_is_stored_whole_once_it_grew(tmp_path):
    rec = tmp_path / "rec" / "n1"
    rec.mkdir(parents=True)
    sf.write(rec / name("n1", 0), _tone(1), 8000, subtype="PCM_16")
    growing = rec / name("n1", 1)
    fh = sf.SoundFile(growing, "w", 8000, 1, "PCM_16")
    fh.write(_tone(3))
    fh.flush()  # its header says 3 s: it reads cleanly
    past = time.time_ns() - 60 * 10**9
    os.utime(rec, ns=(past, past))  # the folder changed long ago, the file just now
    os.utime(rec / name("n1", 0), ns=(past, past))
    store = Store(tmp_path / "p.db")
    first = quiet(tmp_path / "rec", store, clip_seconds=1.0)
    assert first.added == 2
    audio = store.find_audio(str(growing))
    assert audio.duration_s == 3.0
    store.add_tag("ship")
    clip = int(store.clip_sources().clip_id[store.clip_sources().audio_id == audio.id][0])
    store.add_label(clip, "ship")
    fh.write(_tone(7))
    fh.close()  # complete: 10 s; the folder's time does not change
    assert os.stat(rec).st_mtime_ns == past
    again = quiet(tmp_path / "rec", store, clip_seconds=1.0)  # its folder is listed again
    assert (again.read, again.grown, again.changed) == (1, [str(growing)], [])
    grown = store.find_audio(str(growing))
    assert (grown.id, grown.duration_s) == (audio.id, 10.0)
    assert again.clips == 7 and store.n_clips() == 11
    assert store.current_labels().clip_id.tolist() == [clip]
    assert "grown:" in str(again)


def test_a_local_file_changing_while_read_is_not_stored_and_read_next_run(tmp_path,
                                                                         monkeypatch):
    rec = tmp_path / "rec"
    rec.mkdir()
    path = rec / name("n1", 0)
    sf.write(path, _tone(2), 8000, subtype="PCM_16")
    age(rec)
    real, calls = run_module.examine, []

    def written_meanwhile(p, *args):  # the recorder appends while ingest reads
        calls.append(p)
        result = real(p, *args)
        if len(calls) == 1:
            with sf.SoundFile(p, "r+") as fh:
                fh.seek(0, sf.SEEK_END)
                fh.write(_tone(1))
        return result

    monkeypatch.setattr(run_module, "examine", written_meanwhile)
    store = Store(tmp_path / "p.db")
    first = quiet(rec, store)
    assert (first.added, first.writing) == (0, [str(path)]) and store.n_audios() == 0
    assert "still being written" in str(first)
    age(rec)  # the folder's time is back: it is listed again all the same
    second = quiet(rec, store)
    assert second.added == 1 and store.audios()[0].duration_s == 3.0


def test_a_broken_local_file_is_tried_a_few_times_without_listing_its_folder(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    for m in range(4):
        sf.write(rec / name("n1", m), _tone(1 + m / 10), 8000, subtype="PCM_16")
    bad = rec / name("n1", 9)
    bad.write_bytes(b"RIFF....WAVE not really")
    age(rec)
    store = Store(tmp_path / "p.db")
    assert len(quiet(rec, store).errors) == 1
    runs = [quiet(rec, store) for _ in range(MAX_ATTEMPTS)]
    assert [r.read for r in runs] == [1] * (MAX_ATTEMPTS - 1) + [0]
    assert all(r.folders_skipped == 1 for r in runs)
    assert runs[-1].failed_before == 1 and "not tried again" in str(runs[-1])
    bad.unlink()  # the folder changed: listed; the file is gone, its error too
    assert quiet(rec, store).errors == [] and store.ingest_errors() == []


def test_a_file_replaced_under_its_name_in_a_changed_folder_is_examined(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    old = rec / name("n1", 0)
    sf.write(old, _tone(1), 8000, subtype="PCM_16")
    age(rec)
    store = Store(tmp_path / "p.db")
    assert quiet(rec, store).added == 1
    with open(old, "r+b") as fh:  # same inode, new content (as when ext4 reuses an inode)
        fh.seek(100)
        fh.write(b"\x7f" * 200)
    past = time.time_ns() - 30 * 10**9
    os.utime(old, ns=(past, past))
    sf.write(rec / name("n1", 1), _tone(2), 8000, subtype="PCM_16")  # the folder changes
    age(rec / name("n1", 1))
    summary = quiet(rec, store)
    assert summary.read == 2 and summary.changed == [str(old)]


def test_a_folder_listing_error_is_cleared_once_it_lists(tmp_path, monkeypatch):
    sub = tmp_path / "rec" / "n1"
    sub.mkdir(parents=True)
    sf.write(sub / name("n1", 0), _tone(1), 8000, subtype="PCM_16")
    age(tmp_path / "rec")
    real, denied = os.scandir, []

    def scandir(p="."):
        if os.fspath(p) == str(sub) and not denied:
            denied.append(p)
            raise PermissionError(13, "Permission denied")
        return real(p)

    monkeypatch.setattr(os, "scandir", scandir)
    store = Store(tmp_path / "p.db")
    first = quiet(tmp_path / "rec", store)
    assert "cannot list folder" in first.errors[0][1] and first.added == 0
    second = quiet(tmp_path / "rec", store)
    assert second.added == 1 and store.ingest_errors() == []
    assert quiet(tmp_path / "rec", store).folders_skipped == 2  # no error left: skipped


def test_folder_pattern_gives_no_node_to_files_directly_in_the_folder_given(tmp_path):
    f = tmp_path / "n1" / "x_20240501_100000.wav"
    assert parse_name(f, folder_pattern="{node}", root=tmp_path / "n1")[0] is None
    assert parse_name(f, folder_pattern="{node}", root=tmp_path)[0] == "n1"


# -- review 15b: denials, re-uploads, many days, regrowth -------------------------------
def _as(server, monkeypatch, keys) -> None:
    from moto_s3 import reset_s3fs
    for k, v in server.env(keys).items():
        monkeypatch.setenv(k, v)
    reset_s3fs()


def test_s3_an_object_denied_for_good_never_stops_new_objects_of_other_folders(
        server, tmp_path, monkeypatch):
    put(server, [f"2024/n1/{name('n1', 0)}", f"2024/n2/{name('n2', 0)}"])
    arn = f"arn:aws:s3:::{BUCKET}"
    keys = server.enforce_policies({"reader": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
         "Resource": [arn, arn + "/*"]},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{arn}/2024/n2/*"}]}})
    _as(server, monkeypatch, keys["reader"])
    store = Store(tmp_path / "p.db")
    denied = f"{URL}/2024/n2/{name('n2', 0)}"
    first = quiet(f"{URL}/2024", store)
    assert first.added == 1 and [p for p, _ in first.errors] == [denied]
    admin = server.client(keys["admin"])
    for run in range(MAX_ATTEMPTS + 1):  # the denial lasts; new objects keep coming
        admin.put_object(Bucket=BUCKET, Key=f"2024/n1/{name('n1', 10 + run)}", Body=wav(run))
        admin.put_object(Bucket=BUCKET, Key=f"2024/n3/{name('n3', 10 + run)}",
                         Body=wav(20 + run))
        again = quiet(f"{URL}/2024", store)
        assert again.added == 2, (run, again.errors)
    (error,) = store.ingest_errors()
    assert error.path == denied and error.attempts == MAX_ATTEMPTS
    assert store.n_audios() == 1 + 2 * (MAX_ATTEMPTS + 1)


def test_s3_a_failed_object_looked_up_alone_may_fail_without_failing_the_listing(
        server, tmp_path, monkeypatch):
    import s3fs

    put(server, [f"flat/{name('n1', 0)}"])
    broken = f"flat/aa/{name('n2', 0)}"  # a folder sorting before the prefix's newest key
    server.client().put_object(Bucket=BUCKET, Key=broken, Body=b"bad")
    store = Store(tmp_path / "p.db")
    assert quiet(f"{URL}/flat", store).added == 1
    with store.transaction():  # its folder is not remembered: it is looked up alone
        store._conn.execute("DELETE FROM listed_folders WHERE location = ?",
                            (f"{URL}/flat/aa/".encode(),))
    info = s3fs.S3FileSystem._info

    async def denied(self, path, *a, **kw):
        if path.endswith(broken):
            raise PermissionError(path)
        return await info(self, path, *a, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "_info", denied)
    s3fs.S3FileSystem.clear_instance_cache()  # new instances look it up through `denied`
    put(server, [f"flat/{name('n1', 5)}"], seed0=5)
    again = quiet(f"{URL}/flat", store)
    assert again.added == 1
    assert [(p, "permission denied" in r) for p, r in again.errors] == [(f"{URL}/{broken}",
                                                                       True)]
    assert store.ingest_errors()[0].attempts == 2


def test_s3_an_object_given_up_is_read_again_once_uploaded_again(server, tmp_path):
    put(server, [f"2024/n1/{name('n1', 0)}"])
    broken = f"2024/n1/{name('n1', 1)}"
    server.client().put_object(Bucket=BUCKET, Key=broken, Body=b"RIFF truncated")
    store = Store(tmp_path / "p.db")
    for _ in range(MAX_ATTEMPTS + 1):
        quiet(f"{URL}/2024", store)
    assert store.ingest_errors()[0].attempts == MAX_ATTEMPTS
    given_up = quiet(f"{URL}/2024", store)
    assert (given_up.read, given_up.failed_before) == (0, 1)
    server.client().put_object(Bucket=BUCKET, Key=broken, Body=wav(7))  # a new ETag
    fixed = quiet(f"{URL}/2024", store)
    assert (fixed.read, fixed.added) == (1, 1) and store.ingest_errors() == []


def _days(server, nodes, days, first_day=1, seed0=0):
    keys = [f"arch/{n}/2024-{1 + (d - 1) // 28:02d}-{1 + (d - 1) % 28:02d}/{n}_{d:03d}.wav"
            for n in nodes for d in range(first_day, first_day + days)]
    put(server, keys, seed0=seed0)
    return keys


@pytest.mark.parametrize("days", [4, 40])
def test_s3_a_rerun_of_a_node_day_layout_lists_as_much_whatever_the_number_of_days(
        server, tmp_path, days):
    nodes = ("n1", "n2", "n3")
    _days(server, nodes, days)
    store = Store(tmp_path / f"d{days}.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/arch", store, **kw).added == 3 * days
    # a new file in each node's newest day, and a new day for one node
    put(server, [f"arch/{n}/{_days_folder(days)}/{n}_new.wav" for n in nodes] +
        [f"arch/n1/2024-12-01/n1_next.wav"], seed0=500)
    server.requests.clear()
    again = quiet(f"{URL}/arch", store, **kw)
    assert again.added == 4
    # arch/, the 3 node folders, each node's two newest days, n1's new day: 11, for any age
    assert len(lists(server)) == 11
    assert again.folders_skipped == 3 * (days - 2)
    # late uploads into an older day: only the full listing finds them
    put(server, [f"arch/n2/{_days_folder(1)}/n2_late.wav"], seed0=900)
    assert quiet(f"{URL}/arch", store, **kw).added == 0
    assert quiet(f"{URL}/arch", store, **kw, full_listing=True).added == 1
    # without a folder_pattern no level is taken for time: every day folder is visited
    # (from its newest key), and a late upload into an older day is found
    put(server, [f"arch/n3/{_days_folder(1)}/n3_late.wav"], seed0=950)
    server.requests.clear()
    plain = quiet(f"{URL}/arch", store, name_pattern=None)
    assert (plain.added, plain.folders_skipped) == (1, 0)
    assert len(lists(server)) == 1 + 3 + 3 * days + 1


def _days_folder(d: int) -> str:
    return f"2024-{1 + (d - 1) // 28:02d}-{1 + (d - 1) % 28:02d}"


def test_s3_a_date_first_layout_lists_the_newest_date_and_every_node_in_it(server, tmp_path):
    put(server, [f"dates/2024-05-0{d}/{n}/{name(n, d)}" for d in (1, 2, 3)
                 for n in ("n1", "n2", "n3")])
    store = Store(tmp_path / "p.db")
    assert quiet(f"{URL}/dates", store, folder_pattern="{time:%Y-%m-%d}/{node}").added == 9
    put(server, [f"dates/2024-05-03/{n}/{name(n, 30)}" for n in ("n1", "n2", "n3")],
        seed0=300)
    server.requests.clear()
    again = quiet(f"{URL}/dates", store, folder_pattern="{time:%Y-%m-%d}/{node}")
    # dates/, its two newest days, 3 nodes in each
    assert again.added == 3 and len(lists(server)) == 9
    assert again.folders_skipped == 1


# -- local regrowth -----------------------------------------------------------------------
def test_a_file_stored_complete_and_replaced_by_a_longer_one_is_changed_not_grown(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    path = rec / name("n1", 0)
    sf.write(path, _tone(3), 8000, subtype="PCM_16")
    age(rec)  # complete when stored
    store = Store(tmp_path / "p.db")
    assert quiet(rec, store).added == 1
    sf.write(path, _tone(10), 8000, subtype="PCM_16")  # same name, same beginning, longer
    again = quiet(rec, store, full_listing=True)  # (rewritten in place: the folder is not)
    assert (again.grown, again.changed) == ([], [str(path)])
    reason = {e.path: e.reason for e in store.ingest_errors()}[str(path)]
    assert "complete when it was stored" in reason and "new name" in reason
    assert store.find_audio(str(path)).duration_s == 3.0


def test_a_file_being_written_and_replaced_by_other_audio_is_changed_not_grown(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    path = rec / name("n1", 0)
    sf.write(path, _tone(3), 8000, subtype="PCM_16")  # modified just now: may be written
    store = Store(tmp_path / "p.db")
    assert quiet(rec, store).added == 1
    other = 0.1 * np.sin(2 * np.pi * 1200 * np.arange(80000) / 8000)
    sf.write(path, other, 8000, subtype="PCM_16")
    again = quiet(rec, store)
    assert (again.grown, again.changed) == ([], [str(path)])
    assert "not its beginning" in store.ingest_errors()[0].reason


def test_s3_an_object_uploaded_again_longer_is_changed_never_grown(server, tmp_path):
    put(server, [f"g/n1/{name('n1', 0)}"])
    store = Store(tmp_path / "p.db")
    assert quiet(f"{URL}/g", store).added == 1
    server.client().put_object(Bucket=BUCKET, Key=f"g/n1/{name('n1', 0)}",
                               Body=wav(0, seconds=3.0))
    again = quiet(f"{URL}/g", store, full_listing=True)
    assert again.grown == [] and again.changed == [f"{URL}/g/n1/{name('n1', 0)}"]
    assert "uploaded whole" in store.ingest_errors()[0].reason


def test_a_grown_file_has_the_clips_of_a_fresh_ingest_its_short_last_clip_lengthened(
        tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    growing = rec / name("n1", 0)
    fh = sf.SoundFile(growing, "w", 8000, 1, "PCM_16")
    fh.write(_tone(3.6))
    fh.flush()
    store = Store(tmp_path / "p.db")
    assert quiet(rec, store).added == 1
    sources = store.clip_sources()
    assert np.allclose(sources.duration_s, [1, 1, 1, 0.6])
    short = int(sources.clip_id[-1])
    store.add_tag("ship")
    store.add_label(short, "ship")
    fh.write(_tone(6.4))
    fh.close()
    again = quiet(rec, store)
    assert again.grown == [str(growing)]
    fresh = Store(tmp_path / "fresh.db")
    quiet(rec, fresh)
    assert store.n_clips() == fresh.n_clips() == 10
    after = store.clip_sources()
    assert np.allclose(sorted(zip(after.start_s, after.duration_s)),
                       sorted(zip(fresh.clip_sources().start_s,
                                  fresh.clip_sources().duration_s)))
    assert store.current_labels().clip_id.tolist() == [short]  # the label stays on its id
    assert after.duration_s[after.clip_id == short][0] == pytest.approx(1.0)
    # the label was given on 0.6 s: the summary asks to listen to that clip again
    assert again.listen_again == [short] and f"listen again: clips {short} " in str(again)


# -- which folder levels are time: only where folder_pattern puts {time} -----------------
DAYS3 = ("2024-05-01", "2024-05-02", "2024-05-03")


def _per_node(server, top, nodes, days, seed0):
    put(server, [f"{top}/{n}/{d}/{n}_{d.replace('-', '')}_100000.wav" for n in nodes
                 for d in days], seed0=seed0)


def test_s3_numeric_node_folders_without_a_folder_pattern_are_all_visited(server, tmp_path):
    nodes = [f"{i:03d}" for i in range(1, 8)]  # digits only: never taken for time
    _per_node(server, "num", nodes, ("2024-05-01", "2024-05-02", "2024-05-03"), 0)
    store = Store(tmp_path / "p.db")
    assert quiet(f"{URL}/num", store, name_pattern=None).added == 21
    put(server, [f"num/{n}/2024-05-03/{n}_20240503_100010.wav" for n in nodes], seed0=100)
    again = quiet(f"{URL}/num", store, name_pattern=None)
    assert (again.added, again.folders_skipped) == (7, 0)  # every node's new object
    # the same nodes with a folder_pattern naming them and the days: every node still
    # visited, only the days older than the two newest skipped
    other = Store(tmp_path / "q.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/num", other, **kw).added == 28
    put(server, [f"num/{n}/2024-05-03/{n}_20240503_100020.wav" for n in nodes], seed0=200)
    again = quiet(f"{URL}/num", other, **kw)
    assert (again.added, again.folders_skipped) == (7, 7)


def test_s3_a_folder_pattern_below_the_prefix_given_aligns_as_names_are_read(server,
                                                                           tmp_path):
    """The pattern matches folders below the prefix given (``site/port/{node}/{date}``,
    ingest ``site``): its {time} level is the date, not the node."""
    _per_node(server, "site/port", ("n1", "n2", "n3"), DAYS3, 0)
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": "{node}_{*}", "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/site", store, **kw).added == 9
    audio = store.find_audio(f"{URL}/site/port/n2/2024-05-01/n2_20240501_100000.wav")
    assert (audio.node, audio.recorded_at) == ("n2", "2024-05-01T00:00:00")
    put(server, [f"site/port/{n}/2024-05-03/{n}_20240503_100010.wav"
                 for n in ("n1", "n2", "n3")], seed0=100)
    again = quiet(f"{URL}/site", store, **kw)
    assert (again.added, again.folders_skipped) == (3, 3)  # each node's oldest day skipped


def test_s3_a_date_only_folder_pattern_below_node_folders_finds_every_node(server,
                                                                         tmp_path):
    """``{time:%Y-%m-%d}`` alone over ``port/{node}/{date}`` (the node from the file name):
    the date level is time, the node level is not."""
    _per_node(server, "port", ("n1", "n2", "n3"), DAYS3, 0)
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": "{node}_{*}", "folder_pattern": "{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/port", store, **kw).added == 9
    audio = store.find_audio(f"{URL}/port/n3/2024-05-02/n3_20240502_100000.wav")
    assert (audio.node, audio.recorded_at) == ("n3", "2024-05-02T00:00:00")
    put(server, [f"port/{n}/2024-05-03/{n}_20240503_100010.wav" for n in ("n1", "n2", "n3")],
        seed0=100)
    again = quiet(f"{URL}/port", store, **kw)
    assert (again.added, again.folders_skipped) == (3, 3)


@pytest.mark.parametrize("pattern, folder, root, levels", [
    ("{node}/{time:%Y-%m-%d}", "b/site/port/n1/2024-05-01", "b/site",
     [(), ("node",), ("time",)]),
    ("{time:%Y-%m-%d}", "b/port/n1/2024-05-01", "b/port", [(), ("time",)]),
    ("{node}/{time:%Y/%m}", "arch/n1/2024/05", "arch", [("node",), ("time",), ("time",)]),
    ("{node}_{time:%Y%m%d}", "arch/n1_20240501", "arch", [("node", "time")]),
    ("{node}", "arch/001/2024-05-01", "arch", [("node",), ()]),
    ("{time:%Y-%m-%d}", "arch/001/002", "arch", [(), ()]),  # no match: nothing is time
    (None, "arch/001/2024-05-01", "arch", [(), ()]),
])
def test_folder_fields_are_where_parse_name_reads_them(pattern, folder, root, levels):
    from alwidget.ingestion.names import folder_fields

    assert folder_fields(pattern, folder, root) == [frozenset(f) for f in levels]
    if pattern and any(levels):  # parse_name reads the same folders
        node, when, _ = parse_name(f"{folder}/x.wav", None, pattern, root)
        parts = folder[len(root) + 1:].split("/")
        assert [p for p, f in zip(parts, levels) if f == ("node",)] in ([], [node])
        assert node is not None or not any("node" in f for f in levels)
        assert (when is not None) == any("time" in f for f in levels)


# -- review 15d: side files, future folders, node folders read as years, late uploads -------
def test_s3_a_side_file_beside_day_folders_never_hides_a_new_day(server, tmp_path):
    """``n1/CONFIG.TXT`` sorts after every day folder: a folder with subfolders is listed
    whole, so a new day (sorting before the side file) is found."""
    put(server, [f"side/n1/{d}/n1_{d.replace('-', '')}_100000.wav" for d in DAYS3])
    server.client().put_object(Bucket=BUCKET, Key="side/n1/CONFIG.TXT", Body=b"gain=20")
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/side", store, **kw).added == 3
    put(server, ["side/n1/2024-05-04/n1_20240504_100000.wav"], seed0=40)
    assert quiet(f"{URL}/side", store, **kw).added == 1
    # and without a folder_pattern, a new node folder sorting before a side file of the prefix
    server.client().put_object(Bucket=BUCKET, Key="side/index.csv", Body=b"node\nn1\n")
    assert quiet(f"{URL}/side", store, **kw).added == 0
    put(server, ["side/m0/2024-05-04/m0_20240504_100000.wav"], seed0=50)
    assert quiet(f"{URL}/side", store, name_pattern=None).added == 1


def test_s3_a_future_dated_folder_never_freezes_the_newest_day(server, tmp_path):
    """A folder named for a clock glitch (2099) is no time folder: always visited, and the
    days that sort before it keep being visited as the newest."""
    put(server, [f"fut/n1/{d}/n1_{d.replace('-', '')}_100000.wav"
                 for d in DAYS3 + ("2099-01-01",)])
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/fut", store, **kw).added == 4
    put(server, ["fut/n1/2024-05-04/n1_20240504_100000.wav"], seed0=40)
    assert quiet(f"{URL}/fut", store, **kw).added == 1  # new: visited
    put(server, ["fut/n1/2024-05-04/n1_20240504_100010.wav"], seed0=41)
    again = quiet(f"{URL}/fut", store, **kw)
    assert again.added == 1  # 2024-05-04 is among the two newest days, 2099 not a day
    assert again.folders_skipped == 2  # 2024-05-01 and -02


def test_s3_node_folders_a_pattern_would_read_as_years_are_all_visited(server, tmp_path):
    """``{time:%Y}`` over ``1001/2024/``: the pattern's leftmost match reads the node folder
    as a year, 1001, which is no plausible date: every node is visited."""
    put(server, [f"yr/{n}/2024/{n}_20240501_100000.wav" for n in ("1001", "1002", "1003")])
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{time:%Y}"}
    assert quiet(f"{URL}/yr", store, **kw).added == 3
    put(server, [f"yr/{n}/2024/{n}_20240501_100010.wav" for n in ("1001", "1002", "1003")],
        seed0=30)
    assert quiet(f"{URL}/yr", store, **kw).added == 3


def test_s3_an_upload_into_yesterday_after_today_appeared_is_found(server, tmp_path):
    """The last files of a day often arrive after the next day's first: the two newest days
    are visited."""
    put(server, [f"late/n1/{d}/n1_{d.replace('-', '')}_100000.wav" for d in DAYS3])
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/late", store, **kw).added == 3
    put(server, ["late/n1/2024-05-04/n1_20240504_000005.wav"], seed0=40)
    assert quiet(f"{URL}/late", store, **kw).added == 1
    put(server, ["late/n1/2024-05-03/n1_20240503_235955.wav"], seed0=41)  # yesterday, late
    assert quiet(f"{URL}/late", store, **kw).added == 1


# -- review 15e: side files before the first subfolder, cost, two time levels, clock resets --
def test_s3_a_side_file_uploaded_before_any_recording_never_hides_them(server, tmp_path):
    """A node's CONFIG.TXT at deployment, ingest, then the recordings: a folder's mark is
    its greatest *audio* key, so a folder of side files only is listed whole."""
    put(server, ["cf/n1/CONFIG.TXT", "cf/readme.txt"])
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/cf", store, **kw).added == 0
    put(server, ["cf/n1/2024-05-01/n1_20240501_100000.wav"], seed0=1)
    assert quiet(f"{URL}/cf", store, **kw).added == 1
    put(server, ["cf/n1/2024-05-02/n1_20240502_100000.wav",
                 "cf/m0/2024-05-02/m0_20240502_100000.wav"], seed0=2)
    assert quiet(f"{URL}/cf", store, **kw).added == 2


def test_s3_a_big_folder_with_a_subfolder_is_not_listed_whole_each_run(server, tmp_path):
    """2,500 objects directly in a node folder beside a subfolder: the re-run lists its first
    page whole (a new subfolder may sort there) and jumps to its newest audio key."""
    c = server.client()
    for i in range(2500):
        c.put_object(Bucket=BUCKET, Key=f"fl/n1/n1_{i:06d}.json", Body=b"{}")
    put(server, [f"fl/n1/{name('n1', 0)}", f"fl/n1/logs/{name('n1', 1)}"], seed0=3)
    store = Store(tmp_path / "p.db")
    assert quiet(f"{URL}/fl", store).added == 2
    server.requests.clear()
    assert quiet(f"{URL}/fl", store).added == 0
    assert len(lists(server)) == 4  # fl/, n1/'s first page and from its newest key, logs/
    put(server, [f"fl/n1/{name('n1', 5)}", f"fl/n1/aaa/{name('n1', 6)}"], seed0=5)
    assert quiet(f"{URL}/fl", store).added == 2


def test_s3_node_folders_read_as_years_beside_other_nodes_are_all_visited(server, tmp_path):
    """``{time:%Y}`` over node folders 2019…2021 holding a 2024 folder each: the time is read
    at two levels of every path, so no level is time and every node is visited."""
    nodes = ("2019", "2020", "2021", "x4")
    put(server, [f"ny/{n}/2024/n{i}_20240501_100000.wav" for i, n in enumerate(nodes)])
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{time:%Y}"}
    assert quiet(f"{URL}/ny", store, **kw).added == 4
    put(server, ["ny/2019/2024/n0_20240501_100010.wav"], seed0=10)
    assert quiet(f"{URL}/ny", store, **kw).added == 1


def test_s3_a_reset_clocks_folder_is_always_visited(server, tmp_path):
    """A recorder without a clock after a reboot writes into 1970-01-01 again and again."""
    put(server, [f"cr/n1/1970-01-01/n1_19700101_000000.wav"] +
        [f"cr/n1/{d}/n1_{d.replace('-', '')}_100000.wav" for d in DAYS3], seed0=10)
    store = Store(tmp_path / "p.db")
    kw = {"name_pattern": None, "folder_pattern": "{node}/{time:%Y-%m-%d}"}
    assert quiet(f"{URL}/cr", store, **kw).added == 4
    put(server, ["cr/n1/1970-01-01/n1_19700101_000100.wav"], seed0=20)
    again = quiet(f"{URL}/cr", store, **kw)
    assert again.added == 1 and again.folders_skipped == 1  # only 2024-05-01


def test_a_listing_page_cut_off_without_a_token_fails_and_never_passes_for_whole():
    from alwidget.ingestion.sources import _list_folder

    class CutOff:  # a server answering with V1-style truncation (no continuation token)
        def call_s3(self, op, **kw):
            return {"IsTruncated": True, "Contents": [{"Key": "n1/a.wav", "Size": 1}]}

    with pytest.raises(OSError, match="continuation token"):
        _list_folder(CutOff(), "b", "n1/", None, False)
