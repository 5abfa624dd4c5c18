"""Labels in and out (alwidget.exchange): CSV, Raven selection tables, Audacity label tracks,
AudioSet-style strong labels; imports marked with their source, never over a human decision."""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import pytest

from alwidget.exchange import (ImportSummary, export_labels, import_labels,
                               read_selection_table, write_selection_table)
from alwidget.exchange.command import add_parsers
from alwidget.ingestion import ingest
from alwidget.store import Store, StoreReadOnly
from conftest import SHARED, write_audio

RAVEN_HEADER = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                "Low Freq (Hz)", "High Freq (Hz)", "Begin File", "Begin Path", "File Offset (s)",
                "Annotation", "Labeler", "Kind"]


@pytest.fixture
def recordings(tmp_path) -> list[Path]:
    """Two 3-s recordings (16 kHz and 32 kHz)."""
    return [write_audio(tmp_path / "rec" / "owl_site1.wav", seconds=3.0, sr=16000),
            write_audio(tmp_path / "rec" / "frog_site2.wav", seconds=3.0, sr=32000, freq=300)]


def new_project(path: Path, recordings: list[Path]) -> Store:
    ingest(recordings, path, clip_seconds=1.0, n_jobs=1, progress=False, verbose=False)
    return Store(path)


def clip_at(store: Store, file: Path, start: float) -> int:
    src = store.clip_sources()
    return next(int(c) for c, p, s in zip(src.clip_id, src.path, src.start_s)
                if p == str(file.resolve()) and abs(s - start) < 1e-9)


@pytest.fixture
def labeled(tmp_path, recordings) -> Store:
    """A project with clip labels by two labelers, a skip, and strong-label events."""
    store = new_project(tmp_path / "a.db", recordings)
    owl, frog = recordings
    for tag in ("owl", "frog", "background"):
        store.add_tag(tag)
    store.add_label(clip_at(store, owl, 1.0), "owl", labeler="ann", strategy="lc",
                    reason="least sure", events=[("owl", 0.25, 0.625)])  # 1.25-1.625 s
    store.add_label(clip_at(store, owl, 2.0), "background", labeler="ann")
    store.add_label(clip_at(store, frog, 0.0), "frog", labeler="bob")
    store.add_label(clip_at(store, frog, 0.0), "background", labeler="ann")
    store.add_skip(clip_at(store, frog, 2.0), labeler="ann")
    aid = store.find_audio(frog.resolve()).id
    store.add_strong_events(aid, [("frog", 0.1234567, 0.5), ("frog", 1.5, 2.75)], labeler="bob")
    yield store
    store.close()


def events_of(store: Store) -> list[tuple]:
    return sorted((Path(e.path).name, e.label, round(e.onset_s, 6), round(e.offset_s, 6),
                   e.labeler) for e in store.strong_events())


def labels_of(store: Store) -> list[tuple]:
    return sorted((Path(r.path).name, r.start_s, r.end_s, r.label, r.labeler)
                  for r in store.label_records())


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


# -- export -----------------------------------------------------------------------------
def test_export_writes_each_format_as_the_field_reads_it(labeled, recordings, tmp_path):
    out = tmp_path / "out"
    files = export_labels(labeled, out)
    assert {k: [p.relative_to(out).as_posix() for p in v] for k, v in files.items()} == {
        "csv": ["labels.csv"],
        "raven": ["raven/owl_site1.Table.1.selections.txt",
                  "raven/frog_site2.Table.1.selections.txt"],
        "audacity": ["audacity/owl_site1.txt", "audacity/frog_site2.txt"],
        "audioset": ["audioset_strong.tsv"]}
    owl, frog = (str(p.resolve()) for p in recordings)

    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "start_s", "end_s", "label", "labeler", "time", "strategy",
                             "reason", "source", "kind"]
    assert [(r["file"], r["start_s"], r["end_s"], r["label"], r["labeler"], r["kind"])
            for r in rows] == [
        (owl, "1", "2", "owl", "ann", "clip"),
        (owl, "1.25", "1.625", "owl", "ann", "event"),
        (owl, "2", "3", "background", "ann", "clip"),
        (frog, "0", "1", "background", "ann", "clip"),
        (frog, "0", "1", "frog", "bob", "clip"),
        (frog, "0.123457", "0.5", "frog", "bob", "event"),
        (frog, "1.5", "2.75", "frog", "bob", "event")]
    owl_clip = rows[0]
    assert (owl_clip["strategy"], owl_clip["reason"], owl_clip["source"]) == (
        "lc", "least sure", "")
    assert owl_clip["time"].startswith("20")  # ISO 8601, UTC

    table = read_tsv(out / "raven" / "frog_site2.Table.1.selections.txt")
    assert table[0] == RAVEN_HEADER
    assert table[1:] == [
        ["1", "Spectrogram 1", "1", "0", "1", "0", "16000", "frog_site2.wav", frog, "0",
         "background", "ann", "clip"],
        ["2", "Spectrogram 1", "1", "0", "1", "0", "16000", "frog_site2.wav", frog, "0",
         "frog", "bob", "clip"],
        ["3", "Spectrogram 1", "1", "0.123457", "0.5", "0", "16000", "frog_site2.wav", frog,
         "0.123457", "frog", "bob", "event"],
        ["4", "Spectrogram 1", "1", "1.5", "2.75", "0", "16000", "frog_site2.wav", frog, "1.5",
         "frog", "bob", "event"]]
    assert read_tsv(out / "raven" / "owl_site1.Table.1.selections.txt")[1][6] == "8000"

    assert (out / "audacity" / "owl_site1.txt").read_text() == (
        "1\t2\towl\n1.25\t1.625\towl\n2\t3\tbackground\n")
    tsv = read_tsv(out / "audioset_strong.tsv")
    assert tsv[0] == ["segment_id", "start_time_seconds", "end_time_seconds", "label"]
    assert tsv[1:4] == [["owl_site1", "1", "2", "owl"], ["owl_site1", "1.25", "1.625", "owl"],
                        ["owl_site1", "2", "3", "background"]]
    assert len(tsv) == 1 + 7


def test_export_filters_and_maps_names_to_audioset_ids(labeled, tmp_path):
    files = export_labels(labeled, tmp_path / "o1", "raven,audioset", labeler="bob",
                          classes=["frog"], ontology={"Frog": "/m/09ld4"})
    assert list(files) == ["raven", "audioset"] and not (tmp_path / "o1" / "labels.csv").exists()
    assert [p.name for p in files["raven"]] == ["frog_site2.Table.1.selections.txt"]
    assert [r[:3] + r[10:] for r in read_tsv(files["raven"][0])[1:]] == [
        ["1", "Spectrogram 1", "1", "frog", "bob", "clip"],
        ["2", "Spectrogram 1", "1", "frog", "bob", "event"],
        ["3", "Spectrogram 1", "1", "frog", "bob", "event"]]
    assert {r[3] for r in read_tsv(files["audioset"][0])[1:]} == {"/m/09ld4"}
    events_only = export_labels(labeled, tmp_path / "o2", ["audacity"], clips=False)
    assert (tmp_path / "o2" / "audacity" / "owl_site1.txt").read_text() == "1.25\t1.625\towl\n"
    assert len(events_only["audacity"]) == 2
    with pytest.raises(ValueError, match="'mp3' is not a format; choose from csv,raven"):
        export_labels(labeled, tmp_path / "o3", "csv,mp3")


def test_audioset_ids_come_from_the_ontology_file_and_go_back_to_the_tags(labeled,
                                                                          recordings, tmp_path):
    ontology = SHARED / "audioset_ontology" / "ontology.json"
    if not ontology.exists():
        pytest.skip(f"the AudioSet ontology is not at {ontology}")
    (tsv,) = export_labels(labeled, tmp_path / "o", "audioset", ontology=ontology)["audioset"]
    assert sorted({r[3] for r in read_tsv(tsv)[1:]}) == ["/m/09d5_", "/m/09ld4", "background"]
    other = new_project(tmp_path / "b.db", recordings)
    other.add_tag("frog")
    import_labels(other, tsv, ontology=ontology)
    assert sorted(other.tags()) == ["Owl", "background", "frog"]  # an existing tag is kept
    assert {e.label for e in other.strong_events()} == {"Owl", "frog"}
    other.close()


def test_export_only_reads_a_read_only_project(labeled, tmp_path):
    path = labeled.path
    labeled.close()
    before = Path(path).read_bytes()
    with Store(path, read_only=True) as ro:
        files = export_labels(ro, tmp_path / "out", "csv,raven")
    assert len(files["raven"]) == 2
    assert export_labels(path, tmp_path / "out2", "csv")["csv"][0].read_text() == \
        files["csv"][0].read_text()  # a path works too
    assert Path(path).read_bytes() == before
    with pytest.raises(ValueError, match="does not exist"):
        export_labels(tmp_path / "nope.db", tmp_path / "out3")
    assert not (tmp_path / "nope.db").exists()


def test_two_recordings_with_one_stem_get_tables_that_import_back(tmp_path):
    files = [write_audio(tmp_path / "n1" / "dawn.wav", seconds=2.0),
             write_audio(tmp_path / "n2" / "dawn.wav", seconds=2.0)]
    store = new_project(tmp_path / "a.db", files)
    store.add_tag("owl")
    for i, f in enumerate(files):
        store.add_strong_events(store.find_audio(f.resolve()).id, [("owl", 0.1 * (i + 1), 1.5)])
    out = export_labels(store, tmp_path / "out", "raven,audacity")
    names = sorted(p.name for p in out["raven"])
    assert len(names) == 2 and all(n.startswith("dawn__a") for n in names)
    other = new_project(tmp_path / "b.db", files)
    summary = import_labels(other, out["audacity"])  # tracks name their recording by file name
    assert summary.events_added == 2
    assert sorted((e.path, e.onset_s) for e in other.strong_events()) == sorted(
        (e.path, e.onset_s) for e in store.strong_events())


def test_a_name_that_is_not_utf8_is_exported_readably_and_imported_back(tmp_path):
    import numpy as np
    import soundfile as sf

    folder = os.path.join(str(tmp_path), os.fsdecode(b"r\xe9c"))
    os.mkdir(folder)
    name = os.path.join(folder, os.fsdecode(b"caf\xe9.wav"))
    sf.write(os.fsencode(name), 0.3 * np.sin(np.arange(16000 * 2) / 16000 * 2 * np.pi * 440),
             16000)
    store = new_project(tmp_path / "a.db", [Path(name)])
    store.add_tag("owl")
    store.add_strong_events(store.audios()[0].id, [("owl", 0.5, 1.5)], labeler="ann")
    store.add_label(int(store.clip_ids()[0]), "owl", labeler="ann")
    out = export_labels(store, tmp_path / "out")
    shown = str(tmp_path) + "/r\\xe9c/caf\\xe9.wav"
    assert [p.name for p in out["raven"]] == ["caf\\xe9.Table.1.selections.txt"]
    assert read_tsv(out["raven"][0])[1][7:9] == ["caf\\xe9.wav", shown]
    assert shown in out["csv"][0].read_text(encoding="utf-8")
    for fmt in ("raven", "csv", "audacity"):
        other = new_project(tmp_path / f"{fmt}.db", [Path(name)])
        summary = import_labels(other, out[fmt])
        assert (summary.labels_added, summary.events_added) == (1, 1), fmt
        assert [os.fsencode(e.path) for e in other.strong_events()] == [os.fsencode(name)]
        other.close()
    store.close()


# -- round trips ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["raven", "csv"])
def test_a_round_trip_into_another_project_gives_the_same_labels(labeled, recordings,
                                                                  tmp_path, fmt):
    files = export_labels(labeled, tmp_path / "out", fmt)[fmt]
    other = new_project(tmp_path / "b.db", recordings)
    summary = import_labels(other, files)
    assert isinstance(summary, ImportSummary)
    assert (summary.labels_added, summary.events_added, summary.skipped) == (4, 3, [])
    assert labels_of(other) == labels_of(labeled)
    got, want = other.strong_events(), labeled.strong_events()
    assert [(e.path, e.label, e.labeler) for e in got] == [(e.path, e.label, e.labeler)
                                                          for e in want]
    for g, w in zip(got, want):
        assert abs(g.onset_s - w.onset_s) <= 1e-6 and abs(g.offset_s - w.offset_s) <= 1e-6
    sources = {r.source for r in other.label_records()} | {e.source for e in got}
    assert sources == {f"{fmt}:{p.name}" for p in files}
    assert sorted(other.tags()) == ["background", "frog", "owl"]  # added from the tables
    if fmt == "csv":  # strategy and reason travel in the CSV
        owl = next(r for r in other.label_records() if r.label == "owl")
        assert (owl.strategy, owl.reason) == ("lc", "least sure")
    # the same tables again: nothing new
    again = import_labels(other, files)
    assert (again.labels_added, again.events_added, again.unchanged) == (0, 0, 7)
    assert str(again).startswith(f"imported {len(files)} table")
    assert len(other.active_events()) == 4 and len(other.strong_events()) == 3
    other.close()


def test_a_whole_export_folder_imports_each_label_once(labeled, recordings, tmp_path):
    out = tmp_path / "out"
    export_labels(labeled, out)
    (out / "README.txt").write_text("exported for the owl survey\n")
    other = new_project(tmp_path / "b.db", recordings)
    summary = import_labels(other, out)
    assert len(summary.tables) == 6 and [p.name for p in summary.ignored] == ["README.txt"]
    assert (summary.labels_added, summary.events_added, summary.skipped) == (4, 3, [])
    assert labels_of(other) == labels_of(labeled) and events_of(other) == events_of(labeled)
    assert "ignored (not a label table)" in str(summary)
    other.close()


def test_audacity_and_audioset_files_import_back(labeled, recordings, tmp_path):
    out = export_labels(labeled, tmp_path / "out", "audacity,audioset",
                        ontology={"Frog": "/m/09ld4", "Owl": "/m/09d5_"})
    for fmt, labeler in (("audacity", "mia"), ("audioset", None)):
        other = new_project(tmp_path / f"{fmt}.db", recordings)
        summary = import_labels(other, out[fmt], labeler=labeler,
                                ontology={"frog": "/m/09ld4", "owl": "/m/09d5_"})
        assert summary.events_added == 3, fmt
        assert [(Path(e.path).name, e.label, e.onset_s, e.labeler)
                for e in other.strong_events()] == [
            ("owl_site1.wav", "owl", 1.25, labeler or "import"),
            ("frog_site2.wav", "frog", 0.123457, labeler or "import"),
            ("frog_site2.wav", "frog", 1.5, labeler or "import")]
        # the clip windows came back as clip labels; ann's and bob's labels of one clip are
        # two labels of one labeler here: the first is imported, the other reported
        assert (summary.labels_added, summary.unchanged) == (3, 0)
        assert [(c.label, c.decided) for c in summary.skipped] == [
            ("frog", f"'background' by {labeler or 'import'} from "
                     + ("frog_site2.txt line 1" if fmt == "audacity" else
                        "audioset_strong.tsv line 5") + " of this import")]
        other.close()


# -- never over a human decision ---------------------------------------------------------
def test_a_clip_with_a_decision_in_force_is_skipped_and_reported(labeled, recordings,
                                                                 tmp_path):
    owl, frog = recordings
    table = write_selection_table(tmp_path / "t" / "owl_site1.Table.1.selections.txt", [
        {"begin_s": 1.0, "end_s": 2.0, "label": "background"},   # ann said owl
        {"begin_s": 1.0, "end_s": 2.0, "label": "owl"},  # the same again... by another import
        {"begin_s": 0.0, "end_s": 1.0, "label": "owl"},          # undecided: added
    ])
    skip = write_selection_table(tmp_path / "t" / "frog_site2.Table.1.selections.txt", [
        {"begin_s": 2.0, "end_s": 3.0, "label": "frog"}])        # ann skipped it
    before = labels_of(labeled)
    summary = import_labels(labeled, [table, skip])
    assert (summary.labels_added, summary.unchanged) == (1, 1)
    assert [(c.clip_id, c.label, c.decided) for c in summary.skipped] == [
        (clip_at(labeled, owl, 1.0), "background", "'owl' by ann"),
        (clip_at(labeled, frog, 2.0), "frog", "a skip by ann")]
    report = str(summary)
    assert "2 clips skipped (a decision in force; overwrite=True adds the imported label)" \
        in report
    assert "owl_site1.wav 1-2 s: owl_site1.Table.1.selections.txt line 2 says 'background', " \
           "the project has 'owl' by ann" in report
    assert labels_of(labeled) == sorted(before + [("owl_site1.wav", 0.0, 1.0, "owl", "import")])

    forced = import_labels(labeled, [table, skip], overwrite=True)
    assert forced.labels_added == 2 and len(forced.overwritten) == 2 and not forced.skipped
    assert "2 labeled over a decision in force" in str(forced)
    owl_clip = clip_at(labeled, owl, 1.0)
    assert sorted((r.label, r.labeler, r.source) for r in labeled.label_records()
                  if r.clip_id == owl_clip) == [
        ("background", "import", "raven:owl_site1.Table.1.selections.txt"), ("owl", "ann", None)]


# -- bad input: a clear error, nothing stored --------------------------------------------
def _nothing_stored(store: Store, tags: list[str], n_events: int, n_chunks: int) -> None:
    assert store.tags() == tags
    assert store.last_event_id() == n_events and len(store.strong_events()) == n_chunks


def test_a_bad_row_names_its_table_and_line_and_nothing_is_stored(labeled, tmp_path):
    tags, n_events, n_chunks = labeled.tags(), labeled.last_event_id(), len(labeled.strong_events())
    good = write_selection_table(tmp_path / "good" / "owl_site1.Table.1.selections.txt",
                                 [{"begin_s": 0.5, "end_s": 0.75, "label": "newtag"}])
    cases = {
        "outside.Table.1.selections.txt": (
            [{"begin_s": 0.5, "end_s": 0.7, "label": "owl", "file": "owl_site1.wav"},
             {"begin_s": 2.5, "end_s": 3.5, "label": "owl", "file": "owl_site1.wav"}],
            r"outside.Table.1.selections.txt line 3: 2.5-3.5 s must lie inside "
            r"'owl_site1.wav' \(0-3 s\)"),
        "unknown.Table.1.selections.txt": (
            [{"begin_s": 0.5, "end_s": 0.7, "label": "owl"}],
            r"unknown.Table.1.selections.txt line 2: no stored audio is named 'unknown' "
            r"\(taken from the table's name\); ingest the recording first"),
        "other.Table.1.selections.txt": (
            [{"begin_s": 0.5, "end_s": 0.7, "label": "owl", "file": "/elsewhere/x.wav"}],
            r"line 2: no stored audio matches '/elsewhere/x.wav'"),
    }
    for name, (rows, message) in cases.items():
        bad = write_selection_table(tmp_path / "bad" / name, rows)
        with pytest.raises(ValueError, match=message + ".*nothing was imported"):
            import_labels(labeled, [good, bad])
        _nothing_stored(labeled, tags, n_events, n_chunks)
        bad.unlink()

    texts = {
        "time.txt": ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
                     "1\tSpectrogram 1\t1\tsoon\t2\towl\n", r"time.txt line 2: Begin Time \(s\)="
                     r"'soon' is not a time in seconds"),
        "blank.txt": ("Selection\tBegin Time (s)\tEnd Time (s)\tAnnotation\n1\t0\t1\t\n",
                      r"blank.txt line 2: the 'Annotation' column is empty"),
        "cols.txt": ("Selection\tBegin Time (s)\tEnd Time (s)\tSpecies\n1\t0\t1\towl\n",
                     r"cols.txt: no 'Annotation' column .*give annotation_column="),
        "notes.txt": ("remember to label the owls\n", "notes.txt: not a label table"),
        "labels.csv": ("file,start_s,label\nowl_site1.wav,1,owl\n",
                       r"labels.csv: columns \['end_s'\] are missing .* a labels CSV needs "
                       "file,start_s,end_s,label"),
        "kind.csv": ("file,start_s,end_s,label,kind\nowl_site1.wav,0.5,0.7,owl,clip\n",
                     r"kind.csv line 2: kind 'clip' but no stored clip of 'owl_site1.wav' "
                     r"is 0.5-0.7 s"),
    }
    for name, (text, message) in texts.items():
        path = tmp_path / "bad" / name
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            import_labels(labeled, [good, path])
        _nothing_stored(labeled, tags, n_events, n_chunks)
    with pytest.raises(ValueError, match="'.*missing.txt' does not exist"):
        import_labels(labeled, tmp_path / "missing.txt")


def test_importing_into_a_read_only_project_says_so_and_stores_nothing(labeled, tmp_path):
    table = write_selection_table(tmp_path / "owl_site1.Table.1.selections.txt",
                                  [{"begin_s": 0.5, "end_s": 0.75, "label": "owl"}])
    path = labeled.path
    labeled.close()
    with Store(path, read_only=True) as ro, pytest.raises(StoreReadOnly, match="read-only"):
        import_labels(ro, table)
    with Store(path) as store:
        assert len(store.strong_events()) == 3


# -- tables as Raven Pro and BirdNET write them ---------------------------------------------
def test_a_raven_pro_table_with_two_views_and_file_offsets(labeled, recordings, tmp_path):
    path = tmp_path / "tables" / "night.Table.1.selections.txt"
    path.parent.mkdir()
    lines = ["Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
             "High Freq (Hz)\tBegin Path\tFile Offset (s)\tAnnotation\tNotes",
             "1\tWaveform 1\t1\t100.5\t101.25\t0\t8000\tC:\\Users\\kim\\rec\\owl_site1.wav\t"
             "0.5\towl\tfaint",
             "1\tSpectrogram 1\t1\t100.5\t101.25\t300\t3000\t"
             "C:\\Users\\kim\\rec\\owl_site1.wav\t0.5\towl\tfaint",
             "2\tSpectrogram 1\t1\t102\t103\t300\t3000\tC:\\Users\\kim\\rec\\owl_site1.wav\t"
             "2\tcall\t"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    rows = read_selection_table(path)
    assert [(r.line, r.start_s, r.end_s, r.label) for r in rows] == [
        (2, 0.5, 1.25, "owl"), (4, 2.0, 3.0, "call")]  # one row per selection
    summary = import_labels(labeled, path.parent, labeler="kim")
    assert (summary.events_added, summary.labels_added, summary.tags_added) == (1, 0, [])
    assert [(c.label, c.decided) for c in summary.skipped] == [("call", "'background' by ann")]
    (event,) = [e for e in labeled.strong_events() if e.labeler == "kim"]
    assert (Path(event.path).name, event.label, event.onset_s, event.offset_s, event.source) == (
        "owl_site1.wav", "owl", 0.5, 1.25, "raven:night.Table.1.selections.txt")

    birdnet = tmp_path / "bn" / "frog_site2.BirdNET.selection.table.txt"
    birdnet.parent.mkdir()
    birdnet.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                       "High Freq (Hz)\tCommon Name\tSpecies Code\tConfidence\n"
                       "1\tSpectrogram 1\t1\t0.4\t0.9\t0\t15000\tAmerican Bullfrog\tamebul"
                       "\t0.81\n")
    with pytest.raises(ValueError, match="no 'Annotation' column"):
        import_labels(labeled, birdnet)
    summary = import_labels(labeled, birdnet, annotation_column="Common Name")
    assert summary.events_added == 1 and "American Bullfrog" in labeled.tags()
    assert read_selection_table(birdnet, annotation_column="Common Name")[0].file is None


def test_files_are_found_by_root_and_ambiguous_names_are_refused(tmp_path):
    files = [write_audio(tmp_path / "n1" / "dawn.wav", seconds=2.0),
             write_audio(tmp_path / "n2" / "dawn.wav", seconds=2.0)]
    store = new_project(tmp_path / "a.db", files)
    table = tmp_path / "mine.csv"
    table.write_text("file,start_s,end_s,label\nn2/dawn.wav,0.5,0.75,owl\n"
                     "dawn.wav,0.25,0.5,owl\n")
    with pytest.raises(ValueError, match=r"mine.csv line 3: file name 'dawn.wav' fits 2 stored "
                       r"files .* give root="):
        import_labels(store, table)
    table.write_text("file,start_s,end_s,label\nn2/dawn.wav,0.5,0.75,owl\n")
    import_labels(store, table)  # the end of the path says which
    table.write_text("file,start_s,end_s,label\ndawn.wav,1,2,owl\n")
    summary = import_labels(store, table, root=tmp_path / "n1")
    assert summary.labels_added == 1
    assert [(Path(e.path).parent.name, e.onset_s) for e in store.strong_events()] == [
        ("n2", 0.5)]
    assert [(Path(r.path).parent.name, r.start_s, r.source) for r in store.label_records()] == [
        ("n1", 1.0, "csv:mine.csv")]
    store.close()


def test_write_selection_table_writes_scores_and_the_files_of_detections(tmp_path):
    path = write_selection_table(tmp_path / "det" / "positives.txt", [
        {"begin_s": 4, "end_s": 5, "label": "owl", "score": 0.91234567, "file": "/rec/a.wav",
         "sample_rate": 48000},
        {"begin_s": 7.5, "end_s": 8.5, "label": "owl", "score": 0.6, "file": "/rec/b.wav",
         "low_hz": 200, "high_hz": 4000, "labeler": "model-1"}])
    rows = read_tsv(path)
    assert rows[0] == ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                       "Low Freq (Hz)", "High Freq (Hz)", "Begin File", "Begin Path",
                       "File Offset (s)", "Annotation", "Labeler", "Score"]
    assert rows[1] == ["1", "Spectrogram 1", "1", "4", "5", "0", "24000", "a.wav", "/rec/a.wav",
                       "4", "owl", "", "0.912346"]
    assert rows[2] == ["2", "Spectrogram 1", "1", "7.5", "8.5", "200", "4000", "b.wav",
                       "/rec/b.wav", "7.5", "owl", "model-1", "0.6"]
    assert [(r.file, r.start_s, r.labeler) for r in read_selection_table(path)] == [
        ("/rec/a.wav", 4.0, None), ("/rec/b.wav", 7.5, "model-1")]
    plain = read_tsv(write_selection_table(tmp_path / "p.txt", [
        {"begin_s": 0, "end_s": 1, "label": "a\tb"}]))
    assert plain == [["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                      "Low Freq (Hz)", "High Freq (Hz)", "Annotation"],
                     ["1", "Spectrogram 1", "1", "0", "1", "0", "22050", "a b"]]
    for bad, message in [({"begin_s": 1, "label": "x"}, r"selection 1: keys \['end_s'\]"),
                         ({"begin_s": 2, "end_s": 1, "label": "x"}, "0 <= begin_s < end_s")]:
        with pytest.raises(ValueError, match=message):
            write_selection_table(tmp_path / "bad.txt", [bad])


# -- command line -----------------------------------------------------------------------------
def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alwidget")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_the_commands_export_and_import_with_a_one_line_summary(labeled, recordings,
                                                                 tmp_path, capsys):
    labeled.close()
    out = tmp_path / "out"
    assert _run(["export", "--db", labeled.path, "--out", str(out), "--format", "raven,csv",
                 "--labeler", "bob"]) == 0
    line = capsys.readouterr().out
    assert line == f"exported 1 clip label and 2 events to {out}: 1 Raven table, 1 CSV\n"
    other = new_project(tmp_path / "b.db", recordings)
    other.close()
    assert _run(["import-labels", "--db", other.path, str(out / "raven")]) == 0
    assert capsys.readouterr().out == (
        "imported 1 table: 1 clip label and 2 events added, 0 already there, 1 new tag\n"
        "  new tag in the ontology: 'frog'\n")
    with pytest.raises(ValueError, match="does not exist"):
        _run(["export", "--db", str(tmp_path / "none.db"), "--out", str(out)])
    with pytest.raises(ValueError, match="does not exist"):
        _run(["import-labels", "--db", str(tmp_path / "none.db"), str(out / "raven")])
    assert not (tmp_path / "none.db").exists()


def test_a_second_annotators_identical_event_is_kept_and_a_repeat_is_not(labeled, recordings,
                                                                       tmp_path):
    frog = recordings[1].resolve()
    table = tmp_path / "kim.csv"
    table.write_text(f"file,start_s,end_s,label,labeler\n{frog},1.5,2.75,frog,kim\n")
    before = events_of(labeled)
    s = import_labels(labeled, table)
    assert s.events_added == 1  # bob marked it too: kim's mark is data of its own
    assert events_of(labeled) == sorted(before + [("frog_site2.wav", "frog", 1.5, 2.75, "kim")])
    again = import_labels(labeled, table)
    assert again.events_added == 0 and events_of(labeled) == sorted(
        before + [("frog_site2.wav", "frog", 1.5, 2.75, "kim")])
