"""What the browser needs to show one clip (WAV bytes and a spectrogram image), made ahead.

A clip's payload (:class:`ClipPayload`) takes tens of milliseconds to make (read, resample,
spectrogram), longer on a busy core: too long to make after the expert's key press. The
session's background planner therefore makes the payload of the next clip of every likely
answer as soon as that answer's plan is ready, into :data:`PAYLOADS`, and a view asking for
the clip it shows next finds it there (:meth:`PayloadCache.get`).

A payload is made with the parameters a view asked for (the context around the clip, the
spectrogram's size): the planner prepares the next clips with the parameters last asked for
the clip on screen (or the one before it), so only sessions someone looks at decode audio
ahead, and with what their view shows.

Sizes: the spectrogram has at most :data:`DISPLAY_FRAMES` columns (the labeler's plot is
700 px wide) of 128 mel bands as uint8; the audio is 16-bit PCM WAV at the file's rate (at
most 32 kHz), which every browser decodes at once.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ..audio import is_url, object_version, open_audio, read_mono, resample

__all__ = ["DISPLAY_FRAMES", "PAYLOADS", "ClipPayload", "PayloadCache", "PayloadParams",
           "make_payload"]

#: Columns of a spectrogram image: the width of the labeler's plot, in pixels.
DISPLAY_FRAMES = 720


@dataclass(frozen=True)
class ClipPayload:
    """Audio and spectrogram of a clip with context, ready for a widget's traits."""

    wav: bytes  # 16-bit PCM WAV of the whole window (context included)
    sample_rate: int
    spec: bytes  # uint8 image, rows = mel bands (low first), columns = frames
    spec_shape: tuple[int, int]
    db_max: float
    db_span: float
    fmin: float
    fmax: float
    window_s: float  # length of the window
    clip_offset_s: float  # where the clip starts in the window
    clip_duration_s: float

    @property
    def nbytes(self) -> int:
        """Bytes sent to the browser (audio + image)."""
        return len(self.wav) + len(self.spec)


@dataclass(frozen=True)
class PayloadParams:
    """How a payload is made (what a view asks for).

    Attributes
    ----------
    context_s : float
        Audio shown and playable before and after the clip.
    max_rate : int
        Audio above this rate is resampled down to it.
    n_mels : int
        Mel bands of the image (64 at rates below 16 kHz: no empty bands).
    db_span : float
        The image's 0..255 covers ``[db_max - db_span, db_max]``.
    max_frames : int
        At most this many image columns.
    """

    context_s: float = 1.0
    max_rate: int = 32000
    n_mels: int = 128
    db_span: float = 80.0
    max_frames: int = DISPLAY_FRAMES

    def __post_init__(self):
        if not self.context_s >= 0:
            raise ValueError(f"context_s={self.context_s!r} must be >= 0")
        for key in ("max_rate", "n_mels", "max_frames"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}={getattr(self, key)!r} must be > 0")
        if not self.db_span > 0:
            raise ValueError(f"db_span={self.db_span!r} must be > 0")


def make_payload(path: str, start_s: float, duration_s: float,
                 params: PayloadParams = PayloadParams()) -> ClipPayload:
    """Read ``[start - context, start + duration + context]`` (clipped to the file) and make
    its payload: mono audio at the file's rate (down to ``max_rate``), and its log-mel
    spectrogram in dB, quantised to 0..255 over ``[db_max - db_span, db_max]``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).normal(size=48000) * 0.1, 16000)
    >>> p = make_payload(path, 1.0, 1.0)
    >>> p.sample_rate, p.clip_offset_s, p.window_s, p.spec_shape
    (16000, 1.0, 3.0, (128, 717))
    """
    with open_audio(path) as f:  # by the bytes of the path: names that are not UTF-8 open too
        native, total = f.samplerate, f.frames
        a = max(0.0, start_s - params.context_s)
        b = min(total / native, start_s + duration_s + params.context_s)
        y = read_mono(f, int(round(a * native)), max(0, int(round((b - a) * native))))
    sr = min(native, params.max_rate)
    if sr != native:
        y = resample(y, native, sr)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    hop = max(32, int(np.ceil(len(y) / max(1, params.max_frames - 1))))  # centred: n/hop + 1
    n_fft = max(2048, 2 * hop)
    fmin, fmax = 50.0, sr / 2
    n_mels = min(params.n_mels, 64) if sr < 16000 else params.n_mels  # no empty mel bands
    D = 10 * np.log10(np.maximum(_mel_power(y, sr, n_fft, hop, n_mels, fmin, fmax), 1e-12))
    db_max = float(D.max()) if D.size else 0.0
    span = params.db_span
    img = np.clip((D - (db_max - span)) / span * 255, 0, 255).astype(np.uint8)
    return ClipPayload(buf.getvalue(), sr, img.tobytes(), img.shape, db_max, span, fmin, fmax,
                       len(y) / sr, start_s - a, duration_s)


def _mel_power(y: np.ndarray, sr: int, n_fft: int, hop: int, n_mels: int, fmin: float,
               fmax: float) -> np.ndarray:
    """Mel power spectrogram (n_mels, frames) of ``y``: the values of
    ``librosa.feature.melspectrogram`` (centred Hann frames, zero padding), with scipy's FFT
    (no compilation at the first clip)."""
    from scipy.fft import rfft

    y = np.pad(np.asarray(y, np.float32), n_fft // 2)
    n = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(y, shape=(n, n_fft),
                                             strides=(y.strides[0] * hop, y.strides[0]))
    spec = rfft(frames * _hann(n_fft), axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return _mel_basis(sr, n_fft, n_mels, fmin, fmax) @ power.T


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                               fmax=fmax).astype(np.float32)


class _Making:
    """A payload being made by one thread, waited for by the others."""

    def __init__(self):
        self.done = threading.Event()
        self.result: ClipPayload | None = None


class PayloadCache:
    """Payloads made once and kept (the last ``max_items``), made ahead by the planner.

    Thread-safe: a payload asked for while another thread makes it is waited for, not made
    twice. A payload is keyed by its file (path, size, modification time), the clip's place
    and the :class:`PayloadParams`, so a file written anew is read anew.

    Parameters
    ----------
    max_items : int, default 32
        Payloads kept (about 0.2 MB each for 3 s at 16 kHz).

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(16000 * 10), 16000)
    >>> cache = PayloadCache()
    >>> shown = cache.get(path, 4.0, 1.0, context_s=0.5)  # what a view shows now
    >>> cache.prepare(path, 6.0, 1.0, like=[(path, 4.0, 1.0)])  # the next clip, ahead
    True
    >>> cache.get(path, 6.0, 1.0, context_s=0.5).window_s, cache.hits
    (2.0, 1)
    """

    def __init__(self, max_items: int = 32):
        if max_items < 1:
            raise ValueError(f"max_items={max_items!r} must be >= 1")
        self.max_items = max_items
        self.hits = 0  # asked for and found made (or being made)
        self.misses = 0  # asked for and made while the caller waited
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, ClipPayload | _Making] = OrderedDict()
        self._asked: OrderedDict[tuple, PayloadParams] = OrderedDict()  # clip -> params
        self._versions: dict[str, tuple[float, tuple]] = {}  # object URL -> (when, version)

    #: Seconds an object's size and ETag, asked of the server, are taken as current: an
    #: object rewritten in place is played anew at most this long after.
    version_ttl_s = 10.0

    def _object_version(self, url: str) -> tuple | None:
        """(size, ETag) of an object, asked of the server at most every ``version_ttl_s``."""
        now = time.monotonic()
        with self._lock:
            hit = self._versions.get(url)
        if hit is not None and now - hit[0] < self.version_ttl_s:
            return hit[1]
        try:
            version = object_version(url)
        except Exception:
            return None
        with self._lock:
            self._versions[url] = (now, version)
            if len(self._versions) > 16 * self.max_items:
                self._versions.pop(next(iter(self._versions)))
        return version

    def get(self, path: str, start_s: float, duration_s: float, **params) -> ClipPayload:
        """The payload of a clip (see :func:`make_payload`; ``params`` are
        :class:`PayloadParams`), from the cache or made now. Errors (a missing file) are
        raised here, never kept."""
        p = PayloadParams(**params)
        clip = _clip(path, start_s, duration_s)
        with self._lock:
            self._asked[clip] = p
            self._asked.move_to_end(clip)
            while len(self._asked) > 4 * self.max_items:
                self._asked.popitem(last=False)
        pay = self._take(clip, p, ahead=False)
        if pay is not None:
            return pay
        return make_payload(*clip, p)  # the thread making it failed: make it here, or raise

    def prepare(self, path: str, start_s: float, duration_s: float, *, like=()) -> bool:
        """Make a clip's payload ahead, with the parameters last asked for the first clip of
        ``like`` (``(path, start_s, duration_s)`` tuples) that was asked for. Never raises:
        returns whether the payload is ready (False: nothing was asked like it, or it failed)."""
        with self._lock:
            asked = [self._asked[c] for c in (_clip(*c) for c in like) if c in self._asked]
        if not asked:
            return False
        try:
            return self._take(_clip(path, start_s, duration_s), asked[0], ahead=True) is not None
        except Exception:  # the view's own request will say what is wrong
            return False

    def clear(self) -> None:
        """Forget every payload and what was asked."""
        with self._lock:
            self._items.clear()
            self._asked.clear()

    def _take(self, clip: tuple, p: PayloadParams, *, ahead: bool) -> ClipPayload | None:
        """The payload of ``clip`` made with ``p``: kept, being made by another thread (waited
        for), or made here (errors raised). None when another thread failed to make it."""
        if is_url(clip[0]):  # an object of object storage (s3://...): its size and ETag
            version = self._object_version(clip[0])
            if version is None:
                return None  # cannot ask the server: the caller's make_payload says why
            key = clip + version + (p,)
        else:
            try:
                st = os.stat(os.fsencode(clip[0]))
            except OSError:
                return None  # no file to read: the caller's make_payload says so
            key = clip + (st.st_size, st.st_mtime_ns, p)
        made_here = None
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += not ahead
                if isinstance(item, ClipPayload):
                    return item
            else:
                made_here = item = self._items[key] = _Making()
        if item is not made_here:  # another thread makes it
            item.done.wait()
            return item.result
        try:
            item.result = make_payload(*clip, p)
        finally:
            with self._lock:
                if item.result is None:  # failed: nothing kept
                    self._items.pop(key, None)
                else:
                    self._items[key] = item.result
                    done = [k for k, v in self._items.items() if isinstance(v, ClipPayload)]
                    for k in done[: max(0, len(done) - self.max_items)]:
                        del self._items[k]
                self.misses += not ahead
            item.done.set()
        return item.result


def _clip(path, start_s, duration_s) -> tuple:
    return (os.fspath(path), float(start_s), float(duration_s))


#: The payloads of this process: views ask it, sessions' planners fill it ahead.
PAYLOADS = PayloadCache()
