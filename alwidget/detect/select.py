"""Which clips a detection run covers: all, given ids, and/or a window of recording time."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from ..store import Store

__all__ = ["clips_in_scope", "parse_time"]


def parse_time(value, name: str) -> datetime | None:
    """``value`` (ISO 8601 text or a datetime) as a datetime; None stays None.

    Examples
    --------
    >>> parse_time("2024-05-01T06:00", "recorded_from")
    datetime.datetime(2024, 5, 1, 6, 0)
    >>> parse_time("May 1st", "recorded_to")
    Traceback (most recent call last):
    ...
    ValueError: recorded_to='May 1st' is not an ISO 8601 time; write e.g. 2024-05-01T06:00:00
    """
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an ISO 8601 time; write e.g. "
                         "2024-05-01T06:00:00") from None


def _before(a: datetime, b: datetime) -> bool:
    """``a < b``; by clock time when one of them has no time zone."""
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return a < b


def clips_in_scope(store: Store, clips=None, recorded_from=None, recorded_to=None
                   ) -> tuple[np.ndarray, int]:
    """Ids of the clips a run covers (ascending), and how many were left out of a time
    window for lack of a recording time.

    A clip is in the window ``[recorded_from, recorded_to)`` when its own start (its
    file's ``recorded_at`` plus its offset) is. Times are compared as written: a bound with
    a time zone is compared with recording times without one by its clock time.
    """
    start = parse_time(recorded_from, "recorded_from")
    stop = parse_time(recorded_to, "recorded_to")
    if start is not None and stop is not None and not _before(start, stop):
        raise ValueError(f"recorded_from={start.isoformat()} must come before "
                         f"recorded_to={stop.isoformat()}")
    if clips is not None:
        wanted = np.unique(np.asarray(list(clips) if not isinstance(clips, np.ndarray)
                                      else clips, np.int64))
        known = store.clip_ids()
        missing = np.setdiff1d(wanted, known)
        if len(missing):
            raise ValueError(f"clips={missing[:5].tolist()} are not clips of {store.path!r}"
                             + (f" (nor {len(missing) - 5} more)" if len(missing) > 5 else ""))
        ids = wanted
    else:
        ids = None
    if start is None and stop is None:
        return (store.clip_ids() if ids is None else ids), 0
    recorded = {a.id: a.recorded_at for a in store.audios()}
    src = store.clip_sources(ids)
    keep = np.zeros(len(src), bool)
    untimed = 0
    base: dict[int, datetime | None] = {}
    for i, (audio_id, offset) in enumerate(zip(src.audio_id.tolist(), src.start_s.tolist())):
        if audio_id not in base:
            text = recorded.get(audio_id)
            try:
                base[audio_id] = datetime.fromisoformat(text) if text else None
            except ValueError:
                base[audio_id] = None
        t0 = base[audio_id]
        if t0 is None:
            untimed += 1
            continue
        t = t0 + timedelta(seconds=offset)
        keep[i] = ((start is None or not _before(t, start))
                   and (stop is None or _before(t, stop)))
    return np.sort(src.clip_id[keep]), untimed
