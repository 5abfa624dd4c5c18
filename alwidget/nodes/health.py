"""Node health: per node and day, the share of missing, silent and clipped time, the level
distribution, and one review clip; nodes that stopped sending flagged.

Missing time is the part of the time a node should have recorded (from its installation,
else its first recording, to its removal, else the archive's newest recording; times its
``duty_cycle``) without a file received. Silent and clipped shares are those of the frames
ingest measured (:mod:`alwidget.ingestion.levels`: 0.1-s frames below -70 dBFS, or with a
sample at full scale); files ingested before alwidget measured levels count for missing time
only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from ..store import Store
from ..store.nodes import LEVEL_BINS
from .select import iso_time

__all__ = ["DayHealth", "HealthReport", "LEVEL_EDGES_DB", "node_health"]

#: Lower edges (dBFS) of the level histogram's bins (as ``alwidget.ingestion.levels``).
LEVEL_EDGES_DB = LEVEL_BINS  # the histogram's bins, as ingest fills them
#: Shares from which a day is "warn" and "bad": missing, silent and clipped time.
WARN = {"missing": 0.1, "silent": 0.1, "clipped": 0.01}
BAD = {"missing": 0.5, "silent": 0.5, "clipped": 0.05}


@dataclass(frozen=True)
class DayHealth:
    """One node's day.

    ``status`` is "ok", "warn" or "bad" (see :data:`WARN`, :data:`BAD`), or "off" when the
    node was not meant to record that day and sent nothing (not installed yet, or removed).
    A day after a node was last heard, while it is installed, is "bad" (100 % missing).
    ``levels_db`` holds the 10th, 50th and 90th percentiles of the frame
    levels (dBFS); ``review`` the clip to listen to: (clip id, path, start_s, duration_s).
    """

    node: str
    day: str
    status: str
    expected_s: float
    received_s: float
    n_files: int
    missing: float
    silent: float
    clipped: float
    levels_db: tuple[float, float, float] | None
    histogram: np.ndarray | None = field(repr=False)
    review: tuple[int, str, float, float] | None
    longest_gap_s: float | None = None  # between two files received (the first of the day:
    #                                     after the node's previous file, maybe days before)

    @property
    def cause(self) -> str | None:
        """What makes the day "warn" or "bad": "missing", "silent" or "clipped" (the share
        furthest past its threshold), None on a good day."""
        if self.status not in ("warn", "bad"):
            return None
        ratios = {k: getattr(self, k) / WARN[k] for k in ("clipped", "silent", "missing")
                  if not math.isnan(getattr(self, k))}  # a tie: what the files show first
        return max(ratios, key=ratios.get) if ratios else None

    def summary(self) -> str:
        """One line: what a cell's tooltip says."""
        parts = [f"{self.node} {self.day}: {self.status}", f"{self.n_files} files",
                 f"{self.received_s / 3600:.2f} h of {self.expected_s / 3600:.2f} h expected"]
        for name in ("missing", "silent", "clipped"):
            value = getattr(self, name)
            if not math.isnan(value):
                parts.append(f"{name} {100 * value:.1f} %")
        if self.levels_db:
            parts.append("level p10/p50/p90 {:.0f}/{:.0f}/{:.0f} dBFS".format(*self.levels_db))
        if self.longest_gap_s:
            parts.append(f"longest gap {_span(self.longest_gap_s)}")
        return " · ".join(parts)


@dataclass(frozen=True)
class HealthReport:
    """Node x day health (:func:`node_health`)."""

    nodes: list[str]
    days: list[str]
    cells: dict[tuple[str, str], DayHealth]
    last_heard: dict[str, str | None]  # node -> end of its newest file (None: never heard)
    stopped: dict[str, str | None]     # the nodes that stopped sending -> last heard
    now: str

    def cell(self, node: str, day: str) -> DayHealth | None:
        """The health of ``node`` on ``day`` (None outside the report)."""
        return self.cells.get((node, day))

    def rows(self) -> list[dict]:
        """One dict per node and day (e.g. ``pandas.DataFrame(report.rows())``)."""
        return [{"node": c.node, "day": c.day, "status": c.status, "files": c.n_files,
                 "expected_h": round(c.expected_s / 3600, 3),
                 "received_h": round(c.received_s / 3600, 3), "missing": c.missing,
                 "silent": c.silent, "clipped": c.clipped,
                 "level_p50_db": c.levels_db[1] if c.levels_db else None,
                 "review_clip": c.review[0] if c.review else None,
                "longest_gap_s": c.longest_gap_s}
                for c in self.cells.values()]

    def __str__(self) -> str:
        bad = sum(c.status == "bad" for c in self.cells.values())
        warn = sum(c.status == "warn" for c in self.cells.values())
        lines = [f"{len(self.nodes)} nodes x {len(self.days)} days (to {self.now}): "
                 f"{bad} bad, {warn} warn"]
        for node, last in self.stopped.items():
            lines.append(f"stopped: {node}: " + (f"last heard {last}" if last else
                                                 "never heard since its installation"))
        return "\n".join(lines)


def _span(seconds: float) -> str:
    """``95.0`` -> ``"1.6 min"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)  # clock time, as written
    except ValueError:
        return None


def _percentiles(hist: np.ndarray) -> tuple[float, float, float] | None:
    total = int(hist.sum())
    if total == 0:
        return None
    cum = np.cumsum(hist)
    step = LEVEL_EDGES_DB[1] - LEVEL_EDGES_DB[0]
    return tuple(float(LEVEL_EDGES_DB[int(np.searchsorted(cum, q * total))] + step / 2)
                 for q in (0.1, 0.5, 0.9))


def _status(missing: float, silent: float, clipped: float) -> str:
    values = {"missing": missing, "silent": silent, "clipped": clipped}
    if any(not math.isnan(v) and v >= BAD[k] for k, v in values.items()):
        return "bad"
    if any(not math.isnan(v) and v >= WARN[k] for k, v in values.items()):
        return "warn"
    return "ok"


def node_health(store: Store, nodes: list[str] | None = None, start: str | None = None,
                end: str | None = None, *, now: str | None = None,
                stale_after_s: float = 3600.0) -> HealthReport:
    """Per node and day of ``[start, end)``: missing, silent and clipped shares, level
    distribution, a review clip; nodes silent for more than ``stale_after_s`` before ``now``
    flagged as stopped.

    Parameters
    ----------
    store : Store
    nodes : list of str, optional
        Node names (default: every node).
    start, end : str, optional
        ISO dates or times; default: from the first installation or recording to ``now``.
        Anything else raises ``ValueError`` naming the value.
    now : str, optional
        The time the report is made for (a time with an offset, ``+02:00`` or ``Z``, is
        converted to UTC, as ``start`` and ``end`` are); default: the current UTC time, so
        nodes that all stopped are flagged. Recording times come from file names, which give the
        recorder's clock time (keep recorders on UTC); give ``now=`` for an old archive
        (e.g. its last day) or in tests.
    stale_after_s : float, default 3600
        A node whose newest file ended longer ago than this before ``now`` has stopped.

    Examples
    --------
    >>> from alwidget.store import NewAudio, NodeInfo, Store
    >>> store = Store(":memory:")
    >>> store.put_deployment([NodeInfo("n1", installed_at="2024-05-01T00:00:00"),
    ...                       NodeInfo("n2", installed_at="2024-05-01T00:00:00")])
    >>> for i, (node, t) in enumerate([("n1", "2024-05-01T12:00:00"),
    ...                                ("n2", "2024-05-01T06:00:00")]):
    ...     _ = store.add_audio(NewAudio("/rec", f"{i}.wav", 1000, 16, 43200 * 1000, 1, "WAV",
    ...                                  "PCM_16", f"h{i}", 0, node=node, recorded_at=t),
    ...                         [(0.0, 10.0)])
    >>> report = node_health(store, now="2024-05-02T00:00:00")
    >>> report.cell("n1", "2024-05-01").missing, report.cell("n2", "2024-05-01").status
    (0.5, 'bad')
    >>> report.stopped
    {'n2': '2024-05-01T18:00:00'}
    """
    if not stale_after_s > 0:
        raise ValueError(f"stale_after_s={stale_after_s!r} must be > 0")
    start, end = iso_time(start, "start"), iso_time(end, "end")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"end={end} must come after start={start}")
    info = {n.name: n for n in store.nodes_info()}
    if nodes is not None:
        nodes = [str(n) for n in nodes]
        unknown = [n for n in nodes if n not in info]
        if unknown:
            raise ValueError(f"nodes={unknown!r} are not nodes of {store.path!r}; known: "
                             f"{sorted(info)[:20]}")
    names = nodes if nodes is not None else sorted(info)
    heard = store.last_heard()
    last_end = {n: _time(t) + timedelta(seconds=d) for n, (t, d) in heard.items()
                if _time(t) is not None}
    # an offset (+02:00, Z) is converted to UTC and dropped, as for start and end
    t_now = _time(iso_time(now, "now")) if now else \
        datetime.now(timezone.utc).replace(tzinfo=None)
    days_rows = store.node_days(names, start, end)
    first_seen: dict[str, datetime] = {}
    for r in days_rows:
        t = _time(r.first)
        if t is not None and (r.node not in first_seen or t < first_seen[r.node]):
            first_seen[r.node] = t
    active = {}
    for n in names:
        a = _time(info[n].installed_at) or first_seen.get(n)
        b = _time(info[n].removed_at) or t_now
        if a is not None and b is not None and b > a:
            active[n] = (a, b)
    lo = _time(start) or min((a for a, _ in active.values()), default=None)
    hi = _time(end) or t_now
    if lo is None or hi is None or hi <= lo:
        return HealthReport(names, [], {}, {}, {}, "" if t_now is None else t_now.isoformat())
    day0 = datetime(lo.year, lo.month, lo.day)
    days = []
    while day0 < hi:
        days.append(day0)
        day0 += timedelta(days=1)
    got = {(r.node, r.day): r for r in days_rows}
    reviews = [r.review_clip for r in days_rows if r.review_clip is not None]
    src = store.clip_sources(reviews) if reviews else None
    where = {} if src is None else {int(c): (int(c), p, float(s), float(d)) for c, p, s, d in
                                    zip(src.clip_id, src.path, src.start_s, src.duration_s)}
    cells = {}
    for n in names:
        a, b = active.get(n, (None, None))
        duty = info[n].duty_cycle or 1.0
        for d0 in days:
            day = d0.date().isoformat()
            d1 = min(d0 + timedelta(days=1), hi)
            d_start = max(d0, lo)
            expected = 0.0
            if a is not None:
                expected = max(0.0, (min(d1, b) - max(d_start, a)).total_seconds()) * duty
            r = got.get((n, day))
            received = r.seconds if r else 0.0
            missing = max(0.0, expected - received) / expected if expected > 0 else math.nan
            silent = r.silent_frames / r.n_frames if r and r.n_frames else math.nan
            clipped = r.clipped_frames / r.n_frames if r and r.n_frames else math.nan
            hist = r.histogram if r else None
            status = "off" if expected <= 0 and not r else _status(missing, silent, clipped)
            cells[(n, day)] = DayHealth(
                n, day, status, expected, received, r.n_files if r else 0,
                round(missing, 4) if not math.isnan(missing) else missing, silent, clipped,
                _percentiles(hist) if hist is not None else None, hist,
                where.get(r.review_clip) if r and r.review_clip is not None else None,
                r.longest_gap_s if r else None)
    stopped = {}
    for n in names:
        end_n = last_end.get(n)
        removed = _time(info[n].removed_at)
        if t_now is None or (removed is not None and removed <= t_now):
            continue
        if end_n is None:
            installed = _time(info[n].installed_at)
            if installed is not None and (t_now - installed).total_seconds() > stale_after_s:
                stopped[n] = None
        elif (t_now - end_n).total_seconds() > stale_after_s:
            stopped[n] = end_n.isoformat()
    return HealthReport(names, [d.date().isoformat() for d in days], cells,
                        {n: (last_end[n].isoformat() if n in last_end else None) for n in names},
                        stopped, t_now.isoformat())
