"""The expert's decisions on a session: each names its clip and is committed first.

:class:`Decisions` is the part of :class:`~alwidget.session.Session` that takes
decisions (label, doubt, skip, a chosen clip, a group, undo, queue). Each is written to
the store whole, after reading what other sessions decided, before the state moves on
and the next clip is planned (:meth:`Session._advance`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..store import StoreError
from .state import DOUBT, Proposal, StaleDecision, read_state

__all__ = ["Decisions"]


class _Taken(Exception):
    """Another session decided a clip of this decision first (inside the commit)."""

    def __init__(self, event):
        self.event = event


class Decisions:
    """The decision methods of :class:`~alwidget.session.Session` (see there for the rules)."""

    def submit(self, label: str, events=None, *, clip_id: int | None = None) -> Proposal | None:
        """Label the current clip (optionally with strong-label events); return the next clip.

        ``events`` is a list of ``(class, onset_s, offset_s)`` relative to the clip's start.
        ``clip_id`` names the clip the decision was made on (the widget always sends it): if
        it is no longer the current clip, :class:`StaleDecision` is raised and nothing is
        stored. The label is committed to the store before anything else.
        """
        label = self._check_label(label)
        events = self._check_events(events)
        with self._lock:
            p = self._require_current(clip_id)
            stale = self._decide(
                [p.clip_id], lambda st: st.with_labels([p.clip_id], label),
                lambda: [self.store.add_label(
                    p.clip_id, label, labeler=self.labeler, strategy=p.strategy,
                    reason=p.reason, model_version=p.model_version,
                    predicted_proba=p.p_target, events=events)],
                tags=[label] + [e[0] for e in events or []])
        return self._after(stale)

    def doubt(self, *, clip_id: int | None = None) -> Proposal | None:
        """Put the current clip in the Doubt class (kept for a doubt-resolution round)."""
        return self.submit(DOUBT, clip_id=clip_id)

    def skip(self, *, clip_id: int | None = None) -> Proposal | None:
        """Skip the current clip (committed; it is not asked again); return the next clip."""
        with self._lock:
            p = self._require_current(clip_id)
            stale = self._decide(
                [p.clip_id], lambda st: st.with_skip(p.clip_id),
                lambda: [self.store.add_skip(p.clip_id, labeler=self.labeler, strategy=p.strategy,
                                             reason=p.reason, model_version=p.model_version)])
        return self._after(stale)

    def label(self, clip_id: int, label: str, events=None, *, strategy: str = "expert",
              reason: str = "chosen by the expert") -> Proposal | None:
        """Label a clip of the expert's choosing (a known example, a clip found on a map or by
        search by example).

        Committed like any label; the next clip is then planned from the new labels.
        ``strategy`` and ``reason`` record how the clip was found (e.g. ``"search"`` and
        ``"nearest to clip 12"``).
        """
        label = self._check_label(label)
        events = self._check_events(events)
        clip_id = self._clip_id(clip_id)
        self._check_labelable([clip_id])
        with self._lock:
            stale = self._decide(
                [clip_id], lambda st: st.with_labels([clip_id], label),
                lambda: [self.store.add_label(clip_id, label, labeler=self.labeler,
                                              strategy=strategy, reason=reason,
                                              model_version=self._state.n_decisions,
                                              events=events)],
                tags=[label] + [e[0] for e in events or []])
        return self._after(stale)

    def label_many(self, clip_ids, label: str, *, strategy: str = "expert",
                   reason: str = "labeled as a group by the expert") -> Proposal | None:
        """Give many clips (e.g. a region selected on a map) the same label: one decision.

        All are committed in one transaction and the model is refitted once; one
        :meth:`undo` takes the whole group back. ``strategy`` and ``reason`` record how the
        clips were found.
        """
        label = self._check_label(label)
        clip_ids = list(dict.fromkeys(self._clip_id(c) for c in clip_ids))
        self._check_labelable(clip_ids)
        if not clip_ids:
            return self.current
        with self._lock:
            stale = self._decide(
                clip_ids, lambda st: st.with_labels(clip_ids, label),
                lambda: self.store.add_labels(clip_ids, label, labeler=self.labeler,
                                              strategy=strategy, reason=reason,
                                              model_version=self._state.n_decisions),
                tags=[label])
        return self._after(stale)

    def undo(self, *, clip_id: int | None = None) -> Proposal | None:
        """Take back this labeler's last decision (a group label whole); its clip comes back.

        ``clip_id`` names the clip shown when undo was asked; if the session has moved on
        since, :class:`StaleDecision` is raised and nothing is undone.
        """
        with self._lock:
            if clip_id is not None:
                self._require_current(clip_id)
            if not self._history:
                raise ValueError("nothing to undo")
            stale = None
            try:
                self.store.undo_decision(self._history[-1][0])
            except StoreError as exc:  # undone meanwhile by this labeler's other kernel
                if "already undone" not in str(exc):
                    raise
                stale = StaleDecision("the last decision was already undone in another session; "
                                      "nothing more was undone")
            self._resync(keep_pseudo=False)
        return self._after(stale)

    def queue(self, clip_ids) -> None:
        """Ask these clips next (in order), before the strategy's picks; undecided ones only.

        The queue lives in this session (a new session starts with an empty one).
        """
        clip_ids = [self._clip_id(c) for c in clip_ids]
        self._check_features(clip_ids)
        with self._lock:
            queued = tuple(dict.fromkeys(self._state.queued + tuple(clip_ids)))
            self._state = replace(self._state, queued=queued)
            self._precompute()
        self._notify()

    def _require_current(self, clip_id) -> Proposal:
        p = self.current
        if p is None:
            raise ValueError("the session is done: no clip to decide on")
        if clip_id is not None and self._clip_id(clip_id) != p.clip_id:
            raise StaleDecision(f"that decision was for clip {clip_id}, which is no longer "
                                f"shown (the current clip is {p.clip_id}); nothing was stored")
        if p.clip_id in self._state.decided():  # never twice, whatever went wrong in between
            self._resync(keep_pseudo=True)
            raise StaleDecision(f"clip {p.clip_id} is decided already; nothing was stored, and "
                                "the next clip is shown")
        return p

    def _decide(self, clip_ids, step, write, tags=()) -> StaleDecision | None:
        """Commit a decision, move the state forward, then plan the next clip.

        Called with the lock held. Inside the transaction the session reads what other
        sessions decided since it last looked; a clip of this decision among them means
        nothing is written, and the :class:`StaleDecision` to raise is returned (after the
        views have heard of the move, see :meth:`_after`). ``tags`` (the labels it uses) and
        the pseudo-labels' classes enter the ontology in the same transaction.
        """
        wanted = set(clip_ids)
        pseudo = self._next_pseudo()
        try:
            with self.store.transaction():
                others = self.store.events_since(self._seen)
                undone = {d.undoes for d in others if d.kind == "undo"}
                taken = [d for d in others
                         if d.kind != "undo" and d.id not in undone and d.clip_id in wanted]
                if taken:
                    raise _Taken(taken[0])
                for tag in sorted({*tags, *(lab for _, lab in pseudo)}):
                    self.store.add_tag(tag)
                events = write()
                if pseudo:
                    clips, labels = zip(*pseudo)
                    self.store.add_pseudo_labels(
                        clips, labels, strategy=self.strategy.name,
                        model_version=self._state.n_decisions, event_id=events[-1])
        except _Taken as t:
            self._resync(keep_pseudo=True)
            d = t.event
            what = "labeled" if d.kind == "label" else "skipped"
            stale = StaleDecision(f"clip {d.clip_id} was just {what} by {d.labeler} in another "
                                  "session; nothing was stored, and the next clip is shown")
        else:
            stale = None
            # committed: the state moves forward before anything else can fail
            self._state = replace(step(self._state), pseudo=pseudo)
            self._history.append(list(events))
            read = None
            if others:  # their decisions and undos too: read everything in force again
                read = self._try(lambda: read_state(
                    self.store, labeler=self.labeler, classes=self.classes, known=self._row,
                    queued=self._state.queued, pseudo=pseudo)[0], None)
            if read is not None:
                self._state = read
            if read is not None or not others:  # else they are read again at the next commit
                self._seen = max([self._seen, *events, *(d.id for d in others)])
            self._advance(record=True)
        return stale

    def _after(self, stale: StaleDecision | None) -> Proposal | None:
        """Tell the views (outside the lock: they read the session), then answer the caller."""
        self._notify()
        if stale is not None:
            raise stale
        return self.current

    def _resync(self, *, keep_pseudo: bool) -> None:
        """Read every decision in force again, and plan from it (lock held)."""
        self._planner.cancel()
        self._seen = self.store.last_event_id()
        self._state, self._history = read_state(
            self.store, labeler=self.labeler, classes=self.classes, known=self._row,
            queued=self._state.queued, pseudo=self._state.pseudo if keep_pseudo else None)
        self._advance(record=False)

    def _read(self):
        return read_state(self.store, labeler=self.labeler, classes=self.classes, known=self._row)

    def _check_label(self, label) -> str:
        label = str(label)
        if label != DOUBT and label not in self.classes:
            raise ValueError(f"label={label!r} is not one of {self.classes} (or {DOUBT!r})")
        return label

    def _check_events(self, events) -> list[tuple[str, float, float]] | None:
        """Strong-label events as ``(class, onset_s, offset_s)``, checked before any write:
        a class of the session (or a tag of the store's ontology), finite times with
        ``0 <= onset < offset`` (the store checks the clip's duration in the commit)."""
        if events is None:
            return None
        known = None
        out = []
        for k, event in enumerate(events):
            try:
                tag, onset, offset = event
                onset, offset = float(onset), float(offset)
            except (TypeError, ValueError):
                raise ValueError(f"events[{k}]={event!r} must be (class, onset_s, offset_s), "
                                 "times in seconds from the clip's start") from None
            tag = str(tag)
            if tag not in self.classes:
                known = set(self.store.tags()) if known is None else known
                if tag not in known or tag == DOUBT:
                    raise ValueError(f"events[{k}] class {tag!r} is not one of {self.classes} "
                                     "nor a tag of the store's ontology (store.add_tag)")
            if not (math.isfinite(onset) and math.isfinite(offset) and 0 <= onset < offset):
                raise ValueError(f"events[{k}]={event!r} needs finite times with "
                                 "0 <= onset_s < offset_s")
            out.append((tag, onset, offset))
        return out

    def _check_features(self, clip_ids) -> None:
        missing = [c for c in clip_ids if c not in self._row]
        if missing:
            raise ValueError(f"clips {missing[:5]} have no {self.feature_set.extractor} features")

    def _check_labelable(self, clip_ids) -> None:
        self._check_features(clip_ids)
        held_out = [c for c in clip_ids if c in self._val_ids]
        if held_out:
            raise ValueError(f"clips {held_out[:5]} are in the validation set: labeling them "
                             "would train on the clips that measure the model")
