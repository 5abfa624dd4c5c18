"""The ``Extractor`` protocol and the pieces both runners (local and Dask) share.

A runner asks :func:`feature_set_for` for the extractor's feature set (recording the
extractor's column names, if it has any), :func:`file_jobs` for the clips that still lack
features, grouped by file, runs :func:`extract_files` on :func:`batches` of those jobs (in
worker processes) and finally reports unreadable files with :func:`warn_unreadable`.

Long files in bounded memory
----------------------------
A file of at most :data:`WHOLE_FILE_SAMPLES` samples at the higher of its own rate and the
extractor's (11.7 min at 48 kHz, 12.7 min at 44.1 kHz, 35 min at 16 kHz or below for the
16-kHz extractors) is read, mixed to mono and resampled whole, and the extractor sees all
its clips at once: exactly as before blocks existed, so features cached then stay valid
(bit-identical). A longer file is

* split by :func:`file_jobs` into jobs of at most :data:`PIECE_SECONDS` of audio and
  :data:`CLIPS_PER_BATCH` clips (units of work that run in parallel and are committed one
  by one), and
* read by :func:`extract_clips` in blocks: consecutive clips spanning at most
  :data:`BLOCK_SECONDS`, decoded with at least :data:`MARGIN_SECONDS` more audio on each
  side (so that resampling at the block's edges is that of the whole file), starting on a
  whole second that is a whole number of the extractor's frames (``frame_hop``) from the
  file's start: every window then covers the same samples and frames as in the whole file.

Memory then depends on the block, not on the file: on :data:`BLOCK_SECONDS` of audio, or on
the longest clip when a clip is longer (a clip is always read whole, so one clip per 24-hour
file, ``clip_seconds=None``, is read whole). The features of a long file differ from those of
the whole file only by the rounding of the resampler (soxr works on a different stretch of
samples): below 1e-3 dB on every logmel value (``tests/test_long_files.py`` checks it; 3e-5 dB
on a 150-s file at 48 kHz in a review's measurement).
"""

from __future__ import annotations

import csv
import inspect
import math
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..audio import open_audio, printable, read_mono, resample
from ..store import FeatureSet, Store

__all__ = ["BLOCK_SECONDS", "CLIPS_PER_BATCH", "Extractor", "FileJob", "MARGIN_SECONDS",
           "PIECE_SECONDS", "WHOLE_FILE_SAMPLES", "batches", "column_names", "extract_clips",
           "extract_files", "feature_set_for", "file_jobs", "read_class_names", "reads_whole",
           "warn_unreadable"]

#: One unit of work: (path, clip ids, clip starts, clip durations): the clips of one file,
#: or of a stretch of a long file.
FileJob = tuple[str, np.ndarray, np.ndarray, np.ndarray]

#: A file of at most this many samples, at the higher of its rate and the extractor's, is
#: read whole (features bit-identical to earlier versions); a longer one in blocks.
WHOLE_FILE_SAMPLES = 1 << 25
#: The longest stretch of audio (seconds) whose clips one block of a long file holds.
BLOCK_SECONDS = 60.0
#: Audio decoded and resampled on each side of a block, then left out (seconds).
MARGIN_SECONDS = 0.5
#: The longest stretch of a long file (seconds) in one unit of work.
PIECE_SECONDS = 3600.0
#: The most clips in one unit of work (a batch of files, or a piece of a long file), unless
#: one short file alone has more: bounds what a worker holds and sends back.
CLIPS_PER_BATCH = 8192


@runtime_checkable
class Extractor(Protocol):
    """What a feature extractor provides.

    Attributes
    ----------
    name : str
        Stored with the features, e.g. ``"logmel"``.
    dim : int
        Length of one vector.
    sample_rate : int
        Rate the audio is resampled to before :meth:`extract`.

    Notes
    -----
    An extractor may also have ``columns``: a tuple of ``dim`` names, one per column (a
    tagger's class names), or None. The runners record them with the feature set, where
    :func:`alwidget.tagger.top1` finds them.

    ``extract`` is given a whole file, or, for a long file, a stretch of it that covers the
    windows (see the module docstring). A window's vector must therefore depend only on the
    window's own audio, framed on a grid of ``frame_hop`` samples from the file's start (an
    optional attribute, 1 when absent): a stretch always starts on that grid, a whole number
    of seconds into the file. An extractor whose ``extract`` takes a keyword ``offset_s`` is
    told there where the stretch starts, with the windows' ``starts`` counted from the
    file's start (so it can cut exactly the samples and frames it cuts from the whole
    file, as the built-in extractors do); otherwise ``starts`` count from the stretch's
    start.
    """

    name: str
    sample_rate: int

    @property
    def dim(self) -> int: ...

    def config(self) -> dict:
        """JSON-able settings; features are cached per (name, hash of config)."""

    def extract(
        self, y: np.ndarray, sample_rate: int, starts: np.ndarray, durations: np.ndarray
    ) -> np.ndarray:
        """Vectors (n_windows, dim) of windows of ``y`` (a whole file, or a stretch, mono)."""


def column_names(extractor: Extractor) -> tuple[str, ...] | None:
    """The extractor's name per column (its optional ``columns``), checked against its ``dim``.

    Examples
    --------
    >>> from alwidget.features import LogMel
    >>> column_names(LogMel()) is None
    True
    """
    names = getattr(extractor, "columns", None)
    if names is None:
        return None
    names = tuple(str(n) for n in names)
    if len(names) != extractor.dim:
        raise ValueError(f"extractor {extractor.name!r} names {len(names)} columns but gives "
                         f"dim={extractor.dim}; its columns must name each column once")
    return names


def feature_set_for(store: Store, extractor: Extractor) -> FeatureSet:
    """The store's feature set of ``extractor``, created if absent, with its column names.

    A set stored without names gets the extractor's names now; nothing is computed.
    """
    return store.feature_set(extractor.name, extractor.config(), extractor.dim,
                             columns=column_names(extractor))


def reads_whole(frames: int, file_rate: int, sample_rate: int) -> bool:
    """True when a file of ``frames`` at ``file_rate`` is read whole for an extractor at
    ``sample_rate`` (:data:`WHOLE_FILE_SAMPLES`); False when it is read in blocks.

    Examples
    --------
    >>> reads_whole(10 * 60 * 48000, 48000, 16000), reads_whole(12 * 60 * 48000, 48000, 16000)
    (True, False)
    >>> reads_whole(40 * 60 * 8000, 8000, 16000)  # 40 min at 8 kHz: 38.4 M samples at 16 kHz
    False
    """
    return int(frames) * max(int(file_rate), int(sample_rate)) <= WHOLE_FILE_SAMPLES * int(file_rate)


def file_jobs(store: Store, feature_set: FeatureSet, sample_rate: int | None = None
              ) -> list[FileJob]:
    """Units of work for the clips still lacking ``feature_set`` features.

    One job per file, with its clips in the store's order (by audio, then start). A file
    that is not read whole at ``sample_rate`` (:func:`reads_whole`; the extractor's rate) is
    split into jobs of at most :data:`PIECE_SECONDS` of audio and :data:`CLIPS_PER_BATCH`
    clips; without ``sample_rate`` no file is split.
    """
    todo = store.clip_sources(store.clips_without_features(feature_set))
    if len(todo) == 0:
        return []
    sizes = ({a.id: (a.frames, a.sample_rate) for a in store.audios()}
             if sample_rate is not None else {})
    cuts = np.flatnonzero(np.diff(todo.audio_id)) + 1
    jobs: list[FileJob] = []
    for g in np.split(np.arange(len(todo)), cuts):
        size = sizes.get(int(todo.audio_id[g[0]]))
        if size is not None and not reads_whole(size[0], size[1], sample_rate):
            pieces = _stretches(todo.start_s[g], todo.duration_s[g], PIECE_SECONDS,
                                CLIPS_PER_BATCH)
        else:
            pieces = [np.arange(len(g))]
        jobs += [(todo.path[g[0]], todo.clip_id[g][p], todo.start_s[g][p], todo.duration_s[g][p])
                 for p in pieces]
    return jobs


def batches(jobs: list[FileJob], files_per_batch: int) -> list[list[FileJob]]:
    """Jobs grouped into units of work: at most ``files_per_batch`` jobs and, unless one job
    alone has more, :data:`CLIPS_PER_BATCH` clips.

    Examples
    --------
    >>> job = lambda n: ("a.wav", np.arange(n), np.zeros(n), np.ones(n))
    >>> [len(b) for b in batches([job(1)] * 5, files_per_batch=2)]
    [2, 2, 1]
    >>> [len(b) for b in batches([job(5000), job(5000), job(10000)], files_per_batch=64)]
    [1, 1, 1]
    """
    out: list[list[FileJob]] = []
    clips = 0
    for job in jobs:
        if not out or len(out[-1]) >= files_per_batch or clips + len(job[1]) > CLIPS_PER_BATCH:
            out.append([])
            clips = 0
        out[-1].append(job)
        clips += len(job[1])
    return out


def _stretches(starts: np.ndarray, durations: np.ndarray, seconds: float,
               max_clips: int | None = None) -> list[np.ndarray]:
    """Indices of clips, in order of start, cut into runs spanning at most ``seconds`` (a
    longer clip is a run of its own) of at most ``max_clips`` clips."""
    order = np.argsort(starts, kind="stable")
    ends = np.asarray(starts) + np.asarray(durations)
    runs, i = [], 0
    while i < len(order):
        first, last, j = starts[order[i]], ends[order[i]], i + 1
        while (j < len(order) and max(last, ends[order[j]]) - first <= seconds
               and (max_clips is None or j - i < max_clips)):
            last = max(last, ends[order[j]])
            j += 1
        runs.append(order[i:j])
        i = j
    return runs


def _grid_seconds(sample_rate: int, frame_hop: int) -> int:
    """Whole seconds between the possible starts of a block: a whole number of frames of
    ``frame_hop`` samples at ``sample_rate`` (and of samples at any rate)."""
    return frame_hop // math.gcd(frame_hop, sample_rate)


def _takes_offset(extractor: Extractor) -> bool:
    """True when ``extractor.extract`` accepts ``offset_s`` (see :class:`Extractor`)."""
    try:
        return "offset_s" in inspect.signature(extractor.extract).parameters
    except (TypeError, ValueError):
        return False


def extract_clips(extractor: Extractor, path: str, starts: np.ndarray, durations: np.ndarray,
                  *, whole_file_samples: int | None = None, block_seconds: float | None = None,
                  margin_seconds: float | None = None) -> np.ndarray:
    """Features (n, dim) of clips of one file: read whole, or in blocks (module docstring).

    Parameters
    ----------
    extractor : Extractor
    path : str
        The file (``os.fsdecode`` of its bytes when its name is not UTF-8).
    starts, durations : arrays of float
        The clips, in seconds.
    whole_file_samples : int, optional
        The threshold of :func:`reads_whole` (default :data:`WHOLE_FILE_SAMPLES`).
    block_seconds, margin_seconds : float, optional
        Stretch of clips per block and audio decoded on each side of it (default
        :data:`BLOCK_SECONDS`, :data:`MARGIN_SECONDS`).

    Returns
    -------
    ndarray of float32, shape (n, extractor.dim)

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from alwidget.features import LogMel
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).normal(size=(96000, 2)) * 0.1, 48000)
    >>> starts, durations = np.array([0.0, 1.0]), np.array([1.0, 1.0])
    >>> whole = extract_clips(LogMel(), path, starts, durations)
    >>> blocks = extract_clips(LogMel(), path, starts, durations, whole_file_samples=0,
    ...                        block_seconds=1.0)
    >>> whole.shape, float(np.abs(whole - blocks).max()) < 1e-3
    ((2, 296), True)
    """
    starts = np.asarray(starts, np.float64)
    durations = np.asarray(durations, np.float64)
    limit = WHOLE_FILE_SAMPLES if whole_file_samples is None else whole_file_samples
    block_seconds = BLOCK_SECONDS if block_seconds is None else block_seconds
    margin_seconds = MARGIN_SECONDS if margin_seconds is None else margin_seconds
    rate = extractor.sample_rate
    with open_audio(path) as f:
        native, total = f.samplerate, f.frames
        if total * max(native, rate) <= limit * native:  # reads_whole, with this limit
            y = resample(read_mono(f), native, rate)
            return np.asarray(extractor.extract(y, rate, starts, durations), np.float32)
        out = np.empty((len(starts), extractor.dim), np.float32)
        grid = _grid_seconds(rate, max(1, int(getattr(extractor, "frame_hop", 1))))
        told = _takes_offset(extractor)
        ends = starts + durations
        for idx in _stretches(starts, durations, block_seconds):
            # a block starts on a whole second (every rate has a sample there) on the frame grid
            offset = max(0, math.floor((starts[idx].min() - margin_seconds) / grid) * grid)
            end = min(total, math.ceil((ends[idx].max() + margin_seconds) * native))
            y = resample(read_mono(f, offset * native, max(0, end - offset * native)), native,
                         rate)
            if told:  # the same samples and frames as in the whole file
                X = extractor.extract(y, rate, starts[idx], durations[idx], offset_s=offset)
            else:
                X = extractor.extract(y, rate, starts[idx] - offset, durations[idx])
            out[idx] = X
    return out


def extract_files(extractor: Extractor, jobs: list[FileJob]):
    """Worker: features of the clips of several jobs (files, or stretches of long files).

    Returns ids, X, errors: ``errors`` holds (path, reason, number of clips) per job whose
    file could not be read; the other jobs are done all the same.
    """
    ids, blocks, errors = [], [], []
    for path, clip_ids, starts, durations in jobs:
        try:
            X = extract_clips(extractor, path, starts, durations)
        except Exception as exc:  # a file moved or changed since ingest: report, go on
            errors.append((path, f"{type(exc).__name__}: {exc}", len(clip_ids)))
            continue
        blocks.append(X)
        ids.append(clip_ids)
    if not ids:
        return np.empty(0, np.int64), np.empty((0, extractor.dim), np.float32), errors
    return np.concatenate(ids), np.concatenate(blocks).astype(np.float32), errors


def warn_unreadable(errors: list[tuple[str, str, int]]) -> None:
    """One warning naming the files (path, reason, number of clips) that could not be read.

    A long file read in several jobs is named once.
    """
    if errors:
        first = {}
        for p, r, _ in errors:
            first.setdefault(p, r)
        shown = "\n".join(f"  {printable(p)}: {r}" for p, r in list(first.items())[:10])
        warnings.warn(
            f"{len(first)} files could not be read, their clips have no features:\n{shown}",
            stacklevel=3,
        )


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """The ``display_name`` column of an AudioSet class map CSV (``index,mid,display_name``).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "classes.csv")
    >>> _ = open(path, "w").write('index,mid,display_name\\n0,/m/09x0r,Speech\\n1,/m/0,"Dog, bark"\\n')
    >>> read_class_names(path)
    ('Speech', 'Dog, bark')
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "display_name" not in (reader.fieldnames or []):
            raise ValueError(f"{str(path)!r} has no display_name column; it needs the columns "
                             f"index,mid,display_name (it has {reader.fieldnames})")
        return tuple(row["display_name"] for row in reader)
