"""The framework's team in the store: groups of labelers, assignments, annotations (one label
event and its events per labeler and proposal), class suggestions and the AudioSet ontology
(part of :class:`Store`). The rules (who agrees, what a round proposes) live in
:mod:`alwidget.team`; this module only reads and writes."""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from .types import StoreError, utc_now

__all__ = ["TeamTables"]

DOUBT_TAG = "Doubt"  # the session's Doubt class (alwidget.session.state.DOUBT)


class TeamTables:
    """Store methods for ``labeler_groups``, ``group_members``, ``team_settings``,
    ``assignments``, annotations of rounds and ``class_suggestions``."""

    # -- the team ------------------------------------------------------------------------
    def set_team(self, groups: Mapping[str, Sequence[str]], settings: Mapping) -> None:
        """Write the groups (name -> labeler names) and the team's settings (JSON values) in
        one transaction; groups not given lose their members (rounds keep their history)."""
        members = [(g, str(n)) for g, names in groups.items() for n in names]
        with self.transaction():
            now = utc_now()
            self._conn.execute("DELETE FROM group_members")
            for group in groups:
                self._conn.execute("INSERT OR IGNORE INTO labeler_groups (name, created_at) "
                                   "VALUES (?, ?)", (str(group), now))
            for group, name in members:
                self._conn.execute(
                    "INSERT INTO group_members (labeler_id, group_id) VALUES (?, "
                    "(SELECT id FROM labeler_groups WHERE name = ?))",
                    (self.ensure_labeler(name), str(group)))
            self._conn.executemany(
                "INSERT OR REPLACE INTO team_settings (key, value) VALUES (?, ?)",
                [(str(k), json.dumps(v)) for k, v in settings.items()])

    def team_groups(self) -> dict[str, list[str]]:
        """Group name -> its labelers' names (groups with members, in creation order)."""
        out: dict[str, list[str]] = {}
        for group, name in self._query(
                "SELECT g.name, l.name FROM group_members m JOIN labeler_groups g "
                "ON g.id = m.group_id JOIN labelers l ON l.id = m.labeler_id "
                "ORDER BY g.id, l.id"):
            out.setdefault(group, []).append(name)
        return out

    def team_settings(self) -> dict:
        """The team's settings, as written by :meth:`set_team`."""
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM team_settings")}

    # -- rounds and who labels what -------------------------------------------------------
    def rounds(self) -> list[dict]:
        """Every round (``al_iterations`` row), oldest first, as dicts."""
        keys = ("id", "kind", "nodes", "window_start", "window_end", "n_audios", "n_sets",
                "labeled_share", "strategy", "params", "created_at")
        rows = self._query("SELECT id, kind, nodes, window_start, window_end, n_audios, n_folds,"
                           " labeled_share, strategy, params, created_at FROM al_iterations "
                           "ORDER BY id")
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            d["nodes"] = None if d["nodes"] is None else json.loads(d["nodes"])
            d["params"] = json.loads(d["params"] or "{}")
            out.append(d)
        return out

    def assignments(self, labeler: str | None = None, round_id: int | None = None
                    ) -> list[tuple[int, int, str, str | None]]:
        """``(round_id, clip_id, labeler, group)`` of every assignment, by round and clip."""
        sql = ("SELECT a.iteration_id, a.clip_id, l.name, g.name FROM assignments a "
               "JOIN labelers l ON l.id = a.labeler_id "
               "LEFT JOIN labeler_groups g ON g.id = a.group_id")
        where, params = [], []
        if labeler is not None:
            where.append("l.name = ?")
            params.append(str(labeler))
        if round_id is not None:
            where.append("a.iteration_id = ?")
            params.append(int(round_id))
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [tuple(r) for r in self._query(sql + " ORDER BY a.iteration_id, a.clip_id, l.id",
                                              params)]

    def add_annotation(self, round_id: int, clip_id: int, labeler: str, label: str,
                       events: Sequence[tuple[str, float, float]]) -> int:
        """A labeler's annotation of a clip assigned to them in a round: one label event
        (``label``, the round's id) and its strong events (``chunks`` linked to it), written
        whole in one transaction; return the event id.

        Refused, storing nothing, when the clip is not assigned to the labeler in that round,
        or when they already annotated it in that round (a second kernel of the same labeler
        cannot add a duplicate). Events are ``(tag, onset_s, offset_s)`` from the clip's start.
        """
        events = [(str(t), float(a), float(b)) for t, a, b in events]
        if not events:
            raise StoreError(f"clip {clip_id}: an annotation holds one event at least (a clip "
                             "without a sound of interest gets the background tag)")
        self._check_tags([label] + [t for t, _, _ in events])
        with self.transaction():
            labeler_id = self._scalar("SELECT id FROM labelers WHERE name = ?", (str(labeler),))
            if labeler_id is None or not self._query(
                    "SELECT 1 FROM assignments WHERE iteration_id = ? AND clip_id = ? AND "
                    "labeler_id = ?", (int(round_id), int(clip_id), labeler_id)):
                raise StoreError(f"clip {clip_id} is not assigned to {labeler!r} in round "
                                 f"{round_id}; label the clips of team.queue({labeler!r})")
            if self._query("SELECT 1 FROM active_events WHERE iteration_id = ? AND clip_id = ? "
                           "AND labeler_id = ? AND kind = 'label'",
                           (int(round_id), int(clip_id), labeler_id)):
                raise StoreError(f"{labeler!r} already annotated clip {clip_id} in round "
                                 f"{round_id}; nothing was added")
            event_id = self._insert_events([{
                "clip_id": int(clip_id), "kind": "label", "label": str(label),
                "labeler_id": labeler_id, "created_at": utc_now(),
                "strategy": "team", "iteration_id": int(round_id)}])[0]
            audio_id, start, duration = self._query(
                "SELECT audio_id, start_s, duration_s FROM clips WHERE id = ?",
                (int(clip_id),))[0]
            for tag, onset, offset in events:
                if not 0 <= onset < offset <= duration + 1e-6:
                    raise StoreError(f"clip {clip_id}: event ({tag!r}, {onset!r}, {offset!r}) "
                                     f"must satisfy 0 <= onset < offset <= {duration:g} s")
            now = utc_now()
            self._conn.executemany(
                "INSERT INTO chunks (audio_id, tag_id, labeler_id, onset_s, offset_s, "
                "created_at, event_id) VALUES (?, (SELECT id FROM ontology WHERE tag = ?), "
                "?, ?, ?, ?, ?)",
                [(audio_id, t, labeler_id, start + a, start + b, now, event_id)
                 for t, a, b in events])
        return int(event_id)

    def annotated(self, labeler: str) -> set[tuple[int, int]]:
        """``(round_id, clip_id)`` of the annotations in force ``labeler`` made for rounds."""
        return {(r, c) for r, c in self._query(
            "SELECT e.iteration_id, e.clip_id FROM active_events e JOIN labelers l ON "
            "l.id = e.labeler_id WHERE l.name = ? AND e.kind = 'label' AND e.iteration_id IS "
            "NOT NULL", (str(labeler),))}

    def open_proposal_clips(self, clip_ids: Sequence[int] | None = None) -> list[int]:
        """Clips (of ``clip_ids``, default all) with a proposal still "proposed" (being
        labeled, or awaiting doubt resolution)."""
        if clip_ids is None:
            return [r[0] for r in self._query(
                "SELECT DISTINCT clip_id FROM proposals WHERE status = 'proposed' "
                "ORDER BY clip_id")]
        out: list[int] = []
        ids = [int(c) for c in clip_ids]
        for part in range(0, len(ids), 900):
            chunk = ids[part:part + 900]
            out += [r[0] for r in self._query(
                "SELECT DISTINCT clip_id FROM proposals WHERE status = 'proposed' AND clip_id "
                f"IN ({','.join('?' * len(chunk))})", chunk)]
        return sorted(out)

    def newest_proposal_status(self, clip_ids: Sequence[int]) -> dict[int, str]:
        """clip -> the status of its newest proposal (clips never proposed are left out)."""
        out: dict[int, str] = {}
        ids = [int(c) for c in clip_ids]
        for part in range(0, len(ids), 900):
            chunk = ids[part:part + 900]
            out.update(self._query(
                "SELECT clip_id, status FROM proposals WHERE id IN (SELECT MAX(id) FROM "
                f"proposals WHERE clip_id IN ({','.join('?' * len(chunk))}) GROUP BY clip_id)",
                chunk))
        return out

    def assignments_of_clips(self, clip_ids: Sequence[int], kind: str = "round"
                             ) -> list[tuple[int, int, str, str | None]]:
        """``(round_id, clip_id, labeler, group)`` of the assignments of ``clip_ids`` in
        rounds of ``kind`` ("round" or "doubt")."""
        out = []
        clip_ids = [int(c) for c in clip_ids]
        for part in range(0, len(clip_ids), 900):
            ids = clip_ids[part:part + 900]
            out += [tuple(r) for r in self._query(
                "SELECT a.iteration_id, a.clip_id, l.name, g.name FROM assignments a JOIN "
                "al_iterations i ON i.id = a.iteration_id JOIN labelers l ON l.id = "
                "a.labeler_id LEFT JOIN labeler_groups g ON g.id = a.group_id WHERE i.kind = ?"
                f" AND a.clip_id IN ({','.join('?' * len(ids))}) "
                "ORDER BY a.iteration_id, a.clip_id, l.id", [kind, *ids])]
        return out

    def doubt_assignments(self, clip_id: int) -> list[tuple[int, str]]:
        """``(round_id, labeler)`` of a clip's assignments in doubt-resolution rounds."""
        return [(r, who) for r, _, who, _ in self.assignments_of_clips([clip_id], "doubt")]

    def settle_open_proposals(self, clip_id: int, *, status: str, label: str | None,
                              n_labelers: int, agreement: float | None) -> None:
        """Write what the open ("proposed") proposals of a clip became, in one transaction."""
        with self.transaction():
            for round_id, in self._query("SELECT iteration_id FROM proposals WHERE clip_id = ? "
                                         "AND status = 'proposed'", (int(clip_id),)):
                self.settle_proposal(round_id, clip_id, status=status, label=label,
                                     n_labelers=n_labelers, agreement=agreement)

    def clip_annotations(self, clip_ids: Sequence[int]) -> dict[int, dict[str, list]]:
        """clip -> labeler -> the events ``(tag, onset_s, offset_s)`` (from the clip's start)
        of the labeler's latest annotation in force of that clip made for any round (a
        doubt-resolution round's answer replaces the first)."""
        out: dict[int, dict[str, list]] = {}
        clip_ids = [int(c) for c in clip_ids]
        for part in range(0, len(clip_ids), 900):
            ids = clip_ids[part:part + 900]
            rows = self._query(
                "WITH latest AS (SELECT e.clip_id, e.labeler_id, MAX(e.id) AS event_id "
                "FROM active_events e WHERE e.kind = 'label' AND e.iteration_id IS NOT NULL "
                f"AND e.clip_id IN ({','.join('?' * len(ids))}) "
                "GROUP BY e.clip_id, e.labeler_id) "
                "SELECT t.clip_id, l.name, o.tag, ch.onset_s - c.start_s, "
                "ch.offset_s - c.start_s FROM latest t JOIN labelers l ON l.id = t.labeler_id "
                "JOIN clips c ON c.id = t.clip_id JOIN chunks ch ON ch.event_id = t.event_id "
                "JOIN ontology o ON o.id = ch.tag_id ORDER BY t.clip_id, ch.id", ids)
            for clip, who, tag, onset, offset in rows:
                out.setdefault(int(clip), {}).setdefault(who, []).append(
                    (tag, round(float(onset), 6), round(float(offset), 6)))
        return out

    def annotation_counts(self, day: str) -> dict[str, int]:
        """Labeler -> annotations in force made for rounds on ``day`` (``YYYY-MM-DD``, UTC)."""
        return dict(self._query(
            "SELECT l.name, COUNT(*) FROM active_events e JOIN labelers l ON l.id = e.labeler_id"
            " WHERE e.kind = 'label' AND e.iteration_id IS NOT NULL AND e.created_at >= ? AND "
            "e.created_at < ? GROUP BY l.name", (f"{day}T00:00:00", f"{day}T99")))

    def doubt_clips(self, labeler: str) -> list[int]:
        """Clips whose latest annotation by ``labeler`` holds a Doubt event."""
        return [r[0] for r in self._query(
            "WITH latest AS (SELECT e.clip_id, MAX(e.id) AS event_id FROM active_events e "
            "JOIN labelers l ON l.id = e.labeler_id WHERE l.name = ? AND e.kind = 'label' "
            "AND e.iteration_id IS NOT NULL GROUP BY e.clip_id) "
            "SELECT DISTINCT t.clip_id FROM latest t JOIN chunks ch ON ch.event_id = t.event_id"
            " JOIN ontology o ON o.id = ch.tag_id WHERE o.tag = ? ORDER BY t.clip_id",
            (str(labeler), DOUBT_TAG))]

    def agreed_labels(self) -> list[tuple[int, str, str | None, str | None]]:
        """``(clip_id, label, node, recorded_at)`` of every clip with a human label, by clip id:
        the framework's medoids. A clip ever proposed counts when its newest proposal is a
        medoid (a clip back in a doubt-resolution round, or discarded, does not); a clip never
        proposed counts with its newest label in force made outside rounds (never Doubt)."""
        return [tuple(r) for r in self._query(
            "WITH newest AS (SELECT clip_id, label, status FROM proposals WHERE id IN "
            "(SELECT MAX(id) FROM proposals GROUP BY clip_id)), "
            "outside AS (SELECT clip_id, label FROM label_events WHERE id IN (SELECT MAX(id) "
            "FROM active_events WHERE kind = 'label' AND iteration_id IS NULL AND label != ? "
            "GROUP BY clip_id)), "
            "labeled AS (SELECT clip_id, label FROM newest WHERE status = 'medoid' UNION ALL "
            "SELECT clip_id, label FROM outside WHERE clip_id NOT IN (SELECT clip_id FROM "
            "newest)) "
            "SELECT t.clip_id, t.label, n.name, a.recorded_at FROM labeled t JOIN clips c ON "
            "c.id = t.clip_id JOIN audios a ON a.id = c.audio_id LEFT JOIN nodes n ON "
            "n.id = a.node_id ORDER BY t.clip_id", (DOUBT_TAG,))]

    # -- the ontology and suggested classes ----------------------------------------------
    def add_ontology(self, entries: Sequence[tuple[str, str | None, str | None, str | None]]
                     ) -> int:
        """Add ``(tag, parent, mid, description)`` entries (parents before children; a tag
        already present keeps its row) in one transaction; return how many were new."""
        with self.transaction():
            new = 0
            for tag, parent, mid, description in entries:
                parent_id = None
                if parent is not None:
                    parent_id = self._scalar("SELECT id FROM ontology WHERE tag = ?", (parent,))
                    if parent_id is None:
                        raise StoreError(f"{tag!r}: parent {parent!r} is not in the ontology")
                new += self._conn.execute(
                    "INSERT OR IGNORE INTO ontology (tag, parent_id, mid, description) "
                    "VALUES (?, ?, ?, ?)", (str(tag), parent_id, mid, description)).rowcount
        return new

    def ontology_entries(self) -> list[dict]:
        """Every tag with its parent, AudioSet id, description, whether it was suggested and
        the round it is selectable from, in the order added."""
        keys = ("tag", "parent", "mid", "description", "suggested", "from_round")
        return [dict(zip(keys, r)) for r in self._query(
            "SELECT o.tag, p.tag, o.mid, o.description, o.suggested, o.from_round FROM ontology"
            " o LEFT JOIN ontology p ON p.id = o.parent_id ORDER BY o.id")]

    def add_suggestion(self, tag: str, parent: str | None, description: str | None,
                       labeler: str) -> int:
        """A labeler's suggested class (pending until decided); return its id."""
        with self.transaction():
            return int(self._conn.execute(
                "INSERT INTO class_suggestions (tag, parent, description, labeler_id, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (str(tag), parent, description, self.ensure_labeler(labeler),
                 utc_now())).lastrowid)

    def suggestions(self, status: str | None = None) -> list[dict]:
        """Class suggestions, oldest first (optionally only ``status``)."""
        keys = ("id", "tag", "parent", "description", "labeler", "created_at", "status",
                "reviewer", "decided_at")
        sql = ("SELECT s.id, s.tag, s.parent, s.description, l.name, s.created_at, s.status, "
               "s.reviewer, s.decided_at FROM class_suggestions s JOIN labelers l ON "
               "l.id = s.labeler_id")
        params: tuple = ()
        if status is not None:
            sql, params = sql + " WHERE s.status = ?", (str(status),)
        return [dict(zip(keys, r)) for r in self._query(sql + " ORDER BY s.id", params)]

    def decide_suggestion(self, suggestion_id: int, *, accept: bool, reviewer: str,
                          from_round: int | None = None) -> None:
        """Accept (the tag joins the ontology, selectable from round ``from_round``) or reject
        a pending suggestion, in one transaction."""
        with self.transaction():
            row = self._query("SELECT tag, parent, description, status FROM class_suggestions "
                              "WHERE id = ?", (int(suggestion_id),))
            if not row:
                raise StoreError(f"suggestion {suggestion_id!r} is not stored")
            tag, parent, description, status = row[0]
            if status != "pending":
                raise StoreError(f"suggestion {suggestion_id} ({tag!r}) was already {status}")
            if accept:
                if self._query("SELECT 1 FROM ontology WHERE tag = ?", (tag,)):
                    raise StoreError(f"{tag!r} is already in the ontology; reject the "
                                     "suggestion instead")
                parent_id = None if parent is None else self._scalar(
                    "SELECT id FROM ontology WHERE tag = ?", (parent,))
                self._conn.execute(
                    "INSERT INTO ontology (tag, parent_id, suggested, description, from_round) "
                    "VALUES (?, ?, 1, ?, ?)", (tag, parent_id, description, from_round))
            self._conn.execute(
                "UPDATE class_suggestions SET status = ?, reviewer = ?, decided_at = ? "
                "WHERE id = ?", ("accepted" if accept else "rejected", str(reviewer),
                                 utc_now(), int(suggestion_id)))
