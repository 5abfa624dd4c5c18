"""Feature extraction on Dask, for archives that outgrow one machine.

Files are split into partitions; each partition runs as one Dask task on a
worker that reads the audio (every worker must see the same paths, e.g. a
shared file system) and writes its vectors to a partition file in the work
folder (atomically: a temporary name, then a rename). The client merges each
finished partition into the store and deletes its file; workers never touch
SQLite. A partition is named by the hash of its clips, so a run restarted after
a crash reuses partition files already written, clips already stored are not
computed again, and Dask re-runs the tasks of a worker that died.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..store import FeatureSet, Store
from .base import batches, extract_files, feature_set_for, file_jobs, warn_unreadable
from .registry import get_extractor

__all__ = ["extract_features_distributed"]


def _run_partition(extractor, jobs, out: str) -> str:
    """Worker: features of a partition's files, written to ``out`` (.npz); returns ``out``."""
    if not os.path.exists(out):
        ids, X, errors = extract_files(extractor, jobs)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), suffix=".tmp.npz")
        os.close(fd)
        np.savez(tmp, ids=ids, X=X, errors=np.array([f"{p}\t{r}\t{n}" for p, r, n in errors],
                                                    dtype=str))
        os.replace(tmp, out)
    return out


def extract_features_distributed(db: Store | str | Path, extractor="logmel", *,
                                 scheduler: str | None = None, client=None, n_workers: int = 2,
                                 files_per_partition: int = 64, work_dir: str | Path | None = None,
                                 retries: int = 3, progress: bool = True) -> FeatureSet:
    """Compute features for every clip that lacks them, on a Dask cluster.

    Parameters
    ----------
    db : Store or path
    extractor : str or Extractor, default "logmel"
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``). Default: a
        ``LocalCluster`` of ``n_workers`` processes, closed at the end.
    client : distributed.Client, optional
        Use this client instead (its cluster is left running).
    n_workers : int, default 2
    files_per_partition : int, default 64
        Files per task (at most 8,192 clips, unless one file has more; a long file is split
        into stretches of at most an hour); also what a dead worker's retry recomputes.
    work_dir : path, optional
        Where partition files go; every worker must be able to write there.
        Default: ``<db>.extract/`` beside the database.
    retries : int, default 3
        How often a task is retried after its worker died or it failed.
    progress : bool, default True

    Returns
    -------
    FeatureSet

    Examples
    --------
    >>> fs = extract_features_distributed("archive.db", "yamnet",
    ...                                   scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    from distributed import Client, LocalCluster, as_completed

    if files_per_partition < 1:
        raise ValueError(f"files_per_partition={files_per_partition!r} must be >= 1")
    if scheduler is not None and client is not None:
        raise ValueError("give scheduler= or client=, not both")
    store = db if isinstance(db, Store) else Store(db)
    ex = get_extractor(extractor)
    if work_dir is None:
        if store.path == ":memory:":
            raise ValueError("an in-memory store needs work_dir= for the partition files")
        work_dir = Path(store.path + ".extract")
    fs = feature_set_for(store, ex)  # records the extractor's column names, if any
    work = Path(work_dir) / f"fs{fs.id}"
    work.mkdir(parents=True, exist_ok=True)
    jobs = file_jobs(store, fs, ex.sample_rate)
    if not jobs:
        return fs
    store.check_writable(f"{ex.name} features")
    parts = batches(jobs, files_per_partition)

    own = None
    if client is None:
        if scheduler is None:
            own = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
            client = Client(own)
        else:
            client = Client(scheduler)
    bar = tqdm(total=sum(len(j[1]) for j in jobs), desc=f"features ({ex.name}, dask)", unit="clip",
               disable=not progress)
    errors: list[tuple[str, str, int]] = []
    try:
        futures = []
        for part in parts:
            name = hashlib.sha1(np.concatenate([j[1] for j in part]).tobytes()).hexdigest()[:16]
            out = str(work / f"part-{name}.npz")
            futures.append(client.submit(_run_partition, ex, part, out, key=f"alwidget-{fs.id}-{name}",
                                         retries=retries, pure=False))
        for future in as_completed(futures):
            out = future.result()
            with np.load(out) as data:
                ids, X = data["ids"], data["X"]
                failed = [_unpack_error(str(e)) for e in data["errors"]]
            store.put_features(fs, ids, X)  # committed, then the partition file goes
            os.remove(out)
            errors += failed
            bar.update(len(ids) + sum(n for _, _, n in failed))
    finally:
        bar.close()
        if own is not None:
            client.close()
            own.close()
    warn_unreadable(errors)
    return fs


def _unpack_error(text: str) -> tuple[str, str, int]:
    """(path, reason, number of clips) from a partition file's "path<TAB>reason<TAB>n"."""
    path, rest = text.split("\t", 1)
    reason, n = rest.rsplit("\t", 1)
    return path, reason, int(n)
