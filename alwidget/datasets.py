"""Labeled data sets for experiments: a manifest of audio files, or a feature matrix.

A manifest is a CSV with a path column (relative to an audio root), a label
column and a fold column; optional ``start_s`` and ``duration_s`` columns
make each row one clip of a longer file (as in the demo's ``labels.csv``),
otherwise each row is one whole file. Features are computed through the
store, so they are cached between runs.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LabeledFeatures", "from_manifest", "from_matrix"]


@dataclass(frozen=True)
class LabeledFeatures:
    """Features with a label and a fold per row."""

    X: np.ndarray
    labels: np.ndarray
    folds: np.ndarray


def _read_csv(path: Path, columns: list[str]) -> list[dict]:
    if not Path(path).is_file():
        raise ValueError(f"manifest {str(path)!r} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{str(path)!r} has no column(s) {missing}; it has {reader.fieldnames}")
        return list(reader)


def from_manifest(
    manifest: str | Path,
    db,
    *,
    audio_root: str | Path | None = None,
    path_column: str = "path",
    label_column: str = "label",
    fold_column: str = "fold",
    extractor: str = "logmel",
    n_jobs: int = -1,
    progress: bool = True,
) -> LabeledFeatures:
    """Ingest a manifest's audio into ``db``, compute features, return them with labels.

    Rows whose file could not be ingested are dropped with a printed warning
    (the reasons are in the store's ``ingest_errors``).

    Examples
    --------
    >>> data = from_manifest("../shared/data/esc10/manifest.csv", "esc10.db")  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (400, 296)
    """
    from .features import extract_features
    from .ingestion import ingest
    from .store import Store

    manifest = Path(manifest)
    root = Path(audio_root) if audio_root is not None else manifest.parent
    rows = _read_csv(manifest, [path_column, label_column, fold_column])
    if not rows:
        raise ValueError(f"manifest {str(manifest)!r} has no rows")
    per_clip = "start_s" in rows[0] and "duration_s" in rows[0]
    clip_seconds = float(rows[0]["duration_s"]) if per_clip else None
    paths = [os.path.abspath(root / r[path_column]) for r in rows]
    store = db if isinstance(db, Store) else Store(db)
    ingest(sorted(set(paths)), store, clip_seconds=clip_seconds, progress=progress, verbose=False)
    fs = extract_features(store, extractor, n_jobs=n_jobs, progress=progress)
    src = store.clip_sources()
    where = {(p, round(float(s), 3)): int(c) for p, s, c in zip(src.path, src.start_s, src.clip_id)}
    keys = [(p, round(float(r["start_s"]) if per_clip else 0.0, 3)) for p, r in zip(paths, rows)]
    found = [k in where for k in keys]
    if not all(found):
        lost = [k[0] for k, ok in zip(keys, found) if not ok]
        print(f"warning: {len(lost)} manifest rows have no clip (file not ingested, see the "
              f"store's ingest_errors); first: {lost[0]}")
    rows = [r for r, ok in zip(rows, found) if ok]
    ids = np.array([where[k] for k, ok in zip(keys, found) if ok], dtype=np.int64)
    _, X = store.get_features(fs, ids)
    return LabeledFeatures(X, np.array([r[label_column] for r in rows]),
                           np.array([r[fold_column] for r in rows]))


def from_matrix(
    features: str | Path, labels_csv: str | Path, *, label_column: str = "label",
    fold_column: str = "fold",
) -> LabeledFeatures:
    """A precomputed ``.npy`` feature matrix with a CSV of one label/fold per row.

    Examples
    --------
    >>> data = from_matrix("X.npy", "labels.csv")  # doctest: +SKIP
    """
    X = np.load(features)
    rows = _read_csv(Path(labels_csv), [label_column, fold_column])
    if X.ndim != 2 or len(X) != len(rows):
        raise ValueError(f"{str(features)!r} has shape {X.shape}; expected ({len(rows)}, d) "
                         f"to match the {len(rows)} rows of {str(labels_csv)!r}")
    if not np.isfinite(X).all():
        raise ValueError(f"{str(features)!r} contains NaN or infinite values")
    return LabeledFeatures(X.astype(np.float32), np.array([r[label_column] for r in rows]),
                           np.array([r[fold_column] for r in rows]))
