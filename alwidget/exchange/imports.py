"""``import_labels``: labels made elsewhere (Raven, Audacity, CSV, AudioSet-style TSV) into a
project, marked with where they came from, never over a human decision."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from alwidget.store import Store

from .audacity import is_label_track, read_label_track
from .common import (WINDOW_TOLERANCE_S, AudioIndex, TableRow, open_store, read_text,
                     seconds, shown)
from .raven import is_selection_table, read_selection_table
from .tables import (audioset_names, is_audioset_tsv, is_labels_csv, read_audioset_tsv,
                     read_labels_csv)

__all__ = ["Conflict", "ImportSummary", "import_labels"]

#: Labeler of imported labels whose table names none.
DEFAULT_LABELER = "import"
#: Two events with one label are one when both ends agree within this many seconds.
EVENT_TOLERANCE_S = 1e-4
_SHOWN_AT_MOST = 5
_RANK = {"csv": 0, "raven": 1, "audioset": 2, "audacity": 3}


@dataclass(frozen=True)
class Conflict:
    """A clip a table labels that already had a decision in force in the project."""

    clip_id: int
    file: str           # the recording, as shown (``\\xNN`` for bytes that are not UTF-8)
    start_s: float
    end_s: float
    label: str          # what the table says
    decided: str        # what is in force, e.g. "'dog' by ann" or "a skip by bob"
    where: str          # table and line

    def __str__(self) -> str:
        return (f"{PurePosixPath(self.file).name} {seconds(self.start_s)}-"
                f"{seconds(self.end_s)} s: {self.where} says {self.label!r}, "
                f"the project has {self.decided}")


@dataclass
class ImportSummary:
    """What :func:`import_labels` did. ``str(summary)`` is a short report."""

    tables: list[Path] = field(default_factory=list)
    labels_added: int = 0
    events_added: int = 0
    unchanged: int = 0                                         # already in the project
    skipped: list[Conflict] = field(default_factory=list)      # a decision in force: kept
    overwritten: list[Conflict] = field(default_factory=list)  # overwrite=True: added too
    tags_added: list[str] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)          # files of a folder not read

    @property
    def messages(self) -> list[str]:
        """One line per clip skipped or labeled over a decision, per new tag, per file
        ignored."""
        return ([f"skipped (a decision in force; overwrite=True adds it anyway): {c}"
                 for c in self.skipped]
                + [f"added over a decision in force (overwrite=True): {c}"
                   for c in self.overwritten]
                + [f"new tag in the ontology: {t!r}" for t in self.tags_added]
                + [f"ignored (not a label table): {p}" for p in self.ignored])

    def __str__(self) -> str:
        head = (f"imported {len(self.tables)} table{'s' * (len(self.tables) != 1)}: "
                f"{self.labels_added} clip label{'s' * (self.labels_added != 1)} and "
                f"{self.events_added} event{'s' * (self.events_added != 1)} added, "
                f"{self.unchanged} already there")
        if self.skipped:
            head += (f", {len(self.skipped)} clip{'s' * (len(self.skipped) != 1)} skipped "
                     "(a decision in force; overwrite=True adds the imported label)")
        if self.overwritten:
            head += f", {len(self.overwritten)} labeled over a decision in force"
        if self.tags_added:
            head += f", {len(self.tags_added)} new tag{'s' * (len(self.tags_added) != 1)}"
        lines = self.messages
        more = len(lines) - _SHOWN_AT_MOST
        return "\n".join([head] + [f"  {m}" for m in lines[:_SHOWN_AT_MOST]]
                         + ([f"  ... and {more} more (summary.messages)"] if more > 0 else []))


def _files(paths) -> tuple[list[Path], set[Path]]:
    """The files to read, and those of them found in folders (read only when they are
    tables)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, in_folders = [], set()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in (".txt", ".csv", ".tsv"))
            files += found
            in_folders.update(found)
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{os.fspath(p)!r} does not exist; give label tables or folders "
                             "holding them")
    files = list(dict.fromkeys(files))
    if not files:
        raise ValueError(f"no label tables (.txt, .csv, .tsv) in {[os.fspath(p) for p in paths]}")
    return files, in_folders


def _read(path: Path, annotation_column: str,
          names: Mapping[str, str]) -> tuple[str, list[TableRow]] | None:
    """(format, rows) of one table, or None when it is no label table."""
    text = read_text(path)
    if not text.strip():
        return "empty", []
    if is_selection_table(text):
        return "raven", read_selection_table(path, annotation_column=annotation_column)
    if is_labels_csv(text):
        return "csv", read_labels_csv(path)
    if is_audioset_tsv(text):
        return "audioset", read_audioset_tsv(path, names)
    if is_label_track(text):
        return "audacity", read_label_track(path)
    return None


def import_labels(db: Store | str | os.PathLike,
                  path_or_paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                  labeler: str | None = None, root: str | os.PathLike | None = None,
                  annotation_column: str = "Annotation", overwrite: bool = False,
                  ontology: str | os.PathLike | Mapping[str, str] | None = None
                  ) -> ImportSummary:
    """Import labels made elsewhere into a project.

    Reads Raven selection tables, Audacity label tracks, labels CSVs
    (``file,start_s,end_s,label`` and optionally ``labeler``, ``kind``, ``strategy``,
    ``reason``: what :func:`export_labels` writes) and AudioSet-style strong-label TSVs, told
    apart by their content. A row whose window is a stored clip's (within 0.5 ms) becomes that
    clip's label; any other row becomes a strong-label event of its recording (a ``kind``
    column, "clip" or "event", says which instead). Everything is checked before the first
    write, and everything is written in one transaction: a row naming an unknown recording, a
    time outside its file or a bad value raises a ValueError naming the table and line, and
    nothing is stored.

    Labels made elsewhere never replace a human decision silently: a clip that already has a
    decision in force (a label or a skip, by anyone) is skipped and reported, unless the
    project already has the imported label for it (then nothing changes) or
    ``overwrite=True`` (the imported label is added beside it, and reported). A clip holds
    one label per labeler: when the tables give one labeler two labels of a clip (e.g. an
    Audacity track of a clip two people labeled), the first is imported and the others
    are skipped and reported. Importing the
    same table twice adds nothing the second time. Labels that are not in the ontology are
    added to it.

    Parameters
    ----------
    db : Store or path
        The project (an existing database).
    path_or_paths : path or list of paths
        Tables, or folders holding them (``.txt``, ``.csv``, ``.tsv``, searched
        recursively; files in a folder that are no label table are ignored and reported).
    labeler : str, optional
        Who the imported labels are from. Default: the table's ``Labeler`` (Raven) or
        ``labeler`` (CSV) column, else ``"import"``.
    root : path, optional
        The folder a table's relative file paths start from. A recording is found by its
        path as stored, by ``root`` joined with the table's path, by the end of its path, by
        its file name, or by the table's name (``rec.Table.1.selections.txt``, ``rec.txt``:
        ``rec.wav``); a name that fits several stored files is refused.
    annotation_column : str, default "Annotation"
        The column of a Raven table holding the labels (e.g. ``"Common Name"`` for BirdNET).
    overwrite : bool, default False
        Add an imported label to a clip that has a decision in force (reported).
    ontology : path or mapping, optional
        The AudioSet ontology JSON (or ``{name: MID}``): MIDs in an AudioSet TSV become
        class names.

    Returns
    -------
    ImportSummary
        Counts, the clips skipped or labeled over a decision, new tags; every stored label
        and event has ``source`` ``"<format>:<table file name>"``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from alwidget.store import NewAudio, Store
    >>> from alwidget.exchange import write_selection_table
    >>> store = Store(":memory:")
    >>> _ = store.add_audio(NewAudio("/rec", "owl.wav", 16000, 16, 48000, 1, "WAV",
    ...                              "PCM_16", "h", 0), [(0, 1.0), (1, 1.0), (2, 1.0)])
    >>> table = write_selection_table(Path(tempfile.mkdtemp()) / "owl.Table.1.selections.txt",
    ...     [{"begin_s": 1, "end_s": 2, "label": "owl"},
    ...      {"begin_s": 2.2, "end_s": 2.7, "label": "owl"}])
    >>> print(import_labels(store, table))
    imported 1 table: 1 clip label and 1 event added, 0 already there, 1 new tag
      new tag in the ontology: 'owl'
    >>> [(e.label, e.onset_s, e.offset_s, e.source) for e in store.strong_events()]
    [('owl', 2.2, 2.7, 'raven:owl.Table.1.selections.txt')]
    >>> str(import_labels(store, table))
    'imported 1 table: 0 clip labels and 0 events added, 2 already there'
    """
    files, in_folders = _files(path_or_paths)
    store, opened = open_store(db)
    try:
        store.check_writable("imported labels")
        names = audioset_names(ontology) if ontology is not None else {}
        if names:  # an AudioSet class the project has as a tag (in any case) keeps its tag
            tags = {t.lower(): t for t in store.tags()}
            names = {mid: tags.get(name.lower(), name) for mid, name in names.items()}
        summary = ImportSummary()
        tables: list[tuple[str, Path, list[TableRow]]] = []
        for path in files:
            read = _read(path, annotation_column, names)
            if read is None:
                if path in in_folders:
                    summary.ignored.append(path)
                    continue
                if path.suffix.lower() == ".csv":
                    read_labels_csv(path)  # says which columns are missing
                raise ValueError(f"{path}: not a label table alwidget reads (a Raven "
                                 "selection table, an Audacity label track, a CSV with file,"
                                 "start_s,end_s,label, or an AudioSet strong-label TSV)")
            if read[0] != "empty":
                tables.append((read[0], path, read[1]))
            summary.tables.append(path)
        # the richest tables first: those naming who labeled come before those that do not
        tables.sort(key=lambda t: _RANK[t[0]])
        with store.transaction():  # what is decided is read under the write lock: no race
            _plan_and_write(store, tables, summary, labeler=labeler, root=root,
                            overwrite=overwrite)
    finally:
        if opened:
            store.close()
    return summary


def _event_key(audio_id: int, label: str, onset: float, offset: float) -> tuple:
    """An event's key: two events whose keys differ by at most 1 in each time are one."""
    return (audio_id, label, round(onset / EVENT_TOLERANCE_S), round(offset / EVENT_TOLERANCE_S))


def _clip_at(windows: list[tuple[float, float, int]], starts: list[float],
             row: TableRow) -> int | None:
    """The clip whose window is the row's (within the tolerance), or None."""
    i = bisect_left(starts, row.start_s - WINDOW_TOLERANCE_S)
    while i < len(windows) and windows[i][0] <= row.start_s + WINDOW_TOLERANCE_S:
        if abs(windows[i][1] - row.end_s) <= WINDOW_TOLERANCE_S:
            return windows[i][2]
        i += 1
    return None


def _plan_and_write(store: Store, tables, summary: ImportSummary, *, labeler, root,
                    overwrite: bool) -> None:
    index = AudioIndex(store.audios(), root)
    sources = store.clip_sources()
    windows: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for c, a, s, d in zip(sources.clip_id, sources.audio_id, sources.start_s,
                          sources.duration_s):
        windows[int(a)].append((float(s), float(s + d), int(c)))
    starts = {a: [w[0] for w in ws] for a, ws in windows.items()}  # by start (clip_sources)
    in_force: dict[int, list] = defaultdict(list)
    for d in store.active_events():
        in_force[d.clip_id].append(d)
    # events stored already, times in units of the tolerance: by anyone (for rows that do not
    # say who made them) and by labeler (a second annotator's identical event is data)
    have_events: set[tuple[int, str, int, int]] = set()
    have_by: set[tuple] = set()
    for e in store.strong_events():
        key = _event_key(e.audio_id, e.label, e.onset_s, e.offset_s)
        have_events.add(key)
        have_by.add((*key, e.labeler))

    errors: list[str] = []
    given: set[tuple[int, str]] = set()  # (clip, label) of the labels to add
    new_labels: dict[tuple[int, str], tuple[str, TableRow, str]] = {}  # (clip, who) -> ...
    new_events: dict[tuple[int, str, str], list[tuple[str, float, float]]] = defaultdict(list)
    for fmt, path, rows in tables:
        source = f"{fmt}:{path.name}"
        for row in rows:
            try:
                audio = index.find(row)
            except LookupError as exc:
                errors.append(f"{row.where}: {exc}")
                continue
            name = PurePosixPath(shown(audio.path)).name
            if row.kind not in (None, "clip", "event"):
                errors.append(f"{row.where}: kind={row.kind!r} must be 'clip' or 'event'")
                continue
            if not 0 <= row.start_s < row.end_s <= audio.duration_s + 1e-3:
                errors.append(f"{row.where}: {seconds(row.start_s)}-{seconds(row.end_s)} s "
                              f"must lie inside {name!r} (0-{audio.duration_s:g} s) with the "
                              "start before the end; fix the line or the file it names")
                continue
            who = labeler or row.labeler or DEFAULT_LABELER
            clip = None
            if row.kind != "event":
                clip = _clip_at(windows[audio.id], starts.get(audio.id, []), row)
                if clip is None and row.kind == "clip":
                    errors.append(f"{row.where}: kind 'clip' but no stored clip of {name!r} "
                                  f"is {seconds(row.start_s)}-{seconds(row.end_s)} s")
                    continue
            if clip is None:
                key = _event_key(audio.id, row.label, row.start_s, row.end_s)
                named = row.labeler is not None or labeler is not None
                if any(((key[0], key[1], key[2] + i, key[3] + j, who) in have_by) if named
                       else ((key[0], key[1], key[2] + i, key[3] + j) in have_events)
                       for i in (-1, 0, 1) for j in (-1, 0, 1)):
                    summary.unchanged += 1
                else:
                    have_events.add(key)
                    have_by.add((*key, who))
                    new_events[(audio.id, who, source)].append(
                        (row.label, row.start_s, row.end_s))
                continue
            decided = in_force.get(clip, [])
            if any(d.kind == "label" and d.label == row.label for d in decided):
                summary.unchanged += 1
                continue
            if row.labeler is None and labeler is None and (clip, row.label) in given:
                summary.unchanged += 1  # another table of the import gives it, with its labeler
                continue
            planned = new_labels.get((clip, who))
            if planned is not None:
                if planned[0] == row.label:
                    summary.unchanged += 1
                else:  # one label per clip and labeler: the first line is kept
                    summary.skipped.append(Conflict(
                        clip, shown(audio.path), row.start_s, row.end_s, row.label,
                        f"{planned[0]!r} by {who} from {planned[1].where} of this import",
                        row.where))
                continue
            if decided:
                d = decided[-1]
                conflict = Conflict(clip, shown(audio.path), row.start_s, row.end_s, row.label,
                                    (f"{d.label!r}" if d.kind == "label" else "a skip")
                                    + f" by {d.labeler or 'an unnamed labeler'}", row.where)
                if not overwrite:
                    summary.skipped.append(conflict)
                    continue
                summary.overwritten.append(conflict)
            new_labels[(clip, who)] = (row.label, row, source)
            given.add((clip, row.label))
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ValueError("; ".join(errors[:3]) + more + "; nothing was imported")

    known_tags = set(store.tags())
    labels = [lab for lab, _, _ in new_labels.values()]
    labels += [t for events in new_events.values() for t, _, _ in events]
    summary.tags_added = [t for t in dict.fromkeys(labels) if t not in known_tags]
    if not (new_labels or new_events):
        return
    with store.transaction():
        for tag in summary.tags_added:
            store.add_tag(tag)
        for (clip, who), (label, row, source) in new_labels.items():
            store.add_label(clip, label, labeler=who, strategy=row.strategy, reason=row.reason,
                            source=source)
        for (audio_id, who, source), events in new_events.items():
            store.add_strong_events(audio_id, events, labeler=who, source=source)
    summary.labels_added = len(new_labels)
    summary.events_added = sum(len(v) for v in new_events.values())
