"""The Audio DB part of :class:`Store`: projects, nodes, folders, the ontology, audio files
and their clips, and ingest errors.

A path whose name is not valid UTF-8 is stored as the bytes of the whole path
(``audios.raw_path``) beside a display form in the text columns (``\\xNN`` for those bytes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .types import (Audio, ClipSources, IngestError, NewAudio, StoreError, StoreNameClash,
                    utc_now)

__all__ = ["AudioTables", "check_no_credentials", "is_url"]


def is_url(path) -> bool:
    """True for ``s3://...`` and other fsspec URLs (``file://`` included): a scheme of a
    letter then letters, digits, ``+``, ``.`` or ``-``, then ``://``.

    Examples
    --------
    >>> is_url("s3://port/n1"), is_url("/data/port"), is_url("C:/data")
    (True, False, False)
    """
    head, sep, _ = path.partition("://") if isinstance(path, str) else ("", "", "")
    return bool(sep) and head.isascii() and head[:1].isalpha() and \
        all(c.isalnum() or c in "+.-" for c in head)


def check_no_credentials(path, where: str = "") -> None:
    """Refuse a URL with credentials in it (``s3://KEY:SECRET@bucket/...``): they would be
    stored with every path and shown wherever it is. The error never shows them.

    Raises
    ------
    ValueError
        Naming the URL without its credentials (prefixed by ``where``, e.g. a node's field).

    Examples
    --------
    >>> check_no_credentials("s3://port/n1")
    >>> check_no_credentials("s3://KEY:SECRET@port/n1")
    Traceback (most recent call last):
    ...
    ValueError: s3://...@port/n1: credentials in a URL are refused (they would be stored \
with every path); give them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) \
or a profile (AWS_PROFILE)
    """
    if not is_url(path):
        return
    scheme, rest = path.split("://", 1)
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        raise ValueError(
            f"{where}{scheme}://...@{netloc.rsplit('@', 1)[1]}{slash}{tail}: credentials in a "
            "URL are refused (they would be stored with every path); give them in the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a profile (AWS_PROFILE)")


class AudioTables:
    """Store methods for ``projects``, ``nodes``, ``paths``, ``labelers``, ``ontology``,
    ``audios``, ``clips`` and ``ingest_errors``."""

    # -- Audio DB ---------------------------------------------------------
    def ensure_project(self, name: str, description: str | None = None) -> int:
        """Id of project ``name``, created if absent.

        Examples
        --------
        >>> from alwidget.store import Store
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
        >>> from alwidget.store import Store
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
            folder, name = os.path.split(path)  # not Path: it would collapse a URL's //
            rows = self._audio_rows("WHERE p.path = ? AND a.file_name = ? AND a.raw_path IS NULL",
                                    (folder, name))
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
            path_id = self.ensure_path(folder)
            self._check_name_free(path_id, name, os.fspath(path), int(audio_id))
            self._conn.execute("UPDATE audios SET path_id = ?, file_name = ?, raw_path = ? "
                               "WHERE id = ?", (path_id, name, raw, int(audio_id)))
            self._conn.execute("DELETE FROM listed_files WHERE audio_id = ?", (int(audio_id),))

    def _check_name_free(self, path_id: int, name: str, path: str, audio_id: int = -1) -> None:
        """Raise StoreNameClash when another audio is stored under this shown name."""
        other = self._audio_rows("WHERE a.path_id = ? AND a.file_name = ? AND a.id != ?",
                                 (path_id, name, audio_id))
        if other:
            shown = os.fsencode(path).decode("utf-8", errors="backslashreplace")
            raise StoreNameClash(
                f"{shown!r} would be shown as {name!r}, the name of the stored "
                f"{os.fsencode(other[0].path).decode('utf-8', 'backslashreplace')!r}: one of the "
                "names is not UTF-8; rename one of the two files")

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
        outside = [(s, d) for s, d in clips
                   if not (s >= 0 and d > 0 and s + d <= audio.duration_s + 1e-3)]
        if outside:
            raise StoreError(f"clip {outside[0]!r} must lie inside {audio.file_name!r} of "
                             f"{audio.duration_s:g} s; nothing was stored")
        folder, name, raw = _stored_path(os.path.join(audio.folder, audio.file_name))
        with self.transaction():
            project_id = self.ensure_project(project) if project else None
            path_id = self.ensure_path(folder, project_id)
            self._check_name_free(path_id, name, os.path.join(audio.folder, audio.file_name))
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
            if audio.levels is not None:
                self.put_levels(audio_id, audio.levels)
        return audio_id

    def regrow_audio(self, audio_id: int, audio: NewAudio,
                     clips: Iterable[tuple[float, float]]) -> tuple[list[int], list[int]]:
        """Replace a stored audio by a longer version of its file (one stored while it was
        still being written, whose stored part is unchanged: the caller checks): its content
        hash, length and size become ``audio``'s and its clips become the windows of
        ``clips``, in one transaction; return the ids of the clips added, and of the clips
        lengthened that carry a label event (their labels were given on the shorter clip:
        to be listened to again).

        Its id, node, recording time and labels stay. A stored clip that is not a window of
        ``clips`` but starts where one does (the short last clip of the shorter version) is
        lengthened to that window, keeping its id: a label on it stays and now stands for the
        whole window (the labeler heard its first part), and its features and a model's
        scores of it are deleted (the next feature extraction computes them anew). So the
        audio has the clips a fresh ingest of the longer file gives. A stored clip starting
        where no window does is kept as it is.
        """
        row = self._query("SELECT frames, sample_rate, channels FROM audios WHERE id = ?",
                          (int(audio_id),))
        if not row:
            raise StoreError(f"audio_id={audio_id!r} is not a stored audio")
        frames, rate, channels = row[0]
        if audio.frames < frames or (audio.sample_rate, audio.channels) != (rate, channels):
            raise StoreError(f"audio {audio_id}: the new version must be as long or longer, "
                             "with the same sample rate and channels; nothing was changed")
        clips = [(float(s), float(d)) for s, d in clips]
        with self.transaction():
            self._conn.execute(
                "UPDATE audios SET frames = ?, duration_s = ?, content_hash = ?, size_bytes = ?,"
                " bits_per_sample = ?, format = ?, subtype = ? WHERE id = ?",
                (audio.frames, audio.duration_s, audio.content_hash, audio.size_bytes,
                 audio.bits_per_sample, audio.format, audio.subtype, int(audio_id)))
            if audio.levels is not None:
                self.put_levels(audio_id, audio.levels)
            windows = {(round(s, 6), round(d, 6)) for s, d in clips}
            by_start = {round(s, 6): d for s, d in clips}
            lengthened = []
            for clip_id, start, duration in self._query(
                    "SELECT id, start_s, duration_s FROM clips WHERE audio_id = ?",
                    (int(audio_id),)):
                key = (round(start, 6), round(duration, 6))
                if key in windows or key[0] not in by_start or \
                        (key[0], round(by_start[key[0]], 6)) in self._clip_windows(audio_id):
                    continue
                self._conn.execute("UPDATE clips SET duration_s = ? WHERE id = ?",
                                   (by_start[key[0]], clip_id))
                for table in ("features", "detections"):
                    self._conn.execute(f"DELETE FROM {table} WHERE clip_id = ?", (clip_id,))
                lengthened.append(int(clip_id))
            labeled = [int(c) for c in lengthened if self._query(
                "SELECT 1 FROM label_events WHERE clip_id = ? AND kind = 'label' LIMIT 1",
                (c,))]
            return self.add_clips(audio_id, clips), labeled

    def _clip_windows(self, audio_id: int) -> set[tuple[float, float]]:
        """The (start, duration) of a stored audio's clips, rounded to the microsecond."""
        return {(round(s, 6), round(d, 6)) for s, d in self._query(
            "SELECT start_s, duration_s FROM clips WHERE audio_id = ?", (int(audio_id),))}

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

    def add_ingest_error(self, path: str, reason: str, size_bytes: int | None = None,
                         version: str | None = None) -> None:
        """Record that ``path`` could not be ingested, and why.

        The same path and reason are recorded once; seeing them again only updates
        ``last_seen_at``, the file's ``size_bytes`` and ``version`` when given (a re-run
        tries a failed file again when they change) and counts the attempt (``attempts``:
        the runs that failed on the path, whatever the reason).
        """
        now = utc_now()
        with self.transaction():
            tried = self._scalar("SELECT MAX(attempts) FROM ingest_errors WHERE path = ?",
                                 (path,)) or 0
            self._conn.execute(
                "INSERT INTO ingest_errors (path, reason, created_at, last_seen_at, size_bytes,"
                " version, attempts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path, reason) "
                "DO UPDATE SET last_seen_at = excluded.last_seen_at, size_bytes = "
                "excluded.size_bytes, version = excluded.version, attempts = excluded.attempts",
                (path, reason, now, now, size_bytes, version, tried + 1),
            )
            self._conn.execute("UPDATE ingest_errors SET attempts = ? WHERE path = ?",
                               (tried + 1, path))

    def clear_ingest_errors(self, path: str) -> None:
        """Forget the errors of ``path`` (it has now been ingested)."""
        with self.transaction():
            self._conn.execute("DELETE FROM ingest_errors WHERE path = ?", (path,))

    def has_ingest_errors_under(self, prefix: str) -> bool:
        """Whether an ingest error is recorded for a path starting with ``prefix``."""
        return self._scalar("SELECT EXISTS (SELECT 1 FROM ingest_errors WHERE substr(path, 1, ?)"
                            " = ?)", (len(prefix), prefix)) == 1

    def ingest_errors(self) -> list[IngestError]:
        """Every recorded ingest error, oldest first."""
        return [
            IngestError(*r)
            for r in self._query(
                "SELECT id, path, reason, created_at, size_bytes, version, attempts FROM "
                "ingest_errors ORDER BY id"
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
    return os.fsdecode(raw) if raw is not None else os.path.join(folder, name)

