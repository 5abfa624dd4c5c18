"""The local runner: :func:`extract_features`, cached, resumable and parallel over files."""

from __future__ import annotations

from pathlib import Path

from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..store import FeatureSet, Store
from .base import Extractor, batches, extract_files, feature_set_for, file_jobs, warn_unreadable
from .registry import get_extractor

__all__ = ["extract_features"]


#: With ``n_jobs=-1``, fewer clips than this to extract are extracted in the calling process.
MIN_CLIPS_FOR_WORKERS = 5000

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
    skipped, and each batch is committed as soon as it is done. Memory does not grow with
    the length of a file: long files are read in blocks of clips (see
    :mod:`alwidget.features.base`). The extractor's
    column names (a tagger's classes) are recorded with the feature set, also
    for a set computed before names were recorded: running again fills them in
    and computes nothing new.

    Parameters
    ----------
    db : Store or path
        The store (or its database file).
    extractor : str or Extractor, default "logmel"
        A name from :data:`~alwidget.features.EXTRACTORS` or an object following
        :class:`~alwidget.features.Extractor`.
    n_jobs : int, default -1
        Worker processes (joblib; -1 = all cores, 1 = in this process). With -1, fewer than
        :data:`MIN_CLIPS_FOR_WORKERS` clips to extract are extracted in this process: a worker
        takes 2–3 s to start (imports), more than it saves on a small job (2,000 log-mel
        clips of 1 s: 2.1 s in this process, 4.6 s with 2 workers, on 2 cores).
    files_per_batch : int, default 64
        Files per unit of work (at most 8,192 clips, unless one file has more; a long file is
        split into stretches of at most an hour: see :mod:`alwidget.features.base`); also
        how much work an interruption can lose.
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
    fs = feature_set_for(store, ex)
    jobs = file_jobs(store, fs, ex.sample_rate)
    if not jobs:
        return fs
    store.check_writable(f"{ex.name} features")
    n_clips = sum(len(j[1]) for j in jobs)
    bar = tqdm(total=n_clips, desc=f"features ({ex.name})", unit="clip", disable=not progress)
    errors: list[tuple[str, str, int]] = []
    if n_jobs == -1 and n_clips < MIN_CLIPS_FOR_WORKERS:
        n_jobs = 1
    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    try:
        for ids, X, errs in parallel(delayed(extract_files)(ex, b)
                                     for b in batches(jobs, files_per_batch)):
            store.put_features(fs, ids, X)
            errors += errs
            bar.update(len(ids) + sum(e[2] for e in errs))
    finally:
        bar.close()
    warn_unreadable(errors)
    return fs
