"""The labeling session: the one stateful object between the store and the widgets.

A :class:`Session` shows one clip at a time (:attr:`~Session.current`), takes the expert's
decisions (:meth:`~Session.submit`, :meth:`~Session.skip`, :meth:`~Session.doubt`,
:meth:`~Session.label`, :meth:`~Session.label_many`, :meth:`~Session.undo`), and picks the
next clip with the loop core (:class:`alwidget.loop.LoopCore`), the same step the
simulated experiments measure.

* **Committed first.** Each decision names its clip, is written to the store whole (one
  transaction, with the pseudo-labels the next fit trains on), and only then does the
  state move forward and the next clip get planned. If planning fails, the next clip is
  random and its reason says why; a clip is never labeled twice.
* **No waiting.** While a clip is shown, a background planner already refits and picks
  the next clip for every likely answer (:mod:`~alwidget.session.planner`), and makes that
  clip's audio and spectrogram for the browser (:mod:`~alwidget.session.payloads`), so the
  pick is the one a fresh refit would make and the expert does not wait for it.
* **Several sessions, one database.** The state is every labeler's decisions in force.
  Inside the commit, a session reads what others decided since it last looked: a clip
  someone else just decided is refused (:class:`~alwidget.session.StaleDecision`, nothing
  stored) and the session moves on. Each session claims the clip it shows, and sessions
  of other kernels leave claimed clips alone, so two kernels never show the same clip.
* **Resumable.** Everything is seeded by (random_state, decisions in force): a new
  session on the same database resumes with the same next clip.
* **Slow learners in the background.** A deep learner (``model="crnn"`` or ``"head"``) is
  refitted by a background trainer (:mod:`~alwidget.session.trainer`) when the labels
  change; plans meanwhile use the last model and say how it is stale. (The picks then depend
  on when refits end: ``background_fit=False`` refits in the plan, reproducibly.)

No ipywidgets here: the widgets only call this class.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
import warnings
import weakref
from dataclasses import replace

import numpy as np

from ..learn import is_deep, make_model
from ..loop import LoopCore
from ..store import FeatureSet, Store, StoreError
from ..strategies import Strategy
from .decisions import Decisions
from .growth import Growth
from .results import Results
from .payloads import PAYLOADS
from .planner import Planner
from .pool import SessionPool
from .trainer import Refits
from .state import DOUBT, LoopState, Proposal, SessionPlan, Status, Upcoming, read_state

__all__ = ["Session"]


class Session(Decisions, Results, Refits, Growth):
    """Active-learning loop over a store, a learner and a strategy.

    Parameters
    ----------
    store : Store or path
    feature_set : FeatureSet, optional
        Which features to learn from; by default the store's oldest set that has vectors.
    classes : sequence of str
        The fixed class list. A class enters the project's ontology when a label first uses
        it (opening a session writes nothing). Two classes make a binary task whose target
        is ``target``.
    target : str, optional
        The positive class of a binary task; default ``classes[-1]``.
    strategy : str or Strategy, default "lc"
        A name from :data:`alwidget.strategies.STRATEGY_NAMES` or an instance (cloned).
        ``lc-tuned`` (and any ``-tuned`` strategy) needs ``validation``.
    model : str or classifier, optional
        A name for :func:`alwidget.learn.make_model` (``"forest"``, ``"crnn"``, ``"head"``,
        ``"committee"``, ``"crnn-mc10"``) or a classifier (cloned, never changed). Default
        :func:`alwidget.learn.default_model` (the forest). A CRNN (``"crnn"`` or an instance)
        learns only from a ``logmel-frames`` feature set (the store's newest by default) and
        reads its shape from that set's config;
        ``"head"`` from embeddings (give ``feature_set``, e.g. the ``yamnet`` set).
    labeler : str, default "expert"
    budget : int, optional
        Stop after this many labels.
    validation : (clip_ids, labels), optional
        Labeled clips kept out of the pool: the decision threshold is tuned on them and
        F1 is reported after each fit.
    target_f1 : float, optional
        Stop once validation F1 reaches it.
    random_state : int, default 0
    precompute : bool, default True
        Plan the next clip for every answer in the background.
    clips : sequence of int, optional
        Ask only about these clips (e.g. one node's week); default every clip with features.
        Labels of other clips still train the model. A growing archive's new clips join at
        the next plan (``follow_archive``, see :class:`~alwidget.session.growth.Growth`):
        every one without ``clips=``, those the same filter chooses with
        ``clips=clips_where(...)``, none with plain clip ids.
    claim_timeout_s : float, default 1800
        A clip shown by a session of another kernel stays off this session's pool until that
        session moves on, closes, or has shown it this long.
    start : {"random", "nearest"}, default "random"
        The cold start, before two classes are labeled (:class:`alwidget.loop.LoopCore`).
        ``"nearest"`` starts from search by example: once a clip of the target is labeled
        (e.g. one found with :mod:`alwidget.search`), the next clips are those nearest to
        the known positive(s) by cosine distance, until a clip of another class is labeled;
        ``"random"`` picks at random until then.
    background_fit : bool, optional
        Refit in a background trainer and plan with the last model meanwhile (stale plans
        say so). Default: True for the deep learners (:func:`alwidget.learn.is_deep`),
        False otherwise (the refit is part of each plan).

    Examples
    --------
    >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
    >>> session.current.reason  # doctest: +SKIP
    'random: no labels yet'
    >>> nxt = session.submit("target", clip_id=session.current.clip_id)  # doctest: +SKIP
    """

    def __init__(self, store, feature_set: FeatureSet | None = None, *, classes,
                 target: str | None = None, strategy: str | Strategy = "lc", model=None,
                 labeler: str = "expert", budget: int | None = None, validation=None,
                 target_f1: float | None = None, random_state: int = 0,
                 precompute: bool = True, clips=None, claim_timeout_s: float = 1800.0,
                 start: str = "random", background_fit: bool | None = None):
        self.store = store if isinstance(store, Store) else Store(store)
        classes = [str(c) for c in classes]
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes={classes!r} must list at least two distinct classes")
        if DOUBT in classes:
            raise ValueError(f"{DOUBT!r} is the doubt class; do not list it in classes")
        self.classes = classes
        self.target = target if target is not None else classes[-1]
        if self.target not in classes:
            raise ValueError(f"target={target!r} is not one of classes={classes!r}")
        if budget is not None and budget < 1:
            raise ValueError(f"budget={budget!r} must be >= 1")
        if not claim_timeout_s > 0:
            raise ValueError(f"claim_timeout_s={claim_timeout_s!r} must be > 0")
        by_name = isinstance(model, str)
        if by_name:
            model = make_model(model)
        model, feature_set = self._spectrogram_model(model, feature_set, by_name)
        if feature_set is None:
            feature_set = self.store.default_feature_set()  # never an empty one
        self.feature_set = feature_set
        ids, X = self.store.get_features(feature_set)
        if len(ids) == 0:
            raise ValueError(f"no clip has {feature_set.extractor} features yet")
        self._ids = ids
        self._row = {int(c): i for i, c in enumerate(ids)}
        val_rows, val_labels = self._validation(validation)
        self._val_ids = frozenset(int(c) for c in ids[val_rows])
        inside = np.ones(len(ids), bool) if clips is None else self._inside(clips)
        inside[val_rows] = False
        self._inside_rows = np.flatnonzero(inside)
        self._init_growth(clips)  # a growing archive: see growth.py
        self._core = LoopCore(X, classes, target=self.target, model=model, strategy=strategy,
                              random_state=random_state, start=start,
                              validation=None if validation is None else (val_rows, val_labels))
        self.strategy = self._core.strategy
        self.model = self._core.model
        self.labeler = labeler
        self.budget = budget
        self.target_f1 = target_f1
        self.random_state = random_state
        self.claim_timeout_s = float(claim_timeout_s)
        #: plans computed while the caller waited (0 when the background planner kept up)
        self.n_sync_plans = 0
        #: (labels, validation F1) after each fit that followed a decision
        self.curve: list[tuple[int, float]] = []
        self.last_retrain_s: float | None = None
        self._lock = threading.RLock()
        self._observers: list = []
        self._upcoming_observers: list = []
        self._answers: dict = {}  # state key -> (action, label) of the plans made ahead
        self._id = uuid.uuid4().hex
        self._claimed: frozenset[int] = frozenset()
        self._finalizer = weakref.finalize(self, _end_session, self.store, self._id)
        self.pool = SessionPool(
            store=self.store, feature_set=feature_set, clip_ids=ids,
            sources=self.store.clip_sources(ids), classes=classes, target=self.target,
            validation_rows=val_rows, inside=inside, snapshot=self._snapshot)
        self._planner = Planner(self._plan_for, enabled=precompute, prepare=self._prepare)
        self._background = is_deep(self.model) if background_fit is None else bool(background_fit)
        self._closed = False
        self._init_refits()  # the background trainer: see trainer.py
        self._on_screen: tuple = ()  # (path, start_s, duration_s) of the clip shown, the one before
        self._seen = self.store.last_event_id()
        self._state, self._history = self._read()
        self._planned: SessionPlan | None = None
        _warm_up(self.model)  # compiles in the background while the first clips are random
        self._advance(record=False)
        self.n_sync_plans = 0  # the first plan is made while the session starts

    def _validation(self, validation):
        if validation is None:
            return np.empty(0, np.int64), np.empty(0, object)
        v_ids, v_labels = validation
        v_ids = [self._clip_id(c) for c in v_ids]
        missing = [c for c in v_ids if c not in self._row]
        if missing:
            raise ValueError(f"validation clips {missing[:5]} have no "
                             f"{self.feature_set.extractor} features")
        unknown = sorted(set(map(str, v_labels)) - set(self.classes))
        if unknown:
            raise ValueError(f"validation labels {unknown} are not in classes={self.classes}")
        return np.array([self._row[c] for c in v_ids], np.int64), np.asarray(v_labels, object)

    def _inside(self, clips) -> np.ndarray:
        clips = np.asarray([self._clip_id(c) for c in clips], np.int64)
        missing = clips[~np.isin(clips, self._ids)]
        if len(missing):
            raise ValueError(f"clips {missing[:5].tolist()} have no {self.feature_set.extractor} "
                             "features; run alwidget.extract_features first")
        return np.isin(self._ids, clips)

    # -- what the session shows -----------------------------------------------------------
    @property
    def current(self) -> Proposal | None:
        """The clip to label now (None when the pool is empty or a stop criterion is met)."""
        return None if self.done else self._planned.proposal

    @property
    def n_labels(self) -> int:
        """Human labels the model learns from: every labeler's, Doubt and validation clips
        excluded (the budget counts these)."""
        return len(self._training_labels())

    def _training_labels(self) -> list[str]:
        return [lab for c, lab in self._state.labels if lab != DOUBT and c not in self._val_ids]

    @property
    def done(self) -> bool:
        """True once the budget or the target F1 is reached, or nothing is left."""
        if self.budget is not None and self.n_labels >= self.budget:
            return True
        if self.target_f1 is not None and self.curve and self.curve[-1][1] >= self.target_f1:
            return True
        return self._planned.proposal is None

    @property
    def learner(self):
        """The current model (a fitted :class:`~alwidget.learn.Learner`), None before one exists."""
        return self._planned.plan.learner

    @property
    def threshold(self) -> float | None:
        """The decision threshold on P(target): tuned on ``validation`` when given, else 0.5."""
        return self._planned.plan.threshold

    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """The clips this session works on (ids, ascending) and their vectors in its feature
        set, as read-only views (no copy; a copy when the archive grew by clips below the
        newest): what search and views compare clips by."""
        ids = self._ids.view()
        X = self._core.X[:len(ids)]  # growing meanwhile (another thread): the rows of ids
        if len(ids) > 1 and (np.diff(ids) < 0).any():  # grown by clips stored out of order
            order = np.argsort(ids, kind="stable")
            ids, X = ids[order], X[order]  # a copy in ascending order
        ids.flags.writeable = X.flags.writeable = False
        return ids, X

    def status(self) -> Status:
        """Counts, model version, retrain time and learning curve, for display.

        ``n_skipped`` counts the clips out of the pool without a label of this session's
        classes (skipped, or labeled with another class), ``n_doubt`` those in Doubt (both
        without validation clips), ``n_queued`` the clips asked to be shown next and not
        decided yet.
        """
        state = self._state
        labels = self._training_labels()
        n_pos = sum(lab == self.target for lab in labels) if len(self.classes) == 2 else None
        decided = state.decided()
        return Status(len(labels), n_pos, self._planned.plan.iteration, self.last_retrain_s,
                      list(self.curve), self.done,
                      n_skipped=sum(c not in self._val_ids for c in state.skipped),
                      n_doubt=sum(lab == DOUBT and c not in self._val_ids
                                  for c, lab in state.labels),
                      n_queued=sum(c not in decided for c in state.queued),
                      refit_error=self._refit_error_text())

    def _snapshot(self) -> tuple[SessionPlan, bool]:
        with self._lock:
            return self._planned, self.done

    # -- planning -------------------------------------------------------------------------
    def _plan_for(self, state: LoopState) -> SessionPlan:
        """The loop core's plan for ``state`` (pure; runs in the background too). Never raises:
        a failure gives a random pick whose reason says what failed."""
        decided = state.decided()
        out = decided | self._claimed
        pool = self._inside_rows
        if out:
            pool = pool[~np.isin(self._ids[pool], np.fromiter(out, np.int64, len(out)))]
        try:
            rows, labels, pseudo = self._training(state)
            model = (dict(fitted=self._fitted, refit=False, refit_error=self._refit_error_text())
                     if self._background else {})
            plan = self._core.plan(
                rows, labels, pool=pool, iteration=state.n_decisions, pseudo=pseudo,
                queued=[self._row[c] for c in state.queued if c in self._row], **model)
        except Exception as exc:
            warnings.warn(f"planning the next clip failed, so it is picked at random: "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)
            plan = self._core.random_plan(
                pool, state.n_decisions, f"random: planning failed ({type(exc).__name__}: {exc})")
        proposal = None
        if len(plan.picks):
            proposal = self.pool.describe(int(plan.picks[0]), plan.reasons[0], plan.strategies[0],
                                          plan.iteration, plan.proba)
        return SessionPlan(state, plan, proposal)

    def _training(self, state: LoopState):
        """Rows and labels of ``state`` the model learns from, and its pseudo-labels."""
        decided = state.decided()
        train = [(self._row[c], lab) for c, lab in state.labels if lab != DOUBT]
        # Doubt and skipped clips are never trained on, not even with a pseudo-label
        pseudo = [(self._row[c], lab) for c, lab in state.pseudo if c not in decided]
        return ([r for r, _ in train], [lab for _, lab in train],
                ([r for r, _ in pseudo], [lab for _, lab in pseudo]))

    def _next_pseudo(self) -> tuple:
        """The pseudo-labels of the current plan: the next fit trains on them."""
        plan = self._planned.plan
        return tuple(sorted((int(self._ids[r]), str(lab))
                            for r, lab in zip(plan.pseudo_rows, plan.pseudo_labels)))

    def _advance(self, *, record: bool) -> None:
        """Adopt the plan for the current state (precomputed if it is ready), claim its clip,
        and start planning the next answers. Lock held; the decision is already committed,
        so nothing here may raise: a store that fails to answer (locked for longer than its
        busy timeout) costs the claim, with a warning, never the state."""
        state = self._state
        planned = self._planner.take(state)
        self._planner.cancel()  # before a refit here: stale plans must not compete for cores
        self._claimed = self._try(self._read_claims, self._claimed)
        if planned is None or (planned.proposal is not None
                               and planned.proposal.clip_id in self._claimed):
            planned = self._plan_for(state)
            self.n_sync_plans += 1
        while True:
            self._planned = planned
            clip = None if self.done else planned.proposal.clip_id
            if self.store.read_only or self._try(lambda: self.store.claim_clip(
                    self._id, clip, labeler=self.labeler, max_age_s=self.claim_timeout_s), True):
                break  # (a read-only store is only looked at: nothing to claim)
            # another kernel shows the clip, or decided it since this session last looked
            if self._try(lambda: self.store.events_since(self._seen), []):
                seen = self._try(self.store.last_event_id, self._seen)
                read = self._try(lambda: read_state(
                    self.store, labeler=self.labeler, classes=self.classes, known=self._row,
                    queued=state.queued, pseudo=state.pseudo), None)
                if read is not None:
                    self._seen, (self._state, self._history) = seen, read
                    state = self._state
            self._claimed = self._try(self._read_claims, self._claimed) | {clip}
            planned = self._plan_for(state)
            self.n_sync_plans += 1
        if planned.proposal is not None:
            p = planned.proposal
            self._on_screen = ((p.path, p.start_s, p.duration_s),) + self._on_screen[:1]
        if planned.plan.learner is not None and not self._background:
            self.last_retrain_s = planned.plan.seconds
        if record and planned.plan.val_f1 is not None and not self._background:
            self.curve.append((self.n_labels, planned.plan.val_f1))
        if self.follow_archive:  # the plans made from here on consider the new clips
            self._try(lambda: self._take_new_clips(None), 0)
        self._precompute()
        self._retrain()

    def _read_claims(self) -> frozenset[int]:
        return self.store.claimed_clips(self._id, labeler=self.labeler,
                                        max_age_s=self.claim_timeout_s)

    @staticmethod
    def _clip_id(value) -> int:
        """A clip id given by the caller, or a clear error."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"clip_id={value!r} must be an integer clip id "
                             "(e.g. from store.clip_ids() or session.current.clip_id)")
        return int(value)

    @staticmethod
    def _try(read, default):
        """``read()``, or ``default`` with a warning when the store cannot answer now (after a
        commit, a store locked past its timeout must cost a claim or a refresh, not the state)."""
        try:
            return read()
        except (sqlite3.Error, StoreError) as exc:
            warnings.warn(f"the store did not answer ({type(exc).__name__}: {exc}); going on "
                          "with what this session knows (the clip shown may not be claimed "
                          "against other kernels)", stacklevel=3)
            return default

    def _prepare(self, planned: SessionPlan) -> None:
        """Make the payload of a plan's clip ahead (background), as the view on screen asked
        for the clip it shows (with no view asking, nothing is decoded); then tell the views
        that look ahead."""
        p = planned.proposal
        if p is None:
            return
        PAYLOADS.prepare(p.path, p.start_s, p.duration_s, like=self._on_screen)
        self._notify(self._upcoming_observers)

    def upcoming(self) -> list[Upcoming]:
        """The next clip after each answer to the clip shown, for the answers the background
        planner has planned already: a view can show it the moment the expert answers, while
        the answer is being stored (the session then shows the same clip, unless another
        session took it meanwhile). Empty when nothing is planned ahead (``precompute=False``,
        or the plans are still being made).

        Examples
        --------
        >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
        >>> [(u.action, u.label, u.proposal.clip_id) for u in session.upcoming()]  # doctest: +SKIP
        [('label', 'background', 17), ('label', 'target', 912), ('skip', None, 17)]
        """
        with self._lock:
            shown, answers = self.current, self._answers
        if shown is None:
            return []
        out = []
        for planned in self._planner.ready():
            answer = answers.get(planned.state.key)
            if answer is not None and planned.proposal is not None:
                out.append(Upcoming(answer[0], answer[1], shown.clip_id, planned.proposal))
        return out

    def _outcomes(self) -> list[str]:
        """The answers planned ahead, the likeliest first (its plan is made first): both
        classes of a binary task, the two likeliest classes otherwise."""
        p, P = self._planned.proposal, self._planned.plan.proba
        if p is None or P is None:
            return list(self.classes)
        order = np.argsort(-P[self._row[p.clip_id]], kind="stable")
        return [self.classes[int(k)] for k in order[:2]]

    def _precompute(self) -> None:
        if self.done:
            self._planner.cancel()
            self._answers = {}
            return
        clip, st, pseudo = self._planned.proposal.clip_id, self._state, self._next_pseudo()
        answers = {replace(st.with_labels([clip], lab), pseudo=pseudo): ("label", lab)
                   for lab in self._outcomes()}
        answers[replace(st.with_skip(clip), pseudo=pseudo)] = ("skip", None)
        self._answers = {state.key: answer for state, answer in answers.items()}
        self._planner.start(list(answers))

    # -- views ----------------------------------------------------------------------------
    def observe(self, callback, *, upcoming: bool = False) -> None:
        """Call ``callback(session)`` after every decision, undo or queue change; with
        ``upcoming=True`` instead each time the background planner has planned the next clip
        of one more answer (see :meth:`upcoming`), from the planner's thread."""
        (self._upcoming_observers if upcoming else self._observers).append(callback)

    def unobserve(self, callback) -> None:
        """Stop calling ``callback`` (e.g. a widget that is no longer shown)."""
        def keep(callbacks):
            return [c for c in callbacks if c is not callback and c != callback]

        self._observers = keep(self._observers)
        self._upcoming_observers = keep(self._upcoming_observers)

    def _notify(self, observers=None) -> None:
        # The decision is already stored: a failing view must not make it look failed.
        for callback in list(self._observers if observers is None else observers):
            try:
                callback(self)
            except Exception as exc:
                warnings.warn(f"a view of the session failed to update: "
                              f"{type(exc).__name__}: {exc}", stacklevel=3)

    def close(self) -> None:
        """Stop the background planner and trainer (a refit running stops at its next batch
        and is joined) and give up the claim (the store stays open)."""
        with self._lock:
            self._closed = True  # a model that arrives from now on is not adopted
        if self._trainer is not None:
            self._trainer.close()
        self._planner.close()
        self._finalizer()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _end_session(store: Store, session_id: str) -> None:
    if store.read_only:
        return
    try:
        store.end_session(session_id)
    except Exception:  # the store may be closed already (interpreter exit)
        pass


def _warm_up(model) -> None:
    """Compile the forest's kernels in the background if this environment has not yet."""
    try:
        from ..learn.forest import RandomForest, warm_up
    except ImportError:  # an older alwidget.learn without warm_up
        return
    if isinstance(model, RandomForest):
        warm_up(background=True)
