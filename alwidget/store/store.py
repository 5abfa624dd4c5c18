"""The alwidget store: one SQLite file holding audio, clips, features and labels.

This module is the only code in alwidget that talks to SQLite. It returns numpy
arrays and frozen dataclasses, never cursors.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import sqlite_utils

from .migrations import MIGRATIONS

__all__ = [
    "Audio",
    "Decision",
    "ClipSources",
    "FeatureSet",
    "IngestError",
    "LabelTable",
    "NewAudio",
    "Store",
    "StoreError",
]


class StoreError(ValueError):
    """A request the store cannot satisfy; the message says what to do."""


def _hash(text: str) -> str:
    from hashlib import sha256

    return sha256(text.encode()).hexdigest()[:16]


def utc_now() -> str:
    """Current UTC time as ISO 8601 text with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class NewAudio:
    """What ingest learned about one readable audio file, before it is stored."""

    folder: str
    file_name: str
    sample_rate: int
    bits_per_sample: int | None
    frames: int
    channels: int
    format: str
    subtype: str
    content_hash: str
    size_bytes: int
    node: str | None = None
    recorded_at: str | None = None

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Audio:
    """One stored audio file."""

    id: int
    path: str
    sample_rate: int
    bits_per_sample: int | None
    duration_s: float
    frames: int
    channels: int
    format: str | None
    subtype: str | None
    node: str | None
    recorded_at: str | None
    content_hash: str
    size_bytes: int


@dataclass(frozen=True)
class FeatureSet:
    """One extractor with one configuration; features are stored per set."""

    id: int
    extractor: str
    config_hash: str
    config: dict
    dim: int


@dataclass(frozen=True)
class IngestError:
    """A file that ingest could not use, and why."""

    id: int
    path: str
    reason: str
    created_at: str


@dataclass(frozen=True)
class ClipSources:
    """Where each clip's audio lives: parallel arrays, one entry per clip."""

    clip_id: np.ndarray
    audio_id: np.ndarray
    path: list[str]
    start_s: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return len(self.clip_id)


@dataclass(frozen=True)
class Decision:
    """One label or skip event in force."""

    id: int
    clip_id: int
    kind: str
    label: str | None
    strategy: str | None
    reason: str | None
    model_version: int | None


@dataclass(frozen=True)
class StoredProjection:
    """A 2-d map as stored: clips (ascending), float32 coordinates, and what it was made from."""

    clip_ids: np.ndarray
    coords: np.ndarray
    n_fit: int
    fingerprint: str
    fit_id: str


@dataclass(frozen=True)
class LabelTable:
    """Current labels: parallel arrays of clip id, label and event id."""

    clip_id: np.ndarray
    label: np.ndarray
    event_id: np.ndarray

    def __len__(self) -> int:
        return len(self.clip_id)


def _label_table(rows: list[tuple]) -> LabelTable:
    """LabelTable from (clip_id, label, id) rows."""
    return LabelTable(
        clip_id=np.array([r[0] for r in rows], dtype=np.int64),
        label=np.array([r[1] for r in rows], dtype=object),
        event_id=np.array([r[2] for r in rows], dtype=np.int64),
    )


class Store:
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

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> store.schema_version
    3
    >>> store.n_audios()
    0
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0):
        if busy_timeout_s <= 0:
            raise StoreError(f"busy_timeout_s={busy_timeout_s!r} must be > 0")
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise StoreError(
                    f"cannot create the database {self.path!r}: folder {str(parent)!r} "
                    "does not exist; create it first"
                )
        conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout_s,
            check_same_thread=False,
            isolation_level=None,  # transactions are explicit: see transaction()
        )
        self._lock = threading.RLock()
        self._conn = conn
        self.db = sqlite_utils.Database(conn)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

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
            for target in range(version + 1, len(MIGRATIONS) + 1):
                script = MIGRATIONS[target - 1]
                # One transaction: the new tables and the version bump land together.
                self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;"
                )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them are committed, or none (on error)."""
        with self._lock:
            if self._conn.in_transaction:  # nested: the outer one commits
                yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: Sequence | dict = ()):
        rows = self._query(sql, params)
        return rows[0][0] if rows else None

    def _ensure(self, table: str, key: str, value, **extra) -> int:
        """Id of the row of ``table`` whose ``key`` is ``value``; inserted if absent."""
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
        """The stored audio at ``path`` (absolute), or None."""
        p = Path(path)
        rows = self._audio_rows("WHERE p.path = ? AND a.file_name = ?", (str(p.parent), p.name))
        return rows[0] if rows else None

    def audios(self) -> list[Audio]:
        """All stored audios, in ingest order."""
        return self._audio_rows("", ())

    def _audio_rows(self, where: str, params: Sequence) -> list[Audio]:
        rows = self._query(
            "SELECT a.id, p.path, a.file_name, a.sample_rate, a.bits_per_sample, "
            "a.duration_s, a.frames, a.channels, a.format, a.subtype, n.name, "
            "a.recorded_at, a.content_hash, a.size_bytes "
            "FROM audios a JOIN paths p ON p.id = a.path_id "
            f"LEFT JOIN nodes n ON n.id = a.node_id {where} ORDER BY a.id",
            params,
        )
        return [
            Audio(r[0], str(Path(r[1]) / r[2]), *r[3:]) for r in rows
        ]

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
        with self.transaction():
            project_id = self.ensure_project(project) if project else None
            path_id = self.ensure_path(audio.folder, project_id)
            node_id = self.ensure_node(audio.node) if audio.node else None
            audio_id = self.db["audios"].insert(
                {
                    "path_id": path_id,
                    "file_name": audio.file_name,
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

    def add_ingest_error(self, path: str, reason: str) -> None:
        """Record that ``path`` could not be ingested, and why.

        The same path and reason are recorded once; seeing them again only
        updates ``last_seen_at``.
        """
        now = utc_now()
        with self._lock:
            self._conn.execute(
                "INSERT INTO ingest_errors (path, reason, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (path, reason) DO UPDATE SET "
                "last_seen_at = excluded.last_seen_at",
                (path, reason, now, now),
            )

    def clear_ingest_errors(self, path: str) -> None:
        """Forget the errors of ``path`` (it has now been ingested)."""
        with self._lock:
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
            "SELECT c.id, c.audio_id, p.path, a.file_name, c.start_s, c.duration_s "
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
            path=[str(Path(r[2]) / r[3]) for r in rows],
            start_s=np.array([r[4] for r in rows], dtype=np.float64),
            duration_s=np.array([r[5] for r in rows], dtype=np.float64),
        )

    # -- features ---------------------------------------------------------
    def feature_set(self, extractor: str, config: dict, dim: int) -> FeatureSet:
        """The feature set of ``extractor`` with ``config``, created if absent."""
        text = json.dumps(config, sort_keys=True)
        config_hash = _hash(f"{extractor}:{text}")
        with self.transaction():
            row = self._query(
                "SELECT id, dim FROM feature_sets WHERE extractor = ? AND config_hash = ?",
                (extractor, config_hash),
            )
            if row:
                fs_id, stored_dim = row[0]
                if stored_dim != dim:
                    raise StoreError(
                        f"feature set {extractor}:{config_hash} is stored with dim="
                        f"{stored_dim}, but the extractor now gives dim={dim}"
                    )
            else:
                fs_id = self.db["feature_sets"].insert(
                    {
                        "extractor": extractor,
                        "config_hash": config_hash,
                        "config": text,
                        "dim": dim,
                        "created_at": utc_now(),
                    }
                ).last_pk
        return FeatureSet(fs_id, extractor, config_hash, json.loads(text), dim)

    def feature_sets(self) -> list[FeatureSet]:
        """All feature sets in the store."""
        return [
            FeatureSet(r[0], r[1], r[2], json.loads(r[3]), r[4])
            for r in self._query(
                "SELECT id, extractor, config_hash, config, dim FROM feature_sets ORDER BY id"
            )
        ]

    def clips_without_features(self, feature_set: FeatureSet) -> np.ndarray:
        """Ids of clips that have no vector in ``feature_set`` yet, ascending."""
        rows = self._query(
            "SELECT c.id FROM clips c WHERE NOT EXISTS (SELECT 1 FROM features f "
            "WHERE f.feature_set_id = ? AND f.clip_id = c.id) ORDER BY c.id",
            (feature_set.id,),
        )
        return np.array([r[0] for r in rows], dtype=np.int64)

    def put_features(
        self, feature_set: FeatureSet, clip_ids: Sequence[int] | np.ndarray, X: np.ndarray
    ) -> None:
        """Store one float32 vector per clip (replacing any earlier one), atomically."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        clip_ids = np.asarray(clip_ids, dtype=np.int64)
        if X.ndim != 2 or X.shape != (len(clip_ids), feature_set.dim):
            raise StoreError(
                f"features of shape {X.shape} do not match {len(clip_ids)} clips x "
                f"dim={feature_set.dim}"
            )
        if not np.isfinite(X).all():
            bad = clip_ids[~np.isfinite(X).all(axis=1)][:5].tolist()
            raise StoreError(f"features of clips {bad} contain NaN or inf; nothing was stored")
        with self.transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO features (clip_id, feature_set_id, vector) VALUES (?, ?, ?)",
                ((int(c), feature_set.id, row.tobytes()) for c, row in zip(clip_ids, X)),
            )

    def get_features(
        self, feature_set: FeatureSet, clip_ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip ids (ascending) and their float32 feature matrix.

        With ``clip_ids``, returns exactly those clips in that order and raises
        if any has no features yet.
        """
        rows = self._query(
            "SELECT clip_id, vector FROM features WHERE feature_set_id = ? ORDER BY clip_id",
            (feature_set.id,),
        )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        X = X.reshape(len(rows), feature_set.dim)
        if clip_ids is None:
            return ids, X
        want = np.asarray(clip_ids, dtype=np.int64)
        pos = np.searchsorted(ids, want)
        ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == want) if len(ids) else np.zeros(len(want), bool)
        if not ok.all():
            missing = want[~ok][:5].tolist()
            raise StoreError(
                f"clips {missing} have no {feature_set.extractor} features; "
                "run alwidget.extract_features first"
            )
        return want, X[pos]

    # -- projections (2-d maps) ---------------------------------------------
    def put_projection(self, feature_set: FeatureSet, method: str, params: dict,
                       clip_ids: Sequence[int] | np.ndarray, coords: np.ndarray, *,
                       n_fit: int, fingerprint: str, fit_id: str,
                       seconds: float | None = None) -> None:
        """Store the 2-d map of ``feature_set`` by ``method`` with ``params`` (replacing it)."""
        coords = np.ascontiguousarray(coords, dtype=np.float32)
        clip_ids = np.ascontiguousarray(clip_ids, dtype=np.int64)
        if coords.shape != (len(clip_ids), 2):
            raise StoreError(f"coords of shape {coords.shape} do not match {len(clip_ids)} clips x 2")
        if not np.isfinite(coords).all():
            raise StoreError(f"the {method} map has NaN or inf coordinates; nothing was stored")
        text = json.dumps(params, sort_keys=True, default=str)
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO projections (feature_set_id, method, params_hash, params, "
                "n_clips, n_fit, clip_ids, coords, fingerprint, fit_id, seconds, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (feature_set.id, method, _hash(text), text, len(clip_ids), int(n_fit),
                 clip_ids.tobytes(), coords.tobytes(), fingerprint, fit_id, seconds, utc_now()))

    def get_projection(self, feature_set: FeatureSet, method: str,
                       params: dict) -> "StoredProjection | None":
        """The stored map of ``feature_set`` by ``method`` with ``params``; None if absent."""
        text = json.dumps(params, sort_keys=True, default=str)
        rows = self._query(
            "SELECT clip_ids, coords, n_fit, fingerprint, fit_id FROM projections "
            "WHERE feature_set_id = ? AND method = ? AND params_hash = ?",
            (feature_set.id, method, _hash(text)))
        if not rows:
            return None
        ids = np.frombuffer(rows[0][0], dtype=np.int64).copy()
        coords = np.frombuffer(rows[0][1], dtype=np.float32).reshape(len(ids), 2).copy()
        return StoredProjection(ids, coords, int(rows[0][2]), rows[0][3], rows[0][4])

    # -- pseudo-labels ----------------------------------------------------
    def add_pseudo_labels(
        self,
        clip_ids: Sequence[int] | np.ndarray,
        labels: Sequence[str],
        *,
        strategy: str,
        model_version: int | None = None,
        probabilities: Sequence[float] | None = None,
        event_id: int | None = None,
    ) -> None:
        """Record labels the model gave itself (semi-supervised AL), apart from human labels.

        They live in their own table: never in ``label_events`` or
        ``current_labels``, never counted as human labels or used for evaluation.
        ``event_id`` links them to the decision after which a session trains on them.
        """
        labels = list(labels)
        probs = [None] * len(labels) if probabilities is None else [float(p) for p in probabilities]
        if not len(clip_ids) == len(labels) == len(probs):
            raise StoreError("clip_ids, labels and probabilities need one entry per clip")
        unknown = set(labels) - set(self.tags())
        if unknown:
            raise StoreError(f"pseudo-labels {sorted(unknown)} are not in the ontology")
        now = utc_now()
        with self.transaction():
            self.db["pseudo_labels"].insert_all(
                {"clip_id": int(c), "label": lab, "strategy": strategy,
                 "model_version": model_version, "probability": p, "created_at": now,
                 "event_id": event_id}
                for c, lab, p in zip(clip_ids, labels, probs)
            )

    def pseudo_labels(self, model_version: int | None = None,
                      event_id: int | None = None) -> LabelTable:
        """Pseudo-labels (all, of one model version, or linked to one decision), by clip id."""
        sql = "SELECT clip_id, label, id FROM pseudo_labels"
        params: tuple = ()
        if model_version is not None:
            sql += " WHERE model_version = ?"
            params = (model_version,)
        elif event_id is not None:
            sql += " WHERE event_id = ?"
            params = (event_id,)
        return _label_table(self._query(sql + " ORDER BY clip_id, id", params))

    # -- experiments ------------------------------------------------------
    def add_experiment(self, name: str, params: dict, records: list[dict]) -> int:
        """Store one simulated experiment and its per-iteration records; return its id."""
        with self.transaction():
            exp_id = self.db["experiments"].insert(
                {"name": name, "params": json.dumps(params, sort_keys=True, default=str),
                 "created_at": utc_now()}
            ).last_pk
            self.db["experiment_records"].insert_all(
                {"experiment_id": exp_id, **r} for r in records
            )
        return exp_id

    # -- labels -----------------------------------------------------------
    def _decision(self, clip_id: int, kind: str, label: str | None, labeler: str,
                  fields: dict) -> int:
        if self._scalar("SELECT 1 FROM clips WHERE id = ?", (int(clip_id),)) is None:
            raise StoreError(f"clip_id={clip_id!r} is not a stored clip")
        with self.transaction():
            row = {"clip_id": int(clip_id), "kind": kind, "label": label,
                   "labeler_id": self.ensure_labeler(labeler), "created_at": utc_now(), **fields}
            # plain SQL: sqlite-utils' insert introspects the table on every call, and this
            # runs once per decision while the expert waits
            sql = (f"INSERT INTO label_events ({', '.join(row)}) "
                   f"VALUES ({', '.join('?' * len(row))})")
            return self._conn.execute(sql, tuple(row.values())).lastrowid

    def add_label(
        self,
        clip_id: int,
        label: str,
        *,
        labeler: str = "expert",
        strategy: str | None = None,
        reason: str | None = None,
        model_version: int | None = None,
        predicted_proba: float | None = None,
        events: Sequence[tuple[str, float, float]] | None = None,
    ) -> int:
        """Append a label event for one clip; return the event id.

        The label must be an ontology tag (see :meth:`add_tag`). With
        ``events`` (strong labels: ``(tag, onset_s, offset_s)`` relative to
        the clip's start), one ``chunks`` row per event is written in the same
        transaction. Everything is committed before this returns.

        Examples
        --------
        >>> store = Store(":memory:")
        >>> _ = store.add_tag("dog")
        >>> store.add_label(1, "dog")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        alwidget.store.store.StoreError: clip_id=1 is not a stored clip
        """
        tags = set(self.tags())
        for tag in [label] + [e[0] for e in events or []]:
            if tag not in tags:
                raise StoreError(
                    f"label={tag!r} is not in the ontology; add it with store.add_tag({tag!r})"
                )
        fields = dict(strategy=strategy, reason=reason, model_version=model_version,
                      predicted_proba=None if predicted_proba is None else float(predicted_proba))
        with self.transaction():
            event_id = self._decision(clip_id, "label", label, labeler, fields)
            if events:
                self._add_chunks(int(clip_id), events, labeler)
        return event_id

    def _add_chunks(self, clip_id: int, events, labeler: str) -> None:
        audio_id, start, duration = self._query(
            "SELECT audio_id, start_s, duration_s FROM clips WHERE id = ?", (clip_id,))[0]
        rows = []
        for tag, onset, offset in events:
            if not 0 <= onset < offset <= duration + 1e-6:
                raise StoreError(f"event ({tag!r}, {onset!r}, {offset!r}) must satisfy "
                                 f"0 <= onset < offset <= clip duration {duration}")
            tag_id = self._scalar("SELECT id FROM ontology WHERE tag = ?", (tag,))
            rows.append({"audio_id": audio_id, "tag_id": tag_id,
                         "labeler_id": self.ensure_labeler(labeler),
                         "onset_s": start + onset, "offset_s": start + offset,
                         "created_at": utc_now()})
        self.db["chunks"].insert_all(rows)

    def add_skip(self, clip_id: int, *, labeler: str = "expert", strategy: str | None = None,
                 reason: str | None = None, model_version: int | None = None) -> int:
        """Append a skip of one clip (not labeled, not to be asked again); return the event id."""
        return self._decision(clip_id, "skip", None, labeler, dict(
            strategy=strategy, reason=reason, model_version=model_version))

    def undo_event(self, event_id: int) -> int:
        """Append an event that undoes a label or skip event; return its id."""
        row = self._query(
            "SELECT clip_id, labeler_id, kind FROM label_events WHERE id = ?", (int(event_id),)
        )
        if not row or row[0][2] == "undo":
            raise StoreError(f"event_id={event_id!r} is not a label or skip event")
        if self._scalar("SELECT 1 FROM label_events WHERE undoes = ?", (int(event_id),)):
            raise StoreError(f"event {event_id} is already undone")
        clip_id, labeler_id, _ = row[0]
        with self.transaction():
            return self.db["label_events"].insert(
                {"clip_id": clip_id, "kind": "undo", "labeler_id": labeler_id,
                 "created_at": utc_now(), "undoes": int(event_id)}
            ).last_pk

    def active_events(self, labeler: str | None = None) -> list[Decision]:
        """Label and skip events in force (not undone), oldest first."""
        sql = ("SELECT e.id, e.clip_id, e.kind, e.label, e.strategy, e.reason, e.model_version "
               "FROM active_events e")
        params: tuple = ()
        if labeler is not None:
            sql += " JOIN labelers l ON l.id = e.labeler_id WHERE l.name = ?"
            params = (labeler,)
        return [Decision(*r) for r in self._query(sql + " ORDER BY e.id", params)]

    def chunks(self, audio_id: int | None = None) -> list[dict]:
        """Strong-label events (tag, onset and offset in seconds of the audio file)."""
        sql = ("SELECT c.id, c.audio_id, o.tag, l.name, c.onset_s, c.offset_s, c.created_at "
               "FROM chunks c JOIN ontology o ON o.id = c.tag_id "
               "LEFT JOIN labelers l ON l.id = c.labeler_id")
        params: tuple = ()
        if audio_id is not None:
            sql += " WHERE c.audio_id = ?"
            params = (int(audio_id),)
        keys = ("id", "audio_id", "tag", "labeler", "onset_s", "offset_s", "created_at")
        return [dict(zip(keys, r)) for r in self._query(sql + " ORDER BY c.id", params)]

    def current_labels(self, labeler: str | None = None) -> LabelTable:
        """The current label of every labeled clip, by clip id.

        With several labelers and no ``labeler`` given, a clip appears once per
        labeler who labeled it.
        """
        sql = "SELECT v.clip_id, v.label, v.event_id FROM current_labels v"
        params: tuple = ()
        if labeler is not None:
            sql += " JOIN labelers l ON l.id = v.labeler_id WHERE l.name = ?"
            params = (labeler,)
        return _label_table(self._query(sql + " ORDER BY v.clip_id, v.event_id", params))
