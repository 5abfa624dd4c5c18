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
from typing import Iterable, Iterator, Sequence

import numpy as np
import sqlite_utils

from .decisions import DecisionTables
from .features import FeatureTables
from .migrations import MIGRATIONS
from .types import (Audio, ClipSources, Decision, FeatureSet, IngestError, LabelTable,
                    NewAudio, StoreError, StoredProjection, StoreFull, StoreLocked,
                    StoreReadOnly, utc_now)

__all__ = ["Audio", "ClipSources", "Decision", "FeatureSet", "IngestError", "LabelTable",
           "NewAudio", "Store", "StoreError", "StoreFull", "StoreLocked", "StoreReadOnly",
           "StoredProjection", "utc_now"]


class Store(DecisionTables, FeatureTables):
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
    >>> store.schema_version
    5
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

    # -- Audio DB ---------------------------------------------------------
    def ensure_project(self, name: str, description: str | None = None) -> int:
        """Id of project ``name``, created if absent.

        Examples
        --------
        >>> store = Store(":memory:")
        >>> store.ensure_project("birds") == store.ensure_project("birds")
        True
        """
        return self._ensure(
            "projects", "name", name, description=description, created_at=utc_now()
        )

    def ensure_node(self, name: str) -> int:
        """Id of recording node ``name``, created if absent."""
        return self._ensure("nodes", "name", name)

    def ensure_path(self, folder: str, project_id: int | None = None) -> int:
        """Id of audio folder ``folder``, created if absent."""
        return self._ensure("paths", "path", folder, project_id=project_id)

    def ensure_labeler(self, name: str, is_expert: bool = True) -> int:
        """Id of labeler ``name``, created if absent."""
        return self._ensure("labelers", "name", name, is_expert=int(is_expert))

    def add_tag(
        self, tag: str, parent: str | None = None, *, suggested: bool = False
    ) -> int:
        """Add ``tag`` to the ontology (under ``parent``) and return its id.

        Adding a tag that exists returns its id unchanged.

        Examples
        --------
        >>> store = Store(":memory:")
        >>> store.add_tag("animal") < store.add_tag("dog", parent="animal")
        True
        >>> store.tags()
        ['animal', 'dog']
        """
        if not isinstance(tag, str) or not tag.strip():
            raise StoreError(f"tag={tag!r} must be a non-empty string")
        parent_id = None
        if parent is not None:
            parent_id = self._scalar("SELECT id FROM ontology WHERE tag = ?", (parent,))
            if parent_id is None:
                raise StoreError(f"parent={parent!r} is not in the ontology; add it first")
        return self._ensure(
            "ontology", "tag", tag, parent_id=parent_id, suggested=int(suggested)
        )

    def tags(self) -> list[str]:
        """All ontology tags, in the order they were added."""
        return [r[0] for r in self._query("SELECT tag FROM ontology ORDER BY id")]

    def find_audio(self, path: str | Path) -> Audio | None:
        """The stored audio at ``path`` (absolute, as stored: see :meth:`move_audio`), or None.

        A path whose name is not valid UTF-8 (``os.fsdecode`` of its bytes) is found by its
        bytes.
        """
        path = os.fspath(path)
        if not _is_text(path):
            rows = self._audio_rows("WHERE a.raw_path = ?", (os.fsencode(path),))
        else:
            p = Path(path)
            rows = self._audio_rows("WHERE p.path = ? AND a.file_name = ? AND a.raw_path IS NULL",
                                    (str(p.parent), p.name))
        return rows[0] if rows else None

    def audios_with_content(self, content_hash: str) -> list[Audio]:
        """Stored audios whose content has this SHA-256 (a moved or linked file, a copy)."""
        return self._audio_rows("WHERE a.content_hash = ?", (content_hash,))

    def move_audio(self, audio_id: int, path: str | Path) -> None:
        """Record that a stored audio now lives at ``path`` (moved, or reached another way).

        Its clips, features and labels stay as they are.
        """
        folder, name, raw = _stored_path(os.fspath(path))
        with self.transaction():
            if not self._query("SELECT 1 FROM audios WHERE id = ?", (int(audio_id),)):
                raise StoreError(f"audio_id={audio_id!r} is not a stored audio")
            self._conn.execute("UPDATE audios SET path_id = ?, file_name = ?, raw_path = ? "
                               "WHERE id = ?", (self.ensure_path(folder), name, raw,
                                                int(audio_id)))

    def audios(self) -> list[Audio]:
        """All stored audios, in ingest order."""
        return self._audio_rows("", ())

    def _audio_rows(self, where: str, params: Sequence) -> list[Audio]:
        rows = self._query(
            "SELECT a.id, p.path, a.file_name, a.raw_path, a.sample_rate, a.bits_per_sample, "
            "a.duration_s, a.frames, a.channels, a.format, a.subtype, n.name, "
            "a.recorded_at, a.content_hash, a.size_bytes "
            "FROM audios a JOIN paths p ON p.id = a.path_id "
            f"LEFT JOIN nodes n ON n.id = a.node_id {where} ORDER BY a.id",
            params,
        )
        return [Audio(r[0], _full_path(r[1], r[2], r[3]), *r[4:]) for r in rows]

    def add_audio(
        self,
        audio: NewAudio,
        clips: Iterable[tuple[float, float]],
        *,
        project: str | None = None,
    ) -> int:
        """Store one audio file and its clips in one transaction; return its id.

        Parameters
        ----------
        audio : NewAudio
            The file's properties, as measured by ingest.
        clips : iterable of (start_s, duration_s)
            The clip windows of this file; at least one.
        project : str, optional
            Project that owns the file's folder.
        """
        clips = [(float(s), float(d)) for s, d in clips]
        if not clips:
            raise StoreError(f"{audio.file_name!r}: an audio needs at least one clip")
        folder, name, raw = _stored_path(os.path.join(audio.folder, audio.file_name))
        with self.transaction():
            project_id = self.ensure_project(project) if project else None
            path_id = self.ensure_path(folder, project_id)
            node_id = self.ensure_node(audio.node) if audio.node else None
            audio_id = self.db["audios"].insert(
                {
                    "path_id": path_id,
                    "file_name": name,
                    "raw_path": raw,
                    "sample_rate": audio.sample_rate,
                    "bits_per_sample": audio.bits_per_sample,
                    "duration_s": audio.duration_s,
                    "frames": audio.frames,
                    "channels": audio.channels,
                    "format": audio.format,
                    "subtype": audio.subtype,
                    "node_id": node_id,
                    "recorded_at": audio.recorded_at,
                    "content_hash": audio.content_hash,
                    "size_bytes": audio.size_bytes,
                    "ingested_at": utc_now(),
                }
            ).last_pk
            self.db["clips"].insert_all(
                {"audio_id": audio_id, "start_s": s, "duration_s": d} for s, d in clips
            )
        return audio_id

    def add_clips(self, audio_id: int, clips: Iterable[tuple[float, float]]) -> list[int]:
        """Add clip windows to a stored audio, in one transaction; return the new clips' ids.

        A window the audio already has (same start and duration, to the microsecond) is
        kept as it is; a window outside the file is refused and nothing is added.
        """
        row = self._query("SELECT duration_s FROM audios WHERE id = ?", (int(audio_id),))
        if not row:
            raise StoreError(f"audio_id={audio_id!r} is not a stored audio")
        length = row[0][0]
        clips = [(float(s), float(d)) for s, d in clips]
        for start, duration in clips:
            if not (start >= 0 and duration > 0 and start + duration <= length + 1e-3):
                raise StoreError(f"clip ({start!r}, {duration!r}) must lie inside audio "
                                 f"{audio_id} of {length:g} s; nothing was added")
        with self.transaction():
            have = {(round(s, 6), round(d, 6)) for s, d in self._query(
                "SELECT start_s, duration_s FROM clips WHERE audio_id = ?", (int(audio_id),))}
            new = []
            for start, duration in clips:
                key = (round(start, 6), round(duration, 6))
                if key not in have:
                    have.add(key)
                    new.append(self._conn.execute(
                        "INSERT INTO clips (audio_id, start_s, duration_s) VALUES (?, ?, ?)",
                        (int(audio_id), start, duration)).lastrowid)
        return new

    def add_ingest_error(self, path: str, reason: str) -> None:
        """Record that ``path`` could not be ingested, and why.

        The same path and reason are recorded once; seeing them again only
        updates ``last_seen_at``.
        """
        now = utc_now()
        with self.transaction():
            self._conn.execute(
                "INSERT INTO ingest_errors (path, reason, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (path, reason) DO UPDATE SET "
                "last_seen_at = excluded.last_seen_at",
                (path, reason, now, now),
            )

    def clear_ingest_errors(self, path: str) -> None:
        """Forget the errors of ``path`` (it has now been ingested)."""
        with self.transaction():
            self._conn.execute("DELETE FROM ingest_errors WHERE path = ?", (path,))

    def ingest_errors(self) -> list[IngestError]:
        """Every recorded ingest error, oldest first."""
        return [
            IngestError(*r)
            for r in self._query(
                "SELECT id, path, reason, created_at FROM ingest_errors ORDER BY id"
            )
        ]

    def n_audios(self) -> int:
        """Number of stored audio files."""
        return self._scalar("SELECT COUNT(*) FROM audios")

    def n_clips(self) -> int:
        """Number of stored clips."""
        return self._scalar("SELECT COUNT(*) FROM clips")

    def clip_ids(self) -> np.ndarray:
        """Ids of all clips, ascending (int64)."""
        rows = self._query("SELECT id FROM clips ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def clip_sources(self, clip_ids: Sequence[int] | np.ndarray | None = None) -> ClipSources:
        """File path, start and duration of clips (all clips when None), by audio then start."""
        sql = (
            "SELECT c.id, c.audio_id, p.path, a.file_name, c.start_s, c.duration_s, a.raw_path "
            "FROM clips c JOIN audios a ON a.id = c.audio_id JOIN paths p ON p.id = a.path_id "
        )
        if clip_ids is None:
            rows = self._query(sql + "ORDER BY c.audio_id, c.start_s")
        else:
            rows = []
            ids = [int(i) for i in clip_ids]
            for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
                part = ids[i : i + 900]
                rows += self._query(
                    sql + f"WHERE c.id IN ({','.join('?' * len(part))})", part
                )
            rows.sort(key=lambda r: (r[1], r[4]))
        return ClipSources(
            clip_id=np.array([r[0] for r in rows], dtype=np.int64),
            audio_id=np.array([r[1] for r in rows], dtype=np.int64),
            path=[_full_path(r[2], r[3], r[6]) for r in rows],
            start_s=np.array([r[4] for r in rows], dtype=np.float64),
            duration_s=np.array([r[5] for r in rows], dtype=np.float64),
        )


def _is_text(path: str) -> bool:
    """True when ``path`` is valid UTF-8 text (no undecodable bytes from ``os.fsdecode``)."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _stored_path(path: str) -> tuple[str, str, bytes | None]:
    """(folder, file name, raw bytes or None) as stored: a name that is not valid UTF-8 is
    kept as the bytes of the whole path, beside a display form."""
    folder, name = os.path.split(path)
    if _is_text(path):
        return folder, name, None

    def shown(text: str) -> str:
        return os.fsencode(text).decode("utf-8", errors="backslashreplace")  # as printable()

    return shown(folder), shown(name), os.fsencode(path)


def _full_path(folder: str, name: str, raw: bytes | None) -> str:
    """The path to open: the stored bytes when there are any (``os.fsdecode``), else text."""
    return os.fsdecode(raw) if raw is not None else str(Path(folder) / name)
