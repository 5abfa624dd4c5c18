"""The labeling widget: a view of a :class:`~alwidget.session.Session`.

It shows the current clip (spectrogram with context, audio player, event
region), a button per class with its hotkey, and the session's status; the
expert's decisions go to the session, which commits them before anything
else. The widget talks to nothing but the session.

A session has one live labeler: making a new one (e.g. re-running the cell) closes the one
it replaces, so only the view on screen decodes audio after each decision.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import anywidget
import traitlets as t

from ..audio import printable
from ..session import DOUBT, Session, StaleDecision
from .live import MainThread, release_view, replace_view
from .payload import ClipTraits, clip_payload

__all__ = ["LabelingWidget"]

_HERE = Path(__file__).parent


class LabelingWidget(ClipTraits, anywidget.AnyWidget):
    """Label the session's clips with buttons or keys.

    Keys (while the widget has focus): 1–9 label with a class, Enter accepts
    the model's prediction, Space play/pause, S skip, D doubt, Z or Backspace
    undo, Esc clears the event region; a held key's repeats and keys with Ctrl,
    Cmd or Alt do nothing. Drag on the spectrogram to mark an event's onset and
    offset; click to seek. Audio reaches the browser as binary WAV bytes and
    never autoplays or loops unless ``autoplay=True``.

    Every decision names the clip it was made on: a message for a clip that is no
    longer shown (a double press, a slow kernel) is refused with a note in the
    widget, and nothing is stored.

    One labeler per session is live: a new ``LabelingWidget`` of the same session (a re-run
    cell) closes the previous one, which then stops listening to the session.

    Parameters
    ----------
    session : Session
    context_s : float, default 1.0
        Audio shown and playable before and after the clip.
    autoplay : bool, default False

    Examples
    --------
    >>> from alwidget.session import Session  # doctest: +SKIP
    >>> LabelingWidget(Session("project.db", classes=["background", "target"]))  # doctest: +SKIP
    """

    _esm = (_HERE / "spectrogram.js").read_text() + (_HERE / "labeler.js").read_text()
    _css = _HERE / "labeler.css"

    region = t.List(t.Float(), default_value=[]).tag(sync=True)
    classes = t.List(t.Unicode()).tag(sync=True)
    status = t.Dict().tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    busy = t.Bool(False).tag(sync=True)

    def __init__(self, session: Session, *, context_s: float = 1.0, autoplay: bool = False,
                 **kwargs):
        super().__init__(classes=list(session.classes), autoplay=autoplay, **kwargs)
        self.session = session
        self.context_s = context_s
        self._chosen = None  # a clip the expert picked (on a map), shown instead of the queue
        self._deciding = False
        self._closed = False
        self._main = MainThread()  # traits change on the thread the widget was made on
        self.on_msg(self._on_message)
        self._show()
        session.observe(self._session_changed)
        replace_view(session, "labeler", self)  # closes the labeler this one replaces

    def show_clip(self, clip_id: int, *, play: bool = True) -> None:
        """Show a clip of the expert's choosing (e.g. clicked on a map) and play it.

        Labeling it commits a label for that clip; Skip returns to the session's
        next clip without storing anything.
        """
        if self._closed:
            raise RuntimeError("this labeler was closed (a newer view of the session replaced "
                               "it); show the clip in the newest one")
        self._chosen = self.session.pool.proposal(clip_id)
        self.error = ""
        self._show()
        if play:
            self.play_request += 1

    def _session_changed(self, session) -> None:
        self._main.call(self._refresh)

    def _refresh(self) -> None:
        if not self._deciding:  # e.g. a map labeled a selection: show the new next clip
            self._show()

    # -- browser -> session ----------------------------------------------------
    def _on_message(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "decide":
            return
        self.decide(content.get("action"), content.get("label"), clip_id=content.get("clip_id"))

    @property
    def shown(self):
        """The :class:`~alwidget.session.Proposal` on screen (None when nothing is left)."""
        return self._chosen or self.session.current

    def decide(self, action: str, label: str | None = None, *, clip_id: int | None = None) -> None:
        """Apply a decision ("label", "accept", "skip", "doubt", "undo") as the buttons do.

        ``clip_id`` is the clip shown when the expert decided (the browser always sends
        it); if another clip is shown by now, the decision is refused and nothing stored.
        Errors are shown inside the widget (and kept in ``error``), never swallowed.
        """
        self.busy = True
        self._deciding = True
        try:
            shown = self.shown
            if clip_id is not None and (shown is None or int(clip_id) != shown.clip_id):
                raise StaleDecision(f"that {action} was for clip {clip_id}, which is no longer "
                                    "shown; nothing was stored")
            on = None if shown is None else shown.clip_id
            s = self.session
            if self._chosen is not None:
                self._decide_chosen(action, label)
            elif action == "label":
                s.submit(label, events=self._events(label), clip_id=on)
            elif action == "accept":
                if shown is None or shown.predicted is None:
                    raise ValueError("no prediction to accept yet: press a class key (1-9)")
                s.submit(shown.predicted, events=self._events(shown.predicted), clip_id=on)
            elif action == "skip":
                s.skip(clip_id=on)
            elif action == "doubt":
                s.doubt(clip_id=on)
            elif action == "undo":
                s.undo(clip_id=on)
            else:
                raise ValueError(f"unknown action {action!r}")
            self.error = ""
        except StaleDecision as exc:  # expected (a double press): a note, not a traceback
            self.error = str(exc)
        except Exception as exc:  # shown in the widget, with the traceback for the log
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self._deciding = False
            try:
                self._show()
            except Exception as exc:  # e.g. the next clip's audio file moved: say so, stay usable
                self.error = f"cannot show the next clip: {type(exc).__name__}: {exc}"
                traceback.print_exc()
            self.busy = False

    def _decide_chosen(self, action: str, label: str | None) -> None:
        p, s = self._chosen, self.session
        if action == "accept":
            if p.predicted is None:
                raise ValueError("no prediction to accept yet: press a class key (1-9)")
            action, label = "label", p.predicted
        if action == "doubt":
            action, label = "label", DOUBT
        if action == "label":
            s.label(p.clip_id, label, events=self._events(label))
        elif action == "undo":
            s.undo()
        elif action != "skip":  # skip: back to the session's next clip, nothing stored
            raise ValueError(f"unknown action {action!r}")
        self._chosen = None

    def _events(self, label: str | None):
        if len(self.region) != 2 or label in (None, DOUBT):
            return None
        return [(label, float(self.region[0]), float(self.region[1]))]

    # -- session -> browser ------------------------------------------------------
    def close(self) -> None:
        """Close the widget and stop listening to the session."""
        if not getattr(self, "_closed", True):  # once (ipywidgets' __del__ closes too)
            self._closed = True
            self.session.unobserve(self._session_changed)
            release_view(self.session, "labeler", self)
        super().close()

    def _show(self) -> None:
        if self._closed:  # nobody sees it: decode nothing
            return
        s = self.session
        p = self.shown
        st = s.status()
        status = {
            "n_labels": st.n_labels,
            "positive_share": (st.n_positive / st.n_labels) if st.n_positive is not None
            and st.n_labels else None,
            "model_version": st.model_version,
            "last_retrain_ms": None if st.last_retrain_s is None else 1000 * st.last_retrain_s,
            "val_f1": st.learning_curve[-1][1] if st.learning_curve else None,
            "curve": st.learning_curve,
            "done": st.done,
            "features": s.feature_set.extractor,
        }
        if p is None:
            self.status = status
            self.audio, self.spec, self.region = b"", b"", []
            return
        status.update(reason=p.reason + (" (Skip returns to the queue)" if self._chosen else ""),
                      chosen=self._chosen is not None, predicted=p.predicted, confidence=p.confidence,
                      clip_id=p.clip_id, path=printable(p.path), start_s=p.start_s)
        if status.get("clip_id") != self.status.get("clip_id"):
            pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=self.context_s)
            with self.hold_sync():
                self.show_payload(pay)
                self.region = []
        self.status = status
