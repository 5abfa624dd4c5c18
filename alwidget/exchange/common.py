"""What the readers and writers of the exchange formats share: rows read from a table, text
and number formatting, and matching a table's file names to stored audio."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from alwidget.store import Audio, Store

__all__ = ["AudioIndex", "TableRow", "clean_field", "file_name", "read_text", "seconds", "shown",
           "table_stem", "open_store", "parse_seconds"]

#: A clip window and a row match when both ends agree within this many seconds.
WINDOW_TOLERANCE_S = 5e-4


@dataclass(frozen=True)
class TableRow:
    """One label read from a table: where it was read (``table``, 1-based ``line``), the audio
    it names (``file``: a path or a file name; else ``stem``: a file stem; else the table's
    own name says), its window in
    seconds from the file's start, and optionally who made it, ``kind`` ("clip" or "event"),
    strategy and reason."""

    table: Path
    line: int
    file: str | None
    start_s: float
    end_s: float
    label: str
    labeler: str | None = None
    stem: str | None = None
    kind: str | None = None
    strategy: str | None = None
    reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.table.name} line {self.line}"


def shown(path: str) -> str:
    """A stored path as text (bytes that are not UTF-8 as ``\\xNN``), as alwidget shows it."""
    return os.fsencode(os.fspath(path)).decode("utf-8", errors="backslashreplace")


def seconds(value: float) -> str:
    """Seconds as text: six decimals (a microsecond), trailing zeros dropped."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def file_name(path: str) -> str:
    """The last part of a path written on any system (``\\`` separates only in a path with
    no ``/``: a POSIX name may hold a backslash, e.g. the ``\\xNN`` of :func:`shown`).

    Examples
    --------
    >>> file_name("/rec/a.wav"), file_name("C:\\\\rec\\\\a.wav")
    ('a.wav', 'a.wav')
    """
    return path.rsplit("/" if "/" in path else "\\", 1)[-1]


def clean_field(text) -> str:
    """A value for a tab-separated line: tabs and line breaks become spaces."""
    return re.sub(r"[\t\r\n]+", " ", "" if text is None else str(text))


def parse_seconds(text: str, column: str, where: str) -> float:
    """A finite time in seconds from a table cell, or a ValueError naming the cell."""
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{where}: {column}={text!r} is not a time in seconds; fix or "
                         "remove the line")
    return value


def read_text(path: Path) -> str:
    """A table's text: UTF-8 (with or without a byte-order mark), else Windows-1252 (older
    Raven and Excel files)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_SUFFIXES = (re.compile(r"\.Table\.\d+\.selections\.txt$", re.I),
             re.compile(r"\.BirdNET\.selection\.table\.txt$", re.I),
             re.compile(r"\.selections?\.txt$", re.I),
             re.compile(r"\.(txt|csv|tsv)$", re.I))


def table_stem(name: str) -> str:
    """The audio file stem a table's name refers to (``a.Table.1.selections.txt`` -> ``a``).

    Examples
    --------
    >>> table_stem("rec_01.Table.1.selections.txt"), table_stem("rec_01.txt")
    ('rec_01', 'rec_01')
    """
    for pattern in _SUFFIXES:
        if pattern.search(name):
            return pattern.sub("", name)
    return name


def open_store(db: Store | str | os.PathLike) -> tuple[Store, bool]:
    """The store to use and whether this call opened it (and so must close it).

    A path must name an existing database: nothing is created for an export or an import.
    """
    if isinstance(db, Store):
        return db, False
    if not Path(db).is_file():
        raise ValueError(f"database {os.fspath(db)!r} does not exist; give a project "
                         "database made by 'alwidget ingest'")
    return Store(db), True


class AudioIndex:
    """Find the stored audio a table row names: by its path as stored, by ``root`` joined
    with a relative path, by the end of a stored path, by file name, or by file stem (the
    table's own name). A name that fits several stored files is refused, never guessed."""

    def __init__(self, audios: list[Audio], root: str | os.PathLike | None = None):
        self.audios = list(audios)
        self.by_path = {shown(a.path): a for a in self.audios}
        self.root = None if root is None else Path(root).expanduser().resolve()
        self._cache: dict[tuple[str, str], Audio] = {}

    def _unique(self, found: list[Audio], what: str) -> Audio | None:
        if len(found) > 1:
            names = ", ".join(repr(shown(a.path)) for a in found[:3])
            raise LookupError(f"{what} fits {len(found)} stored files ({names}); give root= "
                              "(--root) the folder the table's paths are relative to")
        return found[0] if found else None

    def find(self, row: TableRow) -> Audio:
        """The stored audio of a row (its ``file``, else its ``stem``, else its table's
        name); LookupError says why none was found."""
        key = (row.file or "", row.stem or "", row.table.name)
        if key not in self._cache:
            self._cache[key] = self._find(row.file, row.stem, row.table)
        return self._cache[key]

    def _find(self, file: str | None, stem: str | None, table: Path) -> Audio:
        if not file:
            from_table = stem is None
            stem = table_stem(table.name) if from_table else stem
            named = [a for a in self.audios if PurePosixPath(shown(a.path)).stem == stem]
            same = re.match(r"^(.*)__a(\d+)$", stem)  # an export's name for one of two stems
            if not named and same:
                named = [a for a in self.audios
                         if PurePosixPath(shown(a.path)).stem == same.group(1)]
                by_id = [a for a in named if a.id == int(same.group(2))]
                named = by_id or named
            found = self._unique(named, f"the name {stem!r}")
            if found is None:
                raise LookupError(f"no stored audio is named {stem!r}"
                                  + (" (taken from the table's name)" if from_table else "")
                                  + "; ingest the recording first, or name its file in the table")
            return found
        text = file.strip()
        if text in self.by_path:
            return self.by_path[text]
        relative = text if "/" in text else text.replace("\\", "/")  # Windows paths
        if self.root is not None and not PurePosixPath(relative).is_absolute() \
                and not re.match(r"^[A-Za-z]:/", relative):
            joined = shown(os.path.normpath(self.root / relative))
            if joined in self.by_path:
                return self.by_path[joined]
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        if re.match(r"^[A-Za-z]:$", parts[0] if parts else ""):
            parts = parts[1:]  # a Windows drive
        # the longest end of the path that fits exactly one stored file
        for n in range(len(parts), 0, -1):
            tail = "/" + "/".join(parts[-n:])
            found = [a for a in self.audios if ("/" + shown(a.path).lstrip("/")).endswith(tail)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1 and n == 1:
                self._unique(found, f"file name {parts[-1]!r}")
        raise LookupError(f"no stored audio matches {text!r}; ingest it first, or give root= "
                          "(--root) the folder the table's paths are relative to")
