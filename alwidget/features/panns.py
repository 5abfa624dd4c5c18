"""``panns`` and ``panns-tags``: PANNs CNN14 embeddings and AudioSet tagger from your checkpoint.

CNN14 (Kong et al., 2020, AudioSet mAP 0.431) runs on CPU through the PyPI
package ``panns-hear``, which never downloads anything (unlike
``panns-inference``). alwidget never downloads the weights either: point it at
the checkpoint you already have, ``Cnn14_mAP=0.431.pth``::

    pip install "torch==2.13.0+cpu" panns-hear     # or any torch; ./dev.sh does this
    export ALWIDGET_PANNS_CHECKPOINT=/models/Cnn14_mAP=0.431.pth   # or PANNs(checkpoint=...)

Audio is resampled to 32 kHz; each clip (padded to at least 1 s) gives the
2048-d ``embedding`` (``panns``) or the 527 AudioSet probabilities
``clipwise_output`` (``panns-tags``). The checkpoint's sha256 is part of the
feature set's config, so features of two different checkpoints never mix.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import clip_segments

__all__ = ["PANNs", "PANNsTags"]

_SR = 32000
_BATCH = 8  # clips per forward pass (fastest on 2 cores)
_INSTALL = 'pip install "torch==2.13.0+cpu" panns-hear (or any torch build, then panns-hear)'


def _checkpoint(path: str | None) -> Path:
    path = path or os.environ.get("ALWIDGET_PANNS_CHECKPOINT")
    if not path:
        raise ValueError("PANNs needs your CNN14 checkpoint: PANNs(checkpoint='Cnn14_mAP=0.431.pth')"
                         " or set ALWIDGET_PANNS_CHECKPOINT; alwidget never downloads it")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint={str(p)!r} does not exist")
    return p


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=2)
def _load(path: str):
    """The CNN14 of checkpoint ``path``, once per process (a failed load is not cached)."""
    try:
        import torch
        from panns_hear.models import Cnn14
    except ImportError as exc:
        raise ImportError(f"PANNs needs torch and panns-hear ({exc}); {_INSTALL}") from None
    model = Cnn14(sample_rate=_SR, window_size=1024, hop_size=320, mel_bins=64, fmin=50,
                  fmax=14000, classes_num=527)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # the original training script also pickled its sampler's state
        ckpt = torch.load(path, map_location="cpu", weights_only=False)  # the user's own file
    state = ckpt["model"] if isinstance(ckpt, dict) and "model" in ckpt else ckpt
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise ValueError(f"{path!r} is not a CNN14 checkpoint ({exc})") from None
    model.eval()  # no dropout, no SpecAugment
    return model


@dataclass(frozen=True)
class PANNs:
    """PANNs CNN14 embeddings, 2048-d, one per clip.

    Parameters
    ----------
    checkpoint : str, optional
        Path of ``Cnn14_mAP=0.431.pth`` (default ``$ALWIDGET_PANNS_CHECKPOINT``).

    Examples
    --------
    >>> fs = alwidget.extract_features("project.db", PANNs("Cnn14_mAP=0.431.pth"))  # doctest: +SKIP
    """

    checkpoint: str | None = None
    name = "panns"
    sample_rate = _SR
    _output = "embedding"

    @property
    def dim(self) -> int:
        return 2048

    def config(self) -> dict:
        p = _checkpoint(self.checkpoint)
        st = p.stat()
        return {"checkpoint_sha256": _sha256(str(p), st.st_size, st.st_mtime), "min_s": 1.0}

    def extract(self, y: np.ndarray, sample_rate: int, starts: np.ndarray,
                durations: np.ndarray) -> np.ndarray:
        import torch

        if sample_rate != _SR:
            raise ValueError(f"sample_rate={sample_rate!r} must be {_SR} for {self.name}")
        model = _load(str(_checkpoint(self.checkpoint)))
        clips = [np.pad(seg, (0, max(0, _SR - len(seg))))  # CNN14 needs >= ~0.3 s
                 for seg in clip_segments(y, _SR, starts, durations)]
        out = np.empty((len(clips), self.dim), np.float32)
        order = np.argsort([len(c) for c in clips], kind="stable")  # equal lengths batch together
        i = 0
        while i < len(order):
            j = i + 1
            while j < len(order) and j - i < _BATCH and len(clips[order[j]]) == len(clips[order[i]]):
                j += 1
            batch = torch.from_numpy(np.stack([clips[k] for k in order[i:j]]))
            with torch.no_grad():
                out[order[i:j]] = model(batch)[self._output].numpy()
            i = j
        return out


@dataclass(frozen=True)
class PANNsTags(PANNs):
    """The CNN14 tagger: 527 AudioSet class probabilities (``clipwise_output``), one per clip."""

    name = "panns-tags"
    _output = "clipwise_output"

    @property
    def dim(self) -> int:
        return 527
