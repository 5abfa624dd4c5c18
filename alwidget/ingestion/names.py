"""Node and recording time from file and folder names (``name_pattern``, ``folder_pattern``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

__all__ = ["compile_pattern", "folder_fields", "folder_time", "parse_name"]


# -- node and time from names -----------------------------------------------
_TIME_CODES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}",
               "M": r"\d{2}", "S": r"\d{2}", "f": r"\d{1,6}", "j": r"\d{3}", "z": r"[+-]\d{4}"}
_DEFAULT_TIMES = [  # (regex, strptime format) tried on file names when no pattern is given
    (r"(?<!\d)(\d{8}[_T-]\d{6})(?!\d)", None),
    (r"(?<!\d)(\d{4}-\d{2}-\d{2}[_T ]\d{2}[-:.]\d{2}[-:.]\d{2})(?!\d)", None),
]


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern
    time_format: str | None


@lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> _Pattern:
    """Turn ``"{node}_{time:%Y%m%d_%H%M%S}"`` into a regex with named groups."""
    out, fmt, pos = [], None, 0
    for m in re.finditer(r"\{(node|time|\*)(?::([^}]*))?\}", pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        name, arg = m.group(1), m.group(2)
        if name == "node":
            out.append(r"(?P<node>[^/]+?)")
        elif name == "*":
            out.append(r".*?")
        else:
            if not arg:
                raise ValueError(
                    f"pattern={pattern!r}: write the time with its format, "
                    "e.g. {time:%Y%m%d_%H%M%S}"
                )
            fmt = arg
            rx = re.sub(r"%(.)", lambda c: _TIME_CODES.get(c.group(1), r".+?"),
                        re.escape(arg).replace(r"\%", "%"))
            out.append(f"(?P<time>{rx})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    if "(?P<" not in "".join(out):
        raise ValueError(f"pattern={pattern!r} names neither {{node}} nor {{time:FORMAT}}")
    return _Pattern(re.compile("".join(out)), fmt)


def _normalise_time(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    if len(digits) != 14:
        return None
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").isoformat()
    except ValueError:
        return None


def parse_name(
    path: str | Path,
    name_pattern: str | None = None,
    folder_pattern: str | None = None,
    root: str | Path | None = None,
) -> tuple[str | None, str | None, bool]:
    """Node and recording time (ISO 8601) of a file, from its name, else its folders.

    Parameters
    ----------
    path : str or Path
        The audio file.
    name_pattern : str, optional
        Template matched against the whole file name without its ending, with
        ``{node}``, ``{time:FORMAT}`` (``strptime`` codes) and ``{*}`` (anything).
        Without it, a time stamp like ``20240501_123000`` or
        ``2024-05-01T12-30-00`` anywhere in the name is used.
    folder_pattern : str, optional
        Template searched in the folder path (relative to ``root``) for what
        the name did not give, e.g. ``"{node}"`` takes the node from the first
        folder, ``"{node}/{time:%Y-%m-%d}"`` node and date from two levels.
    root : str or Path, optional
        The folder ingest started from.

    Returns
    -------
    node, recorded_at, name_matched : str or None, str or None, bool

    Examples
    --------
    >>> parse_name("n07_20240501_123000.wav", "{node}_{time:%Y%m%d_%H%M%S}")
    ('n07', '2024-05-01T12:30:00', True)
    >>> parse_name("/data/site3/rec_20240501_123000.wav", folder_pattern="{node}", root="/data")
    ('site3', '2024-05-01T12:30:00', True)
    >>> parse_name("clip.wav")
    (None, None, False)
    """
    p = Path(path)
    node = when = None
    matched = False
    if name_pattern:
        pat = compile_pattern(name_pattern)
        m = pat.regex.fullmatch(p.stem)
        if m:
            matched = True
            node = m.groupdict().get("node")
            if m.groupdict().get("time") is not None:
                when = _strptime(m.group("time"), pat.time_format)
    else:
        for rx, _ in _DEFAULT_TIMES:
            m = re.search(rx, p.stem)
            if m and (when := _normalise_time(m.group(1))):
                matched = True
                break
    if folder_pattern and (node is None or when is None):
        pat = compile_pattern(folder_pattern)
        m = _folder_match(pat, _relative_folders(p.parent, root))
        if m:
            node = node or m.groupdict().get("node")
            if when is None and m.groupdict().get("time") is not None:
                when = _strptime(m.group("time"), pat.time_format)
    return node, when, matched


def _relative_folders(folder: str | Path, root: str | Path | None) -> str:
    """``folder`` relative to ``root`` ("/"-separated; "" for ``root`` itself), as
    :func:`parse_name` matches ``folder_pattern`` against it (``folder`` itself when it is not
    below ``root``)."""
    folders = Path(folder)
    if root is not None:
        try:
            folders = folders.relative_to(root)
        except ValueError:
            pass
    text = folders.as_posix()
    return "" if text == "." else text


def _folder_match(pat: _Pattern, folders: str) -> re.Match | None:
    """Where ``folder_pattern`` matches in a relative folder path: whole folder names only (the
    match starts and ends at a "/" or an end), the leftmost match; a file directly in the
    folder given has no folder name to read (never node ".")."""
    if not folders:
        return None
    return re.search(rf"(?:^|/){pat.regex.pattern}(?:/|$)", folders)


def folder_fields(folder_pattern: str | None, folder: str | Path,
                  root: str | Path | None = None) -> list[frozenset[str]]:
    """Which fields of ``folder_pattern`` (``"node"``, ``"time"``) sit at each level of
    ``folder`` (a folder path, relative to ``root``: the folder or prefix given to ingest),
    aligned exactly as :func:`parse_name` matches the pattern against the folders of a file
    in ``folder``; an empty set for a level the pattern does not read (or does not reach),
    and for every level when it does not match.

    Examples
    --------
    >>> folder_fields("{node}/{time:%Y-%m-%d}", "bucket/site/port/n1/2024-05-01", "bucket/site")
    [frozenset(), frozenset({'node'}), frozenset({'time'})]
    >>> folder_fields("{time:%Y/%m}", "arch/n1/2024/05", "arch")
    [frozenset(), frozenset({'time'}), frozenset({'time'})]
    >>> folder_fields(None, "arch/001/2024-05-01", "arch")
    [frozenset(), frozenset()]
    """
    rel, m, _ = _match_folders(folder_pattern, folder, root)
    parts = rel.split("/") if rel else []
    spans = [] if m is None else [(name, m.span(name)) for name in ("node", "time")
                                  if name in m.re.groupindex and m.group(name)]
    out, start = [], 0
    for part in parts:
        end = start + len(part)
        out.append(frozenset(name for name, (a, b) in spans if a < end and b > start))
        start = end + 1
    return out


def folder_time(folder_pattern: str | None, folder: str | Path,
                 root: str | Path | None = None) -> datetime | None:
    """The time ``folder_pattern`` reads from the folders of ``folder`` (relative to
    ``root``, matched as :func:`parse_name` matches them); None when it reads none, or text
    that is no date ("2024-13-45").

    Examples
    --------
    >>> folder_time("{node}/{time:%Y-%m-%d}", "arch/n1/2024-05-01", "arch")
    datetime.datetime(2024, 5, 1, 0, 0)
    >>> folder_time("{node}/{time:%Y-%m-%d}", "arch/n1/2024-13-45", "arch") is None
    True
    """
    _, m, pat = _match_folders(folder_pattern, folder, root)
    if m is None or "time" not in m.re.groupindex or not m.group("time"):
        return None
    return _parse_time(m.group("time"), pat.time_format)


def _match_folders(folder_pattern: str | None, folder: str | Path, root: str | Path | None):
    """(``folder`` relative to ``root``, ``folder_pattern``'s match in it or None, the
    compiled pattern or None), as :func:`parse_name` matches folders."""
    rel = _relative_folders(folder, root)
    if not folder_pattern or not rel:
        return rel, None, None
    pat = compile_pattern(folder_pattern)
    return rel, _folder_match(pat, rel), pat


def _parse_time(text: str, fmt: str | None) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except (TypeError, ValueError):
        return None


def _strptime(text: str, fmt: str | None) -> str | None:
    when = _parse_time(text, fmt)
    return None if when is None else when.isoformat()
