"""Ingest folders of recordings into the store as fixed-length clips.

``ingest`` walks folders (recursively, following links, never looping), reads
every audio file completely once to validate it, and stores one ``audios`` row
plus its ``clips`` per good file in a single transaction. A file that cannot be
used is recorded in ``ingest_errors`` with the reason, and the run goes on.

Clip rule
---------
Clips are windows ``[start, start + clip_seconds)`` starting every
``hop_seconds`` (default: ``clip_seconds``, no overlap). After the last full
window, the remaining audio becomes one shorter clip, stored with its real
duration, when it holds at least ``min_last_seconds`` (default: half a clip);
otherwise it is dropped. A file shorter than one clip always gives one clip
covering the whole file. Feature extractors zero-pad short clips.

Given windows
-------------
``ingest(..., windows={path: [(start_s, duration_s), ...]})`` makes exactly those
windows the clips of those files, instead of the clip rule (e.g. one clip per row of a
labeled manifest). Every window is checked against its file before anything is
stored: a window that starts before 0, has no positive length or ends after the file
raises :class:`WindowError` and nothing is stored.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from .store import NewAudio, Store

__all__ = ["AUDIO_EXTENSIONS", "IngestSummary", "WindowError", "clip_windows", "ingest",
           "parse_name"]

#: File endings that ingest reads (what libsndfile decodes); others are ignored.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
     ".aifc", ".au", ".w64", ".rf64", ".caf"}
)

_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32,
         "FLOAT": 32, "DOUBLE": 64, "ALAW": 8, "ULAW": 8}
_BLOCK_FRAMES = 1 << 18
#: How far a given window may end after its file (rounded durations in a manifest).
WINDOW_TOLERANCE_S = 1e-3


class BadAudio(Exception):
    """One file that cannot be ingested; the message is the stored reason."""


class WindowError(ValueError):
    """A given clip window that cannot be a clip of its file; nothing was stored.

    Attributes
    ----------
    path : str
        The file (absolute).
    start_s, duration_s : object
        The window as given.
    reason : str
        What is wrong with it and what to do, without the path.
    """

    def __init__(self, path: str, start_s, duration_s, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.start_s, self.duration_s, self.reason = path, start_s, duration_s, reason


@dataclass
class IngestSummary:
    """What one ingest run did. ``str(summary)`` is the end-of-run report."""

    files: int = 0
    added: int = 0
    unchanged: int = 0
    clips: int = 0
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    unmatched_names: int = 0

    @property
    def hours(self) -> float:
        """Hours of audio added by this run."""
        return self.seconds / 3600

    def __str__(self) -> str:
        lines = [
            f"{self.files} audio files: {self.added} added ({self.clips} clips, "
            f"{self.hours:.2f} h), {self.unchanged} already stored, "
            f"{len(self.changed)} changed, {len(self.errors)} errors"
        ]
        if self.unmatched_names:
            lines.append(
                f"{self.unmatched_names} file names did not match the name pattern: "
                "node/time taken from folders or left empty"
            )
        for path in self.changed:
            lines.append(
                f"changed: {path}: content differs from the stored file; kept the stored "
                "version (ingest the new content under another name to add it)"
            )
        for path, reason in self.errors:
            lines.append(f"error: {path}: {reason}")
        return "\n".join(lines)


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
    if not clip_seconds > 0:
        raise ValueError(f"clip_seconds={clip_seconds!r} must be > 0")
    hop = clip_seconds if hop_seconds is None else hop_seconds
    if not hop > 0:
        raise ValueError(f"hop_seconds={hop_seconds!r} must be > 0")
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


def _compile_pattern(pattern: str) -> _Pattern:
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
        pat = _compile_pattern(name_pattern)
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
        folders = p.parent
        if root is not None:
            try:
                folders = p.parent.relative_to(root)
            except ValueError:
                pass
        pat = _compile_pattern(folder_pattern)
        # whole folder names only: the match starts and ends at a "/" or an end
        m = re.search(rf"(?:^|/){pat.regex.pattern}(?:/|$)", folders.as_posix())
        if m:
            node = node or m.groupdict().get("node")
            if when is None and m.groupdict().get("time") is not None:
                when = _strptime(m.group("time"), pat.time_format)
    return node, when, matched


def _strptime(text: str, fmt: str | None) -> str | None:
    try:
        return datetime.strptime(text, fmt).isoformat()
    except (TypeError, ValueError):
        return None


# -- finding files ------------------------------------------------------------
def _display(path: str) -> str:
    """A path as valid UTF-8 text: undecodable bytes shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(root: str, errors: list[tuple[str, str]]) -> Iterator[str]:
    """Audio files below ``root``, sorted, following links but never looping."""
    seen: set[tuple[int, int]] = set()

    def visit(folder: str, ancestors: tuple[tuple[int, int], ...]) -> Iterator[str]:
        try:
            st = os.stat(folder)
        except OSError as exc:
            errors.append((_display(folder), f"cannot open folder: {exc.strerror}"))
            return
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            errors.append((_display(folder), "directory loop: this link leads back to a "
                           "folder above it; not followed"))
            return
        if ident in seen:  # the same folder reached by another link: scanned already
            return
        seen.add(ident)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            errors.append((_display(folder), f"cannot list folder: {exc.strerror}; "
                           "check its permissions"))
            return
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from visit(entry.path, ancestors + (ident,))
            elif Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS:
                yield entry.path

    yield from visit(root, ())


def _find_files(
    paths: Iterable[str | Path], errors: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(file, root) pairs for every audio file named or found below the given paths."""
    found: list[tuple[str, str]] = []
    for p in paths:
        p = os.path.abspath(os.fspath(p))
        if os.path.isdir(p):
            found += [(f, p) for f in _walk(p, errors)]
        elif os.path.lexists(p):
            found.append((p, os.path.dirname(p)))
        else:
            errors.append((_display(p), "no such file or folder"))
    unique = dict.fromkeys(found)  # keep order, drop repeats
    return list(unique)


# -- reading one file ---------------------------------------------------------
def _wav_data_shortfall(data: bytes) -> int:
    """Bytes missing from a RIFF/WAVE data chunk (0 when complete or not WAV)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return 0
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        size = struct.unpack(fmt, data[pos + 4 : pos + 8])[0]
        if data[pos : pos + 4] == b"data":
            if size == 0xFFFFFFFF:  # streamed WAV: size unknown
                return 0
            return max(0, size - (len(data) - pos - 8))
        pos += 8 + size + (size & 1)
    return 0


def _inspect(path: str, max_channels: int) -> tuple[dict, bytes]:
    """Validate one file completely; return its properties or raise BadAudio."""
    if not _is_utf8(path):
        raise BadAudio("file name is not valid UTF-8; rename the file (or its folder)")
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            data = fh.read()
    except PermissionError:
        raise BadAudio("permission denied: cannot read the file; check its permissions") from None
    except OSError as exc:
        raise BadAudio(f"cannot read the file: {exc.strerror}") from None
    if size == 0 or not data:
        raise BadAudio("empty file (0 bytes)")
    try:
        snd = sf.SoundFile(io.BytesIO(data))
    except Exception as exc:  # libsndfile raises several types for unreadable data
        raise BadAudio(f"not a readable audio file: {_sf_message(exc)}") from None
    with snd:
        if snd.channels <= 0:
            raise BadAudio("the file declares 0 channels")
        if snd.channels > max_channels:
            raise BadAudio(
                f"{snd.channels} channels is more than max_channels={max_channels}; "
                "pass a larger max_channels to accept it (clips are mixed to mono)"
            )
        if snd.samplerate <= 0:
            raise BadAudio(f"sample rate {snd.samplerate} is not positive")
        if snd.frames <= 0:
            raise BadAudio("zero-length audio: the file holds no samples")
        missing = _wav_data_shortfall(data)
        if missing:
            raise BadAudio(f"truncated: {missing} bytes of audio data are missing")
        decoded = 0
        try:
            for block in snd.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    raise BadAudio("contains NaN or infinite samples")
                decoded += len(block)
        except BadAudio:
            raise
        except Exception as exc:
            raise BadAudio(f"truncated or corrupt: decoding failed ({_sf_message(exc)})") from None
        exact = snd.format in ("WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF", "AU")
        if decoded == 0:
            raise BadAudio("zero-length audio: the file holds no samples")
        if exact and decoded < snd.frames:
            raise BadAudio(f"truncated: header says {snd.frames} frames, decoded {decoded}")
        props = dict(
            sample_rate=int(snd.samplerate),
            bits_per_sample=_BITS.get(snd.subtype),
            frames=int(decoded),
            channels=int(snd.channels),
            format=snd.format,
            subtype=snd.subtype,
            size_bytes=int(size),
        )
    return props, data


def _sf_message(exc: Exception) -> str:
    msg = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return re.sub(r"^Error opening <[^>]*>: ", "", msg).strip()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _examine(path: str, max_channels: int) -> tuple[str, dict | None, str | None]:
    """(content hash, properties or None, error reason or None) of one file."""
    try:
        props, data = _inspect(path, max_channels)
    except BadAudio as exc:
        return "", None, str(exc)
    return _hash(data), props, None


# -- given windows ------------------------------------------------------------
def _window_key(start_s: float, duration_s: float) -> tuple[float, float]:
    """How a window is stored and compared: seconds rounded to the microsecond."""
    return round(float(start_s), 6), round(float(duration_s), 6)


def _checked_windows(windows: Mapping) -> dict[str, list[tuple[float, float]]]:
    """Windows by absolute path, each checked for numbers, sorted, without repeats."""
    out: dict[str, list[tuple[float, float]]] = {}
    for path, wins in windows.items():
        path = os.path.abspath(os.fspath(path))
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
            keys.add(_window_key(start, duration))
        if not keys:
            raise WindowError(path, None, None, "no windows given; give at least one "
                              "(start_s, duration_s), or leave the file out of windows=")
        out[path] = sorted(keys)
    return out


def _check_against_files(store: Store, wanted: dict[str, list[tuple[float, float]]],
                         examined: dict[str, tuple[str, dict | None, str | None]]) -> None:
    """Raise WindowError for a window outside its file (as stored, or as read now)."""
    for path, wins in wanted.items():
        if path not in examined or examined[path][1] is None:
            continue  # missing or unreadable: reported as an ingest error, as for any file
        stored = store.find_audio(path)
        props = examined[path][1]
        length = stored.duration_s if stored is not None else props["frames"] / props["sample_rate"]
        for start, duration in wins:
            if start + duration > length + WINDOW_TOLERANCE_S:
                raise WindowError(
                    path, start, duration,
                    f"the window start_s={start:g}, duration_s={duration:g} ends at "
                    f"{start + duration:g} s, after the end of the file ({length:g} s); "
                    "nothing was stored")


def _counted(results: Iterable, bar) -> Iterator:
    for r in results:
        bar.update()
        yield r


# -- the run ----------------------------------------------------------------
def ingest(
    paths: str | Path | Iterable[str | Path],
    db: Store | str | Path,
    *,
    clip_seconds: float | None = 1.0,
    hop_seconds: float | None = None,
    min_last_seconds: float | None = None,
    name_pattern: str | None = None,
    folder_pattern: str | None = None,
    project: str | None = None,
    max_channels: int = 32,
    n_jobs: int = 2,
    progress: bool = True,
    verbose: bool = True,
    windows: Mapping[str | os.PathLike, Iterable[tuple[float, float]]] | None = None,
) -> IngestSummary:
    """Ingest audio files or folders (recursively) into a store as clips.

    Re-ingesting the same files adds nothing; a file whose content changed
    since it was stored is reported and left as stored. A file that cannot
    be used never stops the run: it is recorded in the store's
    ``ingest_errors`` and in the summary, with the reason.

    Parameters
    ----------
    paths : path or list of paths
        Audio files and/or folders (searched recursively; links are followed
        but never in a loop). Files with other endings than
        :data:`AUDIO_EXTENSIONS` are ignored.
    db : Store or path
        The store, or the path of its database file (created if absent).
    clip_seconds : float or None, default 1.0
        Length of a clip; None makes one clip of each whole file.
    hop_seconds : float, optional
        Step between clip starts; defaults to ``clip_seconds``.
    min_last_seconds : float, optional
        Shortest final partial clip kept; defaults to ``clip_seconds / 2``.
        See the module docstring for the whole clip rule.
    name_pattern, folder_pattern : str, optional
        How to read node and recording time from names; see :func:`parse_name`.
    project : str, optional
        Project the folders belong to.
    max_channels : int, default 32
        Files with more channels are rejected as errors.
    n_jobs : int, default 2
        Files read and validated in parallel (threads).
    progress : bool, default True
        Show a progress bar (tqdm; works in notebooks and terminals).
    verbose : bool, default True
        Print the summary at the end.
    windows : mapping of path to list of (start_s, duration_s), optional
        For these files (which must be among ``paths``), exactly these windows are the
        clips, instead of the clip rule; a file stored already gets those it lacks.
        A bad window raises :class:`WindowError` and nothing is stored (see the module
        docstring).

    Returns
    -------
    IngestSummary

    Raises
    ------
    WindowError
        A given window starts before 0, has no positive length, or ends after its file.

    Examples
    --------
    >>> import alwidget
    >>> summary = alwidget.ingest("recordings/", "project.db", clip_seconds=1.0,
    ...                           name_pattern="{node}_{time:%Y%m%d_%H%M%S}")  # doctest: +SKIP
    400 audio files: 400 added (2000 clips, 0.56 h), 0 already stored, 0 changed, 0 errors

    Two clips of one file, whatever its length:

    >>> summary = alwidget.ingest(["calls/a.wav"], "project.db",
    ...                           windows={"calls/a.wav": [(0.0, 1.64), (3.2, 0.5)]})  # doctest: +SKIP
    """
    clip_windows(1.0, clip_seconds, hop_seconds, min_last_seconds)  # validates arguments
    if max_channels < 1:
        raise ValueError(f"max_channels={max_channels!r} must be >= 1")
    if name_pattern:
        _compile_pattern(name_pattern)
    if folder_pattern:
        _compile_pattern(folder_pattern)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    wanted = _checked_windows(windows or {})
    store = db if isinstance(db, Store) else Store(db)
    summary = IngestSummary()
    walk_errors: list[tuple[str, str]] = []
    files = _find_files(paths, walk_errors)
    named = {f for f, _ in files} | {os.path.abspath(os.fspath(p)) for p in paths}
    stray = [p for p in wanted if p not in named]
    if stray:
        raise ValueError(f"windows= names {len(stray)} files that are not among paths, e.g. "
                         f"{stray[0]!r}; add them to paths")
    summary.files = len(files)

    def work(item):
        return _examine(item[0], max_channels)

    bar = tqdm(total=len(files), desc="ingest", unit="file", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        results = _counted(pool.map(work, files), bar)
        if wanted:  # every file read before anything is stored: a bad window stores nothing
            results = list(results)
            examined = {f: r for (f, _), r in zip(files, results) if f in wanted}
            try:
                _check_against_files(store, wanted, examined)
            except WindowError:
                bar.close()
                raise
        for path, reason in walk_errors:
            store.add_ingest_error(path, reason)
            summary.errors.append((path, reason))
        for (path, root), (digest, props, error) in zip(files, results):
            shown = _display(path)
            if error is not None:
                store.add_ingest_error(shown, error)
                summary.errors.append((shown, error))
                continue
            stored = store.find_audio(path)
            if stored is not None:
                if stored.content_hash == digest:
                    summary.unchanged += 1
                    if path in wanted:  # windows it was not stored with become new clips
                        summary.clips += len(store.add_clips(stored.id, wanted[path]))
                else:
                    reason = "content changed since it was ingested; the stored version is kept"
                    store.add_ingest_error(shown, reason)
                    summary.changed.append(shown)
                continue
            node, when, matched = parse_name(path, name_pattern, folder_pattern, root)
            summary.unmatched_names += int(bool(name_pattern) and not matched)
            audio = NewAudio(
                folder=os.path.dirname(path),
                file_name=os.path.basename(path),
                content_hash=digest,
                node=node,
                recorded_at=when,
                **props,
            )
            clips = wanted.get(path) or clip_windows(audio.duration_s, clip_seconds,
                                                     hop_seconds, min_last_seconds)
            with store.transaction():
                store.add_audio(audio, clips, project=project)
                store.clear_ingest_errors(shown)
            summary.added += 1
            summary.clips += len(clips)
            summary.seconds += audio.duration_s
    bar.close()
    if verbose:
        print(summary)
    return summary
