"""Import embeddings computed elsewhere (a cluster, another tool), keyed by file + offset.

Importing again under the same name adds or replaces vectors of the same
feature set (e.g. for new recordings of a growing archive).

The keys table says which clip each vector belongs to: the audio file (relative
to ``root``, or absolute) and the clip's start in seconds. The vectors are the
rows of a ``.npy`` matrix in the same order, or the other columns of the keys
table itself. Everything is checked before anything is written: one bad row
and nothing is stored.

A tagger's class probabilities are imported with their class names (``column_names=``
a list, or ``True`` for the header of the vector columns of the keys table); the names
are stored with the feature set, which gives each clip's most likely class through
:func:`alwidget.tagger.top1`. Embeddings are imported without names.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..store import FeatureSet, Store

__all__ = ["import_features"]


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.suffix == ".parquet":
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise ImportError(f"reading {str(path)!r} needs pandas and pyarrow "
                              f"(pip install pandas pyarrow), or save it as CSV: {exc}") from None
        header, body = [str(c) for c in frame.columns], frame.astype(str).values.tolist()
        if not body:
            raise ValueError(f"{str(path)!r} has columns but no rows: nothing to import")
        return header, body
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: CSVs saved by Excel
        reader = csv.reader(f)
        rows = [(reader.line_num, r) for r in reader if r]  # without blank lines
    if not rows:
        raise ValueError(f"{str(path)!r} is empty: it needs a header row and one row per clip")
    header, body = rows[0][1], rows[1:]
    if not body:
        raise ValueError(f"{str(path)!r} has a header but no rows: nothing to import")
    for line, r in body:
        if len(r) != len(header):
            raise ValueError(f"{str(path)!r} line {line} has {len(r)} fields but the header "
                             f"has {len(header)}; fix or remove that line (nothing was stored)")
    return header, [r for _, r in body]


def import_features(db: Store | str | Path, name: str, keys: str | Path,
                    vectors: str | Path | None = None, *, root: str | Path | None = None,
                    path_column: str = "path", start_column: str = "start_s",
                    tolerance_s: float = 1e-3,
                    column_names: Sequence[str] | bool | None = None) -> FeatureSet:
    """Store precomputed vectors as the feature set ``precomputed:<name>``.

    Parameters
    ----------
    db : Store or path
    name : str
        Short name, e.g. ``"perch"``; the feature set is ``precomputed:perch``.
    keys : path
        CSV (or Parquet) with ``path_column`` and ``start_column``, one row per vector.
    vectors : path, optional
        ``.npy`` matrix with one row per key row. Without it, every other column
        of ``keys`` is a vector component.
    root : path, optional
        Folder the key paths are relative to (default: the folder of ``keys``).
    tolerance_s : float, default 0.001
        How far a key's start may be from the clip's start.
    column_names : sequence of str or True, optional
        For class probabilities (a tagger's): a name per vector column, or True for the
        header of the vector columns in ``keys``; stored with the feature set. Default
        none (embeddings).

    Returns
    -------
    FeatureSet
        Its ``columns`` are the stored column names, or None.

    Examples
    --------
    >>> fs = import_features("project.db", "perch", "emb.csv", "emb.npy")  # doctest: +SKIP
    >>> tags = import_features("project.db", "birdnet", "keys.csv", "probabilities.npy",
    ...                        column_names=["bird", "rain", "wind"])  # doctest: +SKIP
    >>> from alwidget.tagger import top1
    >>> ids, names, p = top1(alwidget.Store("project.db"), tags)  # doctest: +SKIP
    """
    store = db if isinstance(db, Store) else Store(db)
    keys = Path(keys)
    root = Path(os.path.abspath(root if root is not None else keys.parent))
    if not name or ":" in name:
        raise ValueError(f"name={name!r} must be a non-empty name without ':'")
    if tolerance_s <= 0:
        raise ValueError(f"tolerance_s={tolerance_s!r} must be > 0")
    header, rows = _read_table(keys)
    missing = [c for c in (path_column, start_column) if c not in header]
    if missing:
        raise ValueError(f"{str(keys)!r} has no column {missing}; its columns are {header[:8]}")
    ip, it = header.index(path_column), header.index(start_column)
    if vectors is not None:
        X = np.load(vectors, allow_pickle=False)
        source = Path(vectors)
        names = None
    else:
        other = [i for i in range(len(header)) if i not in (ip, it)]
        names = [header[i] for i in other]
        try:
            X = np.array([[float(r[i]) for i in other] for r in rows], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{str(keys)!r}: the columns besides {path_column!r} and "
                             f"{start_column!r} must be numbers ({exc})") from None
        source = keys
    if X.ndim != 2 or len(X) != len(rows) or X.shape[1] == 0:
        raise ValueError(f"{str(source)!r} has shape {X.shape}; it needs one row per key row "
                         f"({len(rows)}) and at least one column")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise ValueError(f"{str(source)!r} rows {bad[:5].tolist()} contain NaN or inf")
    huge = np.flatnonzero((np.abs(X) > np.finfo(np.float32).max).any(axis=1))
    if len(huge):
        raise ValueError(f"{str(source)!r} rows {huge[:5].tolist()} hold values beyond float32 "
                         f"(|x| > {np.finfo(np.float32).max:.3g}), as which features are stored; "
                         "rescale them")
    if column_names is None or column_names is False:
        names = None  # embeddings: their columns are not classes
    elif column_names is True:
        if names is None:
            raise ValueError("column_names=True takes the names from the header of the vector "
                             f"columns of {str(keys)!r}, but the vectors come from "
                             f"{str(source)!r}; give column_names=[...] instead")
    else:
        names = [str(n) for n in column_names]
        if len(names) != X.shape[1]:
            raise ValueError(f"column_names has {len(names)} names for the {X.shape[1]} "
                             f"columns of {str(source)!r}; give one name per column")
    extractor = f"precomputed:{name}"
    stored = next((fs for fs in store.feature_sets() if fs.extractor == extractor), None)
    if (stored is not None and names is not None and stored.columns is not None
            and len(stored.columns) == len(names) and list(stored.columns) != names):
        differ = next(i for i, (a, b) in enumerate(zip(stored.columns, names)) if a != b)
        raise ValueError(f"{extractor} is stored with other column names (column {differ}: "
                         f"{stored.columns[differ]!r}, now {names[differ]!r}); import under "
                         "another name, or give the stored names")

    src = store.clip_sources()
    by_file: dict[str, list[tuple[float, int]]] = {}
    for c, p, s in zip(src.clip_id, src.path, src.start_s):
        by_file.setdefault(os.path.normpath(p), []).append((float(s), int(c)))
    clip_ids, unmatched = np.empty(len(rows), np.int64), []
    for k, r in enumerate(rows):
        path = Path(r[ip])
        path = path if path.is_absolute() else root / path
        # ingest stores resolved paths (no links); older stores may hold them as given
        real, path = os.path.realpath(path), os.path.normpath(path)
        try:
            start = float(r[it])
        except ValueError:
            raise ValueError(f"{str(keys)!r} row {k + 1}: {start_column}={r[it]!r} is not a "
                             "number of seconds") from None
        near = [(abs(s - start), c) for s, c in by_file.get(real) or by_file.get(path, [])
                if abs(s - start) <= tolerance_s]
        if not near:
            unmatched.append(f"{r[ip]} @ {start:g} s")
        else:
            clip_ids[k] = min(near)[1]  # the nearest clip start
    if unmatched:
        raise ValueError(f"{len(unmatched)} key rows match no clip in the store, e.g. "
                         f"{unmatched[:3]}; ingest those files first (with the same clip length), "
                         f"or pass root= (now {str(root)!r})")
    uniq, counts = np.unique(clip_ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{str(keys)!r} gives several vectors to clips {uniq[counts > 1][:5].tolist()}")
    # One feature set per name: a later import (new clips of a growing archive) adds to it.
    with store.transaction():  # the set, its names and its vectors land together
        fs = store.feature_set(extractor, {}, X.shape[1], columns=names)
        store.put_features(fs, clip_ids, X.astype(np.float32))
    left = len(store.clips_without_features(fs))
    if left:
        warnings.warn(f"{left} clips of the store have no precomputed:{name} vector", stacklevel=2)
    return fs
