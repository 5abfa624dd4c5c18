"""Widgets: views of a session. They talk to the session only, never to the store or a learner.

* :class:`LabelingWidget` — spectrogram, audio, label buttons and hotkeys, status.
"""

from .labeler import LabelingWidget

__all__ = ["LabelingWidget"]
