"""The framework's rounds: a window of the archive (nodes and time), the rounds written to
``al_iterations`` and their ``proposals`` (part of :class:`Store`)."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .types import RoundProposal, StoreError, utc_now

__all__ = ["RoundTables"]

PROPOSAL_STATUSES = ("proposed", "medoid", "discarded")


class RoundTables:
    """Store methods for time windows of clips, ``al_iterations`` and ``proposals``."""

    def window_clips(self, nodes: Sequence[str] | None = None, start: str | None = None,
                     end: str | None = None) -> np.ndarray:
        """Ids of the clips (ascending) of audios recorded by ``nodes`` (all when None) with
        ``start <= recorded_at < end`` (ISO times; open when None). Read through the index on
        (node, recorded_at): a window touches its own rows, not the archive.

        Examples
        --------
        >>> from alwidget.store import NewAudio, Store
        >>> store = Store(":memory:")
        >>> for i, (node, t) in enumerate([("n1", "2024-05-01T00:00:00"),
        ...                                ("n1", "2024-05-09T00:00:00"),
        ...                                ("n2", "2024-05-02T00:00:00")]):
        ...     _ = store.add_audio(NewAudio("/rec", f"{i}.wav", 16000, 16, 32000, 1, "WAV",
        ...                                  "PCM_16", f"h{i}", 0, node=node, recorded_at=t),
        ...                         [(0.0, 1.0), (1.0, 1.0)])
        >>> store.window_clips(["n1"], "2024-05-01", "2024-05-08").tolist()
        [1, 2]
        """
        where, params = self._window_where(nodes, start, end)
        sql = "SELECT c.id FROM audios a JOIN clips c ON c.audio_id = a.id" + where
        return np.array(sorted(r[0] for r in self._query(sql, params)), np.int64)

    def window_audio_count(self, nodes: Sequence[str] | None = None, start: str | None = None,
                           end: str | None = None) -> int:
        """How many audio files of ``nodes`` were recorded in ``[start, end)`` (see
        :meth:`window_clips`)."""
        where, params = self._window_where(nodes, start, end)
        return int(self._scalar("SELECT COUNT(*) FROM audios a" + where, params))

    def audio_clip_ids(self, audio_ids: Sequence[int]) -> np.ndarray:
        """Ids of the clips of ``audio_ids`` (ascending)."""
        out: list[int] = []
        ids = [int(a) for a in audio_ids]
        for k in range(0, len(ids), 900):
            part = ids[k:k + 900]
            out += [r[0] for r in self._query(
                f"SELECT id FROM clips WHERE audio_id IN ({','.join('?' * len(part))})", part)]
        return np.array(sorted(out), np.int64)

    def proposed_clips_of(self, clip_ids: Sequence[int]) -> list[int]:
        """Those of ``clip_ids`` that a round (not a doubt-resolution round) proposed."""
        out: list[int] = []
        ids = [int(c) for c in clip_ids]
        for k in range(0, len(ids), 900):
            part = ids[k:k + 900]
            out += [r[0] for r in self._query(
                "SELECT DISTINCT p.clip_id FROM proposals p JOIN al_iterations i ON i.id = "
                f"p.iteration_id WHERE i.kind = 'round' AND p.clip_id IN "
                f"({','.join('?' * len(part))})", part)]
        return sorted(out)

    def proposed_clips(self) -> np.ndarray:
        """Ids of every clip any round proposed (ascending)."""
        return np.array([r[0] for r in self._query(
            "SELECT DISTINCT clip_id FROM proposals ORDER BY clip_id")], np.int64)

    def _window_where(self, nodes, start, end) -> tuple[str, list]:
        where, params = [], []
        if nodes is not None:
            nodes = [str(n) for n in nodes]
            if not nodes:
                raise StoreError("nodes=[] names no node; give None for every node")
            known = {r[0]: r[1] for r in self._query(
                f"SELECT name, id FROM nodes WHERE name IN ({','.join('?' * len(nodes))})",
                nodes)}
            unknown = [n for n in nodes if n not in known]
            if unknown:
                have = [r[0] for r in self._query("SELECT name FROM nodes ORDER BY name")]
                raise StoreError(f"unknown node(s) {unknown}; the store's nodes are {have[:20]}")
            where.append(f"a.node_id IN ({','.join('?' * len(nodes))})")
            params += [known[n] for n in nodes]
        if start is not None:
            where.append("a.recorded_at >= ?")
            params.append(str(start))
        if end is not None:
            where.append("a.recorded_at < ?")
            params.append(str(end))
        if start is not None and end is not None and str(end) <= str(start):
            raise StoreError(f"the window [{start!r}, {end!r}) is empty: end must be after start")
        return (" WHERE " + " AND ".join(where)) if where else "", params

    def add_round(self, proposals: Sequence[int] | np.ndarray, *, strategy: str,
                  params: dict | None = None, window_start: str | None = None,
                  window_end: str | None = None, n_audios: int | None = None,
                  n_sets: int | None = None, labeled_share: float | None = None,
                  project: str | None = None, kind: str = "round",
                  nodes: Sequence[str] | None = None,
                  assignments: Sequence[tuple[int, str, str | None]] = ()) -> int:
        """Write one round: its ``al_iterations`` row, one ``proposals`` row (status
        "proposed") per proposed clip and its ``assignments`` (``(clip_id, labeler, group)``:
        who labels what), in one transaction; return the round's id. ``kind`` is "round" or
        "doubt" (a doubt-resolution round)."""
        if kind not in ("round", "doubt"):
            raise StoreError(f"kind={kind!r} must be 'round' or 'doubt'")
        clips = [int(c) for c in proposals]
        if len(set(clips)) != len(clips):
            raise StoreError("a round proposes each clip once; the proposals repeat clips")
        if labeled_share is not None and not 0 <= labeled_share <= 1:
            raise StoreError(f"labeled_share={labeled_share!r} must be in [0, 1]")
        self._check_clips(clips)
        with self.transaction():
            if kind == "round":  # read under the write lock: another kernel may have planned
                again = self.proposed_clips_of(clips)
                if again:
                    raise StoreError(
                        f"clips {again[:5]} were proposed meanwhile by a round planned in "
                        "another kernel; nothing was written: plan the round again")
            project_id = self.ensure_project(project) if project else None
            round_id = self._conn.execute(
                "INSERT INTO al_iterations (project_id, window_start, window_end, n_audios, "
                "n_folds, labeled_share, strategy, params, created_at, kind, nodes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (project_id, window_start, window_end, n_audios, n_sets, labeled_share,
                 str(strategy), json.dumps(params or {}, sort_keys=True, default=str),
                 utc_now(), kind, None if nodes is None else json.dumps(list(nodes)))
            ).lastrowid
            self._conn.executemany(
                "INSERT INTO proposals (iteration_id, clip_id, status) VALUES (?, ?, 'proposed')",
                [(round_id, c) for c in clips])
            proposed = set(clips)
            rows, labeler_ids = [], {}
            for clip, labeler, group in assignments:
                if int(clip) not in proposed:
                    raise StoreError(f"clip {clip} is assigned but not proposed in this round")
                if labeler not in labeler_ids:
                    labeler_ids[labeler] = self.ensure_labeler(str(labeler))
                rows.append((round_id, int(clip), labeler_ids[labeler], group))
            self._conn.executemany(
                "INSERT INTO assignments (iteration_id, clip_id, labeler_id, group_id) VALUES "
                "(?, ?, ?, (SELECT id FROM labeler_groups WHERE name = ?))", rows)
        return int(round_id)

    def round_proposals(self, round_id: int) -> list[RoundProposal]:
        """The proposals of a round, by clip id."""
        if not self._query("SELECT 1 FROM al_iterations WHERE id = ?", (int(round_id),)):
            raise StoreError(f"round {round_id!r} is not stored")
        return [RoundProposal(*r) for r in self._query(
            "SELECT clip_id, status, label, n_labelers, agreement FROM proposals "
            "WHERE iteration_id = ? ORDER BY clip_id", (int(round_id),))]

    def settle_proposal(self, round_id: int, clip_id: int, *, status: str,
                        label: str | None = None, n_labelers: int = 0,
                        agreement: float | None = None) -> None:
        """Record what a proposal became: a ``medoid`` (with its agreed label), or
        ``discarded``, or back to ``proposed`` (e.g. sent to doubt resolution)."""
        if status not in PROPOSAL_STATUSES:
            raise StoreError(f"status={status!r} must be one of {PROPOSAL_STATUSES}")
        if status == "medoid" and label is None:
            raise StoreError("a medoid needs its agreed label")
        if label is not None:
            self._check_tags([label])
        with self.transaction():
            changed = self._conn.execute(
                "UPDATE proposals SET status = ?, label = ?, n_labelers = ?, agreement = ? "
                "WHERE iteration_id = ? AND clip_id = ?",
                (status, label, int(n_labelers), agreement, int(round_id), int(clip_id))).rowcount
            if not changed:
                raise StoreError(f"clip {clip_id!r} is not a proposal of round {round_id!r}")
