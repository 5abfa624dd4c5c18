"""What the labeling widgets send to the browser for one clip: WAV bytes and a spectrogram, and
the traits they are sent in (:class:`ClipTraits`)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import traitlets as t

from ..audio import info as audio_info, load_mono

__all__ = ["ClipPayload", "ClipTraits", "clip_payload"]


@dataclass(frozen=True)
class ClipPayload:
    """Audio and spectrogram of a clip with context, ready for the widget's traits."""

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


def clip_payload(path: str, start_s: float, duration_s: float, *, context_s: float = 1.0,
                 max_rate: int = 32000, n_mels: int = 128, db_span: float = 80.0,
                 max_frames: int = 1200) -> ClipPayload:
    """Read ``[start - context, start + duration + context]`` (clipped to the file).

    Audio is mono at the file's rate, down to ``max_rate``; the spectrogram is
    log-mel in dB, quantised to 0..255 over ``[db_max - db_span, db_max]``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).normal(size=48000) * 0.1, 16000)
    >>> p = clip_payload(path, 1.0, 1.0)
    >>> p.sample_rate, p.clip_offset_s, p.window_s, p.spec_shape[0]
    (16000, 1.0, 3.0, 128)
    >>> sf.write(path, np.zeros(16000), 8000)
    >>> clip_payload(path, 0.0, 1.0).spec_shape[0]  # fewer bands at low rates
    64
    """
    import librosa

    info = audio_info(path)  # by the bytes of the path: names that are not UTF-8 open too
    rate = min(info.samplerate, max_rate)
    a = max(0.0, start_s - context_s)
    b = min(info.duration, start_s + duration_s + context_s)
    y, sr = load_mono(path, rate, start_s=a, duration_s=b - a)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    hop = max(64, int(np.ceil(len(y) / max_frames / 64)) * 64)
    n_fft = max(2048, 2 * hop)
    fmin, fmax = 50.0, sr / 2
    n_mels = min(n_mels, 64 if sr < 16000 else n_mels)  # no empty mel bands at low rates
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                       fmin=fmin, fmax=fmax)
    D = 10 * np.log10(np.maximum(S, 1e-12))
    db_max = float(D.max()) if D.size else 0.0
    img = np.clip((D - (db_max - db_span)) / db_span * 255, 0, 255).astype(np.uint8)
    return ClipPayload(buf.getvalue(), sr, img.tobytes(), img.shape, db_max, db_span, fmin, fmax,
                       len(y) / sr, start_s - a, duration_s)


class ClipTraits(t.HasTraits):
    """The traits a spectrogram view (``specView`` in ``spectrogram.js``) draws a clip from:
    a :class:`~alwidget.widgets.payload.ClipPayload` and how it is shown."""

    audio = t.Bytes(b"").tag(sync=True)
    sample_rate = t.Int(0).tag(sync=True)
    spec = t.Bytes(b"").tag(sync=True)
    spec_shape = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    db_span = t.Float(80.0).tag(sync=True)
    fmin = t.Float(20.0).tag(sync=True)
    fmax = t.Float(8000.0).tag(sync=True)
    window_s = t.Float(1.0).tag(sync=True)
    clip_offset_s = t.Float(0.0).tag(sync=True)
    clip_duration_s = t.Float(1.0).tag(sync=True)
    colormap = t.Unicode("viridis").tag(sync=True)
    range_db = t.Float(80.0).tag(sync=True)
    autoplay = t.Bool(False).tag(sync=True)
    play_request = t.Int(0).tag(sync=True)  # bumped to play the shown clip now

    def show_payload(self, pay: ClipPayload | None) -> None:
        """Send a clip's audio and spectrogram (None: nothing to show)."""
        if pay is None:
            self.audio, self.spec, self.spec_shape = b"", b"", [0, 0]
            return
        for name, value in (("audio", pay.wav), ("sample_rate", pay.sample_rate),
                            ("spec", pay.spec), ("spec_shape", list(pay.spec_shape)),
                            ("db_span", pay.db_span), ("fmin", pay.fmin), ("fmax", pay.fmax),
                            ("window_s", pay.window_s), ("clip_offset_s", pay.clip_offset_s),
                            ("clip_duration_s", pay.clip_duration_s)):
            setattr(self, name, value)
