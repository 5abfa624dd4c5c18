"""``logmel``: hand-crafted spectro-temporal statistics of a log-mel spectrogram.

No pretrained weights. Audio is mixed to mono and resampled to 16 kHz; a
log-mel spectrogram (64 bands, 50 Hz to 8 kHz, 32-ms Hann windows, 16-ms hop)
is computed once per file (per block of clips for a long file, on the same frame grid:
see :mod:`alwidget.features.base`), a few thousand frames at a time, and each clip is
summarised by statistics over its own frames. The statistics blocks, each of
``n_mels`` values unless noted:

``mean``, ``std``
    Mean and standard deviation over time of each band (dB).
``max``, ``p10``, ``p90``
    Maximum and 10th / 90th percentile over time (short events show in these).
``dmean``, ``dstd``
    Mean absolute value and standard deviation of the first time difference.
``mfcc``
    Mean and standard deviation of 20 MFCCs (40 values).

The default set was chosen by measurement (see README, "Default features").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.fft import dct, rfft

__all__ = ["LogMel", "STATS"]

STATS = ("mean", "std", "max", "p10", "p90", "dmean", "dstd", "mfcc")
N_MFCC = 20
_FRAMES_PER_CHUNK = 4096  # spectrogram frames transformed at a time (~17 MB of work arrays)


@dataclass(frozen=True)
class LogMel:
    """Log-mel statistics extractor (see the module docstring).

    Parameters
    ----------
    stats : tuple of str
        Statistics blocks, from :data:`STATS`.
    sample_rate : int, default 16000
        Analysis rate; audio is resampled to it.
    n_mels : int, default 64
    n_fft : int, default 512
    hop_length : int, default 256
    fmin, fmax : float
        Mel band edges in Hz.

    Examples
    --------
    >>> import numpy as np
    >>> ex = LogMel()
    >>> y = np.random.default_rng(0).standard_normal(32000).astype("float32")
    >>> ex.extract(y, 16000, np.array([0.0, 1.0]), np.array([1.0, 1.0])).shape == (2, ex.dim)
    True
    """

    stats: tuple[str, ...] = ("mean", "std", "max", "dstd", "mfcc")
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 512
    hop_length: int = 256
    fmin: float = 50.0
    fmax: float = 8000.0
    name: str = field(default="logmel", init=False)

    def __post_init__(self):
        unknown = [s for s in self.stats if s not in STATS]
        if unknown or not self.stats:
            raise ValueError(f"stats={self.stats!r}: choose one or more of {STATS}")
        if len(set(self.stats)) != len(self.stats):
            raise ValueError(f"stats={self.stats!r} repeats a block")
        for key in ("sample_rate", "n_mels", "n_fft", "hop_length"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}={getattr(self, key)!r} must be > 0")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"fmin={self.fmin!r}, fmax={self.fmax!r} must satisfy "
                f"0 <= fmin < fmax <= sample_rate / 2 = {self.sample_rate / 2}"
            )

    @property
    def dim(self) -> int:
        """Length of one feature vector."""
        return sum(2 * N_MFCC if s == "mfcc" else self.n_mels for s in self.stats)

    def config(self) -> dict:
        """Everything that changes the output; hashed to key the cache."""
        return {
            "version": 1,
            "stats": list(self.stats),
            "sample_rate": self.sample_rate,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "fmin": self.fmin,
            "fmax": self.fmax,
        }

    def _mel_basis(self) -> sparse.csr_array:
        """The mel filterbank, shape (n_mels, n_fft // 2 + 1), sparse.

        Sparse on purpose: each mel value is then summed over its filter's bins in one fixed
        order, whatever the number of frames transformed at once. A BLAS product's rounding
        depends on the matrix's shape and threads (OpenBLAS 0.3.31 differs from a chunk of
        4,096 frames to 5,000 frames by 6e-8), so features would change with the chunking.
        """
        basis = _MEL_CACHE.get(self.config_key)
        if basis is None:
            import librosa

            basis = sparse.csr_array(librosa.filters.mel(
                sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels,
                fmin=self.fmin, fmax=self.fmax,
            ).astype(np.float32))
            _MEL_CACHE[self.config_key] = basis
        return basis

    @property
    def frame_hop(self) -> int:
        """Samples between frame starts: a stretch of a long file starts on this grid."""
        return self.hop_length

    @property
    def config_key(self) -> tuple:
        return (self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax)

    def logmel(self, y: np.ndarray) -> np.ndarray:
        """Log-mel spectrogram in dB, shape (frames, n_mels); frame i starts at i * hop."""
        y = np.asarray(y, dtype=np.float32)
        if len(y) < self.n_fft:
            y = np.pad(y, (0, self.n_fft - len(y)))
        n = 1 + (len(y) - self.n_fft) // self.hop_length
        frames = np.lib.stride_tricks.as_strided(
            y, shape=(n, self.n_fft), strides=(y.strides[0] * self.hop_length, y.strides[0])
        )
        window, basis = _hann(self.n_fft), self._mel_basis()
        out = np.empty((n, self.n_mels), np.float32)
        for a in range(0, n, _FRAMES_PER_CHUNK):  # the same values as all frames at once
            spec = rfft(frames[a : a + _FRAMES_PER_CHUNK] * window, axis=1, workers=1)
            power = spec.real**2 + spec.imag**2
            mel = (basis @ power.astype(np.float32, copy=False).T).T
            out[a : a + _FRAMES_PER_CHUNK] = 10.0 * np.log10(np.maximum(mel, 1e-10))
        return out

    def extract(
        self, y: np.ndarray, sample_rate: int, starts: np.ndarray, durations: np.ndarray,
        *, offset_s: float = 0.0,
    ) -> np.ndarray:
        """Feature vectors of the windows ``[start, start + duration)`` of one file.

        ``y`` is the file, mono, at ``self.sample_rate``; or a stretch of it that begins
        ``offset_s`` seconds into the file, on the frame grid (``offset_s * sample_rate`` a
        multiple of ``hop_length``), with ``starts`` still counted from the file's start:
        each window then pools the same frames as in the whole file.
        """
        if sample_rate != self.sample_rate:
            raise ValueError(
                f"sample_rate={sample_rate!r}: logmel expects audio at {self.sample_rate} Hz"
            )
        first, rest = divmod(int(round(offset_s * self.sample_rate)), self.hop_length)
        if rest:
            raise ValueError(f"offset_s={offset_s!r} is not on the frame grid: "
                             f"offset_s * {self.sample_rate} must be a multiple of "
                             f"hop_length={self.hop_length}")
        S = self.logmel(y)
        n_frames = len(S)
        # per-file work once: time differences and MFCCs; windows pool slices of them
        D = np.diff(S, axis=0) if "dmean" in self.stats or "dstd" in self.stats else None
        M = dct(S, type=2, axis=1, norm="ortho")[:, :N_MFCC] if "mfcc" in self.stats else None
        hop_s = self.hop_length / self.sample_rate
        out = np.empty((len(starts), self.dim), dtype=np.float32)
        for i, (start, dur) in enumerate(zip(starts, durations)):
            a = int(round(start / hop_s)) - first
            b = int(round((start + dur - self.n_fft / self.sample_rate) / hop_s)) + 1 - first
            a = min(a, n_frames - 1)
            b = min(max(b, a + 1), n_frames)
            d = D[a : b - 1] if D is not None and b - a > 1 else np.zeros((1, self.n_mels), np.float32)
            out[i] = self._pool(S[a:b], d, None if M is None else M[a:b])
        return out

    def _pool(self, S: np.ndarray, d: np.ndarray, m: np.ndarray | None) -> np.ndarray:
        parts = []
        for stat in self.stats:
            if stat == "mean":
                parts.append(S.mean(axis=0))
            elif stat == "std":
                parts.append(S.std(axis=0))
            elif stat == "max":
                parts.append(S.max(axis=0))
            elif stat == "p10":
                parts.append(np.percentile(S, 10, axis=0))
            elif stat == "p90":
                parts.append(np.percentile(S, 90, axis=0))
            elif stat == "dmean":
                parts.append(np.abs(d).mean(axis=0))
            elif stat == "dstd":
                parts.append(d.std(axis=0))
            elif stat == "mfcc":
                parts.append(m.mean(axis=0))
                parts.append(m.std(axis=0))
        return np.concatenate(parts).astype(np.float32, copy=False)


_MEL_CACHE: dict[tuple, sparse.csr_array] = {}
_HANN_CACHE: dict[int, np.ndarray] = {}


def _hann(n: int) -> np.ndarray:
    w = _HANN_CACHE.get(n)
    if w is None:
        w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        _HANN_CACHE[n] = w
    return w
