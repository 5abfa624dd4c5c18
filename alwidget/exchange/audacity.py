"""Audacity label tracks: ``start<TAB>end<TAB>label`` lines (File > Import > Labels)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .common import TableRow, clean_field, parse_seconds, read_text, seconds

__all__ = ["is_label_track", "read_label_track", "write_label_track"]


def write_label_track(path: str | os.PathLike,
                      labels: Iterable[tuple[float, float, str]]) -> Path:
    """Write an Audacity label track: one ``start<TAB>end<TAB>label`` line per label, in
    seconds from the file's start; return its path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_label_track(Path(tempfile.mkdtemp()) / "rec.txt", [(1.5, 2.25, "owl")])
    >>> out.read_text()
    '1.5\\t2.25\\towl\\n'
    """
    lines = [f"{seconds(a)}\t{seconds(b)}\t{clean_field(label)}" for a, b, label in labels]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def is_label_track(text: str) -> bool:
    """True when the first line of ``text`` reads as an Audacity label (two times)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    parts = first.split("\t")
    try:
        float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        return False
    return True


def read_label_track(path: str | os.PathLike) -> list[TableRow]:
    """The labels of an Audacity label track (its recording is named by the track's file
    name: ``rec.txt`` labels ``rec.wav``). Frequency lines (``\\<TAB>low<TAB>high``, from
    spectral selections) are skipped.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_label_track(Path(tempfile.mkdtemp()) / "rec.txt", [(1.5, 2.25, "owl")])
    >>> [(r.start_s, r.end_s, r.label, r.file) for r in read_label_track(out)]
    [(1.5, 2.25, 'owl', None)]
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        where = f"{path.name} line {number}"
        if len(parts) < 2:
            raise ValueError(f"{where}: {line!r} is not an Audacity label (start, end and "
                             "label separated by tabs)")
        start = parse_seconds(parts[0], "start", where)
        end = parse_seconds(parts[1], "end", where)
        label = parts[2].strip() if len(parts) > 2 else ""
        if not label:
            raise ValueError(f"{where}: the label is empty; name it in Audacity or remove it")
        rows.append(TableRow(table=path, line=number, file=None, start_s=start, end_s=end,
                             label=label))
    return rows
