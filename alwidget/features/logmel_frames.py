"""``logmel-frames``: each clip's log-mel spectrogram itself, on a fixed grid, for deep learners.

The CRNN (:class:`alwidget.learn.CRNN`) learns spectro-temporal patterns from the
spectrogram rather than from statistics of it. To keep the one loop core (which works on a
feature matrix), the spectrogram of each clip is stored as a feature vector: the log-mel
spectrogram of :class:`~alwidget.features.LogMel` (the same analysis as the ``logmel``
statistics: 16 kHz, 32-ms Hann windows, 16-ms hop, mel bands from 50 Hz to 8 kHz, in dB),
brought to ``n_frames`` frames (default 64 bands x 48 frames) and flattened band by band:
vector = ``S.T.ravel()`` for ``S`` of shape (n_frames, n_mels), i.e. ``vector.reshape(n_mels, n_frames)`` is the
spectrogram image (bands as rows, low first). Cached per clip in the store like any
feature set, so each clip's spectrogram is computed once.

A clip with more than ``n_frames`` frames is averaged over ``n_frames`` equal spans of
its frames (in power, then back to dB: a short loud event keeps its energy); a shorter
clip is padded on the right with its own quietest value (silence as the clip knows it).
The labeler's display is drawn from the same kind of spectrogram with more bands (128) and
up to half the file's rate; the model sees at most 8 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .logmel import LogMel

__all__ = ["LogMelFrames"]


@dataclass(frozen=True)
class LogMelFrames:
    """Per-clip log-mel spectrogram patches (see the module docstring).

    Parameters
    ----------
    n_frames : int, default 48
        Frames per clip after pooling or padding (48 frames = 0.77 s at the 16-ms hop; a
        1-s clip's 61 frames and a 5-s clip's 311 frames are pooled into 48).
    n_mels : int, default 64
        Mel bands. 64 x 48 is the CRNN's default input: measured on ESC-10 (README, "Deep
        learners") it trains in about half the time of 64 x 96 for the same F1 (32 bands
        lost 0.07 of F1); 12 KB per clip as float32 (1.2 GB per 100,000 clips in memory).
    sample_rate, n_fft, hop_length, fmin, fmax
        As :class:`~alwidget.features.LogMel`.

    Examples
    --------
    >>> import numpy as np
    >>> ex = LogMelFrames(n_mels=32, n_frames=20)
    >>> y = np.random.default_rng(0).standard_normal(32000).astype("float32")
    >>> V = ex.extract(y, 16000, np.array([0.0, 1.5]), np.array([1.0, 0.1]))
    >>> V.shape, ex.dim, ex.shape
    ((2, 640), 640, (32, 20))
    >>> V[0].reshape(ex.shape).shape  # bands x frames
    (32, 20)
    """

    n_frames: int = 48
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 512
    hop_length: int = 256
    fmin: float = 50.0
    fmax: float = 8000.0
    name: str = field(default="logmel-frames", init=False)

    def __post_init__(self):
        if int(self.n_frames) != self.n_frames or self.n_frames < 1:
            raise ValueError(f"n_frames={self.n_frames!r} must be a positive integer")
        self._analysis  # the LogMel checks the rest

    @property
    def _analysis(self) -> LogMel:
        return LogMel(stats=("mean",), sample_rate=self.sample_rate, n_mels=self.n_mels,
                      n_fft=self.n_fft, hop_length=self.hop_length, fmin=self.fmin,
                      fmax=self.fmax)

    @property
    def dim(self) -> int:
        """Length of one vector: ``n_mels * n_frames``."""
        return self.n_mels * self.n_frames

    @property
    def shape(self) -> tuple[int, int]:
        """(n_mels, n_frames): how a vector reshapes into the spectrogram image."""
        return (self.n_mels, self.n_frames)

    @property
    def frame_hop(self) -> int:
        """Samples between frame starts (long files are read on this grid)."""
        return self.hop_length

    def config(self) -> dict:
        """Everything that changes the output; hashed to key the cache."""
        return {"version": 1, "n_frames": self.n_frames, "sample_rate": self.sample_rate,
                "n_mels": self.n_mels, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "fmin": self.fmin, "fmax": self.fmax}

    def extract(self, y: np.ndarray, sample_rate: int, starts: np.ndarray,
                durations: np.ndarray, *, offset_s: float = 0.0) -> np.ndarray:
        """Flattened spectrogram patches of the windows ``[start, start + duration)``.

        ``y``, ``sample_rate`` and ``offset_s`` as in :meth:`LogMel.extract
        <alwidget.features.LogMel.extract>`.
        """
        if sample_rate != self.sample_rate:
            raise ValueError(f"sample_rate={sample_rate!r}: logmel-frames expects audio at "
                             f"{self.sample_rate} Hz")
        first, rest = divmod(int(round(offset_s * self.sample_rate)), self.hop_length)
        if rest:
            raise ValueError(f"offset_s={offset_s!r} is not on the frame grid: offset_s * "
                             f"{self.sample_rate} must be a multiple of "
                             f"hop_length={self.hop_length}")
        S = self._analysis.logmel(y)
        n = len(S)
        hop_s = self.hop_length / self.sample_rate
        out = np.empty((len(starts), self.dim), np.float32)
        for i, (start, dur) in enumerate(zip(starts, durations)):
            a = min(int(round(start / hop_s)) - first, n - 1)
            b = int(round((start + dur - self.n_fft / self.sample_rate) / hop_s)) + 1 - first
            b = min(max(b, a + 1), n)
            out[i] = self._patch(S[a:b]).T.ravel()
        return out

    def _patch(self, S: np.ndarray) -> np.ndarray:
        """(n_frames, n_mels) from a clip's (frames, n_mels) spectrogram in dB."""
        m = len(S)
        if m == self.n_frames:
            return S
        if m < self.n_frames:
            pad = np.full((self.n_frames - m, self.n_mels), S.min(), np.float32)
            return np.concatenate([S, pad])
        edges = np.linspace(0, m, self.n_frames + 1).round().astype(np.int64)
        power = 10.0 ** (S.astype(np.float64) / 10.0)
        sums = np.add.reduceat(power, edges[:-1], axis=0)
        mean = sums / np.diff(edges)[:, None]
        return (10.0 * np.log10(np.maximum(mean, 1e-10))).astype(np.float32)
