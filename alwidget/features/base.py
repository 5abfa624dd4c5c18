"""The ``Extractor`` protocol and the pieces both runners (local and Dask) share.

A runner asks :func:`feature_set_for` for the extractor's feature set (recording the
extractor's column names, if it has any), :func:`file_jobs` for the clips that still lack
features, grouped by file, runs :func:`extract_files` on batches of those jobs (in worker
processes) and finally reports unreadable files with :func:`warn_unreadable`.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..audio import load_mono
from ..store import FeatureSet, Store

__all__ = ["Extractor", "FileJob", "column_names", "extract_files", "feature_set_for", "file_jobs",
           "read_class_names", "warn_unreadable"]

#: One file's work: (path, clip ids, clip starts, clip durations).
FileJob = tuple[str, np.ndarray, np.ndarray, np.ndarray]


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


def file_jobs(store: Store, feature_set: FeatureSet) -> list[FileJob]:
    """One job per file with clips still lacking ``feature_set`` features.

    Each job is (path, clip ids, starts, durations); clips of one file come together, in
    the store's order (by audio, then start).
    """
    todo = store.clip_sources(store.clips_without_features(feature_set))
    if len(todo) == 0:
        return []
    cuts = np.flatnonzero(np.diff(todo.audio_id)) + 1
    return [(todo.path[g[0]], todo.clip_id[g], todo.start_s[g], todo.duration_s[g])
            for g in np.split(np.arange(len(todo)), cuts)]


def extract_files(extractor: Extractor, jobs: list[FileJob]):
    """Worker: features of the clips of several files. Returns ids, X, errors.

    ``errors`` holds (path, reason, number of clips) per file that could not be read; the
    other files are done all the same.
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


def warn_unreadable(errors: list[tuple[str, str, int]]) -> None:
    """One warning naming the files (path, reason, number of clips) that could not be read."""
    if errors:
        shown = "\n".join(f"  {p}: {r}" for p, r, _ in errors[:10])
        warnings.warn(
            f"{len(errors)} files could not be read, their clips have no features:\n{shown}",
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
