"""Feature extraction on Dask, for archives that outgrow one machine.

Files are split into partitions; each partition runs as one Dask task on a
worker that reads the audio (every worker must see the same paths, e.g. a
shared file system) and writes its vectors to a partition file in the work
folder (atomically: a temporary name, then a rename). The client merges each
finished partition into the store and deletes its file; workers never touch
SQLite. A partition is named by the hash of its clips, so a run restarted after
a crash reuses partition files already written, clips already stored are not
computed again, and Dask re-runs the tasks of a worker that died.

The partition runner (:func:`run_partitions`, with :func:`run_partition` on the workers
and :func:`partition_name`) is shared with the detections of a saved model
(:mod:`alwidget.detect`), whose workers score feature vectors the client wrote to files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from ..store import FeatureSet, Store
from .base import batches, extract_files, feature_set_for, file_jobs, warn_unreadable
from .registry import get_extractor

__all__ = ["extract_features_distributed", "partition_name", "run_partition", "run_partitions",
           "write_npz"]


def partition_name(clip_ids: np.ndarray) -> str:
    """A partition's name: the first 16 hex digits of the SHA-1 of its clip ids (int64).

    The same clips give the same name, so a restarted run finds partition files already
    written.

    Examples
    --------
    >>> partition_name(np.array([1, 2, 3]))
    'e2d1839ed1706f7d'
    """
    return hashlib.sha1(np.asarray(clip_ids, np.int64).tobytes()).hexdigest()[:16]


def write_npz(path: str | Path, **arrays: np.ndarray) -> str:
    """Write ``arrays`` to ``path`` (.npz) atomically: a temporary name, then a rename.

    A reader (or a restarted run) never sees half a file. Returns ``path`` as text.

    Examples
    --------
    >>> import tempfile, os
    >>> out = write_npz(os.path.join(tempfile.mkdtemp(), "a.npz"), x=np.arange(3))
    >>> np.load(out)["x"].tolist()
    [0, 1, 2]
    """
    path = str(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def run_partition(task: Callable[..., dict], args: tuple, out: str) -> str:
    """Worker: ``task(*args)`` (a dict of arrays) written to ``out`` (.npz), unless ``out``
    already exists (written before a crash); returns ``out``.

    Examples
    --------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "part-x.npz")
    >>> _ = run_partition(lambda n: {"x": np.arange(n)}, (2,), out)
    >>> _ = run_partition(lambda n: {"x": np.arange(n)}, (5,), out)  # already there: kept
    >>> np.load(out)["x"].tolist()
    [0, 1]
    """
    if not os.path.exists(out):
        write_npz(out, **task(*args))
    return out


def run_partitions(task: Callable[..., dict], parts: Iterable[tuple[str, tuple]],
                   merge: Callable[[str, dict], int], *, work: str | Path, key: str,
                   scheduler: str | None = None, client=None, n_workers: int = 2,
                   retries: int = 3, shared=None, per_worker: int | None = None,
                   bar=None) -> None:
    """Run partitions as Dask tasks and merge each result on the client as it finishes.

    Each partition ``(name, args)`` runs on a worker as :func:`run_partition` ``(task,
    args, work/part-<name>.npz)``; the client then calls ``merge(name, arrays)`` (which
    commits the result and returns how many clips it holds, for ``bar``) and deletes the
    file. Workers never touch the store.

    Parameters
    ----------
    task : callable
        Runs on a worker: ``task(*args)``, or ``task(shared, *args)`` with ``shared``;
        returns a dict of arrays. Must be importable on the workers (or pickled by value).
    parts : iterable of (str, tuple)
        The partitions: a name (:func:`partition_name` of their clips: task key and file
        name) and the task's arguments. Consumed lazily when ``per_worker`` is set, so a
        partition's inputs can be written to files only when it is submitted.
    merge : callable
        ``merge(name, arrays) -> int`` on the client, for each finished partition.
    work : path
        The folder of the partition files (created); every worker must be able to write
        there.
    key : str
        Prefix of the Dask task keys (one run's keys must not clash with another's).
    scheduler : str, optional
        Address of a running Dask scheduler. Default: a ``LocalCluster`` of ``n_workers``
        processes, closed at the end.
    client : distributed.Client, optional
        Use this client instead (its cluster is left running).
    n_workers : int, default 2
    retries : int, default 3
        How often a task is retried after its worker died or it failed.
    shared : object, optional
        Sent to every worker once (``Client.scatter``) and given to ``task`` first.
    per_worker : int, optional
        At most this many partitions per worker (counted at the start) submitted and not
        yet merged (default: all at once).
    bar : tqdm, optional
        Advanced by what ``merge`` returns.

    Examples
    --------
    >>> seen = []
    >>> run_partitions(lambda n: {"x": np.arange(n)}, [("p1", (2,)), ("p2", (3,))],
    ...                lambda name, a: seen.append((name, len(a["x"]))) or 0,
    ...                work=tempfile.mkdtemp(), key="doc")  # doctest: +SKIP
    >>> sorted(seen)  # doctest: +SKIP
    [('p1', 2), ('p2', 3)]
    """
    from distributed import Client, LocalCluster, as_completed

    if scheduler is not None and client is not None:
        raise ValueError("give scheduler= or client=, not both")
    if per_worker is not None and per_worker < 1:
        raise ValueError(f"per_worker={per_worker!r} must be >= 1")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    own = None
    if client is None:
        if scheduler is None:
            own = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
            client = Client(own)
        else:
            client = Client(scheduler)
    try:
        head = () if shared is None else (client.scatter(shared, broadcast=True, hash=False),)
        pending = iter(parts)

        names = {}

        def submit_next():
            for name, args in pending:
                out = str(work / f"part-{name}.npz")
                future = client.submit(run_partition, task, head + tuple(args), out,
                                       key=f"{key}-{name}", retries=retries, pure=False)
                names[future.key] = name
                return future
            return None

        limit = None if per_worker is None else per_worker * max(
            1, len(client.scheduler_info().get("workers", {})))
        first = []
        while limit is None or len(first) < limit:
            future = submit_next()
            if future is None:
                break
            first.append(future)
        running = as_completed(first)
        for future in running:
            out = future.result()
            with np.load(out) as data:
                arrays = {k: data[k] for k in data.files}
            n = merge(names.pop(future.key), arrays)  # committed, then the partition file goes
            os.remove(out)
            if bar is not None:
                bar.update(n)
            if limit is not None:
                nxt = submit_next()
                if nxt is not None:
                    running.add(nxt)
    finally:
        if own is not None:
            client.close()
            own.close()



def _extract_task(extractor, jobs) -> dict:
    """Worker: features of a partition's files, with the unreadable files as text."""
    ids, X, errors = extract_files(extractor, jobs)
    return {"ids": ids, "X": X,
            "errors": np.array([f"{p}\t{r}\t{n}" for p, r, n in errors], dtype=str)}


def _run_partition(extractor, jobs, out: str) -> str:
    """Worker: features of a partition's files, written to ``out`` (.npz); returns ``out``."""
    return run_partition(_extract_task, (extractor, jobs), out)


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
    parts = [(partition_name(np.concatenate([j[1] for j in part])), (ex, part))
             for part in batches(jobs, files_per_partition)]
    errors: list[tuple[str, str, int]] = []

    def merge(name: str, data: dict) -> int:
        store.put_features(fs, data["ids"], data["X"])
        failed = [_unpack_error(str(e)) for e in data["errors"]]
        errors.extend(failed)
        return len(data["ids"]) + sum(n for _, _, n in failed)

    bar = tqdm(total=sum(len(j[1]) for j in jobs), desc=f"features ({ex.name}, dask)", unit="clip",
               disable=not progress)
    try:
        run_partitions(_extract_task, parts, merge, work=work, key=f"alwidget-{fs.id}",
                       scheduler=scheduler, client=client, n_workers=n_workers, retries=retries,
                       bar=bar)
    finally:
        bar.close()
    warn_unreadable(errors)
    return fs


def _unpack_error(text: str) -> tuple[str, str, int]:
    """(path, reason, number of clips) from a partition file's "path<TAB>reason<TAB>n"."""
    path, rest = text.split("\t", 1)
    reason, n = rest.rsplit("\t", 1)
    return path, reason, int(n)
