"""Ingest: formats, clip rule, names, idempotency, identity (links, moves, copies), names that
are not UTF-8, and a corpus of bad input."""

import io
import os
import sqlite3

import numpy as np
import pytest
import soundfile as sf

import alwidget.ingestion as ingest_mod
import alwidget.ingestion.files as ingest_files
from alwidget.ingestion import clip_windows, ingest, parse_name
from alwidget.store import Store
from conftest import write_audio


# -- clip rule ----------------------------------------------------------------
@pytest.mark.parametrize(
    "duration, clip, hop, min_last, expected",
    [
        (3.0, 1.0, None, None, [(0, 1), (1, 1), (2, 1)]),
        (2.5, 1.0, None, None, [(0, 1), (1, 1), (2, 0.5)]),  # remainder = half a clip: kept
        (2.4, 1.0, None, None, [(0, 1), (1, 1)]),  # shorter remainder: dropped
        (2.4, 1.0, None, 0.3, [(0, 1), (1, 1), (2, 0.4)]),
        (0.3, 1.0, None, None, [(0, 0.3)]),  # a file shorter than a clip gives one clip
        (2.0, 1.0, 0.5, None, [(0, 1), (0.5, 1), (1, 1)]),
        (10.0, 10.0, None, None, [(0, 10)]),
    ],
)
def test_clip_rule(duration, clip, hop, min_last, expected):
    assert clip_windows(duration, clip, hop, min_last) == [(float(a), float(b)) for a, b in expected]


@pytest.mark.parametrize("kw, msg", [
    (dict(clip_seconds=0), "clip_seconds=0 must be a finite number > 0"),
    (dict(clip_seconds=float("inf")), "clip_seconds=inf must be a finite number > 0"),
    (dict(clip_seconds=float("nan")), "clip_seconds=nan must be a finite number > 0"),
    (dict(clip_seconds=1, hop_seconds=-1), "hop_seconds=-1 must be a finite number > 0"),
    (dict(clip_seconds=1, hop_seconds=float("inf")), "hop_seconds=inf must be a finite"),
    (dict(clip_seconds=1, min_last_seconds=float("nan")), "min_last_seconds=nan"),
    (dict(clip_seconds=1, min_last_seconds=2), "min_last_seconds=2"),
])
def test_clip_rule_rejects_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        clip_windows(5.0, **kw)


# -- names ----------------------------------------------------------------------
def test_node_and_time_from_a_name_pattern():
    assert parse_name("/x/n07_20240501_123000.wav", "{node}_{time:%Y%m%d_%H%M%S}") == (
        "n07", "2024-05-01T12:30:00", True)
    assert parse_name("/x/REC-site_2-2024-05-01T12.30.00.flac",
                      "REC-{node}-{time:%Y-%m-%dT%H.%M.%S}") == ("site_2", "2024-05-01T12:30:00", True)
    # a name that does not match: nothing from it
    assert parse_name("/x/other.wav", "{node}_{time:%Y%m%d_%H%M%S}") == (None, None, False)


def test_node_and_time_from_folders_when_the_name_lacks_them(tmp_path):
    f = tmp_path / "nodeA" / "2024-05-01" / "clip_0001.wav"
    assert parse_name(f, folder_pattern="{node}/{time:%Y-%m-%d}", root=tmp_path) == (
        "nodeA", "2024-05-01T00:00:00", False)
    # the name gives the time, the folder the node
    g = tmp_path / "nodeB" / "20240501_070000.wav"
    assert parse_name(g, folder_pattern="{node}", root=tmp_path) == (
        "nodeB", "2024-05-01T07:00:00", True)


def test_default_time_stamps_and_empty_otherwise():
    assert parse_name("AM01_20240501_235959.WAV")[1] == "2024-05-01T23:59:59"
    assert parse_name("rec 2024-05-01T23-59-59.flac")[1] == "2024-05-01T23:59:59"
    assert parse_name("20241399_999999.wav")[1] is None  # not a date
    assert parse_name("dog_bark.wav") == (None, None, False)


def test_bad_pattern_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="names neither"):
        ingest(tmp_path, tmp_path / "s.db", name_pattern="plain", progress=False, verbose=False)
    with pytest.raises(ValueError, match="with its format"):
        parse_name("a.wav", "{time}")


# -- formats --------------------------------------------------------------------
FORMATS = [  # file name, seconds, rate, channels, subtype, expected bits
    ("pcm8.wav", 1.5, 8000, 1, "PCM_U8", 8),
    ("pcm16.wav", 2.0, 16000, 1, "PCM_16", 16),
    ("pcm24_stereo.wav", 1.0, 44100, 2, "PCM_24", 24),
    ("pcm32.wav", 1.0, 48000, 1, "PCM_32", 32),
    ("float.wav", 1.0, 96000, 1, "FLOAT", 32),
    ("six.wav", 1.0, 22050, 6, "PCM_16", 16),
    ("lossless.flac", 3.0, 32000, 1, "PCM_16", 16),
    ("vorbis.ogg", 2.0, 44100, 2, "VORBIS", None),
    ("lossy.mp3", 2.0, 44100, 1, "MPEG_LAYER_III", None),
]


def test_reads_every_format_rate_depth_and_channel_count(tmp_path):
    for name, secs, sr, ch, subtype, _ in FORMATS:
        write_audio(tmp_path / "in" / name, secs, sr, ch, subtype)
    summary = ingest(tmp_path / "in", tmp_path / "s.db", clip_seconds=1.0, progress=False,
                     verbose=False)
    assert summary.errors == [] and summary.added == len(FORMATS)
    got = {os.path.basename(a.path): a for a in Store(tmp_path / "s.db").audios()}
    for name, secs, sr, ch, subtype, bits in FORMATS:
        a = got[name]
        assert (a.sample_rate, a.channels, a.bits_per_sample) == (sr, ch, bits), name
        # lossy codecs may add encoder padding; lossless ones are exact
        tol = 0.1 if name.endswith((".mp3", ".ogg")) else 1e-9
        assert a.duration_s == pytest.approx(secs, abs=tol), name
    assert summary.clips == sum(len(clip_windows(got[n].duration_s, 1.0)) for n in got)


# -- idempotency ------------------------------------------------------------------
def test_reingest_adds_nothing_and_reports_changed_files(tmp_path):
    src = tmp_path / "in"
    write_audio(src / "a.wav", 2.0)
    write_audio(src / "b.wav", 3.0)
    db = tmp_path / "s.db"
    first = ingest(src, db, progress=False, verbose=False)
    assert (first.added, first.clips) == (2, 5)
    again = ingest(src, db, progress=False, verbose=False)
    assert (again.added, again.unchanged, again.clips, again.changed) == (0, 2, 0, [])
    write_audio(src / "b.wav", 3.0, freq=880.0)  # new content, same name, rewritten in place
    third = ingest(src, db, progress=False, verbose=False, full_listing=True)
    assert third.changed == [str(src / "b.wav")] and third.added == 0
    assert "changed" in str(third)
    store = Store(db)
    assert store.n_audios() == 2 and store.n_clips() == 5


def test_a_list_of_files_and_a_project(tmp_path):
    a = write_audio(tmp_path / "a.wav", 1.0)
    b = write_audio(tmp_path / "sub" / "b.flac", 1.0)
    s = ingest([a, b, a], tmp_path / "s.db", project="demo", progress=False, verbose=False)
    assert s.added == 2
    store = Store(tmp_path / "s.db")
    assert store.db["paths"].count == 2 and store.db["projects"].count == 1


# -- bad input --------------------------------------------------------------------------
def _bad_corpus(root):
    """Write one good file and one file per kind of bad input; return {name: reason part}."""
    sr = 16000
    good = write_audio(root / "good.wav", 2.0, sr)
    data = good.read_bytes()
    write_audio(root / "deep" / "good.flac", 1.0, sr)
    write_audio(root / "café 🐦 \u202eodd.wav", 1.0, sr)  # odd but valid Unicode: ingested
    bad = {}
    (root / "empty.wav").write_bytes(b"")
    bad["empty.wav"] = "empty file"
    (root / "truncated.wav").write_bytes(data[: len(data) // 2])
    bad["truncated.wav"] = "truncated"
    (root / "header_only.wav").write_bytes(data[:30])
    bad["header_only.wav"] = "not a readable audio file"
    flac = (root / "deep" / "good.flac").read_bytes()
    (root / "truncated.flac").write_bytes(flac[: len(flac) // 2])
    bad["truncated.flac"] = "truncated"
    (root / "text.wav").write_text("this is not audio\n" * 20)
    bad["text.wav"] = "not a readable audio file"
    y = np.zeros(sr, np.float32)
    y[5] = np.nan
    sf.write(root / "nan.wav", y, sr, subtype="FLOAT")
    bad["nan.wav"] = "NaN or infinite"
    y[5] = np.inf
    sf.write(root / "inf.wav", y, sr, subtype="FLOAT")
    bad["inf.wav"] = "NaN or infinite"
    sf.write(root / "zero_length.wav", np.zeros((0, 1), np.float32), sr, subtype="PCM_16")
    bad["zero_length.wav"] = "zero-length audio"
    zero_ch = bytearray(data)
    zero_ch[22:24] = (0).to_bytes(2, "little")  # WAV header: channel count 0
    (root / "zero_channels.wav").write_bytes(bytes(zero_ch))
    bad["zero_channels.wav"] = "Channel count is zero"
    sf.write(root / "ch64.wav", np.zeros((sr // 10, 64), np.float32), sr, subtype="PCM_16")
    bad["ch64.wav"] = "64 channels is more than max_channels=32"
    (root / "noperm.wav").write_bytes(data)
    os.chmod(root / "noperm.wav", 0)
    bad["noperm.wav"] = "permission denied"
    (root / "deep" / "loop").symlink_to(root)  # a link back up: a directory loop
    bad["loop"] = "directory loop"
    (root / "notes.txt").write_text("ignored: not an audio ending")
    return bad


def test_bad_input_gives_one_error_row_per_file_and_no_other_damage(tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    root.mkdir()
    bad = _bad_corpus(root)
    if os.geteuid() == 0:  # root reads any file: make the unreadable one fail as for a user
        real_open = open

        def fake_open(path, *a, **kw):
            if str(path).endswith("noperm.wav"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **kw)

        monkeypatch.setattr(ingest_files, "open", fake_open, raising=False)
    db = tmp_path / "s.db"
    summary = ingest(root, db, progress=False, verbose=False)
    store = Store(db)
    errors = store.ingest_errors()
    by_name = {os.path.basename(e.path): e.reason for e in errors}
    assert len(errors) == len(bad), (set(bad) ^ set(by_name))
    for name, part in bad.items():
        assert part in by_name[name], (name, by_name.get(name))
    # the summary names each bad file and its reason
    text = str(summary)
    for name in bad:
        assert name in text
    # the good files, and only they, are stored, each with its clips
    names = sorted(os.path.basename(a.path) for a in store.audios())
    assert names == sorted(["good.wav", "good.flac", "café 🐦 \u202eodd.wav"])
    assert store.n_clips() == 2 + 1 + 1
    con = sqlite3.connect(db)
    orphans = con.execute("SELECT COUNT(*) FROM clips WHERE audio_id NOT IN (SELECT id FROM audios)")
    assert orphans.fetchone()[0] == 0
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # running again changes nothing: no duplicate rows
    again = ingest(root, db, progress=False, verbose=False)
    assert again.added == 0 and len(store.ingest_errors()) == len(bad)
    assert store.n_audios() == 3


def test_a_fixed_file_is_ingested_and_its_error_cleared(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "later.wav").write_bytes(b"")
    db = tmp_path / "s.db"
    ingest(root, db, progress=False, verbose=False)
    assert len(Store(db).ingest_errors()) == 1
    write_audio(root / "later.wav", 1.0)
    s = ingest(root, db, progress=False, verbose=False)
    assert s.added == 1 and Store(db).ingest_errors() == []


def test_missing_path_is_reported(tmp_path):
    s = ingest(tmp_path / "nowhere", tmp_path / "s.db", progress=False, verbose=False)
    assert s.errors == [(str(tmp_path / "nowhere"), "no such file or folder")]


def test_more_channels_accepted_when_asked(tmp_path):
    sf.write(tmp_path / "ch64.wav", np.zeros((1600, 64), np.float32), 16000, subtype="PCM_16")
    s = ingest(tmp_path, tmp_path / "s.db", max_channels=64, progress=False, verbose=False)
    assert s.added == 1 and Store(tmp_path / "s.db").audios()[0].channels == 64


def test_node_and_time_are_stored(tmp_path):
    write_audio(tmp_path / "in" / "siteA" / "n3_20240501_101010.wav", 1.0)
    write_audio(tmp_path / "in" / "siteA" / "unnamed.wav", 1.0, seed=1)  # not a copy
    s = ingest(tmp_path / "in", tmp_path / "s.db", name_pattern="{node}_{time:%Y%m%d_%H%M%S}",
               folder_pattern="{node}", progress=False, verbose=False)
    assert s.unmatched_names == 1
    got = {os.path.basename(a.path): (a.node, a.recorded_at) for a in Store(tmp_path / "s.db").audios()}
    assert got == {"n3_20240501_101010.wav": ("n3", "2024-05-01T10:10:10"),
                   "unnamed.wav": ("siteA", None)}


# -- given windows ----------------------------------------------------------------------
def test_given_windows_are_the_clips_of_their_files_and_the_rule_makes_the_others(tmp_path):
    a = write_audio(tmp_path / "in" / "a.wav", 3.0)
    write_audio(tmp_path / "in" / "b.wav", 2.0)
    db = tmp_path / "s.db"
    s = ingest(tmp_path / "in", db, clip_seconds=1.0, progress=False, verbose=False,
               windows={str(a): [(1.2, 1.64), (0.0, 0.5), (1.2, 1.64)]})  # a repeat is one clip
    src = Store(db).clip_sources()
    got = [(os.path.basename(p), st, d) for p, st, d in zip(src.path, src.start_s, src.duration_s)]
    assert got == [("a.wav", 0.0, 0.5), ("a.wav", 1.2, 1.64), ("b.wav", 0.0, 1.0), ("b.wav", 1.0, 1.0)]
    assert (s.added, s.clips) == (2, 4)
    again = ingest(tmp_path / "in", db, clip_seconds=1.0, progress=False, verbose=False,
                   windows={a: [(0.0, 0.5)]})  # windows it was stored with: nothing to do
    assert (again.added, again.unchanged, Store(db).n_clips()) == (0, 2, 4)


@pytest.mark.parametrize("windows, message", [
    ([(2.5, 1.0)], "a.wav: the window start_s=2.5, duration_s=1 ends at 3.5 s, after the end "
                   "of the file \\(3 s\\); nothing was stored"),
    ([(-1, 1.0)], "a.wav: start_s=-1.0 must be a number of seconds >= 0"),
    ([(0, 0)], "a.wav: duration_s=0.0 must be a number of seconds > 0"),
    ([(0, float("inf"))], "duration_s=inf must be"),
    ([("x", 1.0)], "window \\('x', 1.0\\) must be a pair of numbers"),
    ([(0.0,)], "must be a pair of numbers"),
    ([], "no windows given"),
])
def test_a_bad_window_stores_nothing(tmp_path, windows, message):
    write_audio(tmp_path / "in" / "0.wav", 1.0)  # read and stored first without windows
    a = write_audio(tmp_path / "in" / "a.wav", 3.0)
    db = tmp_path / "s.db"
    with pytest.raises(ingest_mod.WindowError, match=message) as caught:
        ingest(tmp_path / "in", db, progress=False, verbose=False, windows={a: windows})
    assert caught.value.path == str(a)
    store = Store(db)
    assert (store.n_audios(), store.ingest_errors()) == (0, [])


def test_windows_of_a_file_not_among_paths_are_refused_and_new_ones_added(tmp_path):
    a = write_audio(tmp_path / "in" / "a.wav", 3.0)
    b = write_audio(tmp_path / "in" / "b.wav", 3.0)
    db = tmp_path / "s.db"
    with pytest.raises(ValueError, match="windows= names 1 files that are not among paths"):
        ingest(a, db, progress=False, verbose=False, windows={b: [(0, 1)]})
    ingest(a, db, progress=False, verbose=False)  # the clip rule: 0-1, 1-2, 2-3
    with pytest.raises(ingest_mod.WindowError, match="ends at 3.5 s, after the end of the file"):
        ingest([a, b], db, progress=False, verbose=False, windows={a: [(2.5, 1.0)]})
    assert (Store(db).n_audios(), Store(db).n_clips()) == (1, 3)  # b.wav was not stored either
    summary = ingest([a], db, progress=False, verbose=False, windows={a: [(0.5, 1.0), (0, 1)]})
    assert summary.clips == 1 and Store(db).n_clips() == 4  # a stored file gets the new window


# -- a file is its resolved path and its content ----------------------------------------
def _three_files(folder):
    """Three files of different content in ``folder`` (and a subfolder)."""
    write_audio(folder / "a.wav", 2.0, seed=1)
    write_audio(folder / "b.wav", 3.0, seed=2)
    write_audio(folder / "sub" / "c.flac", 1.0, seed=3)
    return folder


def test_a_folder_and_a_link_to_it_give_one_audio_per_content(tmp_path):
    real = _three_files(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b_link.wav").symlink_to(real / "b.wav")  # a link to one file
    db = tmp_path / "s.db"
    first = ingest([tmp_path / "link", real, tmp_path / "elsewhere"], db, progress=False,
                   verbose=False)
    assert (first.files, first.added, first.clips, first.duplicates) == (3, 3, 6, [])
    again = ingest(tmp_path / "link", db, progress=False, verbose=False)  # a later run
    assert (again.added, again.unchanged, again.moved, again.duplicates) == (0, 3, [], [])
    store = Store(db)
    assert store.n_audios() == 3 and store.n_clips() == 6
    # stored under the resolved path, which is the file however it was reached
    assert sorted(a.path for a in store.audios()) == [
        str(real / "a.wav"), str(real / "b.wav"), str(real / "sub" / "c.flac")]
    assert store.ingest_errors() == []


def test_a_store_that_kept_a_path_through_a_link_gets_the_resolved_one(tmp_path):
    real = _three_files(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    db = tmp_path / "s.db"
    ingest(tmp_path / "link", db, progress=False, verbose=False)
    store = Store(db)
    old = {a.id: a.path for a in store.audios()}
    for aid, path in old.items():  # as an earlier alwidget stored them: through the link
        store.move_audio(aid, path.replace(str(real), str(tmp_path / "link")))
    s = ingest(real, db, progress=False, verbose=False)
    assert (s.added, s.clips, len(s.moved)) == (0, 0, 3)
    assert {a.id: a.path for a in store.audios()} == old and store.n_clips() == 6


def test_a_moved_folder_keeps_its_audio_ids_clips_features_and_labels(tmp_path):
    from alwidget.features import extract_features

    old = _three_files(tmp_path / "2024")
    db = tmp_path / "s.db"
    ingest(old, db, progress=False, verbose=False)
    store = Store(db)
    fs = extract_features(store, n_jobs=1, progress=False)
    store.add_tag("dog")
    store.add_label(int(store.clip_ids()[2]), "dog")
    before = store.clip_sources()
    ids_before, X_before = store.get_features(fs)
    new = tmp_path / "archive" / "2024-renamed"
    new.parent.mkdir()
    os.rename(old, new)

    s = ingest(new, db, progress=False, verbose=False)
    assert (s.added, s.clips, s.duplicates, s.errors) == (0, 0, [], [])
    assert sorted(s.moved) == sorted((str(old / p), str(new / p))
                                     for p in ("a.wav", "b.wav", "sub/c.flac"))
    assert "3 moved" in str(s) and f"moved: {old / 'a.wav'} -> {new / 'a.wav'}" in str(s)
    after = store.clip_sources()
    assert after.clip_id.tolist() == before.clip_id.tolist()
    assert after.audio_id.tolist() == before.audio_id.tolist()
    assert [p.replace(str(new), str(old)) for p in after.path] == before.path
    assert all(p.startswith(str(new)) for p in after.path)
    ids_after, X_after = store.get_features(fs)
    assert ids_after.tolist() == ids_before.tolist() and np.array_equal(X_after, X_before)
    assert len(store.clips_without_features(fs)) == 0
    labels = store.current_labels()
    assert labels.clip_id.tolist() == [int(store.clip_ids()[2])]
    assert store.n_audios() == 3 and store.n_clips() == 6
    again = ingest(new, db, progress=False, verbose=False)
    assert (again.unchanged, again.moved) == (3, [])


def test_a_copy_is_reported_as_a_duplicate_and_not_stored_again(tmp_path):
    src = tmp_path / "in"
    original = write_audio(src / "a.wav", 2.0, seed=1)
    copy = src / "later" / "a copy.wav"
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())
    db = tmp_path / "s.db"
    s = ingest(src, db, progress=False, verbose=False)
    assert (s.added, s.clips, s.duplicates, s.errors) == (1, 2, [(str(copy), str(original))], [])
    text = str(s)
    assert "1 duplicates" in text
    assert f"duplicate: {copy}: the same content (SHA-256) as {original}" in text
    store = Store(db)
    assert [a.path for a in store.audios()] == [str(original)]
    (err,) = store.ingest_errors()  # the store says why the copy has no clips
    assert err.path == str(copy) and f"same content (SHA-256) as {original}" in err.reason
    # the stored file deleted: the copy is now where that content lives
    os.remove(original)
    s = ingest(src, db, progress=False, verbose=False)
    assert s.moved == [(str(original), str(copy))] and s.duplicates == []
    assert [a.path for a in store.audios()] == [str(copy)] and store.ingest_errors() == []


# -- names that are not valid UTF-8 ---------------------------------------------------------
def _latin1_folder(tmp_path):
    """A folder holding a WAV named ``café.wav`` in Latin-1 bytes; skip where names must be
    UTF-8 (some file systems refuse other bytes)."""
    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/r\xe9c")  # a Latin-1 folder too
    name = os.path.join(folder, os.fsdecode(b"caf\xe9.wav"))
    try:
        os.mkdir(folder)
        with open(name, "wb"):
            pass
    except (OSError, UnicodeError) as exc:
        pytest.skip(f"this file system refuses names that are not UTF-8 ({exc})")
    if os.fsencode(name) not in [os.fsencode(e.path) for e in os.scandir(folder)]:
        pytest.skip("this file system changes names that are not UTF-8 (it keeps no raw bytes)")
    return folder, name


@pytest.fixture
def latin1_project(tmp_path):
    """``r\xe9c/caf\xe9.wav`` (3 s at 48 kHz) and a broken ``r\xe9c/\xff-broken.wav``, named
    in Latin-1 bytes, ingested: (store, path of the WAV, path of the broken file, summary)."""
    folder, name = _latin1_folder(tmp_path)
    sf.write(os.fsencode(name), 0.3 * np.sin(np.arange(48000 * 3) / 48000 * 2 * np.pi * 440),
             48000)
    broken = os.path.join(folder, os.fsdecode(b"\xff-broken.wav"))
    with open(broken, "wb") as fh:
        fh.write(b"RIFF nonsense")
    db = tmp_path / "s.db"
    summary = ingest(folder, db, progress=False, verbose=False)
    return Store(db), name, broken, summary


def test_a_name_that_is_not_utf8_is_ingested_and_its_features_extracted(latin1_project, tmp_path):
    from alwidget.audio import printable
    from alwidget.features import extract_features

    store, name, broken, s = latin1_project
    assert (s.added, s.clips) == (1, 3)
    # shown readably: the bytes that are not UTF-8 as \xNN, the rest as they are
    assert printable(broken) == str(tmp_path) + "/r\\xe9c/\\xff-broken.wav"
    assert s.errors == [(printable(broken), s.errors[0][1])]
    assert "not a readable audio file" in s.errors[0][1]
    assert f"error: {printable(broken)}: not a readable audio file" in str(s)
    str(s).encode("utf-8")  # printable in any terminal or notebook
    assert [e.path for e in store.ingest_errors()] == [printable(broken)]
    # kept losslessly: the stored path is the file's own bytes
    src = store.clip_sources()
    assert src.path == [name] * 3 and os.fsencode(src.path[0]) == os.fsencode(name)
    fs = extract_features(store, n_jobs=1, progress=False)
    ids, X = store.get_features(fs)
    assert X.shape == (3, fs.dim) and np.isfinite(X).all()
    # ingested again: the same file, found by its bytes
    again = ingest(os.path.dirname(name), store, progress=False, verbose=False)
    assert (again.added, again.unchanged) == (0, 1) and store.n_audios() == 1


def test_a_name_that_is_not_utf8_is_played_from_its_stored_path(latin1_project):
    from alwidget.widgets.payload import clip_payload

    store, name, _, _ = latin1_project
    src = store.clip_sources()
    payload = clip_payload(src.path[1], src.start_s[1], src.duration_s[1])
    assert payload.sample_rate == 32000 and payload.clip_offset_s == 1.0
    assert sf.info(io.BytesIO(payload.wav)).duration == pytest.approx(3.0)


@pytest.mark.parametrize("order", ["old name first", "new name first"])
def test_a_renamed_file_whose_old_name_holds_a_new_recording(tmp_path, order):
    """a.wav is stored, renamed to b.wav, and a new recording is written as a.wav: b.wav is
    the stored audio (moved, labels kept), a.wav is new; in one run, whatever the order."""
    src = tmp_path / "in"
    write_audio(src / "a.wav", 2.0, seed=1)
    db = tmp_path / "s.db"
    ingest(src, db, progress=False, verbose=False)
    store = Store(db)
    (first,) = store.audios()
    store.add_tag("dog")
    store.add_label(int(store.clip_ids()[0]), "dog")
    os.rename(src / "a.wav", src / "b.wav")
    write_audio(src / "a.wav", 3.0, seed=2)  # another recording under the old name
    paths = [src / "a.wav", src / "b.wav"]
    s = ingest(paths if order == "old name first" else paths[::-1], db, progress=False,
               verbose=False)
    assert s.moved == [(str(src / "a.wav"), str(src / "b.wav"))]
    assert (s.added, s.clips, s.changed, s.duplicates, s.errors) == (1, 3, [], [], [])
    by_path = {a.path: a for a in store.audios()}
    assert by_path[str(src / "b.wav")].id == first.id  # its clips and label went with it
    assert by_path[str(src / "a.wav")].duration_s == pytest.approx(3.0)
    assert store.current_labels().clip_id.tolist() == [int(store.clip_ids()[0])]
    assert store.ingest_errors() == []
    again = ingest(src, db, progress=False, verbose=False)
    assert (again.added, again.unchanged, again.moved) == (0, 2, [])


def test_two_names_that_differ_only_in_bytes_that_are_not_utf8(tmp_path):
    folder, name = _latin1_folder(tmp_path)
    other = os.path.join(folder, os.fsdecode(b"caf\xe8.wav"))  # \xe9 and \xe8: two names
    sf.write(os.fsencode(name), 0.1 * np.random.default_rng(1).standard_normal(8000), 8000)
    sf.write(os.fsencode(other), 0.1 * np.random.default_rng(2).standard_normal(8000), 8000)
    store = Store(tmp_path / "s.db")
    s = ingest(folder, store, progress=False, verbose=False)
    assert (s.added, s.errors) == (2, [])
    assert sorted(os.fsencode(a.path) for a in store.audios()) == sorted(
        [os.fsencode(name), os.fsencode(other)])
    shown = sorted(r[0] for r in store.db.execute("SELECT file_name FROM audios"))
    assert shown == ["caf\\xe8.wav", "caf\\xe9.wav"]  # shown apart


def test_a_node_name_that_is_not_utf8_is_stored_readably(tmp_path):
    folder, name = _latin1_folder(tmp_path)
    os.remove(name)
    rec = os.path.join(folder, os.fsdecode(b"n\xe9_20240501_101010.wav"))
    sf.write(os.fsencode(rec), 0.1 * np.random.default_rng(1).standard_normal(8000), 8000)
    store = Store(tmp_path / "s.db")
    s = ingest(folder, store, name_pattern="{node}_{time:%Y%m%d_%H%M%S}", progress=False,
               verbose=False)
    assert (s.added, s.errors) == (1, [])
    (audio,) = store.audios()
    assert audio.node == "n\\xe9" and audio.recorded_at == "2024-05-01T10:10:10"


def test_a_read_only_store_refuses_an_ingest_before_reading_any_file(tmp_path, monkeypatch):
    from alwidget.store import StoreReadOnly

    write_audio(tmp_path / "in" / "a.wav", 1.0)
    Store(tmp_path / "s.db").close()
    read = []
    monkeypatch.setattr(ingest_mod.run, "examine", lambda *a: read.append(a))
    with pytest.raises(StoreReadOnly, match="an ingest cannot be stored"):
        ingest(tmp_path / "in", Store(tmp_path / "s.db", read_only=True), progress=False)
    assert read == []


def _two_stored_files(tmp_path):
    """``in/a.wav`` (2 s) and ``in/b.wav`` (3 s), ingested: (folder, database path)."""
    src = tmp_path / "in"
    write_audio(src / "a.wav", 2.0, seed=1)
    write_audio(src / "b.wav", 3.0, seed=2)
    db = tmp_path / "s.db"
    ingest(src, db, progress=False, verbose=False)
    return src, db


def test_two_swapped_files_keep_their_audio_labels_and_clips(tmp_path):
    src, db = _two_stored_files(tmp_path)
    store = Store(db)
    ids = {os.path.basename(a.path): a.id for a in store.audios()}
    (src / "a.wav").rename(src / "tmp.wav")
    (src / "b.wav").rename(src / "a.wav")
    (src / "tmp.wav").rename(src / "b.wav")
    s = ingest(src, db, progress=False, verbose=False)
    assert sorted(s.moved) == [(str(src / "a.wav"), str(src / "b.wav")),
                               (str(src / "b.wav"), str(src / "a.wav"))]
    assert (s.added, s.changed, s.errors) == (0, [], [])
    now = {os.path.basename(a.path): a for a in store.audios()}
    assert now["b.wav"].id == ids["a.wav"] and now["b.wav"].duration_s == pytest.approx(2.0)
    assert now["a.wav"].id == ids["b.wav"] and now["a.wav"].duration_s == pytest.approx(3.0)
    assert store.n_audios() == 2 and store.n_clips() == 5 and store.ingest_errors() == []


def test_a_file_renamed_over_another_stored_file_is_reported_not_guessed(tmp_path):
    src, db = _two_stored_files(tmp_path)
    (src / "a.wav").replace(src / "b.wav")  # b's recording is gone; a's is now at b
    s = ingest(src, db, progress=False, verbose=False)
    assert s.changed == [str(src / "b.wav")] and (s.added, s.moved) == (0, [])
    (error,) = Store(db).ingest_errors()
    assert f"it now holds the content stored for {src / 'a.wav'}" in error.reason


@pytest.mark.parametrize("order", ["old name first", "new name first"])
def test_an_old_name_that_now_holds_a_copy_is_a_duplicate_in_either_order(tmp_path, order):
    src = tmp_path / "in"
    write_audio(src / "a.wav", 2.0, seed=1)
    write_audio(src / "c.wav", 3.0, seed=2)
    db = tmp_path / "s.db"
    ingest(src, db, progress=False, verbose=False)
    (src / "a.wav").rename(src / "b.wav")
    (src / "a.wav").write_bytes((src / "c.wav").read_bytes())  # a copy of c at the old name
    paths = [src / "a.wav", src / "b.wav", src / "c.wav"]
    s = ingest(paths if order == "old name first" else paths[::-1], db, progress=False,
               verbose=False)
    assert s.moved == [(str(src / "a.wav"), str(src / "b.wav"))]
    assert s.duplicates == [(str(src / "a.wav"), str(src / "c.wav"))]
    assert (s.added, s.changed) == (0, []) and Store(db).n_audios() == 2


def test_windows_of_a_new_recording_at_an_old_name_are_checked_against_it(tmp_path):
    from alwidget.ingestion import WindowError

    src = tmp_path / "in"
    write_audio(src / "a.wav", 3.0, seed=1)
    db = tmp_path / "s.db"
    ingest(src, db, progress=False, verbose=False)
    (src / "a.wav").rename(src / "b.wav")
    write_audio(src / "a.wav", 1.0, seed=2)  # a shorter recording under the old name
    with pytest.raises(WindowError, match="after the end of the file \\(1 s\\)"):
        ingest([src / "a.wav", src / "b.wav"], db, windows={src / "a.wav": [(2.0, 0.5)]},
               progress=False, verbose=False)
    assert Store(db).n_clips() == 3  # nothing stored


def test_a_utf8_name_shown_like_a_latin1_one_is_refused_alone(tmp_path):
    folder, name = _latin1_folder(tmp_path)  # caf<0xE9>.wav
    literal = os.path.join(folder, "caf\\xe9.wav")  # a UTF-8 name with a backslash in it
    sf.write(os.fsencode(name), 0.1 * np.random.default_rng(1).standard_normal(8000), 8000)
    sf.write(os.fsencode(literal), 0.1 * np.random.default_rng(2).standard_normal(8000), 8000)
    store = Store(tmp_path / "s.db")
    s = ingest(folder, store, progress=False, verbose=False)
    assert s.added == 1 and len(s.errors) == 1 and store.n_audios() == 1  # the run went on
    assert "the name of the stored" in s.errors[0][1] and "rename one" in s.errors[0][1]
