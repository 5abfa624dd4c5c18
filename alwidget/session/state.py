"""What a labeling session knows: the decisions in force, and what it shows and reports.

:class:`LoopState` is the loop's input, read from the store (every labeler's decisions,
so sessions on one database see each other) and moved forward in memory after each of
this session's own decisions. :class:`Proposal` and :class:`Status` are what the widgets
show.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..store import Store

__all__ = ["DOUBT", "LoopState", "Proposal", "SessionPlan", "StaleDecision", "Status", "Upcoming",
           "read_state"]

#: The framework's Doubt class: clips the expert could not decide, kept for a later
#: doubt-resolution round; never used for training.
DOUBT = "Doubt"


class StaleDecision(ValueError):
    """A decision for a clip that is no longer the current one; nothing was stored.

    Raised when the browser's message names a clip the session has moved past (a double
    key press, a slow kernel), or when another session decided the clip first. The
    session has already moved on to its next clip.
    """


@dataclass(frozen=True)
class Proposal:
    """The clip to label next, and why.

    Attributes
    ----------
    clip_id : int
    path : str
        Audio file of the clip.
    start_s, duration_s : float
        Where the clip lies in the file.
    reason : str
        Why it was picked ("least confident: ...", "random: ...").
    strategy : str
        The rule that picked it: the session's strategy by its name (``"lc-tuned"``),
        ``"random"`` before a model exists, ``"expert"`` for a queued or chosen clip.
    model_version : int
        Decisions the model was trained after (its iteration).
    predicted : str or None
        The model's predicted class (None before a model exists).
    confidence : float or None
        P(predicted class).
    p_target : float or None
        P(target class) for a binary task (None with more than two classes).
    """

    clip_id: int
    path: str
    start_s: float
    duration_s: float
    reason: str
    strategy: str
    model_version: int
    predicted: str | None = None
    confidence: float | None = None
    p_target: float | None = None


@dataclass(frozen=True)
class Upcoming:
    """The clip the session will show after one answer to the clip shown.

    Attributes
    ----------
    action : {"label", "skip"}
    label : str or None
        The class of a "label" answer.
    after : int
        The clip the answer is to (the one shown when this was planned).
    proposal : Proposal
        The clip that follows that answer.
    """

    action: str
    label: str | None
    after: int
    proposal: Proposal


@dataclass
class Status:
    """What the status bar shows. ``refit_error``: why the last background refit failed
    (deep learners; None when it did not), the previous model staying in use."""

    n_labels: int
    n_positive: int | None
    model_version: int
    last_retrain_s: float | None
    learning_curve: list[tuple[int, float]] = field(default_factory=list)
    done: bool = False
    n_skipped: int = 0
    n_doubt: int = 0
    n_queued: int = 0
    refit_error: str | None = None


@dataclass(frozen=True)
class LoopState:
    """The decisions a plan is made from (hashable: plans are cached by it).

    Attributes
    ----------
    labels : tuple of (clip_id, label)
        The label in force per clip (any labeler; the newest wins), sorted by clip.
    skipped : frozenset of int
        Clips out of the pool without a label for this task: skips, and labels of classes
        this session does not have.
    n_decisions : int
        Decisions in force (its seed: a resumed session makes the same picks).
    queued : tuple of int
        Clips the expert asked to see next (this session only).
    pseudo : tuple of (clip_id, label)
        Labels the model gave itself after the last decision (semi-supervised AL).
    """

    labels: tuple[tuple[int, str], ...]
    skipped: frozenset[int]
    n_decisions: int
    queued: tuple[int, ...] = ()
    pseudo: tuple[tuple[int, str], ...] = ()

    @property
    def key(self) -> tuple:
        return (self.labels, self.skipped, self.queued, self.pseudo)

    def with_labels(self, clip_ids, label: str) -> "LoopState":
        d = dict(self.labels)
        d.update((int(c), label) for c in clip_ids)
        return replace(self, labels=tuple(sorted(d.items())),
                       n_decisions=self.n_decisions + len(clip_ids))

    def with_skip(self, clip_id: int) -> "LoopState":
        return replace(self, skipped=self.skipped | {int(clip_id)},
                       n_decisions=self.n_decisions + 1)

    def decided(self) -> set[int]:
        """Clips that are out of the pool: labeled (Doubt included) or skipped."""
        return {c for c, _ in self.labels} | set(self.skipped)


def read_state(store: Store, *, labeler: str, classes, known, queued=(), pseudo=None):
    """The state in force in the store, and this labeler's decisions (for undo).

    Parameters
    ----------
    known : container of int
        Clips the session has features for; decisions on other clips are ignored.
    pseudo : tuple, optional
        Pseudo-labels to keep; default those stored with this labeler's last decision.

    Returns
    -------
    state : LoopState
    history : list of list of int
        This labeler's decisions in force, oldest first, each the event ids of one decision
        (a group label is one decision).

    Examples
    --------
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(":memory:")
    >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 48000, 1, "WAV", "PCM_16",
    ...                              "h", 0), [(0, 1.0), (1, 1.0), (2, 1.0)])
    >>> for tag in ("bird", "rain"):
    ...     _ = store.add_tag(tag)
    >>> _ = store.add_label(1, "bird", labeler="ann")
    >>> _ = store.add_labels([2, 3], "rain", labeler="bob")
    >>> state, history = read_state(store, labeler="bob", classes=["bird", "rain"],
    ...                             known={1, 2, 3})
    >>> state.labels, state.n_decisions, history
    (((1, 'bird'), (2, 'rain'), (3, 'rain')), 3, [[2, 3]])
    """
    labels: dict[int, str] = {}
    skipped: set[int] = set()
    history: list[list[int]] = []
    n = 0
    accepted = set(classes) | {DOUBT}
    for d in store.active_events():
        if d.clip_id not in known:
            continue
        n += 1
        if d.kind == "label" and d.label in accepted:
            labels[d.clip_id] = d.label
        else:  # a skip, or a label of another task's class: out of this pool, not trained on
            skipped.add(d.clip_id)
        if d.labeler == labeler:
            if d.group_id is not None and history and history[-1][0] == d.group_id:
                history[-1].append(d.id)
            else:
                history.append([d.id])
    if pseudo is None:
        pseudo = ()
        if history:
            t = store.pseudo_labels(event_id=history[-1][-1])
            pseudo = tuple((c, lab) for c, lab in zip(t.clip_id.tolist(), t.label.tolist())
                           if c in known)
    state = LoopState(tuple(sorted(labels.items())), frozenset(skipped), n, tuple(queued),
                      tuple(pseudo))
    return state, history


@dataclass(frozen=True)
class SessionPlan:
    """A loop plan as the session holds it: the state it was made from and the clip it shows."""

    state: LoopState
    plan: object  # alwidget.loop.Plan
    proposal: Proposal | None
