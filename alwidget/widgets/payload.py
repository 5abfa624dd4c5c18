"""What the labeling widgets send to the browser for one clip: WAV bytes and a spectrogram
(:func:`clip_payload`), and the traits they are sent in (:class:`ClipTraits`).

Payloads are made by :mod:`alwidget.session.payloads`: the session's background planner makes
the next clip's payload for every likely answer while the expert listens, so after a key
press the labeler usually finds the next clip's payload made.
"""

from __future__ import annotations

import traitlets as t

from ..session.payloads import DISPLAY_FRAMES, PAYLOADS, ClipPayload

__all__ = ["PAYLOAD_TRAITS", "ClipPayload", "ClipTraits", "clip_payload", "payload_traits"]


def clip_payload(path: str, start_s: float, duration_s: float, *, context_s: float = 1.0,
                 max_rate: int = 32000, n_mels: int = 128, db_span: float = 80.0,
                 max_frames: int = DISPLAY_FRAMES) -> ClipPayload:
    """The payload of ``[start - context, start + duration + context]`` (clipped to the file):
    made ahead by the session's planner, else made now
    (:meth:`~alwidget.session.payloads.PayloadCache.get`).

    Audio is mono at the file's rate, down to ``max_rate``, as 16-bit WAV; the spectrogram
    is log-mel in dB, quantised to 0..255 over ``[db_max - db_span, db_max]``, at most
    ``max_frames`` columns (the labeler's plot is 700 px wide).

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).normal(size=48000) * 0.1, 16000)
    >>> p = clip_payload(path, 1.0, 1.0, context_s=0.5)
    >>> p.window_s, p.spec_shape[1] <= 720, clip_payload(path, 1.0, 1.0, context_s=0.5) is p
    (2.0, True, True)
    >>> sf.write(path, np.zeros(16000), 8000)  # written anew: read anew
    >>> clip_payload(path, 0.0, 1.0).spec_shape[0]  # fewer bands at low rates
    64
    """
    return PAYLOADS.get(path, start_s, duration_s, context_s=context_s, max_rate=max_rate,
                        n_mels=n_mels, db_span=db_span, max_frames=max_frames)


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
        for name, value in payload_traits(pay).items():
            setattr(self, name, value)


#: The traits a payload sets (:func:`payload_traits`).
PAYLOAD_TRAITS = ("audio", "sample_rate", "spec", "spec_shape", "db_span", "fmin", "fmax",
                  "window_s", "clip_offset_s", "clip_duration_s")


def payload_traits(pay: ClipPayload) -> dict:
    """The values of :data:`PAYLOAD_TRAITS` that show ``pay``."""
    return {"audio": pay.wav, "sample_rate": pay.sample_rate, "spec": pay.spec,
            "spec_shape": list(pay.spec_shape), "db_span": pay.db_span, "fmin": pay.fmin,
            "fmax": pay.fmax, "window_s": pay.window_s, "clip_offset_s": pay.clip_offset_s,
            "clip_duration_s": pay.clip_duration_s}
