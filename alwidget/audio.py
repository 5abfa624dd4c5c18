"""Reading audio for feature extraction and playback: mono float32 at a chosen rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["clip_segments", "load_mono", "printable"]


def printable(path) -> str:
    """A path as text to show (JSON, HTML, a terminal): bytes that are not UTF-8 become U+FFFD.

    The path itself (``os.fsdecode`` of its bytes) is what opens the file; this is only for
    people to read.

    Examples
    --------
    >>> import os
    >>> printable(os.fsdecode(b"/rec/caf\\xe9.wav"))
    '/rec/caf\ufffd.wav'
    """
    import os

    return os.fsencode(os.fspath(path)).decode("utf-8", errors="replace")


def clip_segments(y: np.ndarray, sample_rate: int, starts, durations) -> list[np.ndarray]:
    """The windows ``[start, start + duration)`` (seconds) of ``y`` as float32 arrays.

    Examples
    --------
    >>> [len(s) for s in clip_segments(np.zeros(100), 10, [0.0, 9.5], [1.0, 1.0])]
    [10, 5]
    """
    return [np.asarray(y[int(round(s * sample_rate)):int(round((s + d) * sample_rate))],
                       np.float32) for s, d in zip(starts, durations)]


def load_mono(
    path: str | Path,
    sample_rate: int | None = None,
    *,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read (part of) a file as mono float32, resampled to ``sample_rate``.

    Channels are averaged. Resampling uses soxr (high quality) through librosa.

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
    with sf.SoundFile(str(path)) as f:
        native = f.samplerate
        if start_s:
            f.seek(min(int(round(start_s * native)), f.frames))
        frames = -1 if duration_s is None else int(round(duration_s * native))
        y = f.read(frames, dtype="float32", always_2d=True)
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if sample_rate is None or sample_rate == native:
        return np.ascontiguousarray(y, dtype=np.float32), native
    import librosa

    y = librosa.resample(y, orig_sr=native, target_sr=sample_rate, res_type="soxr_hq")
    return y.astype(np.float32, copy=False), sample_rate
