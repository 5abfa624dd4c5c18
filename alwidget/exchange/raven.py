"""Raven selection tables: tab-separated text, one selection per line, as Raven Pro (Cornell
Lab of Ornithology) saves and opens them (File > Open Selection Table)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from .common import TableRow, clean_field, file_name, parse_seconds, read_text, seconds, shown

__all__ = ["RAVEN_COLUMNS", "raven_table_name", "read_selection_table", "write_selection_table"]

#: The columns Raven Pro reads for every selection, in its order.
RAVEN_COLUMNS = ("Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)")

#: High Freq (Hz) of a row that gives neither ``high_hz`` nor ``sample_rate``: the Nyquist
#: rate of 44.1 kHz audio (Raven clips a box to the spectrogram it is drawn on).
DEFAULT_HIGH_HZ = 22050.0


def raven_table_name(audio_path: str | os.PathLike) -> str:
    """The name Raven Pro gives the first selection table of a recording.

    Examples
    --------
    >>> raven_table_name("/rec/site1_0600.wav")
    'site1_0600.Table.1.selections.txt'
    """
    return f"{PurePosixPath(shown(os.fspath(audio_path))).stem}.Table.1.selections.txt"


def write_selection_table(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write a Raven selection table; return its path.

    Parameters
    ----------
    path : str or Path
        The ``.txt`` file to write (its folder is created). Raven names its own
        ``<recording>.Table.1.selections.txt`` (:func:`raven_table_name`).
    rows : iterable of dict
        One selection each, numbered from 1 in this order: ``begin_s`` and ``end_s``
        (seconds from the start of the file), ``label`` (the Annotation column), and
        optionally ``low_hz`` (default 0), ``high_hz`` (default ``sample_rate / 2`` when a
        row gives ``sample_rate``, else 22050), ``labeler``, ``score``, ``file`` (the
        recording's path: Begin Path, Begin File and File Offset (s) columns, so that the
        table opens with its recording and is matched back to it), and ``kind`` ("clip" for
        a labeled clip window, "event" for a strong-label event). A column of an optional
        key is written when any row has that key.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "rec.Table.1.selections.txt"
    >>> _ = write_selection_table(out, [
    ...     {"begin_s": 1.5, "end_s": 2.25, "label": "owl", "high_hz": 8000, "score": 0.93}])
    >>> print(out.read_text().replace("\\t", " | "), end="")
    Selection | View | Channel | Begin Time (s) | End Time (s) | Low Freq (Hz) | High Freq (Hz) | Annotation | Score
    1 | Spectrogram 1 | 1 | 1.5 | 2.25 | 0 | 8000 | owl | 0.93
    """
    rows = [dict(r) for r in rows]
    for i, row in enumerate(rows, 1):
        missing = [k for k in ("begin_s", "end_s", "label") if k not in row]
        if missing:
            raise ValueError(f"selection {i}: keys {missing} are missing; every row needs "
                             "begin_s, end_s and label")
        if not 0 <= float(row["begin_s"]) < float(row["end_s"]):
            raise ValueError(f"selection {i}: begin_s={row['begin_s']!r}, end_s="
                             f"{row['end_s']!r} must satisfy 0 <= begin_s < end_s")
    has = {k: any(r.get(k) is not None for r in rows)
           for k in ("file", "labeler", "score", "kind")}
    header = list(RAVEN_COLUMNS)
    if has["file"]:
        header += ["Begin File", "Begin Path", "File Offset (s)"]
    header.append("Annotation")
    header += [name for key, name in (("labeler", "Labeler"), ("score", "Score"),
                                      ("kind", "Kind")) if has[key]]
    lines = ["\t".join(header)]
    for i, row in enumerate(rows, 1):
        begin, end = float(row["begin_s"]), float(row["end_s"])
        high = row.get("high_hz")
        if high is None:
            high = float(row["sample_rate"]) / 2 if row.get("sample_rate") else DEFAULT_HIGH_HZ
        cells = [str(i), "Spectrogram 1", "1", seconds(begin), seconds(end),
                 f"{float(row.get('low_hz') or 0):g}", f"{float(high):g}"]
        if has["file"]:
            file = shown(os.fspath(row["file"])) if row.get("file") is not None else ""
            cells += [clean_field(file_name(file)),
                      clean_field(file), seconds(begin) if file else ""]
        cells.append(clean_field(row["label"]))
        if has["labeler"]:
            cells.append(clean_field(row.get("labeler")))
        if has["score"]:
            cells.append("" if row.get("score") is None else f"{float(row['score']):.6g}")
        if has["kind"]:
            cells.append(clean_field(row.get("kind")))
        lines.append("\t".join(cells))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def is_selection_table(text: str) -> bool:
    """True when ``text`` starts with a Raven selection table's header."""
    first = text.split("\n", 1)[0]
    return "Begin Time (s)" in first.split("\t") or "Begin Time (s)" in first


def read_selection_table(path: str | os.PathLike, *,
                         annotation_column: str = "Annotation") -> list[TableRow]:
    """The selections of a Raven selection table, one :class:`TableRow` each.

    A selection shown in several views (``Waveform 1`` and ``Spectrogram 1`` lines with one
    Selection number) is read once. The file of each row is its Begin Path, else its Begin
    File (None: the table's name says); its times are File Offset (s) (within that file)
    when given, else Begin Time (s).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_selection_table(Path(tempfile.mkdtemp()) / "rec.Table.1.selections.txt",
    ...                             [{"begin_s": 1.5, "end_s": 2.25, "label": "owl"}])
    >>> [(r.start_s, r.end_s, r.label, r.line) for r in read_selection_table(out)]
    [(1.5, 2.25, 'owl', 2)]
    """
    path = Path(path)
    lines = read_text(path).splitlines()
    if not lines or not is_selection_table(lines[0]):
        raise ValueError(f"{path}: not a Raven selection table (its first line has no "
                         "'Begin Time (s)' column); save it from Raven with File > Save "
                         "Selection Table")
    header = [h.strip() for h in lines[0].split("\t")]
    col = {name: i for i, name in reversed(list(enumerate(header)))}
    for name in ("End Time (s)", annotation_column):
        if name not in col:
            raise ValueError(f"{path}: no {name!r} column (the columns are "
                             f"{', '.join(header)}); "
                             + ("give annotation_column= (--annotation-column) the column "
                                "holding the labels" if name == annotation_column else
                                "save the table from Raven again"))
    rows, seen = [], set()
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        cells += [""] * (len(header) - len(cells))

        def cell(name: str) -> str:
            return cells[col[name]].strip() if name in col else ""

        where = f"{path.name} line {number}"
        selection = cell("Selection")
        if selection:
            if selection in seen:
                continue  # the same selection in another view
            seen.add(selection)
        begin = parse_seconds(cell("Begin Time (s)"), "Begin Time (s)", where)
        end = parse_seconds(cell("End Time (s)"), "End Time (s)", where)
        if cell("File Offset (s)"):
            offset = parse_seconds(cell("File Offset (s)"), "File Offset (s)", where)
            begin, end = offset, offset + (end - begin)
        label = cell(annotation_column)
        if not label:
            raise ValueError(f"{where}: the {annotation_column!r} column is empty; label the "
                             "selection or remove the line")
        rows.append(TableRow(table=path, line=number, file=cell("Begin Path") or
                             cell("Begin File") or None, start_s=begin, end_s=end, label=label,
                             labeler=cell("Labeler") or None, kind=cell("Kind").lower() or None))
    return rows
