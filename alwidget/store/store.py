"""The alwidget store: one SQLite file holding audio, clips, features and labels.

This module is the only code in alwidget that talks to SQLite. It returns numpy
arrays and frozen dataclasses, never cursors.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import sqlite_utils

from .audios import AudioTables
from .decisions import DecisionTables
from .features import FeatureTables
from .migrations import MIGRATIONS
from .nodes import NodeTables
from .results import ResultTables
from .rounds import RoundTables
from .team import TeamTables
from .types import (Audio, AudioLevels, ClipSources, Listed, ListedFolder, NodeDay, NodeInfo, Decision, DetectionTable, FeatureSet, IngestError,
                    LabelRecord, LabelTable, NewAudio, RoundProposal, StrongEvent, StoreError, StoredProjection, StoreFull, StoreLocked,
                    StoreNameClash, StoreReadOnly, utc_now)

__all__ = ["Audio", "AudioLevels", "ClipSources", "Listed", "ListedFolder", "NodeDay", "NodeInfo", "Decision", "DetectionTable", "FeatureSet", "IngestError",
           "LabelRecord", "LabelTable", "RoundProposal", "StrongEvent",
           "NewAudio", "Store", "StoreError", "StoreFull", "StoreLocked", "StoreNameClash",
           "StoreReadOnly",
           "StoredProjection", "utc_now"]


class Store(AudioTables, DecisionTables, FeatureTables, ResultTables, RoundTables,
            TeamTables, NodeTables):
    """An alwidget project database (SQLite, WAL, foreign keys on).

    Opening a path creates the file if needed and migrates it to the current
    schema. The store is safe to share between threads of one process; other
    processes may read and write the same file (writes wait up to
    ``busy_timeout_s`` for a lock).

    Parameters
    ----------
    path : str or Path
        The database file, e.g. ``"project.db"``.
    busy_timeout_s : float, default 30
        How long a write waits for another writer before failing.
    read_only : bool, optional
        Open only to look (maps, export): every write raises a :class:`StoreError` that
        says so. Default: read-only when the file, or its folder, is not writable.

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> store.schema_version >= 12
    True
    >>> store.n_audios()
    0
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0,
                 read_only: bool | None = None):
        if busy_timeout_s <= 0:
            raise StoreError(f"busy_timeout_s={busy_timeout_s!r} must be > 0")
        self.path = str(path)
        self.busy_timeout_s = float(busy_timeout_s)
        if self.path != ":memory:":
            p = Path(self.path)
            if p.is_dir():
                raise StoreError(f"{self.path!r} is a folder, not a database file; give a file "
                                 f"name, e.g. {str(p / 'project.db')!r}")
            if not p.parent.is_dir():
                raise StoreError(
                    f"cannot create the database {self.path!r}: folder {str(p.parent)!r} "
                    "does not exist; create it first"
                )
            if read_only is None:  # a file the user may not change is opened to look only
                read_only = p.exists() and not (os.access(p, os.W_OK)
                                                and os.access(p.parent, os.W_OK))
            elif read_only and not p.exists():
                raise StoreError(f"{self.path!r} does not exist: nothing to open read-only")
        self.read_only = bool(read_only)
        self._lock = threading.RLock()
        try:
            self._conn = self._connect()
            self.db = sqlite_utils.Database(self._conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "file is encrypted" in str(exc):
                raise StoreError(f"{self.path!r} is not an alwidget database (not an SQLite "
                                 "file); give a project database, or a new file name") from None
            if isinstance(exc, sqlite3.OperationalError):  # full disk, locked, read-only
                translated = self._translated(exc)
                if isinstance(translated, StoreError):
                    raise translated from exc
            raise StoreError(f"cannot open {self.path!r}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        """The connection: read-write (WAL), or read-only (``mode=ro``, else ``immutable``)."""
        def connect(target: str, uri: bool) -> sqlite3.Connection:
            conn = sqlite3.connect(target, uri=uri, timeout=self.busy_timeout_s,
                                   check_same_thread=False,
                                   isolation_level=None)  # transactions: see transaction()
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn

        if not self.read_only:
            conn = connect(self.path, False)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            return conn
        from urllib.parse import quote

        target = "file:" + quote(os.path.abspath(self.path))
        try:
            conn = connect(target + "?mode=ro", True)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):  # e.g. locked: say so, never read around it
                raise
        # a WAL database in a folder it may not write (no -shm can be made): read the file as
        # it is, unless commits wait in its -wal file (immutable would not see them)
        wal = Path(self.path + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreReadOnly(
                f"{self.path!r} has recent changes in {str(wal)!r} that a read-only folder "
                "keeps from being read; open it once where the folder may be written (or copy "
                "the database with its -wal file to such a folder)")
        return connect(target + "?mode=ro&immutable=1", True)

    def check_writable(self, what: str = "this change") -> None:
        """Raise :class:`StoreReadOnly` (saying what cannot be stored) when the store is
        read-only: for work that should stop before it starts rather than at its first write.

        Examples
        --------
        >>> Store(":memory:").check_writable("an ingest")
        """
        if self.read_only:
            raise self._read_only_error(what)

    def _read_only_error(self, what: str = "this change") -> StoreError:
        return StoreReadOnly(f"{self.path!r} is open read-only (the file or its folder is not "
                          f"writable, or read_only=True), so {what} cannot be stored; copy the "
                          "project to a folder you may write, and open the copy")

    # -- lifecycle --------------------------------------------------------
    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (``PRAGMA user_version``)."""
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self._lock:
            version = self.schema_version
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path!r} has schema version {version}, newer than this "
                    f"alwidget knows ({len(MIGRATIONS)}); upgrade alwidget"
                )
            if self.read_only and version < len(MIGRATIONS):
                raise StoreError(f"{self.path!r} is read-only and was made by an older alwidget "
                                 f"(schema {version} of {len(MIGRATIONS)}); open a writable copy "
                                 "once to upgrade it")
            for target in range(version + 1, len(MIGRATIONS) + 1):
                script = MIGRATIONS[target - 1]
                # One transaction: the new tables and the version bump land together.
                self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;"
                )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them are committed, or none (on error).

        A full disk, a lock held past ``busy_timeout_s`` or a read-only file end the
        transaction with a :class:`StoreError` saying so; nothing of it is stored.
        """
        with self._lock:
            if self._conn.in_transaction:  # nested: the outer one commits
                yield
                return
            if self.read_only:
                raise self._read_only_error()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise self._translated(exc) from exc

    def _translated(self, exc: sqlite3.OperationalError) -> Exception:
        """A StoreError that says what to do for the write failures a user can meet."""
        text = str(exc)
        if "disk is full" in text or "database or disk is full" in text:
            return StoreFull(f"the disk holding {self.path!r} is full: nothing of this step was "
                              "stored; free some space and run again (what was stored is kept)")
        if "locked" in text or "busy" in text:
            return StoreLocked(f"{self.path!r} stayed locked by another program for more than "
                              f"{self.busy_timeout_s:g} s: nothing of this step was stored; try "
                              "again when it is done")
        if "readonly" in text or "read-only" in text:
            return self._read_only_error()
        return exc

    def _query(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: Sequence | dict = ()):
        rows = self._query(sql, params)
        return rows[0][0] if rows else None

    def _ensure(self, table: str, key: str, value, **extra) -> int:
        """Id of the row of ``table`` whose ``key`` is ``value``; inserted if absent."""
        found = self._scalar(f"SELECT id FROM {table} WHERE {key} = ?", (value,))
        if found is not None:  # a read: also on a read-only store
            return found
        with self.transaction():
            found = self._scalar(f"SELECT id FROM {table} WHERE {key} = ?", (value,))
            if found is not None:
                return found
            return self.db[table].insert({key: value, **extra}).last_pk
