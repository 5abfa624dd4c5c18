"""Plain tables of labels: alwidget's CSV, and AudioSet-style strong-label TSV."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

from .common import TableRow, clean_field, parse_seconds, read_text, seconds, shown

__all__ = ["AUDIOSET_COLUMNS", "CSV_COLUMNS", "audioset_mids", "audioset_names", "is_audioset_tsv",
           "is_labels_csv", "read_audioset_tsv", "read_labels_csv", "write_audioset_tsv",
           "write_labels_csv"]

#: Columns of ``labels.csv``: the file and window (seconds from the file's start), the label,
#: who made it and when, how it was chosen, where it came from, and its kind ("clip": a clip's
#: label; "event": a strong-label event).
CSV_COLUMNS = ("file", "start_s", "end_s", "label", "labeler", "time", "strategy", "reason",
               "source", "kind")

#: Columns of AudioSet's strong labels (``audioset_*_strong.tsv``).
AUDIOSET_COLUMNS = ("segment_id", "start_time_seconds", "end_time_seconds", "label")


def write_labels_csv(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write labels as CSV with :data:`CSV_COLUMNS` (a missing key is an empty cell).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_labels_csv(Path(tempfile.mkdtemp()) / "labels.csv", [
    ...     {"file": "/rec/a.wav", "start_s": 0, "end_s": 1, "label": "dog", "kind": "clip"}])
    >>> print(out.read_text(), end="")
    file,start_s,end_s,label,labeler,time,strategy,reason,source,kind
    /rec/a.wav,0,1,dog,,,,,,clip
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            cells = []
            for key in CSV_COLUMNS:
                value = row.get(key)
                if key in ("start_s", "end_s"):
                    value = seconds(value)
                elif key == "file":
                    value = shown(os.fspath(value))
                cells.append("" if value is None else value)
            writer.writerow(cells)
    return path


def is_labels_csv(text: str) -> bool:
    """True when ``text`` starts with a CSV header holding file, start_s, end_s and label."""
    first = text.split("\n", 1)[0].strip().lower()
    names = {c.strip() for c in next(csv.reader([first]), [])}
    return {"file", "start_s", "end_s", "label"} <= names


def read_labels_csv(path: str | os.PathLike) -> list[TableRow]:
    """The labels of a CSV with the columns ``file,start_s,end_s,label`` (and optionally
    ``labeler``, ``kind``, ``strategy``, ``reason``; others are ignored).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = out.write_text("file,start_s,end_s,label\\nrec/a.wav,2,3,dog\\n")
    >>> [(r.file, r.start_s, r.end_s, r.label, r.line) for r in read_labels_csv(out)]
    [('rec/a.wav', 2.0, 3.0, 'dog', 2)]
    """
    path = Path(path)
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("file", "start_s", "end_s", "label") if c not in header]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing (the header is "
                         f"{','.join(header)!r}); a labels CSV needs file,start_s,end_s,label")
    col = {name: i for i, name in reversed(list(enumerate(header)))}
    rows = []
    for cells in reader:
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        cells += [""] * (len(header) - len(cells))

        def cell(name: str) -> str:
            return cells[col[name]].strip() if name in col else ""

        where = f"{path.name} line {number}"
        if not cell("file") or not cell("label"):
            raise ValueError(f"{where}: the file and label of every row must be given")
        kind = cell("kind").lower() or None
        rows.append(TableRow(table=path, line=number, file=cell("file"),
                             start_s=parse_seconds(cell("start_s"), "start_s", where),
                             end_s=parse_seconds(cell("end_s"), "end_s", where),
                             label=cell("label"), labeler=cell("labeler") or None, kind=kind,
                             strategy=cell("strategy") or None, reason=cell("reason") or None))
    return rows


def audioset_mids(ontology: str | os.PathLike | Mapping[str, str]) -> dict[str, str]:
    """Class name (lower case) -> AudioSet MID, from the AudioSet ontology JSON (a list of
    ``{"id": "/m/0bt9lr", "name": "Dog", ...}``) or a mapping given as it is.

    Examples
    --------
    >>> audioset_mids({"Dog": "/m/0bt9lr"})
    {'dog': '/m/0bt9lr'}
    """
    if isinstance(ontology, Mapping):
        return {str(k).lower(): str(v) for k, v in ontology.items()}
    path = Path(ontology)
    try:
        entries = json.loads(read_text(path))
        return {str(e["name"]).lower(): str(e["id"]) for e in entries}
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: not the AudioSet ontology (a JSON list of entries with id "
                         f"and name): {exc}") from None


def audioset_names(ontology: str | os.PathLike | Mapping[str, str]) -> dict[str, str]:
    """AudioSet MID -> class name, from the ontology JSON or a ``{name: MID}`` mapping.

    Examples
    --------
    >>> audioset_names({"Dog": "/m/0bt9lr"})
    {'/m/0bt9lr': 'Dog'}
    """
    if isinstance(ontology, Mapping):
        return {str(v): str(k) for k, v in ontology.items()}
    audioset_mids(ontology)  # checks the file
    return {str(e["id"]): str(e["name"]) for e in json.loads(read_text(Path(ontology)))}


def write_audioset_tsv(path: str | os.PathLike,
                       rows: Iterable[tuple[str, float, float, str]]) -> Path:
    """Write AudioSet-style strong labels: ``segment_id, start_time_seconds,
    end_time_seconds, label`` per line, tab-separated, with a header.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_audioset_tsv(Path(tempfile.mkdtemp()) / "s.tsv", [("rec", 1, 2.5, "/m/0bt9lr")])
    >>> out.read_text().splitlines()[1]
    'rec\\t1\\t2.5\\t/m/0bt9lr'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(AUDIOSET_COLUMNS)]
    lines += [f"{clean_field(s)}\t{seconds(a)}\t{seconds(b)}\t{clean_field(label)}"
              for s, a, b, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def is_audioset_tsv(text: str) -> bool:
    """True when ``text`` starts with AudioSet's strong-label header."""
    return text.split("\n", 1)[0].strip().split("\t")[:3] == list(AUDIOSET_COLUMNS[:3])


def read_audioset_tsv(path: str | os.PathLike,
                      names: Mapping[str, str] | None = None) -> list[TableRow]:
    """The labels of an AudioSet-style strong-label TSV; a segment id names a recording by
    its stem. ``names`` maps MIDs back to class names (others are kept as they are)."""
    path = Path(path)
    lines = read_text(path).splitlines()
    if not lines or not is_audioset_tsv(lines[0]):
        raise ValueError(f"{path}: not an AudioSet strong-label TSV (its header must be "
                         f"{' '.join(AUDIOSET_COLUMNS)})")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split("\t") + ["", "", "", ""]
        where = f"{path.name} line {number}"
        label = cells[3].strip()
        if not cells[0].strip() or not label:
            raise ValueError(f"{where}: the segment_id and label of every row must be given")
        rows.append(TableRow(table=path, line=number, file=None, stem=cells[0].strip(),
                             start_s=parse_seconds(cells[1], "start_time_seconds", where),
                             end_s=parse_seconds(cells[2], "end_time_seconds", where),
                             label=(names or {}).get(label, label)))
    return rows
