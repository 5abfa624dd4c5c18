"""Detections on Dask: the client writes partitions of feature vectors to files, workers
score them and write the scores to files, the client commits each partition's scores.

Workers never touch SQLite: they read ``in-<name>.npz`` (clip ids and vectors, written by
the client when the partition is submitted) and write ``part-<name>.npz`` (clip ids, class
index, score) through the partition runner shared with feature extraction
(:func:`alwidget.features.distributed.run_partitions`). The model is sent to each worker
once. Score files left by a run that was stopped are committed at the next start; a worker
that dies has its partitions run again by Dask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..features.distributed import partition_name, run_partitions, write_npz
from .scoring import score_vectors

__all__ = ["score_on_dask", "score_partition"]


def score_partition(model, in_path: str) -> dict:
    """Worker: the scores of the vectors in ``in_path`` (``ids``, ``X``).

    Returns ``{"ids", "index", "score"}`` (see :func:`~alwidget.detect.scoring.score_vectors`).

    Examples
    --------
    >>> import tempfile, os
    >>> class Model:
    ...     classes, target = ("rain", "owl"), "owl"
    ...     def predict_proba(self, X):
    ...         return np.column_stack([1 - X[:, 0], X[:, 0]])
    >>> path = write_npz(os.path.join(tempfile.mkdtemp(), "in-x.npz"), ids=np.array([7, 9]),
    ...                  X=np.array([[0.25], [0.5]], np.float32))
    >>> score_partition(Model(), path)["score"].tolist()
    [0.25, 0.5]
    """
    with np.load(in_path) as data:
        ids, X = data["ids"], data["X"]
    index, score = score_vectors(model, X)
    return {"ids": ids, "index": index, "score": score}


def merge_leftovers(work: Path, put: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
                    ) -> int:
    """Commit the score files a stopped run left in ``work`` (``put(ids, index, score)``),
    delete them and the partial or input files; return the number of clips committed."""
    n = 0
    if not work.is_dir():
        return 0
    for path in sorted(work.glob("part-*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        try:
            with np.load(path) as data:
                ids, index, score = data["ids"], data["index"], data["score"]
        except (OSError, ValueError, KeyError):  # unreadable: its clips are scored again
            path.unlink()
            continue
        put(ids, index, score)
        n += len(ids)
        path.unlink()
    for path in list(work.glob("*.tmp.npz")) + list(work.glob("in-*.npz")):
        path.unlink(missing_ok=True)
    return n


def score_on_dask(model, batches: Iterator[tuple[np.ndarray, np.ndarray]],
                  put: Callable[[np.ndarray, np.ndarray, np.ndarray], None], *,
                  work: Path, key: str, scheduler=None, client=None, n_workers: int = 2,
                  retries: int = 3, bar=None) -> None:
    """Score ``batches`` of (clip ids, vectors) on Dask; ``put(ids, index, score)`` commits
    each partition's scores on the client as it arrives.

    Each batch is written to ``work/in-<name>.npz`` only when submitted (at most two per
    worker at a time), and deleted once its scores are committed.
    """
    work.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Path] = {}

    def parts():
        for ids, X in batches:
            name = partition_name(ids)
            inputs[name] = work / f"in-{name}.npz"
            write_npz(inputs[name], ids=ids, X=X)
            yield name, (str(inputs[name]),)

    def merge(name: str, data: dict) -> int:
        put(data["ids"], data["index"], data["score"])
        path = inputs.pop(name, None)
        if path is not None:
            path.unlink(missing_ok=True)
        return len(data["ids"])

    try:
        run_partitions(score_partition, parts(), merge, work=work, key=key,
                       scheduler=scheduler, client=client, n_workers=n_workers,
                       retries=retries, shared=model, per_worker=2, bar=bar)
    finally:
        for path in inputs.values():
            path.unlink(missing_ok=True)
    try:
        os.rmdir(work)  # only when empty
    except OSError:
        pass
