"""What leaves a project: label records for export, strong events, saved models and their
detections over the archive (part of :class:`Store`)."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .types import (DetectionTable, FeatureSet, LabelRecord, StoreError, StrongEvent,
                    utc_now)

__all__ = ["ResultTables"]


class ResultTables:
    """Store methods for exports (``label_events``, ``chunks``), ``models`` and
    ``detections``."""

    # -- labels, for export ---------------------------------------------------------------
    def label_records(self, labeler: str | None = None) -> list[LabelRecord]:
        """Every current label with its clip's file and window, who made it, when, how (the
        strategy and reason) and where from (``source``: None when made in alwidget), by file,
        then clip start, then labeler.

        Examples
        --------
        >>> from alwidget.store import NewAudio, Store
        >>> store = Store(":memory:")
        >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 32000, 1, "WAV", "PCM_16",
        ...                              "h", 0), [(0, 1.0), (1, 1.0)])
        >>> _ = store.add_tag("dog")
        >>> _ = store.add_label(2, "dog", labeler="ann", strategy="lc", reason="least sure")
        >>> r = store.label_records()[0]
        >>> (r.path, r.start_s, r.end_s, r.label, r.labeler, r.strategy, r.source)
        ('/rec/a.wav', 1.0, 2.0, 'dog', 'ann', 'lc', None)
        """
        sql = ("SELECT v.clip_id, c.audio_id, c.start_s, c.duration_s, v.label, l.name, "
               "v.created_at, v.strategy, v.reason, e.source, v.event_id "
               "FROM current_labels v JOIN clips c ON c.id = v.clip_id "
               "JOIN label_events e ON e.id = v.event_id "
               "LEFT JOIN labelers l ON l.id = v.labeler_id")
        params: tuple = ()
        if labeler is not None:
            sql += " WHERE l.name = ?"
            params = (labeler,)
        rows = self._query(sql + " ORDER BY c.audio_id, c.start_s, l.name, v.event_id", params)
        paths = {a.id: a.path for a in self.audios()} if rows else {}
        return [LabelRecord(clip_id=r[0], path=paths[r[1]], start_s=r[2], end_s=r[2] + r[3],
                            label=r[4], labeler=r[5], created_at=r[6], strategy=r[7],
                            reason=r[8], source=r[9], event_id=r[10]) for r in rows]

    def strong_events(self) -> list[StrongEvent]:
        """Every strong-label event (``chunks``) with its file, in seconds from the file's
        start, by file then onset."""
        rows = self._query(
            "SELECT ch.id, ch.audio_id, o.tag, ch.onset_s, ch.offset_s, l.name, ch.created_at, "
            "ch.source FROM chunks ch JOIN ontology o ON o.id = ch.tag_id "
            "LEFT JOIN labelers l ON l.id = ch.labeler_id "
            "WHERE ch.onset_s IS NOT NULL ORDER BY ch.audio_id, ch.onset_s, ch.id")
        paths = {a.id: a.path for a in self.audios()} if rows else {}
        return [StrongEvent(id=r[0], audio_id=r[1], path=paths[r[1]], label=r[2], onset_s=r[3],
                            offset_s=r[4], labeler=r[5], created_at=r[6], source=r[7])
                for r in rows]

    # -- saved models and their detections ------------------------------------------------
    def add_model(self, model_id: str, feature_set: FeatureSet | None, card: dict) -> None:
        """Record a saved model (its id and card) once; recording it again changes nothing."""
        with self.transaction():
            if not self._query("SELECT 1 FROM models WHERE id = ?", (str(model_id),)):
                self._conn.execute(
                    "INSERT INTO models (id, feature_set_id, card, created_at) VALUES (?, ?, ?, ?)",
                    (str(model_id), None if feature_set is None else feature_set.id,
                     json.dumps(card, sort_keys=True), utc_now()))

    def model_cards(self) -> dict[str, dict]:
        """The cards of the models recorded in this store, by model id, oldest first."""
        return {r[0]: json.loads(r[1]) for r in self._query(
            "SELECT id, card FROM models ORDER BY created_at, id")}

    def put_detections(self, model_id: str, clip_ids: Sequence[int] | np.ndarray,
                       labels: Sequence[str], scores: Sequence[float] | np.ndarray) -> None:
        """Store a model's score of each clip (the class scored and its probability), in one
        transaction; a clip scored again by the same model gets the new score. Human labels
        are never touched."""
        clip_ids = np.asarray(clip_ids, np.int64)
        scores = np.asarray(scores, np.float64)
        labels = [str(x) for x in labels]
        if not (len(clip_ids) == len(labels) == len(scores)):
            raise StoreError(f"{len(clip_ids)} clip ids, {len(labels)} labels and "
                             f"{len(scores)} scores: give one of each per clip")
        if len(scores) and not (np.isfinite(scores).all() and (scores >= 0).all()
                                and (scores <= 1).all()):
            raise StoreError("detection scores must be probabilities in [0, 1]")
        if not self._query("SELECT 1 FROM models WHERE id = ?", (str(model_id),)):
            raise StoreError(f"model {model_id!r} is not recorded in this store; "
                             "record it with add_model first")
        self._check_clips(clip_ids.tolist())
        now = utc_now()
        with self.transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO detections (model_id, clip_id, label, score, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(str(model_id), int(c), lab, float(s), now)
                 for c, lab, s in zip(clip_ids, labels, scores)])

    def detections(self, model_id: str, min_score: float | None = None) -> DetectionTable:
        """A model's stored scores, by clip id (those of at least ``min_score``, if given)."""
        sql = "SELECT clip_id, label, score FROM detections WHERE model_id = ?"
        params: tuple = (str(model_id),)
        if min_score is not None:
            sql += " AND score >= ?"
            params += (float(min_score),)
        rows = self._query(sql + " ORDER BY clip_id", params)
        return DetectionTable(np.array([r[0] for r in rows], np.int64),
                              np.array([r[1] for r in rows], object),
                              np.array([r[2] for r in rows], np.float32))

    def clips_without_detections(self, model_id: str,
                                 clip_ids: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Ids of clips (all, or of ``clip_ids``) the model has not scored yet, ascending: what
        a resumed detection run still has to do."""
        done = self._query("SELECT clip_id FROM detections WHERE model_id = ?", (str(model_id),))
        pool = self.clip_ids() if clip_ids is None else np.unique(np.asarray(clip_ids, np.int64))
        return np.setdiff1d(pool, np.array([r[0] for r in done], np.int64))
