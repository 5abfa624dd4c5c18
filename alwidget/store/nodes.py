"""Recording nodes (part of :class:`Store`): the deployment (``sources``, ``node_types``,
``nodes``, the ``paths`` of each node), what ingest listed (``listed_files``: a re-run reads
only new or changed files and objects; ``listed_folders``: it lists only folders that changed) and each file's levels (``audio_levels``) summed per
node and day for node health."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence

import numpy as np

from .audios import check_no_credentials
from .types import AudioLevels, Listed, ListedFolder, NodeDay, NodeInfo, StoreError, utc_now

#: Edges of the bins of ``audio_levels.histogram`` in dBFS (3-dB bins from -120 dBFS; the
#: first bin also counts lower levels, digital silence included): ingest's level meter fills
#: them, node health reads them.
LEVEL_BINS = np.arange(-120.0, 0.0 + 1e-9, 3.0)

__all__ = ["LEVEL_BINS", "NodeTables", "iso_time"]

_NODE_COLUMNS = ("location", "latitude", "longitude", "sample_rate", "gain_db", "installed_at",
                 "removed_at", "file_seconds", "duty_cycle", "description")


def iso_time(value, name: str) -> str | None:
    """``value`` (an ISO date or time, or a datetime; None: None) as ISO text (a time as
    ``YYYY-MM-DDTHH:MM:SS``, a date as ``YYYY-MM-DD``: both compare with ``recorded_at``,
    which is written without a time zone and read as UTC); a time with a time zone
    (``Z``, ``+02:00``) is converted to UTC first. A ``ValueError`` naming ``name`` and the
    value when it is neither.

    Examples
    --------
    >>> iso_time("2024-05-01 12:00", "start"), iso_time("2024-05-01", "end")
    ('2024-05-01T12:00:00', '2024-05-01')
    >>> iso_time("2024-05-01T14:00+02:00", "start"), iso_time("2024-05-01T12:00Z", "start")
    ('2024-05-01T12:00:00', '2024-05-01T12:00:00')
    """
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            when = value
        elif "T" in str(value) or ":" in str(value):
            when = datetime.fromisoformat(str(value))
        else:
            return datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an ISO 8601 date or time; write e.g. "
                         "2024-05-01 or 2024-05-01T06:00:00") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat()


class NodeTables:
    """Store methods for the deployment, ``listed_files`` and ``audio_levels``."""

    def checked_window(self, nodes: Sequence[str] | str | None, start, end
                       ) -> tuple[list[str] | None, str | None, str | None]:
        """The node and time window of a filter, checked and written as every filter reads
        it (sessions, maps, export, team rounds): node names as text, each one the store
        knows; ``start``/``end`` as ISO text (:func:`iso_time`), ``end`` after ``start``.

        Raises ``ValueError`` naming an unknown node (and those known), a time that is not
        ISO 8601, or a window that ends before it starts.
        """
        if isinstance(nodes, str):
            nodes = [nodes]
        if nodes is not None:
            nodes = [str(n) for n in nodes]
            known = {r[0] for r in self._query("SELECT name FROM nodes")}
            unknown = [n for n in nodes if n not in known]
            if unknown:
                raise ValueError(f"nodes={unknown!r} are not nodes of {self.path!r}; known: "
                                 f"{sorted(known)[:20]}")
        a, b = iso_time(start, "start"), iso_time(end, "end")
        if a is not None and b is not None and b <= a:
            raise ValueError(f"end={b} must come after start={a}")
        return nodes, a, b

    # -- the deployment ---------------------------------------------------------------------
    def put_deployment(self, nodes: Sequence[NodeInfo], *,
                       sources: Iterable[Mapping] = (), node_types: Iterable[Mapping] = (),
                       paths: Iterable[tuple[str, str]] = ()) -> None:
        """Write a deployment in one transaction: sources, node types, nodes (their fields
        as given: a description replaces what was stored) and the folders or object prefixes
        of each node (``(path, node)``). Nodes met by ingest before keep their id and audios.

        Examples
        --------
        >>> from alwidget.store import NodeInfo, Store
        >>> store = Store(":memory:")
        >>> store.put_deployment([NodeInfo("n1", node_type="audiomoth", source="port",
        ...                                sample_rate=48000, installed_at="2024-05-01")],
        ...                      sources=[{"name": "port", "latitude": 43.3}],
        ...                      paths=[("s3://port/n1", "n1")])
        >>> [(n.name, n.node_type, n.source, n.sample_rate) for n in store.nodes_info()]
        [('n1', 'audiomoth', 'port', 48000)]
        >>> store.path_nodes()
        {'s3://port/n1': 'n1'}
        """
        sources, node_types, paths = list(sources), list(node_types), list(paths)
        for path, node in paths:
            check_no_credentials(path, f"node {node!r}: paths: ")
        named = {n.name for n in nodes}
        unknown = sorted({node for _, node in paths} - named
                         - {r[0] for r in self._query("SELECT name FROM nodes")})
        if unknown:
            raise StoreError(f"paths name nodes {unknown} that the deployment does not "
                             "describe; add them to its nodes")
        with self.transaction():
            for row in sources:
                self._upsert_named("sources", row, ("latitude", "longitude", "description"))
            for row in node_types:
                self._upsert_named("node_types", row, ("description",))
            for n in nodes:
                source_id = self._upsert_named("sources", {"name": n.source}, ()) \
                    if n.source else None
                type_id = self._upsert_named("node_types", {"name": n.node_type}, ()) \
                    if n.node_type else None
                values = {c: getattr(n, c) for c in _NODE_COLUMNS}
                values.update(source_id=source_id, node_type_id=type_id)
                node_id = self.ensure_node(n.name)
                self._conn.execute(
                    f"UPDATE nodes SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                    (*values.values(), node_id))
            for path, node in paths:
                path_id = self.ensure_path(path)
                self._conn.execute("UPDATE paths SET node_id = ? WHERE id = ?",
                                   (self.ensure_node(node), path_id))

    def _upsert_named(self, table: str, row: Mapping, columns: Sequence[str]) -> int:
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            raise StoreError(f"{table}: name={name!r} must be a non-empty string")
        found = self._scalar(f"SELECT id FROM {table} WHERE name = ?", (name,))
        if found is None:
            return self.db[table].insert({"name": name, "created_at": utc_now(),
                                          **{c: row.get(c) for c in columns}}).last_pk
        if columns:
            self._conn.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} "
                               "WHERE id = ?", (*(row.get(c) for c in columns), found))
        return found

    def nodes_info(self) -> list[NodeInfo]:
        """Every node (from a deployment or met by ingest), by name."""
        rows = self._query(
            f"SELECT n.name, t.name, s.name, {', '.join('n.' + c for c in _NODE_COLUMNS)} "
            "FROM nodes n LEFT JOIN node_types t ON t.id = n.node_type_id "
            "LEFT JOIN sources s ON s.id = n.source_id ORDER BY n.name")
        return [NodeInfo(*r) for r in rows]

    def path_nodes(self) -> dict[str, str]:
        """Folder or object prefix -> node, for the paths a deployment assigned to a node."""
        return dict(self._query("SELECT p.path, n.name FROM paths p JOIN nodes n "
                                "ON n.id = p.node_id ORDER BY p.path"))

    # -- what ingest listed -------------------------------------------------------------------
    def listed_at(self, locations: Sequence[bytes]) -> dict[bytes, Listed]:
        """What ingest stored from the files or objects at ``locations`` (keys of
        ``listed_files``: the bytes of a path or URL), for those it has stored."""
        out: dict[bytes, Listed] = {}
        keys = [bytes(k) for k in locations]
        for i in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            part = keys[i:i + 900]
            for r in self._query("SELECT location, size_bytes, version, audio_id, growing_hash"
                                 " FROM "
                                 f"listed_files WHERE location IN ({','.join('?' * len(part))})",
                                 part):
                out[bytes(r[0])] = Listed(r[1], r[2], r[3], r[4])
        return out

    def listed_folders_under(self, root: bytes) -> dict[bytes, ListedFolder]:
        """The folders (``listed_folders``) at or below ``root``, by location: one range of
        the primary key, as many rows as folders."""
        below = root if root.endswith(b"/") else root + b"/"
        rows = self._query("SELECT location, resolved, mtime_ns, inode, device, last_key FROM"
                           " listed_folders WHERE location = ? OR (location >= ? AND "
                           "location < ?)", (root, below, _beyond(below)))
        return {bytes(r[0]): ListedFolder(bytes(r[0]), bytes(r[1]), *r[2:5],
                                          None if r[5] is None else bytes(r[5])) for r in rows}

    def put_listed_folders(self, folders: Sequence[ListedFolder],
                           gone: Sequence[bytes] = ()) -> None:
        """Record how ingest listed these folders (replacing what was recorded) and forget
        the folders in ``gone`` with everything below them, in one transaction."""
        now = utc_now()
        with self.transaction():
            for loc in gone:
                below = loc if loc.endswith(b"/") else loc + b"/"
                self._conn.execute("DELETE FROM listed_folders WHERE location = ? OR "
                                   "(location >= ? AND location < ?)",
                                   (bytes(loc), below, _beyond(below)))
            self._conn.executemany(
                "INSERT OR REPLACE INTO listed_folders (location, resolved, mtime_ns, inode, "
                "device, listed_at, last_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(bytes(f.location), bytes(f.resolved), int(f.mtime_ns), int(f.inode),
                  int(f.device), now, None if f.last_key is None else bytes(f.last_key))
                 for f in folders])

    def put_listed(self, location: bytes, size_bytes: int, version: str,
                   modified_at: str | None, audio_id: int, growing_hash: str | None = None
                   ) -> None:
        """Record that the file or object at ``location`` (this size and version) is stored as
        ``audio_id``: the next ingest does not read it again while both stay the same.
        ``growing_hash``: the file may still have been written when it was read (the SHA-256
        of what it held past its header, see :func:`alwidget.ingestion.stored.body_hash`);
        None: it was complete."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO listed_files (location, size_bytes, version, modified_at, audio_id,"
                " listed_at, growing_hash) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (location) "
                "DO UPDATE SET "
                "size_bytes = excluded.size_bytes, version = excluded.version, modified_at = "
                "excluded.modified_at, audio_id = excluded.audio_id, listed_at = "
                "excluded.listed_at, growing_hash = excluded.growing_hash",
                (bytes(location), int(size_bytes), str(version), modified_at, int(audio_id),
                 utc_now(), growing_hash))

    def forget_listed(self, audio_id: int) -> None:
        """Forget where ``audio_id`` was listed (it moved: the next ingest reads it there)."""
        with self.transaction():
            self._conn.execute("DELETE FROM listed_files WHERE audio_id = ?", (int(audio_id),))

    # -- levels and node health ---------------------------------------------------------------
    def put_levels(self, audio_id: int, levels: AudioLevels) -> None:
        """Store a file's levels (replacing earlier ones)."""
        hist = np.asarray(levels.histogram, np.uint32)
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO audio_levels (audio_id, frame_s, n_frames, silent_frames,"
                " clipped_frames, rms_db, peak_db, histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (int(audio_id), float(levels.frame_s), int(levels.n_frames),
                 int(levels.silent_frames), int(levels.clipped_frames), levels.rms_db,
                 levels.peak_db, hist.tobytes()))

    def _node_where(self, nodes, start, end) -> tuple[str, list]:
        where, params = ["a.recorded_at IS NOT NULL"], []
        if nodes is not None:
            nodes = [str(n) for n in nodes]
            where.append(f"n.name IN ({','.join('?' * len(nodes))})")
            params += nodes
        if start is not None:
            where.append("a.recorded_at >= ?")
            params.append(str(start))
        if end is not None:
            where.append("a.recorded_at < ?")
            params.append(str(end))
        return " WHERE " + " AND ".join(where), params

    def node_days(self, nodes: Sequence[str] | None = None, start: str | None = None,
                  end: str | None = None) -> list[NodeDay]:
        """Per node and day (the date of ``recorded_at``) of ``[start, end)``: files, seconds
        received, frames measured silent or clipped and their level histogram, one review
        clip (the first clip of the file that shows the day's problem: most clipped frames,
        else most silent ones, else the loudest file), and the longest gap between a file of
        the day and the end of the node's file before it. One read of the window in the
        (node, recorded_at) index's order; the sums in numpy.

        Examples
        --------
        >>> from alwidget.store import NewAudio, Store
        >>> store = Store(":memory:")
        >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 160000, 1, "WAV", "PCM_16",
        ...                              "h", 0, node="n1", recorded_at="2024-05-01T10:00:00"),
        ...                     [(0.0, 10.0)])
        >>> [(d.node, d.day, d.n_files, d.seconds, d.review_clip) for d in store.node_days()]
        [('n1', '2024-05-01', 1, 10.0, 1)]
        """
        where, params = self._node_where(nodes, start, end)
        rows = self._query(
            "SELECT a.node_id, n.name, a.recorded_at, a.duration_s, a.id, l.n_frames, "
            "l.silent_frames, l.clipped_frames, l.rms_db, l.histogram FROM audios a "
            "JOIN nodes n ON n.id = a.node_id LEFT JOIN audio_levels l ON l.audio_id = a.id"
            + where + " ORDER BY a.node_id, a.recorded_at", params)
        if not rows:
            return []
        n = len(rows)
        cols = list(zip(*rows))
        node_id = np.asarray(cols[0], np.int64)
        when = list(cols[2])
        day = np.asarray([w[:10] for w in when])
        dur = np.asarray(cols[3], np.float64)
        audio = np.asarray(cols[4], np.int64)
        frames, silent, clipped = (np.asarray([v or 0 for v in cols[k]], np.int64)
                                   for k in (5, 6, 7))
        rms = np.asarray([-np.inf if v is None else v for v in cols[8]], np.float64)
        # a node's files in time order: a node's day is one run of rows
        starts = np.flatnonzero(np.r_[True, (node_id[1:] != node_id[:-1])
                                      | (day[1:] != day[:-1])])
        ends = np.r_[starts[1:], n]
        group = np.repeat(np.arange(len(starts)), ends - starts)
        order = np.lexsort((np.arange(n), -rms, -silent, -clipped, group))
        picks = audio[order[np.searchsorted(group[order], np.arange(len(starts)))]]
        first_clip = {}
        for k in range(0, len(picks), 900):
            part = [int(a) for a in picks[k:k + 900]]
            first_clip.update(self._query("SELECT audio_id, MIN(id) FROM clips WHERE audio_id IN "
                                          f"({','.join('?' * len(part))}) GROUP BY audio_id",
                                          part))
        gaps = _gaps(node_id, when, dur, starts)
        blobs = [b for b in cols[9] if b is not None]
        hists = None
        if blobs:
            width = len(blobs[0]) // 4
            full = np.zeros((n, width), np.uint32)
            has = np.asarray([b is not None and len(b) == 4 * width for b in cols[9]])
            full[has] = np.frombuffer(b"".join(b for b, h in zip(cols[9], has) if h),
                                      np.uint32).reshape(-1, width)
            hists = np.add.reduceat(full, starts, axis=0, dtype=np.int64)
            measured = np.add.reduceat(has.astype(np.int64), starts)
        sums = [np.add.reduceat(x, starts) for x in (dur, frames, silent, clipped)]
        return [NodeDay(cols[1][a], str(day[a]), int(b - a), float(sums[0][g]), int(sums[1][g]),
                        int(sums[2][g]), int(sums[3][g]), when[a], when[b - 1],
                        first_clip.get(int(picks[g])), gaps[g],
                        None if hists is None or not measured[g] else hists[g])
                for g, (a, b) in enumerate(zip(starts.tolist(), ends.tolist()))]

    def last_heard(self) -> dict[str, tuple[str, float]]:
        """Node -> (``recorded_at`` of its newest file, that file's duration in seconds)."""
        out = {}
        for (name,) in self._query("SELECT name FROM nodes ORDER BY name"):
            row = self._query(
                "SELECT a.recorded_at, a.duration_s FROM audios a JOIN nodes n ON n.id = "
                "a.node_id WHERE n.name = ? AND a.recorded_at IS NOT NULL "
                "ORDER BY a.recorded_at DESC LIMIT 1", (name,))
            if row:
                out[name] = (row[0][0], float(row[0][1]))
        return out


def _beyond(prefix: bytes) -> bytes:
    """The least bytes above every location that starts with ``prefix`` (an exclusive upper
    bound of the range of keys below it)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\xff" * (len(prefix) + 1)
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _gaps(node_id: np.ndarray, when: list[str], dur: np.ndarray, starts: np.ndarray) -> list:
    """Per group (a node's day), the longest time between the end of a file and the start
    of the node's next one (None for a node's first file, or times that are not ISO 8601)."""
    try:  # clock time as written (a time zone suffix is ignored), to the second
        t = np.asarray([w[:19] for w in when], "datetime64[s]").astype(np.int64)
    except ValueError:
        return [None] * len(starts)
    gap = np.full(len(t), -np.inf)
    same = node_id[1:] == node_id[:-1]
    gap[1:][same] = (t[1:] - t[:-1] - dur[:-1])[same]
    top = np.maximum.reduceat(gap, starts)
    return [None if not np.isfinite(g) else max(0.0, round(float(g), 3)) for g in top]
