"""The labeling widget: a view of a :class:`~alwidget.session.Session`.

It shows the current clip (spectrogram with context, audio player, event
region), a button per class with its hotkey, and the session's status; the
expert's decisions go to the session, which commits them before anything
else. The widget talks to nothing but the session.

A session has one live labeler: making a new one (e.g. re-running the cell) closes the one
it replaces, so only the view on screen decodes audio after each decision.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from pathlib import Path

import anywidget
import traitlets as t

from ..audio import printable
from ..session import DOUBT, Session, StaleDecision
from .live import MainThread, release_view, replace_view
from .payload import PAYLOAD_TRAITS, ClipTraits, clip_payload, payload_traits

__all__ = ["LabelingWidget", "curve_by_labels"]

_HERE = Path(__file__).parent
_RATES = (0.25, 2.0)  # playback rates the browser plays well
_MAX_GAIN = 4.0  # +12 dB


#: What the browser may set (by a "set" message).
_SETTINGS = ("region", "colormap", "range_db", "playback_rate", "preserve_pitch", "loop",
             "play_context", "gain", "freq_range", "target_labels")


class _Refused(ValueError):
    """A decision the widget declines (nothing stored): shown as a note, not a traceback."""


class LabelingWidget(ClipTraits, anywidget.AnyWidget):
    """Label the session's clips with buttons or keys.

    Keys act only while the widget has focus (a ring and "keys on" show it; otherwise a
    hint says to click it), and no key pressed in it reaches JupyterLab: 1–9 label with a
    class, Enter accepts the model's prediction when the model is confident, Space
    play/pause, S skip, D doubt, Z or Backspace undo, ``[`` / ``]`` the event's start / end
    at the playhead, ←/→ move the playhead (Shift: 1 s), + / − / 0 time zoom, , / .
    slower / faster, L loop, C clip only or with context, P keep pitch, Esc clears the event
    region, ? shows every key. A held key's repeats and keys with Ctrl, Cmd or Alt do
    nothing. Drag on the spectrogram to mark an event's onset and offset; click to seek.
    Audio reaches the browser as binary WAV bytes and never autoplays unless
    ``autoplay=True``.

    What is shown (the widget says it under the status line): a log-mel spectrogram made
    for the eye, not the model's input: 128 mel bands from 50 Hz to half the audio's rate
    (audio at the file's rate, down to ``max_rate``; a 48 kHz recording shows up to
    16 kHz), the top 80 dB of the window. The model learns from the session's feature set:
    the widget names it and, for log-mel features (``logmel``: 64 bands, 50 Hz–8 kHz at
    16 kHz, statistics over each clip), shades what lies above their band;
    ``spectrogram="features"`` shows the clip on the features' own mel grid instead. The
    frequency range ("Model's band", or any) and the time stretch shown (zoom) can be
    narrowed. Listening: speed 0.25×–2× with the pitch kept or not, loop, gain up to ×4
    (above ×1 through Web Audio), the clip only or with its context.

    Each decision is confirmed in a line read out by screen readers ("Skipped clip 12");
    a progress bar counts labels against ``target_labels``, with the clips skipped and in
    Doubt; validation F1 is drawn against the number of labels (one point per count).

    Every decision names the clip it was made on: a message for a clip that is no
    longer shown (a double press, a slow kernel) is refused with a note in the
    widget, and nothing is stored.

    No wait for the kernel: while the expert listens, the widget sends the browser the next
    clip of each answer the session's planner has planned (both classes of a binary task and
    a skip), its image made and its audio loaded there. At the key press the browser shows
    that clip at once and tells the kernel, which stores the answer and confirms the clip
    without sending its audio or image again (or, when the session moved elsewhere, e.g. the
    decision was refused, sends the clip it shows instead). Settings changed in the browser
    reach the kernel as messages, which checks them.

    One labeler per session is live: a new ``LabelingWidget`` of the same session (a re-run
    cell) closes the previous one, which then stops listening to the session.

    Parameters
    ----------
    session : Session
    context_s : float, default 1.0
        Audio shown and playable before and after the clip.
    autoplay : bool, default False
    max_rate : int, default 32000
        Audio above this rate reaches the browser resampled down to it, so the spectrogram
        shows up to ``max_rate / 2``. Raise it (e.g. 192000) to see and hear ultrasound:
        slowed down (``playback_rate=0.25``) without keeping the pitch, a bat's 40 kHz call
        sounds at 10 kHz.
    spectrogram : {"full", "features"}, default "full"
        "full": the spectrogram described above. "features": as the model's log-mel features
        see the clip (their analysis rate and mel bands, e.g. 64 bands up to 8 kHz from audio
        at 16 kHz for ``logmel``; the audio played is at that rate too); needs a feature set
        whose configuration gives them.
    accept_confidence : float, default 0.8
        Enter accepts the model's prediction only when its probability is at least this
        (and, for a binary task, the session's tuned threshold agrees); otherwise the widget
        says the model is unsure and Enter stores nothing.
    **kwargs
        Initial trait values, e.g. ``playback_rate=0.5``, ``loop=True``, ``gain=2.0``,
        ``play_context=False`` (play the clip only), ``freq_range=[500, 8000]``,
        ``target_labels=200``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from alwidget.store import NewAudio, Store
    >>> from alwidget.session import Session
    >>> folder = tempfile.mkdtemp()
    >>> sf.write(os.path.join(folder, "a.wav"), np.zeros(16000 * 3), 16000)
    >>> store = Store(os.path.join(folder, "p.db"))
    >>> _ = store.add_audio(NewAudio(folder, "a.wav", 16000, 16, 48000, 1, "WAV", "PCM_16",
    ...                              "h", 0), [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)])
    >>> fs = store.feature_set("toy", {}, 2)
    >>> store.put_features(fs, store.clip_ids(), np.eye(3, 2, dtype=np.float32))
    >>> w = LabelingWidget(Session(store, classes=["background", "bird"]), playback_rate=0.5)
    >>> w.decide("skip")
    >>> w.message.startswith("Skipped clip"), w.status["n_skipped"], w.playback_rate
    (True, 1, 0.5)
    """

    _esm = (_HERE / "spectrogram.js").read_text() + (_HERE / "labeler.js").read_text()
    _css = _HERE / "labeler.css"

    region = t.List(t.Float(), default_value=[]).tag(sync=True)
    classes = t.List(t.Unicode()).tag(sync=True)
    status = t.Dict().tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)  # what the last action did, read out (aria-live)
    busy = t.Bool(False).tag(sync=True)
    # listening and the view (the browser's controls set them too)
    playback_rate = t.Float(1.0).tag(sync=True)
    preserve_pitch = t.Bool(True).tag(sync=True)
    loop = t.Bool(False).tag(sync=True)
    gain = t.Float(1.0).tag(sync=True)
    play_context = t.Bool(True).tag(sync=True)  # False: Space plays the clip only
    freq_range = t.List(t.Float(), default_value=[]).tag(sync=True)  # [] = all
    target_labels = t.Int(100).tag(sync=True)
    feature_band = t.Dict().tag(sync=True)  # what the model's features hear

    def __init__(self, session: Session, *, context_s: float = 1.0, autoplay: bool = False,
                 max_rate: int = 32000, spectrogram: str = "full", accept_confidence: float = 0.8,
                 **kwargs):
        if not 0.5 <= accept_confidence <= 1:
            raise ValueError(f"accept_confidence={accept_confidence!r} must be in [0.5, 1]")
        if not 8000 <= max_rate <= 384000:
            raise ValueError(f"max_rate={max_rate!r} must be in [8000, 384000] Hz")
        band = feature_band(session.feature_set)
        if spectrogram == "features":
            if band.get("fmax") is None:
                raise ValueError(f"spectrogram='features' needs log-mel features; the session's "
                                 f"{band['name']} features give no mel bands: use 'full'")
            self._payload_kw = {"max_rate": band["sample_rate"], "n_mels": band["n_mels"]}
        elif spectrogram == "full":
            self._payload_kw = {"max_rate": int(max_rate)}
        else:
            raise ValueError(f"spectrogram={spectrogram!r} must be 'full' or 'features'")
        kwargs.setdefault("target_labels", session.budget or 100)
        super().__init__(classes=list(session.classes), autoplay=autoplay, feature_band=band,
                         **kwargs)
        self.session = session
        self.context_s = context_s
        self.accept_confidence = accept_confidence
        self._chosen = None  # a clip the expert picked (on a map), shown instead of the queue
        self._deciding = False
        self._closed = False
        self._recent: list = []  # this view's decisions, newest last (None: made elsewhere)
        self._main = MainThread()  # traits change on the thread the widget was made on
        self._sent_ahead: set = set()  # the upcoming clips sent for the clip shown
        self._browser_shows = None  # the clip the browser showed ahead at the last decision
        self.on_msg(self._on_message)
        self._show()
        session.observe(self._session_changed)
        session.observe(self._upcoming_ready, upcoming=True)
        replace_view(session, "labeler", self)  # closes the labeler this one replaces

    @t.validate("playback_rate")
    def _check_rate(self, proposal):
        v = proposal["value"]
        if not _RATES[0] <= v <= _RATES[1]:
            raise t.TraitError(f"playback_rate={v!r} must be in [{_RATES[0]}, {_RATES[1]}]")
        return v

    @t.validate("gain")
    def _check_gain(self, proposal):
        v = proposal["value"]
        if not 0 <= v <= _MAX_GAIN:
            raise t.TraitError(f"gain={v!r} must be in [0, {_MAX_GAIN}] (1 = as recorded)")
        return v

    @t.validate("freq_range")
    def _check_freq_range(self, proposal):
        v = list(proposal["value"])
        if v and not (len(v) == 2 and 0 <= v[0] < v[1]):
            raise t.TraitError(f"freq_range={v!r} must be [] (all) or [low_hz, high_hz] "
                               "with 0 <= low_hz < high_hz")
        return v

    @t.validate("target_labels")
    def _check_target(self, proposal):
        if proposal["value"] < 1:
            raise t.TraitError(f"target_labels={proposal['value']!r} must be >= 1")
        return proposal["value"]

    def show_clip(self, clip_id: int, *, play: bool = True) -> None:
        """Show a clip of the expert's choosing (e.g. clicked on a map) and play it.

        Labeling it commits a label for that clip; Skip returns to the session's
        next clip without storing anything. Played (the default), it also takes the keyboard
        focus in the browser, so the next key labels the clip.
        """
        if self._closed:
            raise RuntimeError("this labeler was closed (a newer view of the session replaced "
                               "it); show the clip in the newest one")
        self._chosen = self.session.pool.proposal(clip_id)
        self.error = ""
        self._show(f"Showing clip {int(clip_id)}, chosen on the map: a class key labels it, "
                   "S returns to the queue")
        if play:
            self.play_request += 1

    def _session_changed(self, session) -> None:
        self._main.call(self._refresh)

    def _refresh(self) -> None:
        if not self._deciding:  # e.g. a map labeled a selection: show the new next clip
            self._recent.append(None)  # a decision made elsewhere: undo may take it back
            queued = self.status.get("n_queued")
            self._show()
            more = (self.status.get("n_queued") or 0) - (queued or 0)
            if queued is not None and more > 0:
                self.message = (f"{more} clip{'s' if more > 1 else ''} queued: asked next "
                                f"({self.status['n_queued']} in the queue)")

    def _upcoming_ready(self, session) -> None:  # the planner's thread, maybe holding locks
        self._main.post(self._send_upcoming)

    def _send_upcoming(self, again: bool = False) -> None:
        """Send the next clip of each answer planned so far (its payload made by the planner):
        the browser shows it the moment the expert answers, while the kernel stores the
        answer (:meth:`_show` then sends no audio or image again). ``again``: also what was
        sent before (a view just rendered)."""
        if self._closed or self._chosen is not None or self._deciding:
            return
        if again:
            self._sent_ahead.clear()
        shown = self.status.get("clip_id")
        for u in self.session.upcoming():
            p = u.proposal
            key = (u.after, u.action, u.label, p.clip_id)
            if u.after != shown or key in self._sent_ahead:
                continue
            self._sent_ahead.add(key)
            pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=self.context_s,
                               **self._payload_kw)
            traits = payload_traits(pay)
            del traits["audio"], traits["spec"]
            self.send({"type": "upcoming", "after": u.after, "action": u.action,
                       "label": u.label, "traits": traits, "status": self._clip_status(p)},
                      buffers=[pay.wav, pay.spec])

    # -- browser -> session ----------------------------------------------------
    def _on_message(self, widget, content, buffers) -> None:
        if not isinstance(content, dict):
            return
        # JupyterLab 4.6 may send a widget's messages over a kernel subshell (ipykernel 7
        # handles them on a thread of their own): the decision runs on the main thread, in
        # order, as every change of this widget and the session's notices do
        if content.get("type") == "decide":
            self._main.call(functools.partial(self._decide_from_browser, content))
        elif content.get("type") == "ahead?":  # a view was rendered: it holds nothing yet
            self._main.call(self._send_upcoming, True)
        elif content.get("type") == "set":
            self._main.call(functools.partial(self._set_from_browser, content.get("name"),
                                              content.get("value")))

    def _set_from_browser(self, name, value) -> None:
        """A setting changed in the browser (the browser sends no state of its own: it sets
        the clip shown ahead on its model itself)."""
        if name not in _SETTINGS:
            self.error = f"the browser asked to set {name!r}, which is not a setting"
            return
        try:
            with self._lock_property(**{name: value}):  # what the browser has: not echoed
                setattr(self, name, value)
        except t.TraitError as exc:
            self.error = str(exc)
            self.send_state(name)  # the browser shows the value in force again

    def _decide_from_browser(self, content: dict) -> None:
        shows = content.get("shows")
        self._browser_shows = shows if isinstance(shows, int) else None
        try:
            self.decide(content.get("action"), content.get("label"),
                        clip_id=content.get("clip_id"))
        finally:
            self._browser_shows = None

    @property
    def shown(self):
        """The :class:`~alwidget.session.Proposal` on screen (None when nothing is left)."""
        return self._chosen or self.session.current

    def confident(self, proposal=None) -> bool:
        """Whether Enter may accept the model's prediction for ``proposal`` (default the clip
        shown): P(predicted class) >= ``accept_confidence`` and, for a binary task, the
        session's decision threshold on P(target) gives the same class."""
        p = self.shown if proposal is None else proposal
        if p is None or p.predicted is None or p.confidence is None:
            return False
        if p.confidence < self.accept_confidence:
            return False
        if p.p_target is None:
            return True
        threshold = self.session.threshold
        return threshold is None or (p.p_target >= threshold) == (p.predicted == self.session.target)

    def decide(self, action: str, label: str | None = None, *, clip_id: int | None = None) -> None:
        """Apply a decision ("label", "accept", "skip", "doubt", "undo") as the buttons do.

        ``clip_id`` is the clip shown when the expert decided (the browser always sends
        it); if another clip is shown by now, the decision is refused and nothing stored.
        "accept" is refused (nothing stored) while the model is unsure (:meth:`confident`).
        What was done is said in ``message``; errors are shown inside the widget (and kept
        in ``error``), never swallowed.
        """
        self.busy = True
        self._deciding = True
        said = None
        try:
            shown = self.shown
            if clip_id is not None and (shown is None or int(clip_id) != shown.clip_id):
                raise StaleDecision(f"that {action} was for clip {clip_id}, which is no longer "
                                    "shown; nothing was stored")
            on = None if shown is None else shown.clip_id
            if action == "accept":
                if shown is None or shown.predicted is None:
                    raise ValueError("no prediction to accept yet: press a class key (1-9)")
                if not self.confident(shown):
                    raise _Refused(
                        f"the model is unsure about clip {on} ({shown.predicted}, "
                        f"{100 * shown.confidence:.0f} %): Enter accepts only a confident "
                        "prediction; listen and press a class key (1-9). Nothing was stored")
            said = self._apply(action, label, shown, on)
            self.error = ""
        except (StaleDecision, _Refused) as exc:  # expected: a note, not a traceback
            self.error = str(exc)
        except Exception as exc:  # shown in the widget, with the traceback for the log
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self._deciding = False
            try:
                self._show(said)
                if self._main.running:  # a kernel, so a browser: those planned already
                    self._send_upcoming()
            except Exception as exc:  # e.g. the next clip's audio file moved: say so, stay usable
                self.error = f"cannot show the next clip: {type(exc).__name__}: {exc}"
                traceback.print_exc()
            self.busy = False

    def _apply(self, action: str, label: str | None, shown, on) -> str:
        """Make the decision; return what to say about it."""
        s, chosen = self.session, self._chosen is not None
        if action == "undo":
            s.undo() if chosen else s.undo(clip_id=on)
            self._chosen = None
            undone = self._recent.pop() if self._recent else None
            back = self.shown
            return (f"Undid: {undone}" if undone else "Undid your last decision") + (
                f"; clip {back.clip_id} is shown again" if back is not None else "")
        if action == "accept":
            action, label = "label", shown.predicted
            what = f"accepted the model's {label} for clip {on}"
        elif action == "label":
            what = f"labeled clip {on} as {label}"
        elif action == "doubt":
            what = f"put clip {on} in Doubt (for a later round)"
        elif action == "skip":
            what = f"skipped clip {on}" + (": back to the queue, nothing stored" if chosen else "")
        else:
            raise ValueError(f"unknown action {action!r}")
        events = self._events(label) if action == "label" else None
        if events:
            what += f" with an event {events[0][1]:.2f}–{events[0][2]:.2f} s"
        if chosen:  # a clip picked on a map: labeled by its id; skip stores nothing
            if action in ("label", "doubt"):
                s.label(on, DOUBT if action == "doubt" else label, events=events)
            self._chosen = None
        elif action == "label":
            s.submit(label, events=events, clip_id=on)
        elif action == "skip":
            s.skip(clip_id=on)
        else:
            s.doubt(clip_id=on)
        if not (chosen and action == "skip"):
            self._recent = (self._recent + [what])[-50:]
        return what[0].upper() + what[1:]

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
            self.session.unobserve(self._upcoming_ready)
            release_view(self.session, "labeler", self)
        super().close()

    def _show(self, message: str | None = None) -> None:
        """Send the clip shown, the status and ``message`` (None: keep the last) in one
        update."""
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
            "curve": curve_by_labels(st.learning_curve),
            "done": st.done,
            "features": s.feature_set.extractor,
            "n_skipped": st.n_skipped,
            "n_doubt": st.n_doubt,
            "n_queued": st.n_queued,
        }
        pay = None
        if p is not None:
            status.update(self._clip_status(p))
            if p.clip_id != self.status.get("clip_id"):
                pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=self.context_s,
                                   **self._payload_kw)
                self._sent_ahead.clear()
        ahead = self._browser_shows
        lock = contextlib.nullcontext()
        if pay is not None and ahead == p.clip_id:  # the browser has these bytes: not again
            lock = self._lock_property(**{k: self.trait_metadata(k, "to_json",
                                                                 self._trait_to_json)(v, self)
                                          for k, v in (("audio", pay.wav), ("spec", pay.spec))})
        with self.hold_sync(), lock:  # one message: the clip, its status and what was done
            if p is None:
                self.audio, self.spec, self.region = b"", b"", []
            elif pay is not None:
                self.show_payload(pay)
                self.region = []
            self.status = status
            if message is not None:
                self.message = message
            if ahead is not None and (p is None or ahead != p.clip_id):
                # the browser showed another clip ahead (e.g. the decision was refused): all
                # of this clip again in this message, even what did not change here
                self._states_to_send.update([*PAYLOAD_TRAITS, "status", "region"])
                self._sent_ahead.clear()  # and its next clips

    def _clip_status(self, p) -> dict:
        """What the status says about the clip ``p`` shown."""
        return dict(reason=p.reason + (" (Skip returns to the queue)" if self._chosen else ""),
                    chosen=self._chosen is not None, predicted=p.predicted,
                    confidence=p.confidence, confident=self.confident(p), clip_id=p.clip_id,
                    path=printable(p.path), start_s=p.start_s, duration_s=p.duration_s)


def curve_by_labels(curve) -> list[tuple[int, float]]:
    """A learning curve with one point per number of labels: the latest F1 reported at that
    count, in increasing order of counts (skips and undos make the session's record go back
    and forth).

    Examples
    --------
    >>> curve_by_labels([(2, 0.5), (3, 0.6), (2, 0.55), (3, 0.7), (4, 0.72)])
    [(2, 0.55), (3, 0.7), (4, 0.72)]
    """
    latest: dict[int, float] = {}
    for n, f1 in curve:
        latest[int(n)] = float(f1)
    return sorted(latest.items())


def feature_band(feature_set) -> dict:
    """What the model's features hear, for the labeler to say and mark: the extractor's
    name, and its mel band (Hz), bands and analysis rate when its configuration gives them
    (``logmel``; else None); {} without a feature set.

    Examples
    --------
    >>> from alwidget.store import FeatureSet
    >>> fs = FeatureSet(1, "logmel", "h", {"sample_rate": 16000, "n_mels": 64, "fmin": 50.0,
    ...                                    "fmax": 8000.0}, 232)
    >>> feature_band(fs)["text"]
    'The model learns from logmel features: a 64-band log-mel spectrogram, 50 Hz–8 kHz, at 16 kHz.'
    >>> feature_band(FeatureSet(2, "yamnet", "h", {}, 1024))["fmax"] is None
    True
    """
    if feature_set is None:
        return {}
    c, name = feature_set.config or {}, feature_set.extractor
    keys = ("fmin", "fmax", "sample_rate", "n_mels")
    if all(isinstance(c.get(k), (int, float)) for k in keys):
        def hz(f):
            return f"{f / 1000:g} kHz" if f >= 1000 else f"{f:g} Hz"
        return {"name": name, "fmin": float(c["fmin"]), "fmax": float(c["fmax"]),
                "sample_rate": int(c["sample_rate"]), "n_mels": int(c["n_mels"]),
                "text": f"The model learns from {name} features: a {c['n_mels']}-band log-mel "
                        f"spectrogram, {hz(c['fmin'])}–{hz(c['fmax'])}, at "
                        f"{hz(c['sample_rate'])}."}
    return {"name": name, "fmin": None, "fmax": None, "sample_rate": None, "n_mels": None,
            "text": f"The model learns from {name} features (its own analysis of the audio)."}
