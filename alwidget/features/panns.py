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

The 527 class names of ``panns-tags`` come from the ``class_labels_indices.csv`` that is
published with the checkpoint (``index,mid,display_name``): ``PANNsTags(class_labels=...)``,
``$ALWIDGET_PANNS_LABELS``, or that file beside the checkpoint. They are stored with the
probabilities, for :func:`alwidget.tagger.top1`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import clip_segments
from .base import read_class_names

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


def _numpy_globals() -> list:
    """What the original CNN14 checkpoints hold besides tensors (their training sampler's
    state: numpy arrays), allowed to torch's weights-only unpickler; nothing that runs code."""
    import numpy as np

    reconstruct = np.zeros(1).__reduce__()[0]  # what pickles of arrays and scalars call
    scalar = np.float64(0).__reduce__()[0]
    kinds = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "float32", "float64")
    # the released checkpoints were pickled by numpy 1 (``numpy.core``), numpy 2 names it
    # ``numpy._core``: allowed by both names
    return [reconstruct, scalar, (reconstruct, "numpy.core.multiarray._reconstruct"),
            (scalar, "numpy.core.multiarray.scalar"), np.ndarray, np.dtype,
            *{type(np.dtype(k)) for k in kinds}]


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
    try:  # never a full unpickle: a checkpoint may come from anywhere
        with torch.serialization.safe_globals(_numpy_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path!r} cannot be read as weights only ({type(exc).__name__}); alwidget never "
            "unpickles code from a checkpoint. If you trust the file, save its weights once: "
            "torch.save(torch.load(path, weights_only=False)['model'], 'cnn14_weights.pth'), "
            "and give that file") from None
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
                durations: np.ndarray, *, offset_s: float = 0.0) -> np.ndarray:
        """Vectors of the windows of ``y`` (a file, or a stretch of it from ``offset_s``
        seconds into the file, with ``starts`` counted from the file's start)."""
        import torch

        if sample_rate != _SR:
            raise ValueError(f"sample_rate={sample_rate!r} must be {_SR} for {self.name}")
        model = _load(str(_checkpoint(self.checkpoint)))
        clips = [np.pad(seg, (0, max(0, _SR - len(seg))))  # CNN14 needs >= ~0.3 s
                 for seg in clip_segments(y, _SR, starts, durations, offset_s=offset_s)]
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
    """The CNN14 tagger: 527 AudioSet class probabilities (``clipwise_output``), one per clip.

    Parameters
    ----------
    checkpoint : str, optional
        As for :class:`PANNs`.
    class_labels : str, optional
        The checkpoint's ``class_labels_indices.csv`` (527 rows of ``index,mid,display_name``);
        default ``$ALWIDGET_PANNS_LABELS``, else that file beside the checkpoint. The names
        are stored with the probabilities; they do not change them.

    Examples
    --------
    >>> import alwidget
    >>> from alwidget.features import PANNsTags
    >>> from alwidget.tagger import top1
    >>> tagger = PANNsTags("Cnn14_mAP=0.431.pth", class_labels="class_labels_indices.csv")
    >>> fs = alwidget.extract_features("project.db", tagger)  # doctest: +SKIP
    >>> ids, names, p = top1(alwidget.Store("project.db"), fs)  # doctest: +SKIP
    """

    class_labels: str | None = None
    name = "panns-tags"
    _output = "clipwise_output"

    @property
    def dim(self) -> int:
        return 527

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The 527 class names, one per column; None (with a warning) when no file gives them."""
        path = self.class_labels or os.environ.get("ALWIDGET_PANNS_LABELS")
        if path is None:
            ckpt = self.checkpoint or os.environ.get("ALWIDGET_PANNS_CHECKPOINT")
            beside = Path(ckpt).parent / "class_labels_indices.csv" if ckpt else None
            if beside is None or not beside.is_file():
                warnings.warn("panns-tags has no class names: give PANNsTags(class_labels="
                              "'class_labels_indices.csv') or set ALWIDGET_PANNS_LABELS, so that "
                              "they are stored with the probabilities", stacklevel=3)
                return None
            path = beside
        if not Path(path).is_file():
            raise FileNotFoundError(f"class_labels={str(path)!r} does not exist")
        names = read_class_names(path)
        if len(names) != self.dim:
            raise ValueError(f"{str(path)!r} names {len(names)} classes; the CNN14 tagger has "
                             f"{self.dim}: give the class_labels_indices.csv of its checkpoint")
        return names
