"""Feature sets, feature vectors, 2-d maps and simulated experiments (part of :class:`Store`)."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .types import FeatureSet, StoreError, StoredProjection, short_hash, utc_now

__all__ = ["FeatureTables"]


class FeatureTables:
    """Store methods for ``feature_sets``, ``features``, ``projections`` and ``experiments``."""

    # -- features ---------------------------------------------------------
    def feature_set(self, extractor: str, config: dict, dim: int,
                    columns: Sequence[str] | None = None) -> FeatureSet:
        """The feature set of ``extractor`` with ``config``, created if absent.

        ``columns`` names each of the ``dim`` columns (e.g. a tagger's class names); given for
        a set stored without names, they are recorded; given differently, it is an error.
        """
        text = json.dumps(config, sort_keys=True)
        config_hash = short_hash(f"{extractor}:{text}")
        names = None if columns is None else [str(c) for c in columns]
        if names is not None and len(names) != dim:
            raise StoreError(f"{len(names)} column names for the {dim} columns of {extractor}")
        query = ("SELECT id, dim, columns FROM feature_sets WHERE extractor = ? AND "
                 "config_hash = ?", (extractor, config_hash))

        def settle(row):
            """(id, names, whether the names must be recorded) of a stored set, or errors."""
            fs_id, stored_dim, stored_names = row
            if stored_dim != dim:
                raise StoreError(f"feature set {extractor}:{config_hash} is stored with dim="
                                 f"{stored_dim}, but the extractor now gives dim={dim}")
            if stored_names is None:
                return fs_id, names, names is not None
            if names is not None and json.loads(stored_names) != names:
                raise StoreError(f"feature set {extractor}:{config_hash} is stored with "
                                 "other column names")
            return fs_id, json.loads(stored_names), False

        known = self._query(*query)  # a read first: looking up a stored set writes nothing
        if known:
            fs_id, names, record = settle(known[0])
        if not known or record:
            with self.transaction():
                row = self._query(*query)
                if row:
                    fs_id, names, record = settle(row[0])
                    if record:  # the only change a set ever gets: names it was stored without
                        self._conn.execute("UPDATE feature_sets SET columns = ? WHERE id = ?",
                                           (json.dumps(names), fs_id))
                else:
                    fs_id = self.db["feature_sets"].insert(
                        {
                            "extractor": extractor,
                            "config_hash": config_hash,
                            "config": text,
                            "dim": dim,
                            "created_at": utc_now(),
                            "columns": None if names is None else json.dumps(names),
                        }
                    ).last_pk
        return FeatureSet(fs_id, extractor, config_hash, json.loads(text), dim,
                          None if names is None else tuple(names))

    def feature_sets(self) -> list[FeatureSet]:
        """All feature sets in the store, oldest first."""
        return [
            FeatureSet(r[0], r[1], r[2], json.loads(r[3]), r[4],
                       None if r[5] is None else tuple(json.loads(r[5])))
            for r in self._query(
                "SELECT id, extractor, config_hash, config, dim, columns FROM feature_sets "
                "ORDER BY id"
            )
        ]

    def default_feature_set(self) -> FeatureSet:
        """The feature set used when none is named: the oldest one that has vectors.

        An empty set (an import that stored nothing, an extraction not run yet) is never
        the default. Raises ``ValueError`` saying what to run when no set has vectors.
        """
        for fs in self.feature_sets():
            if self.has_features(fs):
                return fs
        raise ValueError("the store has no features yet; run alwidget.extract_features "
                         "(or `alwidget features --db ...`)")

    def has_features(self, feature_set: FeatureSet) -> bool:
        """Whether any clip has a vector in ``feature_set`` (one key lookup: a COUNT reads
        the whole set, 600 MB at a million clips)."""
        return self._scalar("SELECT EXISTS (SELECT 1 FROM features WHERE feature_set_id = ?)",
                            (feature_set.id,)) == 1

    def count_features(self, feature_set: FeatureSet) -> int:
        """Number of clips that have a vector in ``feature_set``."""
        return self._scalar("SELECT COUNT(*) FROM features WHERE feature_set_id = ?",
                            (feature_set.id,))

    def clips_without_features(self, feature_set: FeatureSet) -> np.ndarray:
        """Ids of clips that have no vector in ``feature_set`` yet, ascending."""
        rows = self._query(
            "SELECT c.id FROM clips c WHERE NOT EXISTS (SELECT 1 FROM features f "
            "WHERE f.feature_set_id = ? AND f.clip_id = c.id) ORDER BY c.id",
            (feature_set.id,),
        )
        return np.array([r[0] for r in rows], dtype=np.int64)

    def put_features(
        self, feature_set: FeatureSet, clip_ids: Sequence[int] | np.ndarray, X: np.ndarray
    ) -> None:
        """Store one float32 vector per clip (replacing any earlier one), atomically."""
        X = np.asarray(X)
        if X.dtype.kind == "f" and X.dtype.itemsize > 4 and X.size and np.isfinite(X).all() \
                and np.abs(X).max() > np.finfo(np.float32).max:
            raise StoreError("features hold values beyond float32 (as which they are stored); "
                             "nothing was stored")
        X = np.ascontiguousarray(X, dtype=np.float32)
        clip_ids = np.asarray(clip_ids, dtype=np.int64)
        if X.ndim != 2 or X.shape != (len(clip_ids), feature_set.dim):
            raise StoreError(
                f"features of shape {X.shape} do not match {len(clip_ids)} clips x "
                f"dim={feature_set.dim}"
            )
        if not np.isfinite(X).all():
            bad = clip_ids[~np.isfinite(X).all(axis=1)][:5].tolist()
            raise StoreError(f"features of clips {bad} contain NaN or inf; nothing was stored")
        with self.transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO features (clip_id, feature_set_id, vector) VALUES (?, ?, ?)",
                ((int(c), feature_set.id, row.tobytes()) for c, row in zip(clip_ids, X)),
            )
            models = [r[0] for r in self._query(
                "SELECT id FROM models WHERE feature_set_id = ?", (feature_set.id,))]
            if models:  # scores of the old vectors are stale: those clips are to score again
                for part in np.array_split(clip_ids, -(-len(clip_ids) // 900)):
                    self._conn.execute(
                        f"DELETE FROM detections WHERE model_id IN ({','.join('?' * len(models))})"
                        f" AND clip_id IN ({','.join('?' * len(part))})",
                        (*models, *(int(c) for c in part)))

    def feature_ids_since(self, feature_set: FeatureSet, after: int
                          ) -> tuple[np.ndarray, int]:
        """What a growing archive added to ``feature_set`` above clip ``after``, in one
        snapshot: the ids (ascending) above ``after`` that have features in it, and the
        greatest id up to which every clip has them (``after`` when the clip after it has
        none): ask again from there. Features stored out of order (a batch of later clips
        first) are found when the clips before them get theirs.

        Reads the set's rows above ``after`` (a range of its primary key) and the clips above
        it up to the first without features (the clips' primary key, one lookup each).

        Examples
        --------
        >>> from alwidget.store import NewAudio, Store
        >>> store = Store(":memory:")
        >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 8000, 16, 32000, 1, "WAV", "PCM_16",
        ...                              "h", 0), [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)])
        >>> fs = store.feature_set("toy", {}, 2)
        >>> store.put_features(fs, [3], np.zeros((1, 2), np.float32))  # clip 3 first
        >>> ids, done_to = store.feature_ids_since(fs, 0)
        >>> ids.tolist(), done_to
        ([3], 0)
        >>> store.put_features(fs, [1, 2], np.zeros((2, 2), np.float32))
        >>> ids, done_to = store.feature_ids_since(fs, done_to)
        >>> ids.tolist(), done_to
        ([1, 2, 3], 3)
        """
        with self._lock:
            snapshot = not self._conn.in_transaction
            if snapshot:
                self._conn.execute("BEGIN")
            try:
                ids = np.array([r[0] for r in self._conn.execute(
                    "SELECT clip_id FROM features WHERE feature_set_id = ? AND clip_id > ? "
                    "ORDER BY clip_id", (feature_set.id, int(after)))], np.int64)
                gap = self._conn.execute(
                    "SELECT c.id FROM clips c WHERE c.id > ? AND NOT EXISTS (SELECT 1 FROM "
                    "features f WHERE f.feature_set_id = ? AND f.clip_id = c.id) "
                    "ORDER BY c.id LIMIT 1", (int(after), feature_set.id)).fetchone()
                last = self._conn.execute("SELECT MAX(id) FROM clips").fetchone()[0]
            finally:
                if snapshot:
                    self._conn.execute("COMMIT")
        done_to = gap[0] - 1 if gap is not None else max(int(after), int(last or 0))
        return ids, int(done_to)

    def get_features(
        self, feature_set: FeatureSet, clip_ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip ids (ascending) and their float32 feature matrix.

        With ``clip_ids``, returns exactly those clips in that order and raises
        if any has no features yet.
        """
        if clip_ids is None:
            return self._vectors(feature_set, "", ())
        want = np.asarray(clip_ids, dtype=np.int64)
        uniq = np.unique(want)
        if len(uniq) == 0:
            ids, X = np.empty(0, np.int64), np.empty((0, feature_set.dim), np.float32)
        elif uniq[-1] - uniq[0] < 4 * len(uniq):  # a run of ids (a batch): one range read
            ids, X = self._vectors(feature_set, " AND clip_id BETWEEN ? AND ?",
                                   (int(uniq[0]), int(uniq[-1])))
        else:  # scattered ids: read only those
            parts = [self._vectors(feature_set, f" AND clip_id IN ({','.join('?' * len(c))})",
                                   tuple(int(i) for i in c))
                     for c in np.array_split(uniq, -(-len(uniq) // 900))]
            ids = np.concatenate([p[0] for p in parts])
            X = np.concatenate([p[1] for p in parts])
        pos = np.searchsorted(ids, want)
        ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == want) if len(ids) else np.zeros(len(want), bool)
        if not ok.all():
            missing = want[~ok][:5].tolist()
            raise StoreError(
                f"clips {missing} have no {feature_set.extractor} features; "
                "run alwidget.extract_features first"
            )
        return want, X[pos]

    def _vectors(self, feature_set: FeatureSet, where: str, params: tuple
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, float32 matrix) of a feature set's rows matching ``where``, copied
        row by row into one array (memory: the matrix, not the rows and a joined copy)."""
        sql = ("SELECT clip_id, vector FROM features WHERE feature_set_id = ?" + where
               + " ORDER BY clip_id")
        with self._lock:
            snapshot = not self._conn.in_transaction  # the count and the rows: one snapshot
            if snapshot:
                self._conn.execute("BEGIN")
            try:
                return self._read_vectors(feature_set, where, params, sql)
            finally:
                if snapshot:
                    self._conn.execute("COMMIT")

    def _read_vectors(self, feature_set: FeatureSet, where: str, params: tuple, sql: str
                      ) -> tuple[np.ndarray, np.ndarray]:
        n = self._conn.execute("SELECT COUNT(*) FROM features WHERE feature_set_id = ?"
                               + where, (feature_set.id, *params)).fetchone()[0]
        ids = np.empty(n, np.int64)
        X = np.empty((n, feature_set.dim), np.float32)
        k = 0
        cursor = self._conn.execute(sql, (feature_set.id, *params))
        for rows in iter(lambda: cursor.fetchmany(8192), []):
            m = min(len(rows), n - k)
            ids[k:k + m] = [r[0] for r in rows[:m]]
            X[k:k + m] = np.frombuffer(b"".join(r[1] for r in rows[:m]),
                                       np.float32).reshape(m, feature_set.dim)
            k += m
        return ids[:k], X[:k]

    # -- projections (2-d maps) ---------------------------------------------
    def put_projection(self, feature_set: FeatureSet, method: str, params: dict,
                       clip_ids: Sequence[int] | np.ndarray, coords: np.ndarray, *,
                       n_fit: int, fingerprint: str, fit_id: str,
                       seconds: float | None = None) -> None:
        """Store the 2-d map of ``feature_set`` by ``method`` with ``params`` (replacing it)."""
        coords = np.ascontiguousarray(coords, dtype=np.float32)
        clip_ids = np.ascontiguousarray(clip_ids, dtype=np.int64)
        if coords.shape != (len(clip_ids), 2):
            raise StoreError(f"coords of shape {coords.shape} do not match {len(clip_ids)} clips x 2")
        if not np.isfinite(coords).all():
            raise StoreError(f"the {method} map has NaN or inf coordinates; nothing was stored")
        text = json.dumps(params, sort_keys=True, default=str)
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO projections (feature_set_id, method, params_hash, params, "
                "n_clips, n_fit, clip_ids, coords, fingerprint, fit_id, seconds, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (feature_set.id, method, short_hash(text), text, len(clip_ids), int(n_fit),
                 clip_ids.tobytes(), coords.tobytes(), fingerprint, fit_id, seconds, utc_now()))

    def get_projection(self, feature_set: FeatureSet, method: str,
                       params: dict) -> "StoredProjection | None":
        """The stored map of ``feature_set`` by ``method`` with ``params``; None if absent."""
        text = json.dumps(params, sort_keys=True, default=str)
        rows = self._query(
            "SELECT clip_ids, coords, n_fit, fingerprint, fit_id FROM projections "
            "WHERE feature_set_id = ? AND method = ? AND params_hash = ?",
            (feature_set.id, method, short_hash(text)))
        if not rows:
            return None
        ids = np.frombuffer(rows[0][0], dtype=np.int64).copy()
        coords = np.frombuffer(rows[0][1], dtype=np.float32).reshape(len(ids), 2).copy()
        return StoredProjection(ids, coords, int(rows[0][2]), rows[0][3], rows[0][4])

    # -- experiments ------------------------------------------------------
    def add_experiment(self, name: str, params: dict, records: list[dict],
                       features: str | None = None) -> int:
        """Store one simulated experiment and its per-iteration records; return its id.

        ``features`` says what it ran on (e.g. ``"logmel:1a2b3c4d5e6f7a8b"``, a feature set's
        extractor and config hash), so runs on different features can be told apart.
        """
        with self.transaction():
            exp_id = self.db["experiments"].insert(
                {"name": name, "params": json.dumps(params, sort_keys=True, default=str),
                 "created_at": utc_now(), "features": features}
            ).last_pk
            self.db["experiment_records"].insert_all(
                {"experiment_id": exp_id, **r} for r in records
            )
        return exp_id

