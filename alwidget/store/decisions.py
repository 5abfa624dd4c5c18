"""Decisions (labels, skips, undos), pseudo-labels and session claims (part of :class:`Store`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .types import Decision, LabelTable, StoreError, label_table, utc_now

__all__ = ["DecisionTables"]


class DecisionTables:
    """Store methods for ``label_events``, ``chunks``, ``pseudo_labels`` and ``sessions``."""

    # -- labels -----------------------------------------------------------
    def _check_clips(self, clip_ids: Sequence[int]) -> None:
        known: set[int] = set()
        ids = sorted({int(c) for c in clip_ids})
        for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[i : i + 900]
            known.update(r[0] for r in self._query(
                f"SELECT id FROM clips WHERE id IN ({','.join('?' * len(part))})", part))
        missing = [c for c in ids if c not in known]
        if missing:
            raise StoreError(f"clip_id={missing[0]!r} is not a stored clip"
                             + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""))

    def _insert_events(self, rows: list[dict]) -> list[int]:
        # plain SQL: sqlite-utils' insert introspects the table on every call, and this
        # runs once per decision while the expert waits
        sql = (f"INSERT INTO label_events ({', '.join(rows[0])}) "
               f"VALUES ({', '.join('?' * len(rows[0]))})")
        return [self._conn.execute(sql, tuple(r.values())).lastrowid for r in rows]

    def _decision(self, clip_id: int, kind: str, label: str | None, labeler: str,
                  fields: dict) -> int:
        self._check_clips([clip_id])
        with self.transaction():
            return self._insert_events([{
                "clip_id": int(clip_id), "kind": kind, "label": label,
                "labeler_id": self.ensure_labeler(labeler), "created_at": utc_now(), **fields}])[0]

    def _check_tags(self, tags) -> None:
        known = set(self.tags())
        for tag in tags:
            if tag not in known:
                raise StoreError(
                    f"label={tag!r} is not in the ontology; add it with store.add_tag({tag!r})"
                )

    def add_label(
        self,
        clip_id: int,
        label: str,
        *,
        labeler: str = "expert",
        strategy: str | None = None,
        reason: str | None = None,
        model_version: int | None = None,
        predicted_proba: float | None = None,
        events: Sequence[tuple[str, float, float]] | None = None,
        source: str | None = None,
    ) -> int:
        """Append a label event for one clip; return the event id.

        The label must be an ontology tag (see :meth:`add_tag`). With
        ``events`` (strong labels: ``(tag, onset_s, offset_s)`` relative to
        the clip's start), one ``chunks`` row per event is written in the same
        transaction. ``source`` says where a label made elsewhere came from (e.g.
        ``"csv:labels.csv"``); None for a decision made in alwidget. Everything is committed
        before this returns.

        Examples
        --------
        >>> from alwidget.store import Store
        >>> store = Store(":memory:")
        >>> _ = store.add_tag("dog")
        >>> store.add_label(1, "dog")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        alwidget.store.types.StoreError: clip_id=1 is not a stored clip
        """
        self._check_tags([label] + [e[0] for e in events or []])
        fields = dict(strategy=strategy, reason=reason, model_version=model_version,
                      predicted_proba=None if predicted_proba is None else float(predicted_proba))
        if source is not None:
            fields["source"] = str(source)
        with self.transaction():
            event_id = self._decision(clip_id, "label", label, labeler, fields)
            if events:
                self._add_chunks(int(clip_id), events, labeler, source)
        return event_id

    def _add_chunks(self, clip_id: int, events, labeler: str, source: str | None = None) -> None:
        audio_id, start, duration = self._query(
            "SELECT audio_id, start_s, duration_s FROM clips WHERE id = ?", (clip_id,))[0]
        for tag, onset, offset in events:
            if not 0 <= onset < offset <= duration + 1e-6:
                raise StoreError(f"event ({tag!r}, {onset!r}, {offset!r}) must satisfy "
                                 f"0 <= onset < offset <= clip duration {duration}")
        self.add_strong_events(audio_id, [(t, start + a, start + b) for t, a, b in events],
                               labeler=labeler, source=source)

    def add_strong_events(self, audio_id: int, events: Sequence[tuple[str, float, float]], *,
                          labeler: str = "expert", source: str | None = None) -> int:
        """Store strong-label events ``(tag, onset_s, offset_s)`` of one audio, in seconds from
        the file's start, in one transaction; return how many.

        Each tag must be in the ontology; each event must lie inside the file. ``source``
        says where events made elsewhere came from (e.g. ``"raven:a.Table.1.selections.txt"``).
        """
        events = [(str(t), float(a), float(b)) for t, a, b in events]
        row = self._query("SELECT duration_s FROM audios WHERE id = ?", (int(audio_id),))
        if not row:
            raise StoreError(f"audio_id={audio_id!r} is not a stored audio")
        self._check_tags({t for t, _, _ in events})
        for tag, onset, offset in events:
            if not 0 <= onset < offset <= row[0][0] + 1e-3:
                raise StoreError(f"event ({tag!r}, {onset!r}, {offset!r}) must satisfy 0 <= "
                                 f"onset < offset <= the file's duration {row[0][0]:g} s")
        with self.transaction():
            labeler_id, now = self.ensure_labeler(labeler), utc_now()
            self._conn.executemany(
                "INSERT INTO chunks (audio_id, tag_id, labeler_id, onset_s, offset_s, created_at,"
                " source) VALUES (?, (SELECT id FROM ontology WHERE tag = ?), ?, ?, ?, ?, ?)",
                [(int(audio_id), t, labeler_id, a, b, now, source) for t, a, b in events])
        return len(events)

    def add_skip(self, clip_id: int, *, labeler: str = "expert", strategy: str | None = None,
                 reason: str | None = None, model_version: int | None = None) -> int:
        """Append a skip of one clip (not labeled, not to be asked again); return the event id."""
        return self._decision(clip_id, "skip", None, labeler, dict(
            strategy=strategy, reason=reason, model_version=model_version))

    def add_labels(self, clip_ids: Sequence[int], label: str, *, labeler: str = "expert",
                   strategy: str | None = None, reason: str | None = None,
                   model_version: int | None = None) -> list[int]:
        """Label many clips as one decision (e.g. a region of a map); return the event ids.

        One event per clip, all written in one transaction and sharing a ``group_id`` (the
        first event's id), so that :meth:`undo_decision` takes the whole group back.

        Examples
        --------
        >>> from alwidget.store import NewAudio, Store
        >>> store = Store(":memory:")
        >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 48000, 1, "WAV", "PCM_16",
        ...                              "h", 0), [(0, 1.0), (1, 1.0), (2, 1.0)])
        >>> _ = store.add_tag("dog")
        >>> ids = store.add_labels([1, 3], "dog")
        >>> [(d.clip_id, d.group_id == ids[0]) for d in store.active_events()]
        [(1, True), (3, True)]
        >>> len(store.undo_decision(ids[1])), len(store.active_events())
        (2, 0)
        """
        clip_ids = [int(c) for c in clip_ids]
        if not clip_ids:
            raise StoreError("clip_ids is empty: nothing to label")
        self._check_tags([label])
        self._check_clips(clip_ids)
        with self.transaction():
            first = (self._scalar("SELECT MAX(id) FROM label_events") or 0) + 1
            labeler_id, now = self.ensure_labeler(labeler), utc_now()
            return self._insert_events([
                {"id": first + i, "clip_id": c, "kind": "label", "label": label,
                 "labeler_id": labeler_id, "created_at": now, "strategy": strategy,
                 "reason": reason, "model_version": model_version, "group_id": first}
                for i, c in enumerate(clip_ids)])

    def undo_decision(self, event_id: int) -> list[int]:
        """Undo a label or skip event, and every event of its group; return the undo events' ids.

        The undone events stay in ``label_events`` (append-only); an undo is a new event.
        """
        row = self._query("SELECT kind, group_id FROM label_events WHERE id = ?", (int(event_id),))
        if not row or row[0][0] == "undo":
            raise StoreError(f"event_id={event_id!r} is not a label or skip event")
        group = row[0][1]
        with self.transaction():
            ids = ([r[0] for r in self._query(
                "SELECT id FROM label_events WHERE group_id = ? ORDER BY id", (group,))]
                if group is not None else [int(event_id)])
            done = [r[0] for r in self._query(
                f"SELECT undoes FROM label_events WHERE undoes IN ({','.join('?' * len(ids))})",
                ids)]
            if done:
                raise StoreError(f"event {done[0]} is already undone")
            rows = self._query(f"SELECT id, clip_id, labeler_id FROM label_events WHERE id IN "
                               f"({','.join('?' * len(ids))}) ORDER BY id", ids)
            now = utc_now()
            return self._insert_events([
                {"clip_id": c, "kind": "undo", "labeler_id": lab, "created_at": now, "undoes": e}
                for e, c, lab in rows])

    _EVENT_COLUMNS = ("e.id, e.clip_id, e.kind, e.label, e.strategy, e.reason, e.model_version, "
                      "l.name, e.group_id, e.undoes")

    def active_events(self, labeler: str | None = None) -> list[Decision]:
        """Label and skip events in force (not undone), oldest first (all labelers by default)."""
        sql = (f"SELECT {self._EVENT_COLUMNS} FROM active_events e "
               "LEFT JOIN labelers l ON l.id = e.labeler_id")
        params: tuple = ()
        if labeler is not None:
            sql += " WHERE l.name = ?"
            params = (labeler,)
        return [Decision(*r) for r in self._query(sql + " ORDER BY e.id", params)]

    def events_since(self, event_id: int) -> list[Decision]:
        """Every event (labels, skips and undos) with an id above ``event_id``, oldest first.

        How a session learns what other sessions on the same database decided.
        """
        return [Decision(*r) for r in self._query(
            f"SELECT {self._EVENT_COLUMNS} FROM label_events e "
            "LEFT JOIN labelers l ON l.id = e.labeler_id WHERE e.id > ? ORDER BY e.id",
            (int(event_id),))]

    def last_event_id(self) -> int:
        """The id of the newest event of ``label_events`` (0 when there is none)."""
        return self._scalar("SELECT MAX(id) FROM label_events") or 0

    def chunks(self, audio_id: int | None = None) -> list[dict]:
        """Strong-label events (tag, onset and offset in seconds of the audio file)."""
        sql = ("SELECT c.id, c.audio_id, o.tag, l.name, c.onset_s, c.offset_s, c.created_at "
               "FROM chunks c JOIN ontology o ON o.id = c.tag_id "
               "LEFT JOIN labelers l ON l.id = c.labeler_id")
        params: tuple = ()
        if audio_id is not None:
            sql += " WHERE c.audio_id = ?"
            params = (int(audio_id),)
        keys = ("id", "audio_id", "tag", "labeler", "onset_s", "offset_s", "created_at")
        return [dict(zip(keys, r)) for r in self._query(sql + " ORDER BY c.id", params)]

    def current_labels(self, labeler: str | None = None) -> LabelTable:
        """The current label of every labeled clip, by clip id.

        With several labelers and no ``labeler`` given, a clip appears once per
        labeler who labeled it.
        """
        sql = "SELECT v.clip_id, v.label, v.event_id FROM current_labels v"
        params: tuple = ()
        if labeler is not None:
            sql += " JOIN labelers l ON l.id = v.labeler_id WHERE l.name = ?"
            params = (labeler,)
        return label_table(self._query(sql + " ORDER BY v.clip_id, v.event_id", params))

    # -- pseudo-labels ----------------------------------------------------
    def add_pseudo_labels(
        self,
        clip_ids: Sequence[int] | np.ndarray,
        labels: Sequence[str],
        *,
        strategy: str,
        model_version: int | None = None,
        probabilities: Sequence[float] | None = None,
        event_id: int | None = None,
    ) -> None:
        """Record labels the model gave itself (semi-supervised AL), apart from human labels.

        They live in their own table: never in ``label_events`` or
        ``current_labels``, never counted as human labels or used for evaluation.
        ``event_id`` links them to the decision after which a session trains on them.
        """
        labels = list(labels)
        probs = [None] * len(labels) if probabilities is None else [float(p) for p in probabilities]
        if not len(clip_ids) == len(labels) == len(probs):
            raise StoreError("clip_ids, labels and probabilities need one entry per clip")
        unknown = set(labels) - set(self.tags())
        if unknown:
            raise StoreError(f"pseudo-labels {sorted(unknown)} are not in the ontology")
        now = utc_now()
        with self.transaction():
            self.db["pseudo_labels"].insert_all(
                {"clip_id": int(c), "label": lab, "strategy": strategy,
                 "model_version": model_version, "probability": p, "created_at": now,
                 "event_id": event_id}
                for c, lab, p in zip(clip_ids, labels, probs)
            )

    def pseudo_labels(self, model_version: int | None = None,
                      event_id: int | None = None) -> LabelTable:
        """Pseudo-labels (all, of one model version, or linked to one decision), by clip id."""
        sql = "SELECT clip_id, label, id FROM pseudo_labels"
        params: tuple = ()
        if model_version is not None:
            sql += " WHERE model_version = ?"
            params = (model_version,)
        elif event_id is not None:
            sql += " WHERE event_id = ?"
            params = (event_id,)
        return label_table(self._query(sql + " ORDER BY clip_id, id", params))


    # -- sessions that claim the clip they show ------------------------------------
    def claim_clip(self, session_id: str, clip_id: int | None, *, labeler: str,
                   max_age_s: float) -> bool:
        """Record that session ``session_id`` shows ``clip_id`` now (None: nothing).

        Returns False, and records nothing, when the clip has a decision in force (someone
        decided it since the session last looked), or another live session shows it: one of
        another process (a kernel still running) or of another labeler, whose claim is
        younger than ``max_age_s``. Sessions of the same labeler in one process never block
        each other (a re-run cell replaces its session), and a killed kernel's claims end
        with it.
        """
        now = utc_now()
        with self.transaction():
            labeler_id = self.ensure_labeler(labeler)
            if clip_id is not None and (
                    self._scalar("SELECT 1 FROM label_events e WHERE e.clip_id = ? AND "
                                 "e.kind != 'undo' AND NOT EXISTS (SELECT 1 FROM label_events u "
                                 "WHERE u.undoes = e.id)", (int(clip_id),))
                    or self._claims(session_id, labeler_id, max_age_s, clip_id=int(clip_id))):
                return False
            self._conn.execute(
                "INSERT INTO sessions (id, labeler_id, process, clip_id, started_at, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "clip_id = excluded.clip_id, seen_at = excluded.seen_at",
                (session_id, labeler_id, _process(), None if clip_id is None else int(clip_id),
                 now, now))
        return True

    def claimed_clips(self, session_id: str, *, labeler: str,
                      max_age_s: float) -> frozenset[int]:
        """Clips other live sessions show now, which ``session_id`` must leave alone
        (see :meth:`claim_clip`). Reads only."""
        labeler_id = self._scalar("SELECT id FROM labelers WHERE name = ?", (labeler,))
        return frozenset(self._claims(session_id, labeler_id, max_age_s))

    def _claims(self, session_id: str, labeler_id: int, max_age_s: float,
                clip_id: int | None = None) -> list[int]:
        sql = ("SELECT clip_id, process FROM sessions WHERE clip_id IS NOT NULL AND id != ? "
               "AND NOT (process = ? AND labeler_id IS ?) AND seen_at >= ?")
        params: list = [session_id, _process(), labeler_id, _ago(max_age_s)]
        if clip_id is not None:
            sql += " AND clip_id = ?"
            params.append(clip_id)
        return [r[0] for r in self._query(sql, params) if _alive(r[1])]

    def end_session(self, session_id: str) -> None:
        """Forget a session's claim (and claims older than a day, from kernels that died)."""
        with self.transaction():
            self._conn.execute("DELETE FROM sessions WHERE id = ? OR seen_at < ?",
                               (session_id, _ago(86400)))


def _process() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(process: str) -> bool:
    """False for a process of this host that has ended (a killed kernel); True otherwise."""
    import os
    import socket

    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's: only its claims' age tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _ago(seconds: float) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(seconds=float(seconds))).isoformat(
        timespec="milliseconds")
