"""Reading audio for feature extraction and playback: mono float32 at a chosen rate.

Files are opened by the bytes of their path (:func:`open_audio`), so a name that is not
valid UTF-8 (``os.fsdecode`` of its bytes, as ``os.listdir`` and the store give it) opens
too. Audio is read and mixed to mono :data:`READ_FRAMES` frames at a time, so a file with
many channels never sits in memory with all its channels; what stays is the mono part asked
for (:func:`read_mono`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["READ_FRAMES", "clip_segments", "info", "is_url", "load_mono", "object_version",
           "open_audio", "printable", "read_mono", "resample"]

#: Frames decoded at a time before they are mixed to mono.
READ_FRAMES = 1 << 16


def printable(path) -> str:
    """A path as text to show (JSON, HTML, a terminal): bytes that are not UTF-8 become
    ``\\xNN`` escapes, so two names that differ in such bytes are shown differently.

    The path itself (``os.fsdecode`` of its bytes) is what opens the file; this is only for
    people to read.

    Examples
    --------
    >>> import os
    >>> printable(os.fsdecode(b"/rec/caf\\xe9.wav"))
    '/rec/caf\\\\xe9.wav'
    """
    return os.fsencode(os.fspath(path)).decode("utf-8", errors="backslashreplace")


def open_audio(path: str | os.PathLike) -> sf.SoundFile:
    """Open an audio file for reading (libsndfile), by the bytes of its path.

    Use it as a context manager. Unlike ``soundfile.SoundFile(path)``, it opens a file whose
    name is not valid UTF-8, given as ``os.fsdecode`` of its bytes.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.fsdecode(os.fsencode(tempfile.mkdtemp()) + b"/caf\\xe9.wav")
    >>> sf.write(os.fsencode(path), np.zeros(800), 8000)
    >>> with open_audio(path) as f:
    ...     f.samplerate, f.frames
    (8000, 800)
    """
    path = os.fspath(path)
    if is_url(path):
        return _RemoteSoundFile(path)
    return sf.SoundFile(os.fsencode(path))


def is_url(path) -> bool:
    """``s3://bucket/key`` and other fsspec URLs (objects ingested from object storage)."""
    head, sep, _ = path.partition("://") if isinstance(path, str) else ("", "", "")
    return bool(sep) and head.isascii() and head[:1].isalpha() and \
        all(c.isalnum() or c in "+.-" for c in head)


def object_version(url: str) -> tuple:
    """``(size, version)`` of an object of object storage as the server has it now (its
    ETag, else its modification time): what tells a payload made from it is still good.
    Raises ``OSError`` when it cannot be read."""
    import fsspec

    fs, key = fsspec.core.url_to_fs(url)
    try:
        meta = fs.info(key)
    except FileNotFoundError:  # perhaps added since this process listed its prefix
        fs.invalidate_cache()
        meta = fs.info(key)
    version = meta.get("ETag") or meta.get("etag") or meta.get("LastModified") or \
        meta.get("mtime") or meta.get("created")
    return int(meta.get("size") or 0), str(version)


class _RemoteSoundFile(sf.SoundFile):
    """An object of object storage read through fsspec as a stream (block by block; the
    endpoint and credentials come from the environment or a profile), closed with it."""

    def __init__(self, url: str):
        if "@" in url.split("://", 1)[1].split("/", 1)[0]:  # as store.check_no_credentials
            raise ValueError(f"{url.split('://', 1)[0]}://...@{url.split('@', 1)[1]}: "
                             "credentials in a URL are refused; give them in the environment "
                             "or a profile (AWS_PROFILE)")
        try:
            import fsspec
        except ImportError:
            raise ImportError(f"{url}: reading object storage needs fsspec and s3fs: "
                              'pip install "alwidget[s3]"') from None
        fs, key = fsspec.core.url_to_fs(url)
        try:
            self._remote = fs.open(key, "rb", block_size=1 << 21, cache_type="readahead")
        except FileNotFoundError:  # perhaps added since this process listed its prefix
            fs.invalidate_cache()
            self._remote = fs.open(key, "rb", block_size=1 << 21, cache_type="readahead")
        try:
            super().__init__(self._remote)
        except BaseException:
            self._remote.close()
            raise

    def close(self):
        try:
            super().close()
        finally:
            remote = self.__dict__.get("_remote")
            if remote is not None:
                remote.close()


def info(path: str | os.PathLike):
    """``soundfile.info`` of a file (rate, channels, frames, duration, format), by its bytes.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.fsdecode(os.fsencode(tempfile.mkdtemp()) + b"/caf\\xe9.wav")
    >>> sf.write(os.fsencode(path), np.zeros(800), 8000)
    >>> info(path).duration
    0.1
    """
    path = os.fspath(path)
    if is_url(path):
        with open_audio(path) as f:
            return _Info(f)
    return sf.info(os.fsencode(path))


class _Info:
    """What ``soundfile.info`` says of an open file (an object of object storage)."""

    def __init__(self, f: sf.SoundFile):
        self.samplerate, self.channels, self.frames = f.samplerate, f.channels, f.frames
        self.format, self.subtype = f.format, f.subtype
        self.duration = f.frames / f.samplerate


def read_mono(f: sf.SoundFile, start: int = 0, frames: int = -1) -> np.ndarray:
    """Frames ``[start, start + frames)`` of an open file, channels averaged, as float32.

    Read :data:`READ_FRAMES` frames at a time, each block mixed to mono before the next is
    read; the values are those of reading the whole part at once and averaging its channels.

    Parameters
    ----------
    f : soundfile.SoundFile
        Open for reading (see :func:`open_audio`).
    start : int, default 0
        First frame (clipped to the file).
    frames : int, default -1
        How many frames; -1 (or any negative number) reads to the end of the file.

    Returns
    -------
    ndarray of float32, shape (n,)
        Shorter than ``frames`` at the end of the file.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, io
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.array([[0.5, -0.5], [0.25, 0.75], [1.0, 0.0]]), 8000, format="WAV",
    ...          subtype="FLOAT")
    >>> _ = buf.seek(0)
    >>> with sf.SoundFile(buf) as f:
    ...     read_mono(f, 1, 5).tolist()
    [0.5, 0.5]
    """
    total = f.frames
    start = min(max(int(start), 0), total)
    n = total - start if frames < 0 else min(int(frames), total - start)
    out = np.empty(n, np.float32)
    if n == 0:
        return out
    f.seek(start)
    buf = np.empty((min(READ_FRAMES, n), f.channels), np.float32)
    done = 0
    while done < n:
        block = f.read(min(READ_FRAMES, n - done), dtype="float32", always_2d=True,
                       out=buf[: min(READ_FRAMES, n - done)])
        if len(block) == 0:
            break
        out[done : done + len(block)] = block.mean(axis=1) if f.channels > 1 else block[:, 0]
        done += len(block)
    return out[:done]


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``y`` (float32, mono) from ``orig_sr`` to ``target_sr``: soxr (high quality) through librosa.

    Returns ``y`` itself when the rates are equal.

    Examples
    --------
    >>> resample(np.zeros(48000, np.float32), 48000, 16000).shape
    (16000,)
    """
    if orig_sr == target_sr:
        return y
    import librosa

    y = librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    return y.astype(np.float32, copy=False)


def clip_segments(y: np.ndarray, sample_rate: int, starts, durations, *,
                  offset_s: float = 0.0) -> list[np.ndarray]:
    """The windows ``[start, start + duration)`` (seconds) of ``y`` as float32 arrays.

    ``y`` begins ``offset_s`` seconds into its file (a stretch of a long file; ``offset_s *
    sample_rate`` a whole number), and ``starts`` count from the file's start: each window
    is then the same samples as cut from the whole file.

    Examples
    --------
    >>> [len(s) for s in clip_segments(np.zeros(100), 10, [0.0, 9.5], [1.0, 1.0])]
    [10, 5]
    >>> y = np.arange(30.0)
    >>> clip_segments(y[10:], 10, [1.5], [0.5], offset_s=1.0)[0].tolist()
    [15.0, 16.0, 17.0, 18.0, 19.0]
    """
    first = int(round(offset_s * sample_rate))
    return [np.asarray(y[int(round(s * sample_rate)) - first:
                         int(round((s + d) * sample_rate)) - first], np.float32)
            for s, d in zip(starts, durations)]


def load_mono(
    path: str | Path,
    sample_rate: int | None = None,
    *,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read (part of) a file as mono float32, resampled to ``sample_rate``.

    Channels are averaged (:func:`read_mono`); resampling uses soxr, high quality
    (:func:`resample`). A name that is not valid UTF-8 opens too (:func:`open_audio`).

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads.
    sample_rate : int, optional
        Output rate; the file's own rate when None.
    start_s, duration_s : float
        The part to read; the whole file by default.

    Returns
    -------
    y : ndarray of float32, shape (n,)
    sample_rate : int

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros((32000, 2)), 32000)
    >>> y, sr = load_mono(path, 16000)
    >>> y.shape, y.dtype, sr
    ((16000,), dtype('float32'), 16000)
    """
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate!r} must be > 0")
    with open_audio(path) as f:
        native = f.samplerate
        start = int(round(start_s * native)) if start_s else 0
        frames = -1 if duration_s is None else int(round(duration_s * native))
        y = read_mono(f, start, frames)
    if sample_rate is None or sample_rate == native:
        return y, native
    return resample(y, native, sample_rate), sample_rate
