"""Which folder levels of object storage hold time-ordered folders (days, hours), so that a
re-run of ingest visits only their newest ones (:func:`alwidget.ingestion.sources.list_objects`).

A level is time only where ``folder_pattern`` puts ``{time}`` (and no ``{node}``), aligned as
:func:`~alwidget.ingestion.names.parse_name` reads names, with a format whose text order is its
time order, and only for folders whose time is a plausible date: folder names are never
guessed at.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

from .names import compile_pattern, folder_fields, folder_time

__all__ = ["NEWEST_TIME_FOLDERS", "time_children"]


#: At a time level, the newest folders a re-run visits besides the new ones: two, so that an
#: upload into yesterday's folder after today's appeared (the last files of a day, a retry)
#: is still found the next day.
NEWEST_TIME_FOLDERS = 2


def time_children(folder_pattern: str | None, top: str, bucket: str, prefix: str,
                   marks) -> dict[str, bool]:
    """Which remembered folders (key prefixes below ``prefix``) sit at a time level:
    ``folder_pattern`` puts ``{time}`` and no ``{node}`` at that level of the folders of every
    object stored below it, aligned as :func:`~alwidget.ingestion.names.parse_name` reads
    them (:func:`~alwidget.ingestion.names.folder_fields`, relative to the prefix given), and
    the time read from each of those folders is a date from 2001 to tomorrow (a folder named
    for a clock glitch's year 2099 or reset clock's 1970, or a node folder "1001" read as a
    year, is no time folder), read at one level only (``{time:%Y}`` over "2019/2024": none).
    Only time folders are written in time order (a day, an hour: the newest ones hold the
    new objects); every other folder (nodes, and any folder without a
    ``folder_pattern``, whatever its name) may get new objects and is visited. A folder with
    no object stored below it is not a time folder."""
    out: dict[str, bool] = {}
    if not folder_pattern or not _sorts_as_text(folder_pattern):
        return out
    latest = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1)
    pattern = compile_pattern(folder_pattern).regex.pattern
    ambiguous = re.compile(rf"(?=(?:^|/){pattern}(?:/|$))")  # every match, overlapping too
    for loc, mark in marks.items():
        if not loc.endswith(b"/") or mark.last_key is None:
            continue  # the folders of stored objects are what names are read from
        url = os.fsdecode(loc)
        if not url.startswith(top + prefix):
            continue
        key = url[len(top):]
        fields = folder_fields(folder_pattern, f"{bucket}/{key}", f"{bucket}/{prefix}")
        parts = key[len(prefix):].rstrip("/").split("/") if key[len(prefix):] else []
        if len(fields) != len(parts):  # a key Path reads otherwise ("a//b"): no time level
            fields = [frozenset()] * len(parts)
        rel = "/".join(parts)
        spans = {m.span("time") for m in ambiguous.finditer(rel) if m.group("time")}
        if len(spans) > 1:  # read at two levels ("2019/2024" by {time:%Y}): no time level
            fields = [frozenset()] * len(parts)
        when = folder_time(folder_pattern, f"{bucket}/{key}", f"{bucket}/{prefix}")
        dated = when is not None and _EARLIEST <= when <= latest
        for j, here in enumerate(fields):
            child = prefix + "".join(q + "/" for q in parts[:j + 1])
            out[child] = out.get(child, True) and "time" in here and "node" not in here \
                and dated
    return out


#: The earliest date a time folder may hold: a recorder whose clock was reset names folders
#: 1970-01-01 or 2000-01-01, and keeps writing into them (such folders are always visited).
_EARLIEST = datetime(2001, 1, 1)


#: Time directives in the order their units shrink: a format made of them in this order (with
#: separators) names folders whose text order is their time order.
_SORTABLE = ("%Y", "%m", "%d", "%H", "%M", "%S")


def _sorts_as_text(folder_pattern: str) -> bool:
    """Whether the folders ``folder_pattern``'s ``{time:...}`` names sort as text in time
    order ("%Y-%m-%d", "%Y/%m/%d_%H", "day_{time:%Y%m%d}"): else ("%d-%m-%Y", month names, or
    a ``{*}`` in the same folder name as the time) the newest folder is not the greatest
    name, and a re-run visits every folder.

    Examples
    --------
    >>> _sorts_as_text("{node}/{time:%Y-%m-%d}"), _sorts_as_text("{node}/{time:%d-%m-%Y}")
    (True, False)
    >>> _sorts_as_text("{node}/{time:%Y/%b}"), _sorts_as_text("{node}/{time:%Y%m%d}_{*}")
    (False, False)
    """
    formats = re.findall(r"\{time:([^}]*)\}", folder_pattern)
    if not formats:
        return False
    for fmt in formats:
        directives = re.findall(r"%.", fmt)
        if not directives or any(d not in _SORTABLE for d in directives):
            return False
        order = [_SORTABLE.index(d) for d in directives]
        if order != list(range(len(order))):
            return False
    # the folder names holding a time ("/" inside braces is the time format's, not a level)
    levels = re.split(r"/(?![^{]*\})", folder_pattern)
    return not any("{time:" in level and "{*}" in level for level in levels)
