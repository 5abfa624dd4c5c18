"""Clip windows: the clip rule, and windows given per file (checked before anything is stored)."""

from __future__ import annotations

import math
import os
from typing import Mapping

from ..store import Store
from ..store.audios import is_url

__all__ = ["WINDOW_TOLERANCE_S", "WindowError", "check_against_files", "checked_windows",
           "clip_windows", "window_key"]

#: How far a given window may end after its file (rounded durations in a manifest).
WINDOW_TOLERANCE_S = 1e-3


class WindowError(ValueError):
    """A given clip window that cannot be a clip of its file; nothing was stored.

    Attributes
    ----------
    path : str
        The file (resolved: absolute, without links).
    start_s, duration_s : object
        The window as given.
    reason : str
        What is wrong with it and what to do, without the path.
    """

    def __init__(self, path: str, start_s, duration_s, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.start_s, self.duration_s, self.reason = path, start_s, duration_s, reason


# -- clip windows -----------------------------------------------------------
def clip_windows(
    duration_s: float,
    clip_seconds: float | None,
    hop_seconds: float | None = None,
    min_last_seconds: float | None = None,
) -> list[tuple[float, float]]:
    """Clip windows ``(start_s, duration_s)`` of a file, by the module's clip rule.

    Examples
    --------
    >>> clip_windows(2.5, 1.0)
    [(0.0, 1.0), (1.0, 1.0), (2.0, 0.5)]
    >>> clip_windows(2.4, 1.0)
    [(0.0, 1.0), (1.0, 1.0)]
    >>> clip_windows(0.3, 1.0)
    [(0.0, 0.3)]
    >>> clip_windows(2.0, 1.0, hop_seconds=0.5)
    [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]
    >>> clip_windows(7.25, None)  # one clip per file
    [(0.0, 7.25)]
    """
    if clip_seconds is None:
        return [(0.0, round(float(duration_s), 6))]
    if not (clip_seconds > 0 and math.isfinite(clip_seconds)):
        raise ValueError(f"clip_seconds={clip_seconds!r} must be a finite number > 0")
    hop = clip_seconds if hop_seconds is None else hop_seconds
    if not (hop > 0 and math.isfinite(hop)):
        raise ValueError(f"hop_seconds={hop_seconds!r} must be a finite number > 0")
    min_last = clip_seconds / 2 if min_last_seconds is None else min_last_seconds
    if not 0 <= min_last <= clip_seconds:
        raise ValueError(
            f"min_last_seconds={min_last_seconds!r} must be between 0 and clip_seconds"
        )
    eps = 1e-9
    windows = []
    k = 0
    while k * hop + clip_seconds <= duration_s + eps:
        windows.append((round(k * hop, 6), float(clip_seconds)))
        k += 1
    start = k * hop
    rest = duration_s - start
    covered = windows[-1][0] + clip_seconds if windows else 0.0
    if covered < duration_s - eps and (not windows or rest >= min_last - eps):
        windows.append((round(start, 6), round(rest, 6)))
    return windows


# -- given windows ------------------------------------------------------------
def window_key(start_s: float, duration_s: float) -> tuple[float, float]:
    """How a window is stored and compared: seconds rounded to the microsecond."""
    return round(float(start_s), 6), round(float(duration_s), 6)


def checked_windows(windows: Mapping) -> dict[str, list[tuple[float, float]]]:
    """Windows by resolved path (``os.path.realpath``, as ingest identifies files; an
    object's URL as given), each
    checked for numbers, sorted, without repeats."""
    out: dict[str, list[tuple[float, float]]] = {}
    for path, wins in windows.items():
        path = os.fspath(path)
        if not is_url(path):  # an object's URL is what identifies it
            path = os.path.realpath(path)
        keys = set(out.get(path, []))
        for window in wins:
            try:
                start, duration = window
                start, duration = float(start), float(duration)
            except (TypeError, ValueError):
                raise WindowError(path, None, None, f"window {window!r} must be a pair of "
                                  "numbers (start_s, duration_s)") from None
            if not (math.isfinite(start) and start >= 0):
                raise WindowError(path, start, duration,
                                  f"start_s={start!r} must be a number of seconds >= 0")
            if not (math.isfinite(duration) and duration > 0):
                raise WindowError(path, start, duration,
                                  f"duration_s={duration!r} must be a number of seconds > 0")
            keys.add(window_key(start, duration))
        if not keys:
            raise WindowError(path, None, None, "no windows given; give at least one "
                              "(start_s, duration_s), or leave the file out of windows=")
        out[path] = sorted(keys)
    return out


def check_against_files(store: Store, wanted: dict[str, list[tuple[float, float]]],
                         examined: dict[str, tuple[str, dict | None, str | None]]) -> None:
    """Raise WindowError for a window outside its file (as stored, or as read now)."""
    for path, wins in wanted.items():
        if path not in examined or examined[path][1] is None:
            continue  # missing or unreadable: reported as an ingest error, as for any file
        stored = store.find_audio(path)
        digest, props = examined[path][0], examined[path][1]
        same = stored is not None and stored.content_hash == digest  # else: the file as read
        length = stored.duration_s if same else props["frames"] / props["sample_rate"]
        for start, duration in wins:
            if start + duration > length + WINDOW_TOLERANCE_S:
                raise WindowError(
                    path, start, duration,
                    f"the window start_s={start:g}, duration_s={duration:g} ends at "
                    f"{start + duration:g} s, after the end of the file ({length:g} s); "
                    "nothing was stored")
