"""Labeled data sets for experiments: a manifest of audio files, or a feature matrix.

A manifest is a CSV with a path column (relative to an audio root), a label
column and a fold column. With ``start_s`` and ``duration_s`` columns, each row
is exactly one clip ``[start_s, start_s + duration_s)`` of its file (as in the
demo's ``labels.csv``; files and windows may each have their own length);
without them, each row is one whole file. Features are computed through the
store, so they are cached between runs.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import extract_features
from .ingestion import WindowError, ingest
from .store import Store

__all__ = ["LabeledFeatures", "from_manifest", "from_matrix"]


@dataclass(frozen=True)
class LabeledFeatures:
    """Features with a label and a fold per row."""

    X: np.ndarray
    labels: np.ndarray
    folds: np.ndarray


def _read_csv(path: Path, columns: list[str]) -> tuple[list[dict], list[int], list[str]]:
    """Rows, the line each row starts on, and the header of a CSV with ``columns``."""
    if not Path(path).is_file():
        raise ValueError(f"manifest {str(path)!r} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: CSVs saved by Excel
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{str(path)!r} has no column(s) {missing}; it has {reader.fieldnames}")
        rows, lines = [], []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)  # the row's (last) line: the header is line 1
        return rows, lines, list(reader.fieldnames)


def _seconds(text, what: str, where: str, positive: bool) -> float:
    """A row's start_s (>= 0) or duration_s (> 0) as a float, or a ValueError saying where."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{where}: {what}={text!r} must be a number of seconds {rule}; "
                         "nothing was stored")
    return value


def _windows_of(manifest: Path, rows: list[dict], lines: list[int], header: list[str],
                path_column: str) -> list[tuple[float, float]] | None:
    """Each row's clip (start_s, duration_s), checked; None when the manifest has no windows."""
    has = [c for c in ("start_s", "duration_s") if c in header]
    if not has:
        return None
    if len(has) == 1:
        lacking = "duration_s" if has == ["start_s"] else "start_s"
        raise ValueError(f"{str(manifest)!r} has a {has[0]} column but no {lacking} column; a "
                         "clip needs both (start_s 0 and the file's length for a whole file), "
                         "or neither for one whole file per row; nothing was stored")
    out = []
    for row, line in zip(rows, lines):
        where = f"{str(manifest)!r} line {line} ({row[path_column]})"
        start, duration = (row.get("start_s") or "").strip(), (row.get("duration_s") or "").strip()
        if not start or not duration:
            what = ("start_s is given but duration_s is empty" if start else
                    "duration_s is given but start_s is empty" if duration else
                    "start_s and duration_s are empty")
            raise ValueError(f"{where}: {what}; give both (the row's clip is [start_s, start_s "
                             "+ duration_s)); nothing was stored")
        out.append((_seconds(start, "start_s", where, False),
                    _seconds(duration, "duration_s", where, True)))
    return out


def _key(path: str, start_s: float, duration_s: float) -> tuple[str, float, float]:
    return path, round(float(start_s), 6), round(float(duration_s), 6)


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

    Each row is one clip: ``[start_s, start_s + duration_s)`` of its file when the
    manifest has those columns (each row its own window), else the whole file. Rows
    come back in manifest order, each with its own clip's features. Every window is
    checked before anything is stored; a bad one (not a number, a negative start, a
    non-positive duration, only one of the two, or ending after its file) raises a
    ValueError naming the manifest line and file. Rows whose file could not be
    ingested are dropped with a printed warning (the reasons are in the store's
    ``ingest_errors``). A file with the same content as another is stored once (see
    :func:`alwidget.ingest`); its rows take their clips from the stored file, each with
    its own label. Running again adds nothing.

    Parameters
    ----------
    manifest : path
        The CSV.
    db : Store or path
        Where clips and features are stored (and cached between runs).
    audio_root : path, optional
        Folder the manifest's paths are relative to (default: the manifest's folder).
    path_column, label_column, fold_column : str
        Column names.
    extractor : str, default "logmel"
        Features to compute (see :func:`alwidget.extract_features`).
    n_jobs : int, default -1
    progress : bool, default True

    Returns
    -------
    LabeledFeatures

    Examples
    --------
    >>> data = from_manifest("../shared/data/esc10/manifest.csv", "esc10.db")  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (400, 296)

    A manifest of windows, one clip per row (here two of ``a.wav`` and all of ``b.wav``)::

        path,start_s,duration_s,label,fold
        a.wav,0.0,1.64,dog,1
        a.wav,3.2,0.5,bird,1
        b.wav,0,7.25,rain,2
    """
    manifest = Path(manifest)
    root = Path(audio_root) if audio_root is not None else manifest.parent
    rows, lines, header = _read_csv(manifest, [path_column, label_column, fold_column])
    if not rows:
        raise ValueError(f"manifest {str(manifest)!r} has no rows")
    wins = _windows_of(manifest, rows, lines, header, path_column)
    paths = [os.path.realpath(root / r[path_column]) for r in rows]  # as ingest stores them
    store = db if isinstance(db, Store) else Store(db)
    if wins is None:
        summary = ingest(sorted(set(paths)), store, clip_seconds=None, progress=progress,
                         verbose=False)
    else:
        by_file: dict[str, list[tuple[float, float]]] = {}
        for p, w in zip(paths, wins):
            by_file.setdefault(p, []).append(w)
        try:
            summary = ingest(sorted(by_file), store, windows=by_file, progress=progress,
                             verbose=False)
        except WindowError as exc:
            k = next((k for k, (p, w) in enumerate(zip(paths, wins)) if p == exc.path
                      and _key(p, *w) == _key(p, exc.start_s, exc.duration_s)), None)
            if k is None:
                raise
            raise ValueError(f"{str(manifest)!r} line {lines[k]} ({rows[k][path_column]}): "
                             f"{exc.reason}") from None
    fs = extract_features(store, extractor, n_jobs=n_jobs, progress=progress)
    stored_as = dict(summary.duplicates)  # a copy's clips are those of the stored file
    clip_of = _clips_of_rows(store, [stored_as.get(p, p) for p in paths], wins, manifest, rows,
                             lines, path_column)
    found = [c is not None for c in clip_of]
    if not all(found):
        lost = [p for p, ok in zip(paths, found) if not ok]
        print(f"warning: {len(lost)} manifest rows have no clip (file not ingested, see the "
              f"store's ingest_errors); first: {lost[0]}")
    rows = [r for r, ok in zip(rows, found) if ok]
    ids = np.array([c for c in clip_of if c is not None], dtype=np.int64)
    _, X = store.get_features(fs, ids)
    return LabeledFeatures(X, np.array([r[label_column] for r in rows]),
                           np.array([r[fold_column] for r in rows]))


def _clips_of_rows(store: Store, paths: list[str], wins, manifest: Path, rows: list[dict],
                   lines: list[int], path_column: str) -> list[int | None]:
    """Each row's clip id; None for a row whose file is not stored (it could not be read)."""
    src = store.clip_sources()
    where = {_key(p, s, d): int(c)
             for p, s, d, c in zip(src.path, src.start_s, src.duration_s, src.clip_id)}
    length = {a.path: a.duration_s for a in store.audios()}
    out: list[int | None] = []
    for k, p in enumerate(paths):
        if p not in length:
            out.append(None)
            continue
        key = _key(p, *wins[k]) if wins is not None else _key(p, 0.0, length[p])
        if key not in where:  # stored before, with other clips (ingest checks given windows)
            wanted = "as one whole-file clip" if wins is None else "with this row's clip"
            raise ValueError(f"{str(manifest)!r} line {lines[k]} ({rows[k][path_column]}): the "
                             f"file is stored in {store.path!r} with other clips, not {wanted}; "
                             "use a new database, or give start_s and duration_s columns")
        out.append(where[key])
    return out


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
    rows, _, _ = _read_csv(Path(labels_csv), [label_column, fold_column])
    if X.ndim != 2 or len(X) != len(rows):
        raise ValueError(f"{str(features)!r} has shape {X.shape}; expected ({len(rows)}, d) "
                         f"to match the {len(rows)} rows of {str(labels_csv)!r}")
    if not np.isfinite(X).all():
        raise ValueError(f"{str(features)!r} contains NaN or infinite values")
    if X.size and np.abs(X).max() > np.finfo(np.float32).max:
        raise ValueError(f"{str(features)!r} holds values beyond float32 (|x| > 3.4e38); "
                         "rescale the features")
    return LabeledFeatures(X.astype(np.float32), np.array([r[label_column] for r in rows]),
                           np.array([r[fold_column] for r in rows]))
