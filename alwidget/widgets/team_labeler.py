"""The team labeler: one labeler's assigned clips of the framework's rounds, strong labels.

Each labeler of a :class:`~alwidget.team.Team` opens it in their own notebook (their own
kernel) on the shared database: ``TeamLabeler(Team(store), "ann")``. It shows the
labeler's next assigned clip (their assignments only) as a spectrogram with a player; the
labeler draws several events on it, tags each from the ontology (searched by name or
browsed by hierarchy; Doubt for an event they are unsure of), or marks a clip with nothing
of interest with the team's background tag in one key, and submits. Each annotation goes
through :meth:`Team.annotate <alwidget.team.Team.annotate>` and is committed (with the
group's agreement when the group is complete) before the next clip is shown; a refused
annotation leaves the clip and its events on screen with the reason.

The widget is touched only on the kernel's main thread: everything runs in its message
handler, nothing in the background.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import anywidget
import traitlets as t

from ..audio import printable
from ..session import DOUBT
from ..team import Team, ontology_children, search_ontology
from .live import MainThread
from .payload import ClipTraits, clip_payload

__all__ = ["TeamLabeler"]

_HERE = Path(__file__).parent


class TeamLabeler(ClipTraits, anywidget.AnyWidget):
    """One labeler's assigned clips: draw several events, tag them, submit.

    In the browser: drag on the spectrogram to draw an event (it takes the last tag chosen,
    or none yet); click an event (or its line in the list, or ←/→) to select it, drag its
    edges to move them, Delete removes it. Tags come from the round's selectable tags:
    type in the search box (T focuses it; ↑/↓ move through the results, Enter chooses) or
    expand the hierarchy and click a tag; the tag goes to the selected event. D tags the
    selected event Doubt (or, with none selected, adds a Doubt event over the whole clip);
    B marks a clip with nothing of interest with the team's background tag (whole clip);
    Enter (or Submit) stores the events; Space plays. A status line read by screen readers
    says what happened; errors are shown in the widget and nothing drawn is lost.

    The header shows the round, today's count against the daily quota ("12 / 40 today"),
    the clips left in the queue and the announcements of accepted classes; a small form
    suggests a new class (:meth:`Team.suggest_class <alwidget.team.Team.suggest_class>`).

    Parameters
    ----------
    team : Team
    labeler : str
        Who labels: one of the team's labelers; only their assignments are shown.
    context_s : float, default 0.25
        Audio shown and playable before and after the clip.
    autoplay : bool, default False

    Examples
    --------
    >>> import tempfile
    >>> from alwidget.store import Store
    >>> from alwidget.team.synthetic import synthetic_archive
    >>> store = Store(":memory:")
    >>> audio = tempfile.TemporaryDirectory()
    >>> _ = synthetic_archive(store, n_nodes=1, days=1, files_per_day=2, dim=8,
    ...                       audio_dir=audio.name)
    >>> team = Team.create(store, groups={"A": ["ann", "bob"]}, batch_size=2, max_set=20)
    >>> _ = team.plan_round()
    >>> w = TeamLabeler(team, "ann")
    >>> w.status["left"], w.status["today"], w.status["quota"]
    (2, 0, 40)
    >>> clip = w.status["clip_id"]
    >>> w.submit([("Engine", 0.1, 0.6), ("Wind", 0.6, 0.9)])
    True
    >>> store.clip_annotations([clip])[clip]["ann"]
    [('Engine', 0.1, 0.6), ('Wind', 0.6, 0.9)]
    >>> w.status["left"], w.status["today"]
    (1, 1)
    >>> w.submit([("No such tag", 0.0, 0.5)]), w.error  # doctest: +ELLIPSIS
    (False, "ValueError: tag 'No such tag' is not in the ontology; ...")
    >>> w.mark_background([]), w.status["done"], w.message  # doctest: +ELLIPSIS
    (True, True, 'Saved clip ... No clip left for ann: the queue is empty.')
    >>> audio.cleanup()
    """

    _esm = (_HERE / "spectrogram.js").read_text() + (_HERE / "team_labeler.js").read_text()
    _css = _HERE / "team_labeler.css"

    events = t.List(t.Dict()).tag(sync=True)  # the draft: {"tag", "onset", "offset"} (clip s)
    tree = t.Dict().tag(sync=True)  # parent tag ("" for the roots) -> children, selectable
    results = t.Dict().tag(sync=True)  # {"text": searched text, "tags": matching tags}
    background = t.Unicode("").tag(sync=True)
    doubt = t.Unicode(DOUBT).tag(sync=True)
    status = t.Dict().tag(sync=True)
    message = t.Unicode("").tag(sync=True)  # what just happened (the aria-live line)
    error = t.Unicode("").tag(sync=True)
    busy = t.Bool(False).tag(sync=True)

    def __init__(self, team: Team, labeler: str, *, context_s: float = 0.25,
                 autoplay: bool = False, **kwargs):
        team.queue(labeler)  # an unknown labeler: a ValueError naming the team's groups
        if not context_s >= 0:
            raise ValueError(f"context_s={context_s!r} must be >= 0")
        super().__init__(background=str(team.settings["background"]), autoplay=autoplay,
                         **kwargs)
        self.team = team
        self.labeler = str(labeler)
        self.context_s = float(context_s)
        self.shown: tuple[int, int] | None = None  # (round_id, clip_id) on screen
        self._source = ("", 0.0)  # its file (printable) and start
        self._tags: list[str] = []
        self._tags_round: int | None = None
        self._main = MainThread()  # traits change on the thread the widget was made on
        self.on_msg(self._on_message)
        self.refresh()

    # -- browser -> kernel ---------------------------------------------------------------
    def _on_message(self, widget, content, buffers) -> None:
        # JupyterLab 4.6 may send a widget's messages over a kernel subshell (ipykernel 7
        # runs them on a thread of their own): handled on the main thread, in order
        self._main.call(self._handle, content)

    def _handle(self, content) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        on = dict(clip_id=content.get("clip_id"), round_id=content.get("round_id"))
        if kind == "submit":
            self.submit(content.get("events"), **on)
        elif kind == "background":
            self.mark_background(content.get("events"), **on)
        elif kind == "search":
            self.search(content.get("text", ""))
        elif kind == "suggest":
            self.suggest(content.get("tag", ""), content.get("parent") or None,
                         content.get("description", ""))
        elif kind == "refresh":
            self.refresh()

    def submit(self, events=None, *, clip_id: int | None = None,
               round_id: int | None = None) -> bool:
        """Store the events of the clip on screen (default: the drawn ones, :attr:`events`)
        for this labeler, then show their next clip; return whether they were stored.

        ``events`` are ``(tag, onset_s, offset_s)`` or ``{"tag", "onset", "offset"}`` from
        the clip's start. ``clip_id`` / ``round_id`` name what was on screen when the
        labeler submitted (the browser always sends them): if another clip is shown by now
        the submission is refused. Errors (a tag refused, an event outside the clip...) are
        shown in the widget (and kept in :attr:`error`); the clip and its events stay.
        """
        return self._annotate(events, clip_id, round_id, background=False)

    def mark_background(self, events=None, *, clip_id: int | None = None,
                        round_id: int | None = None) -> bool:
        """Store the clip on screen as holding nothing of interest: one event of the team's
        background tag over the whole clip. Refused while events are drawn (delete them, or
        submit them)."""
        return self._annotate(events, clip_id, round_id, background=True)

    def search(self, text: str) -> list[str]:
        """Selectable tags whose name holds ``text`` (names starting with it first), shown
        as the search box's results."""
        text = str(text)
        tags = search_ontology(self.team.store, text, tags=self._tags) if text.strip() else []
        self.results = {"text": text, "tags": tags}
        return tags

    def suggest(self, tag: str, parent: str | None = None, description: str = "") -> int | None:
        """Suggest a new class for the team to accept (selectable from the next round once
        accepted); return the suggestion's id, or None when refused (the reason is shown)."""
        try:
            sid = self.team.suggest_class(self.labeler, tag, parent, description)
        except ValueError as exc:
            self.error = f"suggestion not stored: {exc}"
            return None
        self.error = ""
        self.message = (f"Suggested {str(tag).strip()!r}" + (f" under {parent!r}" if parent else "")
                        + f" (suggestion {sid}): selectable once the team accepts it.")
        self._update_status()
        return sid

    def refresh(self) -> None:
        """Read the queue, progress and announcements again (e.g. a new round was planned,
        a class accepted); the clip on screen and its events stay while it is assigned."""
        self._show_next()

    # -- labeling ------------------------------------------------------------------------
    def _annotate(self, events, clip_id, round_id, *, background: bool) -> bool:
        self.busy = True  # until the next clip is shown: the browser waits for it
        try:
            note = self._store(events, clip_id, round_id, background)
            if note is not None:
                self.error = ""
                self._show_next(note)
            return note is not None
        finally:
            self.busy = False

    def _store(self, events, clip_id, round_id, background: bool) -> str | None:
        """Store the draft (or the background event) on the clip on screen; return what was
        saved, or None with the reason in :attr:`error` (the clip and its events stay)."""
        try:
            if self.shown is None:
                raise ValueError(f"no clip is assigned to {self.labeler!r}: the queue is empty")
            r, c = self.shown
            if (clip_id is not None and int(clip_id) != c) or (
                    round_id is not None and int(round_id) != r):
                self.error = (f"that submission was for clip {clip_id}, which is no longer "
                              "shown; nothing was stored")
                return None
            if events is not None:
                self.events = [_as_dict(e, i) for i, e in enumerate(events)]
            drawn = [_as_tuple(e, i) for i, e in enumerate(self.events)]
            if background:
                if drawn:
                    raise ValueError(
                        f"clip {c} has {len(drawn)} event(s) drawn: B marks a clip with nothing "
                        "of interest; delete them first, or submit them (Enter)")
                drawn = [(self.background, 0.0, float(self.clip_duration_s))]
            if not drawn:
                raise ValueError(
                    f"no event on clip {c}: drag on the spectrogram to draw one, or press B "
                    f"when there is nothing of interest ({self.background})")
            for i, (tag, onset, offset) in enumerate(drawn):
                if not tag:
                    raise ValueError(f"event {i + 1} ({onset:.2f}–{offset:.2f} s) has no tag: "
                                     "select it and choose one (search or browse)")
            self.team.annotate(self.labeler, c, drawn, round_id=r)
        except Exception as exc:  # shown in the widget; the clip and its events stay
            self.error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, ValueError):  # StoreError is one: expected, no traceback
                traceback.print_exc()
            if self.shown is not None and self.shown not in self.team.queue(self.labeler):
                lost = "; ".join(f"{e['tag']} {e['onset']:.2f}–{e['offset']:.2f} s"
                                 for e in self.events)
                self.error += (" (the clip is no longer in your queue: annotated in another "
                               "kernel? " + (f"Not stored: {lost}. " if lost else "") +
                               "Showing your next clip.)")
                self._show_next()
            return None
        tags = sorted({tag for tag, _, _ in drawn})
        return f"Saved clip {c}: {len(drawn)} event{'s' * (len(drawn) != 1)} ({', '.join(tags)})."

    # -- kernel -> browser ---------------------------------------------------------------
    def _show_next(self, note: str = "") -> None:
        """Show the labeler's next assigned clip (the one on screen while it is still
        assigned), their progress, and ``note`` with where they are in the status line."""
        queue = self.team.queue(self.labeler)
        nxt = queue[0] if queue else None
        if nxt != self.shown:
            self.shown = nxt
            self._load(nxt)
        if nxt is not None and nxt[0] != self._tags_round:
            self._set_tags(nxt[0])
        elif self._tags_round is None:
            self._set_tags(None)
        self._update_status(queue)
        where = (f"No clip left for {self.labeler}: the queue is empty." if nxt is None else
                 f"{'Next: c' if note else 'C'}lip {nxt[1]} of round {nxt[0]}, "
                 f"{len(queue)} left in your queue.")
        self.message = f"{note} {where}".strip()

    def _load(self, shown) -> None:
        with self.hold_sync():
            self.events = []
            self.results = {}
            if shown is None:
                self.show_payload(None)
                return
            r, c = shown
            src = self.team.store.clip_sources([c])
            path, start, duration = src.path[0], float(src.start_s[0]), float(src.duration_s[0])
            self._source = (printable(path), start)
            self.clip_duration_s = duration
            try:
                self.show_payload(clip_payload(path, start, duration, context_s=self.context_s))
            except Exception as exc:  # e.g. the file moved: say so; the clip can still be tagged
                self.show_payload(None)
                self.error = f"cannot show clip {c}'s audio: {type(exc).__name__}: {exc}"
            if self._round(r).get("kind") == "doubt":  # start from the labeler's earlier answer
                before = self.team.store.clip_annotations([c]).get(c, {}).get(self.labeler, [])
                self.events = [_as_dict(e, i) for i, e in enumerate(before)]
        if self.autoplay:
            self.play_request += 1

    def _set_tags(self, round_id: int | None) -> None:
        self._tags = self.team.selectable_tags(round_id)
        self._tags_round = round_id
        allowed = set(self._tags)
        tree = {"" if parent is None else parent: [c for c in kids if c in allowed]
                for parent, kids in ontology_children(self.team.store).items()
                if parent is None or parent in allowed}
        self.tree = {k: v for k, v in tree.items() if v}

    def _round(self, round_id: int) -> dict:
        return next((r for r in self.team.store.rounds() if r["id"] == round_id), {})

    def _update_status(self, queue=None) -> None:
        queue = self.team.queue(self.labeler) if queue is None else queue
        me = next(p for p in self.team.progress() if p.labeler == self.labeler)
        mine = [dict(tag=s["tag"], status=s["status"]) for s in self.team.store.suggestions()
                if s["labeler"] == self.labeler]
        status = dict(labeler=self.labeler, group=me.group, today=me.today, quota=me.quota,
                      left=len(queue), done=not queue, announcements=self.team.announcements(),
                      suggestions=mine, doubts=me.doubts)
        if self.shown is not None:
            r, c = self.shown
            info = self._round(r)
            path, start = self._source
            window = " – ".join(str(x)[:16] for x in (info.get("window_start"),
                                                      info.get("window_end")) if x)
            status.update(
                clip_id=c, round_id=r, kind=info.get("kind", "round"), file=Path(path).name,
                start_s=start, round=(f"round {r}: doubt resolution (re-listen, resolve your "
                                      "Doubt events)") if info.get("kind") == "doubt" else
                f"round {r}" + (f" · {', '.join(info['nodes'])}" if info.get("nodes") else "")
                + (f" · {window}" if window else ""))
        self.status = status


def _as_tuple(event, i: int) -> tuple[str, float, float]:
    """An event of the draft or of a message as ``(tag, onset_s, offset_s)``."""
    try:
        if isinstance(event, dict):
            tag, onset, offset = event.get("tag", ""), event["onset"], event["offset"]
        else:
            tag, onset, offset = event
        return str(tag or ""), float(onset), float(offset)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"event {i + 1} {event!r} must be (tag, onset_s, offset_s) or "
                         "{'tag': ..., 'onset': ..., 'offset': ...}") from None


def _as_dict(event, i: int) -> dict:
    tag, onset, offset = _as_tuple(event, i)
    return {"tag": tag, "onset": onset, "offset": offset}
