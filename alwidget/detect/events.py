"""Positive clips → events (adjacent or overlapping clips of one file and class merged) →
Raven selection tables (one per file) and one CSV."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np

from ..exchange import write_selection_table

__all__ = ["Event", "merge_clips", "write_events"]

#: Clips whose gap is at most this (seconds) count as adjacent (rounding of stored starts).
ADJACENT_S = 1e-6

#: The list of the files the last run wrote in an output folder (tables of files that have no
#: event any more are removed at the next write: the folder shows one run).
MANIFEST = ".alwidget-detect.json"

#: The columns of the detections CSV, in order.
CSV_COLUMNS = ("file", "begin_s", "end_s", "label", "score", "clips", "begin_time")


@dataclass(frozen=True)
class Event:
    """A run of positive clips of one file and class, merged.

    Attributes
    ----------
    audio_id : int
    path : str
        The recording (its display form).
    begin_s, end_s : float
        Start of the first clip and end of the last, in seconds from the file's start.
    label : str
    score : float
        The highest score of its clips.
    n_clips : int
    begin_time : str or None
        ISO time of ``begin_s`` when the file's recording time is known.
    """

    audio_id: int
    path: str
    begin_s: float
    end_s: float
    label: str
    score: float
    n_clips: int
    begin_time: str | None = None


def merge_clips(starts, ends, labels, scores, *, gap_s: float = 0.0
                ) -> list[tuple[float, float, str, float, int]]:
    """Merge the positive clips of one file into events, by class.

    Clips of one class that overlap, touch or are at most ``gap_s`` apart become one event:
    begin = the first start, end = the last end, score = the highest.

    Returns
    -------
    list of (begin_s, end_s, label, score, n_clips), by begin then label

    Examples
    --------
    >>> merge_clips([0, 1, 2, 5], [1, 2, 3, 6], ["owl"] * 4, [0.6, 0.9, 0.7, 0.8])
    [(0.0, 3.0, 'owl', 0.9, 3), (5.0, 6.0, 'owl', 0.8, 1)]
    >>> merge_clips([0, 0.5], [1, 1.5], ["owl", "frog"], [0.6, 0.7])  # classes apart
    [(0.0, 1.0, 'owl', 0.6, 1), (0.5, 1.5, 'frog', 0.7, 1)]
    """
    if gap_s < 0 or not np.isfinite(gap_s):
        raise ValueError(f"gap_s={gap_s!r} must be >= 0")
    starts = np.asarray(starts, np.float64)
    ends = np.asarray(ends, np.float64)
    labels = np.asarray(labels, object)
    scores = np.asarray(scores, np.float64)
    events = []
    for label in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == label)
        idx = idx[np.lexsort((ends[idx], starts[idx]))]
        begin, end, best, n = starts[idx[0]], ends[idx[0]], scores[idx[0]], 1
        for i in idx[1:]:
            if starts[i] <= end + gap_s + ADJACENT_S:
                end, best, n = max(end, ends[i]), max(best, scores[i]), n + 1
            else:
                events.append((float(begin), float(end), label, float(best), n))
                begin, end, best, n = starts[i], ends[i], scores[i], 1
        events.append((float(begin), float(end), label, float(best), n))
    return sorted(events, key=lambda e: (e[0], e[2]))


def table_names(paths: dict[int, str]) -> dict[int, str]:
    """Raven's name for each file's table (``<stem>.Table.1.selections.txt``), by audio id;
    files of one stem in different folders get ``<stem>_<audio id>`` instead.

    Examples
    --------
    >>> table_names({1: "/a/x.wav", 2: "/b/x.wav", 3: "/a/y.flac"})[3]
    'y.Table.1.selections.txt'
    >>> table_names({1: "/a/x.wav", 2: "/b/x.wav"})[2]
    'x_2.Table.1.selections.txt'
    """
    stems = {a: PurePosixPath(p.replace(os.sep, "/")).stem for a, p in paths.items()}
    counts: dict[str, int] = {}
    for s in stems.values():
        counts[s] = counts.get(s, 0) + 1
    return {a: (f"{s}_{a}" if counts[s] > 1 else s) + ".Table.1.selections.txt"
            for a, s in stems.items()}


def begin_time(recorded_at: str | None, begin_s: float) -> str | None:
    """ISO time ``begin_s`` into a file recorded at ``recorded_at`` (None if unknown).

    Examples
    --------
    >>> begin_time("2024-05-01T06:00:00", 90.5)
    '2024-05-01T06:01:30.500000'
    """
    if not recorded_at:
        return None
    try:
        return (datetime.fromisoformat(recorded_at) + timedelta(seconds=begin_s)).isoformat()
    except ValueError:
        return None


def write_events(events: list[Event], out_dir: str | Path, *,
                 formats=("raven", "csv"), sample_rates: dict[int, int] | None = None,
                 csv_name: str = "detections.csv") -> tuple[tuple[Path, ...], Path | None]:
    """Write ``events``: one Raven selection table per file that has any (``"raven"``),
    and one CSV of them all (``"csv"``, columns :data:`CSV_COLUMNS`, written also when
    empty).

    Files an earlier call wrote to ``out_dir`` and this one does not (a table of a file
    without events now) are removed (listed in :data:`MANIFEST`); no other file is.

    Returns
    -------
    tables : tuple of Path
    csv : Path or None

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> ev = [Event(1, "/rec/a.wav", 0.0, 3.0, "owl", 0.9, 3, "2024-05-01T06:00:00")]
    >>> tables, table = write_events(ev, out)
    >>> [p.name for p in tables], table.name
    (['a.Table.1.selections.txt'], 'detections.csv')
    >>> print(table.read_text(), end="")
    file,begin_s,end_s,label,score,clips,begin_time
    /rec/a.wav,0.0,3.0,owl,0.9,3,2024-05-01T06:00:00
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = set(formats) - {"raven", "csv"}
    if unknown:
        raise ValueError(f"formats={list(formats)!r}: known formats are 'raven' and 'csv'")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = sorted(events, key=lambda e: (e.path, e.audio_id, e.begin_s, e.label))
    tables: list[Path] = []
    if "raven" in formats and events:
        names = table_names({e.audio_id: e.path for e in events})
        rates = sample_rates or {}
        by_file: dict[int, list[dict]] = {}
        for e in events:
            row = {"begin_s": e.begin_s, "end_s": e.end_s, "label": e.label,
                   "score": round(e.score, 6), "file": e.path}
            if e.audio_id in rates:
                row["sample_rate"] = rates[e.audio_id]
            by_file.setdefault(e.audio_id, []).append(row)
        for audio_id, rows in by_file.items():
            tables.append(Path(write_selection_table(out_dir / names[audio_id], rows)))
    table = None
    if "csv" in formats:
        table = out_dir / csv_name
        tmp = table.with_name(table.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for e in events:
                w.writerow([e.path, repr(e.begin_s), repr(e.end_s), e.label,
                            repr(round(e.score, 6)), e.n_clips, e.begin_time or ""])
        os.replace(tmp, table)
    manifest = out_dir / MANIFEST
    written = {p.name for p in tables} | ({table.name} if table is not None else set())
    try:
        before = set(json.loads(manifest.read_text())) if manifest.exists() else set()
    except (ValueError, OSError):
        before = set()
    for name in sorted(before - written):
        if "/" not in name and os.sep not in name:
            (out_dir / name).unlink(missing_ok=True)
    manifest.write_text(json.dumps(sorted(written)))
    return tuple(tables), table
