"""Ingest folders of recordings into the store as fixed-length clips.

``ingest`` walks folders (recursively, following links, never looping), reads
every audio file completely once to validate it, and stores one ``audios`` row
plus its ``clips`` per good file in a single transaction. A file that cannot be
used is recorded in ``ingest_errors`` with the reason, and the run goes on.

Object storage and re-runs
--------------------------
``paths`` may hold URLs of object storage (``s3://bucket/prefix``: AWS S3, MinIO and other
S3-compatible servers, through ``fsspec``; ``pip install "alwidget[s3]"``): objects are
listed with their ETags and read as streams (:mod:`alwidget.ingestion.sources`). A re-run
reads only what is new or changed since the last run: a file or object stored before, with the
same size and version (ETag, or modification time and inode), is not read again; and it
lists only local folders that changed (:mod:`alwidget.ingestion.folders`) and, in object
storage, each folder from after the greatest key its last complete listing found, descending
into new subfolders, those holding a failed object, and of time-ordered subfolders (days,
hours) only the newest (:func:`~alwidget.ingestion.sources.list_objects`);
``full_listing=True`` lists everything. A local file stored while it may have been written
is stored again whole once it grew (:mod:`alwidget.ingestion.stored`).
Each file's levels are measured as it is read (:mod:`alwidget.ingestion.levels`) for node
health (:mod:`alwidget.nodes`).

Clip rule
---------
Clips are windows ``[start, start + clip_seconds)`` starting every
``hop_seconds`` (default: ``clip_seconds``, no overlap). After the last full
window, the remaining audio becomes one shorter clip, stored with its real
duration, when it holds at least ``min_last_seconds`` (default: half a clip);
otherwise it is dropped. A file shorter than one clip always gives one clip
covering the whole file. Feature extractors zero-pad short clips.

Given windows
-------------
``ingest(..., windows={path: [(start_s, duration_s), ...]})`` makes exactly those
windows the clips of those files, instead of the clip rule (e.g. one clip per row of a
labeled manifest). Every window is checked against its file before anything is
stored: a window that starts before 0, has no positive length or ends after the file
raises :class:`WindowError` and nothing is stored.
"""


from .files import AUDIO_EXTENSIONS
from .names import parse_name
from .run import IngestSummary, ingest
from .windows import WindowError, clip_windows

__all__ = ["AUDIO_EXTENSIONS", "IngestSummary", "WindowError", "clip_windows", "ingest",
           "parse_name"]
