"""The store's value types: frozen dataclasses and numpy arrays, never cursors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

__all__ = ["Audio", "AudioLevels", "ClipSources", "Listed", "NodeDay", "NodeInfo", "Decision", "DetectionTable", "FeatureSet", "IngestError",
           "LabelRecord", "LabelTable", "NewAudio", "RoundProposal", "StoreError", "StoreFull",
           "StoreLocked", "StoreNameClash", "StoreReadOnly", "StoredProjection", "StrongEvent", "label_table",
           "short_hash", "utc_now"]


class StoreError(ValueError):
    """A request the store cannot satisfy; the message says what to do."""


class StoreFull(StoreError):
    """The disk holding the database is full; nothing of the step was stored."""


class StoreLocked(StoreError):
    """Another program held the database locked past the busy timeout; nothing was stored."""


class StoreReadOnly(StoreError):
    """The database is open read-only; nothing was stored."""


class StoreNameClash(StoreError):
    """A file whose name is shown like that of another stored file (a name that is not
    UTF-8 shown with ``\\xNN``, and a UTF-8 name holding those very characters); nothing was
    stored for it."""


def short_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of ``text`` (config and parameter keys)."""
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
    levels: "AudioLevels | None" = None  # measured while ingest read the file

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class AudioLevels:
    """A file's levels, measured per frame while ingest read it (node health).

    ``histogram`` counts frames per RMS level bin (``alwidget.ingestion.levels.LEVEL_BINS``).
    """

    frame_s: float
    n_frames: int
    silent_frames: int
    clipped_frames: int
    rms_db: float | None
    peak_db: float | None
    histogram: tuple[int, ...]


@dataclass(frozen=True)
class NodeInfo:
    """One recording node of the deployment (``nodes`` with its source and type)."""

    name: str
    node_type: str | None = None
    source: str | None = None
    location: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sample_rate: int | None = None
    gain_db: float | None = None
    installed_at: str | None = None
    removed_at: str | None = None
    file_seconds: float | None = None
    duty_cycle: float | None = None
    description: str | None = None


@dataclass(frozen=True)
class Listed:
    """What ingest last stored from one file or object (``listed_files``)."""

    size_bytes: int
    version: str
    audio_id: int
    growing_hash: str | None = None  # stored while it may have been written: see run.py


@dataclass(frozen=True)
class ListedFolder:
    """A local folder as ingest last listed it (``listed_folders``): a re-run does not list
    it again while its modification time, inode and device are these.

    ``location`` is the folder as ingest reached it and ``resolved`` its
    ``os.path.realpath`` (bytes of both); ``mtime_ns`` -1 means "list it again". A folder
    of object storage (``location`` a URL ending with ``/``) has ``last_key``: the URL of the
    greatest object directly in it that a complete listing of it found (None: list it whole).
    """

    location: bytes
    resolved: bytes
    mtime_ns: int
    inode: int
    device: int
    last_key: bytes | None = None


@dataclass(frozen=True)
class NodeDay:
    """One node's recordings of one UTC day (as written in ``recorded_at``): counts, seconds
    received and the frames measured silent or clipped (files ingested with levels)."""

    node: str
    day: str
    n_files: int
    seconds: float
    n_frames: int
    silent_frames: int
    clipped_frames: int
    first: str
    last: str
    review_clip: int | None  # one clip to listen to (see ``Store.node_days``)
    longest_gap_s: float | None = None  # before a file of the day, after the node's previous
    histogram: np.ndarray | None = None  # frames per level bin (None: no file with levels)


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
    columns: tuple[str, ...] | None = None  # a name per column (e.g. a tagger's classes)


@dataclass(frozen=True)
class IngestError:
    """A file that ingest could not use, and why."""

    id: int
    path: str
    reason: str
    created_at: str
    size_bytes: int | None = None  # the file's size and version when it failed
    version: str | None = None
    attempts: int = 1              # runs that tried it and failed


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
    """One event of ``label_events``: a label or skip (in force, for :meth:`Store.active_events`),
    or an undo (only from :meth:`Store.events_since`).

    ``group_id`` is shared by the events of one group decision (a map selection labeled at
    once); one undo takes the whole group back. ``undoes`` is set on undo events.
    """

    id: int
    clip_id: int
    kind: str
    label: str | None
    strategy: str | None
    reason: str | None
    model_version: int | None
    labeler: str | None = None
    group_id: int | None = None
    undoes: int | None = None


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


def label_table(rows: list[tuple]) -> LabelTable:
    """LabelTable from (clip_id, label, id) rows."""
    return LabelTable(
        clip_id=np.array([r[0] for r in rows], dtype=np.int64),
        label=np.array([r[1] for r in rows], dtype=object),
        event_id=np.array([r[2] for r in rows], dtype=np.int64),
    )




@dataclass(frozen=True)
class LabelRecord:
    """One current label, for export: its clip's file and window (seconds from the file's
    start), the label, who made it and when, how it was chosen, and where it came from
    (``source``: None when made in alwidget, e.g. ``"csv:labels.csv"`` when imported)."""

    clip_id: int
    path: str
    start_s: float
    end_s: float
    label: str
    labeler: str | None
    created_at: str
    strategy: str | None
    reason: str | None
    source: str | None
    event_id: int


@dataclass(frozen=True)
class StrongEvent:
    """One strong-label event: a sound from ``onset_s`` to ``offset_s`` (seconds from the
    file's start) of an audio file."""

    id: int
    audio_id: int
    path: str
    label: str
    onset_s: float
    offset_s: float
    labeler: str | None
    created_at: str
    source: str | None


@dataclass(frozen=True)
class DetectionTable:
    """A saved model's scores: parallel arrays of clip id, the class scored and its
    probability."""

    clip_id: np.ndarray
    label: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.clip_id)


@dataclass(frozen=True)
class RoundProposal:
    """One proposal of a round: its clip, status ("proposed", "medoid" or "discarded"), the
    agreed label, how many labelers annotated it and their agreement share."""

    clip_id: int
    status: str
    label: str | None
    n_labelers: int
    agreement: float | None
