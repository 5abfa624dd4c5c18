"""A file's levels, measured while ingest decodes it (node health): per frame of
:data:`FRAME_S` seconds, the RMS level of the channels' mix in dBFS, whether it is silent
(below :data:`SILENT_DB`) and whether a sample of any channel reaches full scale
(:data:`CLIP_LEVEL`); a histogram of the frame levels in :data:`LEVEL_BINS`."""

from __future__ import annotations

import numpy as np

from ..store import AudioLevels
from ..store.nodes import LEVEL_BINS  # the bins the store keeps

__all__ = ["CLIP_LEVEL", "FRAME_S", "LEVEL_BINS", "LevelMeter", "SILENT_DB"]

#: Seconds per measured frame.
FRAME_S = 0.1
#: A frame whose RMS level is below this (dBFS) is silent (a dead microphone or a muted input).
SILENT_DB = -70.0
#: A frame with a sample whose magnitude reaches this is clipped.
CLIP_LEVEL = 0.999


class LevelMeter:
    """Fed the decoded blocks of one file in order (``update``), gives its
    :class:`~alwidget.store.AudioLevels` (``result``); memory does not grow with the file.

    Examples
    --------
    >>> meter = LevelMeter(1000)
    >>> t = np.arange(1000) / 1000
    >>> meter.update(np.stack([np.zeros(1000), 0.5 * np.sin(2 * np.pi * 50 * t)], 1)[:500])
    >>> meter.update(np.ones((500, 2)))  # the second half: full scale, clipped
    >>> lv = meter.result()
    >>> lv.n_frames, lv.silent_frames, lv.clipped_frames, round(lv.peak_db, 1)
    (10, 0, 5, 0.0)
    """

    def __init__(self, sample_rate: int):
        self.hop = max(1, int(round(FRAME_S * sample_rate)))
        self.frame_s = self.hop / sample_rate
        self._rest = np.empty(0, np.float64)  # mono samples of an unfinished frame
        self._rest_clip = False
        self._hist = np.zeros(len(LEVEL_BINS), np.int64)
        self._frames = self._silent = self._clipped = 0
        self._power = 0.0
        self._samples = 0
        self._peak = 0.0

    def update(self, block: np.ndarray) -> None:
        """Add the next frames of the file (frames x channels, float)."""
        if block.size == 0:
            return
        mags = np.abs(block).max(axis=1)
        self._peak = max(self._peak, float(mags.max()))
        mono = block.mean(axis=1, dtype=np.float64) if block.shape[1] > 1 \
            else block[:, 0].astype(np.float64)
        clip = mags >= CLIP_LEVEL
        if len(self._rest):
            need = self.hop - len(self._rest)
            head, mono = np.concatenate([self._rest, mono[:need]]), mono[need:]
            head_clip, clip = self._rest_clip or bool(clip[:need].any()), clip[need:]
            if len(head) < self.hop:
                self._rest, self._rest_clip = head, head_clip
                return
            self._frame(head[None, :], np.array([head_clip]))
        n = len(mono) // self.hop * self.hop
        if n:
            self._frame(mono[:n].reshape(-1, self.hop), clip[:n].reshape(-1, self.hop).any(1))
        self._rest, self._rest_clip = mono[n:].copy(), bool(clip[n:].any())

    def _frame(self, frames: np.ndarray, clipped: np.ndarray) -> None:
        power = (frames ** 2).mean(axis=1)
        db = 10 * np.log10(np.maximum(power, 1e-20))
        self._frames += len(frames)
        self._silent += int((db < SILENT_DB).sum())
        self._clipped += int(clipped.sum())
        idx = np.clip(np.searchsorted(LEVEL_BINS, db, side="right") - 1, 0, len(LEVEL_BINS) - 1)
        self._hist += np.bincount(idx, minlength=len(LEVEL_BINS))
        self._power += float(power.sum()) * frames.shape[1]
        self._samples += frames.size

    def result(self) -> AudioLevels:
        """The levels of what was fed (a last partial frame counts when it is at least half a
        frame)."""
        if len(self._rest) * 2 >= self.hop:
            self._frame(self._rest[None, :], np.array([self._rest_clip]))
            self._rest = np.empty(0, np.float64)
        rms = 10 * np.log10(self._power / self._samples) if self._power > 0 else None
        peak = 20 * np.log10(self._peak) if self._peak > 0 else None
        return AudioLevels(frame_s=self.frame_s, n_frames=self._frames,
                           silent_frames=self._silent, clipped_frames=self._clipped,
                           rms_db=None if rms is None else round(float(rms), 2),
                           peak_db=None if peak is None else round(float(peak), 2),
                           histogram=tuple(int(v) for v in self._hist))
