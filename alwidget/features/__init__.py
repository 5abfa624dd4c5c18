"""Feature extraction: the ``Extractor`` protocol and the cached, parallel runner.

An extractor turns one file's mono audio plus a list of clip windows into one
vector per clip. :func:`extract_features` runs an extractor over every clip of
a store that has no vector yet in that extractor's feature set (so an
interrupted run resumes where it stopped), in parallel over files, writing
each batch to the store as it finishes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..audio import load_mono
from ..store import FeatureSet, Store
from .distributed import extract_features_distributed
from .logmel import LogMel
from .panns import PANNs, PANNsTags
from .precomputed import import_features
from .yamnet import YAMNet, YAMNetTags

__all__ = ["Extractor", "LogMel", "PANNs", "PANNsTags", "YAMNet", "YAMNetTags", "extract_features", "get_extractor",
           "extract_features_distributed", "import_features", "EXTRACTORS"]


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
        """Vectors (n_windows, dim) of windows of ``y`` (one whole file, mono)."""


#: Extractors known by name.
EXTRACTORS = {"logmel": LogMel, "yamnet": YAMNet, "yamnet-tags": YAMNetTags, "panns": PANNs,
              "panns-tags": PANNsTags}


def get_extractor(extractor: str | Extractor) -> Extractor:
    """An extractor instance from a name in :data:`EXTRACTORS`, or the one given."""
    if isinstance(extractor, str):
        try:
            return EXTRACTORS[extractor]()
        except KeyError:
            raise ValueError(
                f"extractor={extractor!r} is unknown; choose one of {sorted(EXTRACTORS)}"
            ) from None
    if not isinstance(extractor, Extractor):
        raise TypeError(f"extractor={extractor!r} does not follow the Extractor protocol")
    return extractor


def _extract_files(extractor: Extractor, jobs: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]):
    """Worker: features of the clips of several files. Returns ids, X, errors.

    ``errors`` holds (path, reason, number of clips) per file that failed.
    """
    ids, blocks, errors = [], [], []
    for path, clip_ids, starts, durations in jobs:
        try:
            y, sr = load_mono(path, extractor.sample_rate)
        except Exception as exc:  # a file moved or changed since ingest: report, go on
            errors.append((path, f"{type(exc).__name__}: {exc}", len(clip_ids)))
            continue
        blocks.append(extractor.extract(y, sr, starts, durations))
        ids.append(clip_ids)
    if not ids:
        return np.empty(0, np.int64), np.empty((0, extractor.dim), np.float32), errors
    return np.concatenate(ids), np.concatenate(blocks).astype(np.float32), errors


def extract_features(
    db: Store | str | Path,
    extractor: str | Extractor = "logmel",
    *,
    n_jobs: int = -1,
    files_per_batch: int = 64,
    progress: bool = True,
) -> FeatureSet:
    """Compute and cache features for every clip of a store that lacks them.

    Resumable: clips already stored in this extractor's feature set are
    skipped, and each batch is committed as soon as it is done.

    Parameters
    ----------
    db : Store or path
        The store (or its database file).
    extractor : str or Extractor, default "logmel"
        A name from :data:`EXTRACTORS` or an object following :class:`Extractor`.
    n_jobs : int, default -1
        Worker processes (joblib; -1 = all cores, 1 = in this process).
    files_per_batch : int, default 64
        Files per unit of work; also how much work an interruption can lose.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    FeatureSet
        Use it with ``store.get_features(feature_set)``.

    Examples
    --------
    >>> import alwidget
    >>> fs = alwidget.extract_features("project.db", "logmel")  # doctest: +SKIP
    >>> ids, X = alwidget.Store("project.db").get_features(fs)  # doctest: +SKIP
    """
    if files_per_batch < 1:
        raise ValueError(f"files_per_batch={files_per_batch!r} must be >= 1")
    store = db if isinstance(db, Store) else Store(db)
    ex = get_extractor(extractor)
    fs = store.feature_set(ex.name, ex.config(), ex.dim)
    jobs = _file_jobs(store, fs)
    if not jobs:
        return fs
    n_clips = sum(len(j[1]) for j in jobs)
    batches = [jobs[i : i + files_per_batch] for i in range(0, len(jobs), files_per_batch)]
    bar = tqdm(total=n_clips, desc=f"features ({ex.name})", unit="clip", disable=not progress)
    errors: list[tuple[str, str, int]] = []
    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    try:
        for ids, X, errs in parallel(delayed(_extract_files)(ex, b) for b in batches):
            store.put_features(fs, ids, X)
            errors += errs
            bar.update(len(ids) + sum(e[2] for e in errs))
    finally:
        bar.close()
    _warn_unreadable(errors)
    return fs


def _file_jobs(store: Store, fs: FeatureSet) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """One job per file with clips still lacking ``fs`` features: (path, ids, starts, durations)."""
    todo = store.clip_sources(store.clips_without_features(fs))
    if len(todo) == 0:
        return []
    cuts = np.flatnonzero(np.diff(todo.audio_id)) + 1
    return [(todo.path[g[0]], todo.clip_id[g], todo.start_s[g], todo.duration_s[g])
            for g in np.split(np.arange(len(todo)), cuts)]


def _warn_unreadable(errors: list[tuple[str, str, int]]) -> None:
    """One warning naming the files (path, reason, number of clips) that could not be read."""
    if errors:
        shown = "\n".join(f"  {p}: {r}" for p, r, _ in errors[:10])
        warnings.warn(
            f"{len(errors)} files could not be read, their clips have no features:\n{shown}",
            stacklevel=3,
        )
