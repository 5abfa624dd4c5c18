"""Ingest from object storage: a real S3-compatible server (moto's threaded server on
127.0.0.1, started and stopped here), listing and streaming reads, node and time from the
keys, a broken object, a missing permission and a dropped connection (reported, the run goes
on, a re-run picks them up), re-runs that read only new objects, features of new clips only,
and credentials never stored or printed."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

from alwidget.cli import main
from alwidget.features import extract_features
from alwidget.ingestion import ingest
from alwidget.ingestion.sources import BLOCK_BYTES, ObjectListing
from alwidget.store import Store
from alwidget.widgets.payload import clip_payload

from moto_s3 import BUCKET, reset_s3fs, s3_server

PATTERN = "{node}_{time:%Y%m%d_%H%M%S}"


def wav(seed: int, seconds: float = 2.0, sr: int = 8000, level: float = 0.3) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = level * np.sin(2 * np.pi * (200 + 10 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def key(node: str, minute: int) -> str:
    return f"2024/{node}/{node}_20240501_10{minute:02d}00.wav"


@pytest.fixture
def server(monkeypatch):
    with s3_server() as s:
        reset_s3fs()
        for k, v in s.env().items():
            monkeypatch.setenv(k, v)
        s.client().create_bucket(Bucket=BUCKET)
        yield s
        reset_s3fs()


def put(server, keys, seed0=0, client=None):
    c = client or server.client()
    for i, k in enumerate(keys):
        c.put_object(Bucket=BUCKET, Key=k, Body=wav(seed0 + i))


def run(db, url=f"s3://{BUCKET}/2024", **kw):
    kw.setdefault("clip_seconds", 1.0)
    return ingest(url, db, name_pattern=PATTERN, progress=False, verbose=False, **kw)


def test_objects_are_listed_streamed_and_named_from_their_keys(server, tmp_path):
    put(server, [key(n, m) for n in ("n1", "n2", "n3") for m in (0, 1)] + ["2024/notes.txt"])
    store = Store(tmp_path / "p.db")
    summary = run(store)
    assert (summary.files, summary.added, summary.clips, summary.errors) == (6, 6, 12, [])
    audios = store.audios()
    assert audios[0].path == f"s3://{BUCKET}/{key('n1', 0)}"
    assert sorted({a.node for a in audios}) == ["n1", "n2", "n3"]
    assert audios[1].recorded_at == "2024-05-01T10:01:00"
    # node from the folder below the prefix given, time from the name
    other = Store(tmp_path / "q.db")
    summary = ingest(f"s3://{BUCKET}/2024/", other, folder_pattern="{node}", progress=False,
                     verbose=False)
    assert summary.added == 6 and {a.node for a in other.audios()} == {"n1", "n2", "n3"}
    # features, the player and search read the objects through the same URLs
    fs = extract_features(store, "logmel", n_jobs=1, progress=False)
    ids, X = store.get_features(fs)
    assert len(ids) == 12 and np.isfinite(X).all()
    pay = clip_payload(audios[0].path, 1.0, 1.0, context_s=0.0)  # the labeler's player
    assert pay.sample_rate == 8000 and pay.window_s == 1.0
    # levels were measured as the objects streamed by
    days = store.node_days(["n1"])
    assert days[0].n_files == 2 and days[0].n_frames == 40 and days[0].clipped_frames == 0


def test_a_rerun_reads_only_new_objects_and_features_follow(server, tmp_path):
    put(server, [key("n1", m) for m in range(5)])
    store = Store(tmp_path / "p.db")
    assert run(store).added == 5
    fs = extract_features(store, "logmel", n_jobs=1, progress=False)
    before = dict(zip(*store.get_features(fs)))
    again = run(store)  # n1 listed from after its newest stored key: nothing
    assert (again.files, again.read, again.added, again.prefixes_from_key) == (0, 0, 0, 1)
    put(server, [key("n1", 10), key("n2", 10)], seed0=50)
    third = run(store)
    assert (third.files, third.read, third.added, third.unchanged) == (2, 2, 2, 0), third
    assert run(store, full_listing=True).unchanged == 7
    new = store.clips_without_features(fs)
    assert len(new) == 4  # only the new clips lack features
    extract_features(store, "logmel", n_jobs=1, progress=False)
    ids, X = store.get_features(fs)
    assert len(ids) == 14
    after = dict(zip(ids.tolist(), X))
    assert all(np.array_equal(after[c], v) for c, v in before.items())
    # an object written anew (a new ETag) is read again and reported as changed
    server.client().put_object(Bucket=BUCKET, Key=key("n1", 0), Body=wav(99))
    assert run(store).read == 0  # its key sorts before n1's newest: not listed by default
    fourth = run(store, full_listing=True)
    assert fourth.read == 1 and fourth.changed == [f"s3://{BUCKET}/{key('n1', 0)}"]


def test_broken_denied_and_dropped_objects_are_reported_and_picked_up_later(server, tmp_path,
                                                                          monkeypatch):
    good = [key("n1", m) for m in range(3)]
    put(server, good + [key("n2", 0), key("n3", 0)])
    c = server.client()
    c.put_object(Bucket=BUCKET, Key=key("n4", 0), Body=b"RIFF\x00\x01garbage, not audio")
    readable = f"arn:aws:s3:::{BUCKET}"
    keys = server.enforce_policies({"reader": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
         "Resource": [readable, readable + "/*"]},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{readable}/2024/n2/*"}]},
        "nolist": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": readable + "/*"}]}})
    for k, v in server.env(keys["reader"]).items():
        monkeypatch.setenv(k, v)
    reset_s3fs()
    store = Store(tmp_path / "p.db")
    for k, v in server.env(keys["nolist"]).items():  # may read objects, not list the bucket
        monkeypatch.setenv(k, v)
    reset_s3fs()
    unlisted = run(store)
    assert unlisted.files == 0 and len(unlisted.errors) == 1
    assert "permission denied listing it" in unlisted.errors[0][1]
    for k, v in server.env(keys["reader"]).items():
        monkeypatch.setenv(k, v)
    reset_s3fs()
    server.drop.add(f"{BUCKET}/{key('n3', 0)}")  # its reads break after half the body
    first = run(store)
    assert first.added == 3  # the run went on past the three bad objects
    reasons = dict(first.errors)
    url = f"s3://{BUCKET}/"
    assert set(reasons) == {url + key("n2", 0), url + key("n3", 0), url + key("n4", 0)}
    assert "permission denied" in reasons[url + key("n2", 0)]
    assert "cannot read the file" in reasons[url + key("n3", 0)]
    assert "tries it again" in reasons[url + key("n3", 0)]
    assert "not a readable audio file" in reasons[url + key("n4", 0)]
    assert {e.path for e in store.ingest_errors()} == set(reasons)  # listed now: not the bucket
    # the causes go away: the connection holds, the reader may read n2, n4 is uploaded again
    server.drop.clear()
    admin = server.client(keys["admin"])
    admin.put_object(Bucket=BUCKET, Key=key("n4", 0), Body=wav(40))
    for k, v in server.env(keys["admin"]).items():
        monkeypatch.setenv(k, v)
    reset_s3fs()
    second = run(store)
    assert (second.read, second.added, second.errors) == (3, 3, [])
    assert store.ingest_errors() == []  # the listing's error too: it lists now
    assert store.n_audios() == 6


def test_credentials_are_never_stored_or_printed(server, tmp_path, capsys, monkeypatch):
    secret = "s3cr3t-" + "x" * 24
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)  # moto accepts any key before auth
    put(server, [key("n1", 0), key("n1", 1)])
    db = tmp_path / "p.db"
    assert main(["ingest", f"s3://{BUCKET}/2024", "--db", str(db), "--quiet",
                 "--name-pattern", PATTERN, "--clip-seconds", "1",
                 "--endpoint-url", server.endpoint]) == 0
    # a URL with credentials in it is refused, without showing them
    code = main(["ingest", f"s3://AKIA:{secret}@{BUCKET}/2024", "--db", str(db), "--quiet"])
    out = capsys.readouterr()
    assert code == 2 and "credentials in a URL are refused" in out.err
    Store(db).close()  # checkpoint: the database file holds everything
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("p.db"))
    assert secret.encode() not in stored and b"AKIA" not in stored
    assert secret not in out.out + out.err
    assert "2 added" in out.out


def test_an_unreachable_or_missing_bucket_is_reported_not_a_traceback(server, tmp_path,
                                                                      capsys):
    db = tmp_path / "p.db"
    code = main(["ingest", "s3://no-such-bucket/x", "--db", str(db), "--quiet", "--strict"])
    out = capsys.readouterr()
    assert code == 1 and "s3://no-such-bucket/x" in out.out and "Traceback" not in out.err


def test_watch_adds_new_objects_with_their_features(server, tmp_path, capsys, monkeypatch):
    import alwidget.cli

    put(server, [key("n1", 0)])
    db = tmp_path / "p.db"
    waits = []

    def upload_while_waiting(seconds):  # no real sleep: an object arrives during the watch
        waits.append(seconds)
        if len(waits) == 1:
            put(server, [key("n2", 0)], seed0=7)

    monkeypatch.setattr(alwidget.cli, "_poll_wait", upload_while_waiting)
    args = ["ingest", f"s3://{BUCKET}/2024", "--db", str(db), "--name-pattern", PATTERN,
            "--features", "logmel", "--watch", "30", "--max-runs", "3",
            "--full-listing-every", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert waits == [30, 30]
    runs = [line for line in out.splitlines() if "audio files:" in line]
    # the second run lists n1 from its newest key (nothing) and the new folder n2; the
    # third (every third run) lists everything and reads nothing
    assert [r.split(":")[0] for r in runs] == ["1 audio files", "1 audio files",
                                               "2 audio files"]
    assert "1 added" in runs[1] and "2 not read again" in out
    store = Store(db)
    assert {a.node for a in store.audios()} == {"n1", "n2"}
    fs = store.default_feature_set()
    assert store.count_features(fs) == store.n_clips() == 4  # the new clips' features too


def test_a_long_object_is_read_as_a_stream_of_blocks(server, tmp_path):
    """An hour at 8 kHz (57.6 MB): read in ranges of BLOCK_BYTES, never fetched whole nor
    saved to disk."""
    sr, seconds = 8000, 3600
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", sr, 1, "PCM_16", format="WAV") as f:
        block = (0.1 * np.sin(2 * np.pi * 440 * np.arange(sr * 60) / sr)).astype(np.float32)
        for _ in range(seconds // 60):
            f.write(block)
    server.client().put_object(Bucket=BUCKET, Key="long/n1_20240501_000000.wav",
                               Body=buf.getvalue())
    size = len(buf.getvalue())
    del buf
    server.requests.clear()
    before = set(os.listdir(tmp_path))
    summary = ingest(f"s3://{BUCKET}/long", Store(tmp_path / "p.db"), clip_seconds=60,
                     progress=False, verbose=False)
    assert summary.added == 1 and summary.clips == 60
    gets = [r for r in server.requests if r[0] == "GET" and r[1].startswith(BUCKET + "/long/")]
    assert all(r[2] is not None for r in gets)
    assert len(gets) >= size // BLOCK_BYTES
    spans = [tuple(int(x) for x in r[2].split("=")[1].split("-")) for r in gets]
    assert max(b - a + 1 for a, b in spans) <= 2 * BLOCK_BYTES  # a block (read-ahead), not all
    assert set(os.listdir(tmp_path)) - before == {"p.db", "p.db-wal", "p.db-shm"}


def test_a_rerun_lists_each_folder_from_its_newest_key_and_retries_errors(server, tmp_path):
    put(server, [key(n, m) for n in ("n1", "n2") for m in (0, 1)])
    server.client().put_object(Bucket=BUCKET, Key=key("n3", 5), Body=b"not audio at all")
    store = Store(tmp_path / "p.db")
    first = run(store)  # nothing stored yet: everything is listed
    assert (first.files, first.added, len(first.errors)) == (5, 4, 1)
    put(server, [key("n1", 2), key("n2", 0)[:-10] + "095900.wav"], seed0=20)  # after, before
    server.requests.clear()
    second = run(store)
    assert (second.files, second.read, second.added) == (2, 2, 1)  # n1's new one; n3 again
    assert second.prefixes_from_key == 3  # each node folder from its key; 2024/ whole
    lists = [r[3] for r in server.requests if r[0] == "GET" and r[1] == BUCKET]
    after = sorted(q.split("start-after=")[1].split("&")[0] for q in lists if "start-after" in q)
    # n3's folder from just before its broken object (its size and ETag are seen again)
    assert after == [f"2024%2Fn{n}%2Fn{n}_20240501_10{m}00.wa{v}" for n, m, v in
                     (("1", "01", "v"), ("2", "01", "v"), ("3", "05", ""))]
    assert len(lists) == 4  # one listing per folder (2024/ and its three node folders)
    # the broken object is not looked up alone: its folder's listing gives it (the HEADs
    # are the reads of the two objects read)
    assert sorted(r[1] for r in server.requests if r[0] == "HEAD") == \
        [f"{BUCKET}/{key('n1', 2)}", f"{BUCKET}/{key('n3', 5)}"]
    # the object uploaded late under an earlier key is seen by a full listing only
    assert run(store).read == 1  # (n3's broken object, tried a third time)
    assert run(store).read == 0  # tried 3 times, unchanged since: not again
    full = run(store, full_listing=True)
    assert (full.read, full.added, full.prefixes_from_key) == (2, 1, 0)
    # a copy of an object not listed this time is a duplicate, never a move of the original
    copied = "2024/n9/" + key("n1", 0).rsplit("/", 1)[1]  # same name, node and time
    put(server, [copied], seed0=0)  # the content of n1's first object
    copy = run(store)
    url = f"s3://{BUCKET}/"
    assert copy.duplicates == [(url + copied, url + key("n1", 0))] and copy.moved == []
    assert store.find_audio(url + key("n1", 0)) is not None


def test_credentials_from_a_profile(server, tmp_path, monkeypatch):
    put(server, [key("n1", 0)])
    creds = tmp_path / "aws-credentials"
    creds.write_text("[port]\naws_access_key_id = AKIAPROFILE\n"
                     "aws_secret_access_key = profile-secret\n")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    db = tmp_path / "p.db"
    assert main(["ingest", f"s3://{BUCKET}/2024", "--db", str(db), "--quiet",
                 "--profile", "port", "--name-pattern", PATTERN]) == 0
    assert Store(db).n_audios() == 1
    assert b"profile-secret" not in db.read_bytes()


def test_a_failed_listing_does_not_move_its_audios_to_a_copy(server, tmp_path, monkeypatch):
    import alwidget.ingestion.run as run_module

    put(server, [key("n1", 0), key("n1", 1)])
    store = Store(tmp_path / "p.db")
    a, b = f"s3://{BUCKET}/2024", f"s3://{BUCKET}/backup"
    assert run(store, a).added == 2
    body = server.client().get_object(Bucket=BUCKET, Key=key("n1", 0))["Body"].read()
    server.client().put_object(Bucket=BUCKET, Key="backup/n1/n1_20240501_100000.wav",
                               Body=body)
    real = run_module.list_objects

    def flaky(url, errors, *args, **kw):  # prefix A cannot be listed this time
        if url == a:
            errors.append((a, "cannot list it: test: the network is down"))
            return ObjectListing([], a, listed=False)
        return real(url, errors, *args, **kw)

    monkeypatch.setattr(run_module, "list_objects", flaky)
    summary = ingest([a, b], store, name_pattern=PATTERN, progress=False, verbose=False)
    assert summary.moved == [] and len(summary.duplicates) == 1
    assert sorted(x.path for x in store.audios()) == [f"s3://{BUCKET}/{key('n1', m)}"
                                                     for m in (0, 1)]


def test_a_payload_of_an_object_rewritten_in_place_is_made_anew(server, tmp_path):
    from alwidget.session.payloads import PayloadCache

    c = server.client()
    c.put_object(Bucket=BUCKET, Key=key("n1", 0), Body=wav(1, level=0.3))
    url = f"s3://{BUCKET}/{key('n1', 0)}"
    cache = PayloadCache()
    cache.version_ttl_s = 0.0  # ask the server each time (default: at most every 10 s)
    first = cache.get(url, 0.0, 1.0, context_s=0.0)
    assert cache.get(url, 0.0, 1.0, context_s=0.0) is first  # the same object: kept
    c.put_object(Bucket=BUCKET, Key=key("n1", 0), Body=wav(1, level=0.01))  # in place
    second = cache.get(url, 0.0, 1.0, context_s=0.0)
    assert second is not first and second.wav != first.wav


def test_windows_of_an_object_are_its_clips(server, tmp_path):
    put(server, [key("n1", 0)])
    url = f"s3://{BUCKET}/{key('n1', 0)}"
    store = Store(tmp_path / "p.db")
    summary = run(store, windows={url: [(0.25, 0.5), (1.0, 0.75)]})
    assert (summary.added, summary.clips, summary.errors) == (1, 2, [])
    src = store.clip_sources(store.clip_ids())
    assert src.path == [url, url] and src.start_s.tolist() == [0.25, 1.0]


def test_a_network_error_while_listing_is_reported_not_raised(server, tmp_path, monkeypatch):
    import s3fs

    put(server, [key("n1", 0)])
    calls = []
    real = s3fs.S3FileSystem.isfile

    def flaky(self, path):  # answers once, then the network goes
        calls.append(path)
        if len(calls) > 1:
            raise ConnectionError("test: network unreachable")
        return real(self, path)

    monkeypatch.setattr(s3fs.S3FileSystem, "isfile", flaky)
    summary = run(Store(tmp_path / "p.db"), full_listing=True)  # asks isfile, then lists
    assert summary.added == 1 and summary.errors == [] and len(calls) == 1
    calls.clear()  # a first run's default listing needs no isfile: it found the prefix
    summary = run(Store(tmp_path / "q.db"))
    assert summary.added == 1 and summary.errors == [] and calls == []
