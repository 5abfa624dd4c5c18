"""The labeling loop: the one stateful object between the store and the widgets.

A :class:`Session` holds the current clip, takes the expert's decisions
(:meth:`~Session.submit`, :meth:`~Session.skip`, :meth:`~Session.doubt`,
:meth:`~Session.undo`), commits each to the store before anything else, and
chooses the next clip with a learner and a query strategy.

It never makes the expert wait for the model: while a clip is shown, a
background thread already plans the next clip for every possible answer
(both answers of a binary task; the two most likely classes otherwise) and
for a skip. Each plan is a full refit on exactly the labels the store will
hold after that answer, so the precomputed pick is the pick a fresh refit
would make. Plans carry the state they were made from; a stale one is
dropped. Everything is seeded by (random_state, number of decisions), so a
new session on the same database resumes with the same next clip.

No ipywidgets here: the widgets only call this class.
"""

from __future__ import annotations

import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.base import clone

from .learn import Learner, RandomForest, f1_at
from .store import FeatureSet, Store
from .strategies import QueryContext, Strategy, make_strategy
from .strategies.base import rng_for

__all__ = ["DOUBT", "STATUS_NAMES", "PoolView", "Proposal", "Session"]

#: The framework's Doubt class: clips the expert could not decide, kept for a
#: later doubt-resolution round; never used for training.
DOUBT = "Doubt"


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
        Why the strategy picked it ("least confident: ...", "random: ...").
    strategy : str
    model_version : int
        Number of decisions the model was trained after (0 = no model yet).
    predicted : str or None
        The model's predicted class (None before a model exists).
    confidence : float or None
        P(predicted class) (binary: P(target) is ``p_target``).
    p_target : float or None
        P(target class) for a binary task.
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


#: Names of :attr:`PoolView.status` codes, in code order. "labeled" is the
#: framework's "medoid" (a clip with a human label), "skipped" its "discarded".
#: "pseudo-labeled": clips a semi-supervised strategy (``ssal-*``) labels itself under the
#: current model; the next fit trains on them, as in the simulated experiments.
STATUS_NAMES = ("unlabeled", "proposed", "labeled", "skipped", "doubt", "validation",
                "pseudo-labeled")
_UNLABELED, _PROPOSED, _LABELED, _SKIPPED, _DOUBT, _VALIDATION, _PSEUDO = range(len(STATUS_NAMES))


@dataclass(frozen=True)
class PoolView:
    """Every clip of the session with its status, label and prediction (for maps).

    Attributes
    ----------
    clip_ids : ndarray of int64
        The session's clips, ascending.
    status : ndarray of uint8
        Codes into :data:`STATUS_NAMES`.
    label : ndarray of int16
        Human label as an index into ``classes``; ``len(classes)`` is Doubt; -1 none.
    predicted : ndarray of int16
        The current model's class (index into ``classes``); -1 before a model exists.
    p_target : ndarray of float32
        P(target) of a binary task (P(predicted class) otherwise); NaN without a model.
    classes : list of str
    n_labels, model_version : int
    """

    clip_ids: np.ndarray
    status: np.ndarray
    label: np.ndarray
    predicted: np.ndarray
    p_target: np.ndarray
    classes: list
    n_labels: int
    model_version: int


@dataclass(frozen=True)
class _State:
    labels: tuple[tuple[int, str], ...]  # (clip_id, label), sorted by clip
    skipped: frozenset[int]
    n_decisions: int
    queued: tuple[int, ...] = ()  # clips the expert asked to see next, in order
    # (clip_id, label) the model gave itself after the last decision (semi-supervised AL):
    # the next fit trains on them too, as in the simulated experiments
    pseudo: tuple[tuple[int, str], ...] = ()

    def with_label(self, clip_id: int, label: str) -> "_State":
        return self.with_labels([clip_id], label)

    def with_labels(self, clip_ids, label: str) -> "_State":
        d = dict(self.labels)
        d.update((int(c), label) for c in clip_ids)
        return _State(tuple(sorted(d.items())), self.skipped, self.n_decisions + len(clip_ids),
                      self.queued, self.pseudo)

    def with_skip(self, clip_id: int) -> "_State":
        return _State(self.labels, self.skipped | {clip_id}, self.n_decisions + 1, self.queued,
                      self.pseudo)


@dataclass
class _Plan:
    state: _State
    proposal: Proposal | None
    seconds: float
    val_f1: float | None = None
    proba: np.ndarray | None = None  # float32 (n_clips, n_classes) of this plan's model
    pseudo: np.ndarray | None = None  # rows a semi-supervised strategy would label itself
    pseudo_labels: np.ndarray | None = None  # their class indices


@dataclass
class Status:
    """What the status bar shows."""

    n_labels: int
    n_positive: int | None
    model_version: int
    last_retrain_s: float | None
    learning_curve: list[tuple[int, float]] = field(default_factory=list)
    done: bool = False


class Session:
    """Active-learning loop over a store, a learner and a strategy.

    Parameters
    ----------
    store : Store or path
    feature_set : FeatureSet, optional
        Which features to learn from; the store's only (or first) set by default.
    classes : sequence of str
        The fixed class list (added to the ontology if absent). Two classes make
        a binary task whose target is ``target``.
    target : str, optional
        The positive class of a binary task; default ``classes[-1]``.
    strategy : str or Strategy, default "lc"
        A name from :data:`alwidget.strategies.STRATEGY_NAMES` or an instance.
    model : classifier, optional
        Default: :class:`alwidget.learn.RandomForest` with 100 trees. Cloned.
    labeler : str, default "expert"
    budget : int, optional
        Stop after this many labels.
    validation : (clip_ids, labels), optional
        Labeled clips kept out of the pool, to report F1 (binary) after each fit.
    target_f1 : float, optional
        Stop once validation F1 reaches it.
    random_state : int, default 0
    precompute : bool, default True
        Plan the next clip for every answer in the background.

    Examples
    --------
    >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
    >>> session.current.reason  # doctest: +SKIP
    'random: no labels yet'
    >>> nxt = session.submit("target")  # doctest: +SKIP
    """

    def __init__(self, store, feature_set: FeatureSet | None = None, *, classes,
                 target: str | None = None, strategy: str | Strategy = "lc", model=None,
                 labeler: str = "expert", budget: int | None = None, validation=None,
                 target_f1: float | None = None, random_state: int = 0,
                 precompute: bool = True):
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
        for tag in classes + [DOUBT]:
            self.store.add_tag(tag)
        sets = self.store.feature_sets()
        if feature_set is None:
            if not sets:
                raise ValueError("the store has no features yet; run alwidget.extract_features")
            feature_set = sets[0]
        self.feature_set = feature_set
        self.strategy = make_strategy(strategy, random_state) if isinstance(strategy, str) else strategy
        self.model = model if model is not None else RandomForest(n_estimators=100)
        self.labeler = labeler
        if budget is not None and budget < 1:
            raise ValueError(f"budget={budget!r} must be >= 1")
        self.budget = budget
        self.target_f1 = target_f1
        self.random_state = random_state
        self.precompute = precompute
        ids, X = self.store.get_features(feature_set)
        if len(ids) == 0:
            raise ValueError(f"no clip has {feature_set.extractor} features yet")
        self._ids, self._X = ids, X
        self._row = {int(c): i for i, c in enumerate(ids)}
        self._sources = self.store.clip_sources(ids)
        self._src_row = {int(c): i for i, c in enumerate(self._sources.clip_id)}
        self._val_rows = self._val_y = None
        if validation is not None:
            v_ids, v_labels = validation
            self._val_rows = np.array([self._row[int(c)] for c in v_ids])
            self._val_y = np.asarray(v_labels, dtype=str) == self.target
        self._val_ids = set() if validation is None else {int(c) for c in validation[0]}
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alwidget-plan")
        self._futures: dict[tuple, Future] = {}
        self._history: list[int] = []
        self._observers: list = []
        #: plans computed while the caller waited (0 when precompute kept up)
        self.n_sync_plans = 0
        self.curve: list[tuple[int, float]] = []
        self.last_retrain_s: float | None = None
        self._state = self._load_state()
        self._plan = self._make_plan(self._state)
        self._precompute()

    # -- state ------------------------------------------------------------
    def _load_state(self) -> _State:
        labels, skipped, self._history = {}, set(), []
        for d in self.store.active_events(self.labeler):
            self._history.append(d.id)
            if d.kind == "label":
                labels[d.clip_id] = d.label
            else:
                skipped.add(d.clip_id)
        pseudo = ()
        if self._history:
            t = self.store.pseudo_labels(event_id=self._history[-1])
            pseudo = tuple(zip(t.clip_id.tolist(), t.label.tolist()))
        return _State(tuple(sorted(labels.items())), frozenset(skipped), len(self._history),
                      (), pseudo)

    @property
    def current(self) -> Proposal | None:
        """The clip to label now (None when the pool is empty or a stop criterion is met)."""
        return None if self.done else self._plan.proposal

    @property
    def n_labels(self) -> int:
        """Human labels so far (Doubt excluded)."""
        return sum(1 for _, lab in self._state.labels if lab != DOUBT)

    @property
    def done(self) -> bool:
        """True once the budget or the target F1 is reached, or nothing is left."""
        if self.budget is not None and self.n_labels >= self.budget:
            return True
        if self.target_f1 is not None and self.curve and self.curve[-1][1] >= self.target_f1:
            return True
        return self._plan.proposal is None

    def status(self) -> Status:
        """Counts, model version, retrain time and learning curve, for display."""
        labels = [lab for _, lab in self._state.labels if lab != DOUBT]
        n_pos = sum(lab == self.target for lab in labels) if len(self.classes) == 2 else None
        return Status(len(labels), n_pos, self._plan.proposal.model_version if self._plan.proposal
                      else self._state.n_decisions, self.last_retrain_s, list(self.curve), self.done)

    # -- decisions ----------------------------------------------------------
    def submit(self, label: str, events=None) -> Proposal | None:
        """Label the current clip (optionally with strong-label events); return the next clip.

        ``events`` is a list of ``(class, onset_s, offset_s)`` relative to the
        clip's start. The label is committed to the store before anything else.
        """
        label = self._check_label(label)
        return self._decide(
            lambda st, p: st.with_label(p.clip_id, label),
            lambda p: [self.store.add_label(
                p.clip_id, label, labeler=self.labeler, strategy=p.strategy, reason=p.reason,
                model_version=p.model_version, predicted_proba=p.p_target, events=events)],
            on_current=True)

    def label(self, clip_id: int, label: str, events=None) -> Proposal | None:
        """Label a clip of the expert's choosing (a known example, a clip found on a map).

        Committed like any label; the next clip is then planned from the new labels.
        """
        label = self._check_label(label)
        clip_id = int(clip_id)
        self._check_labelable([clip_id])
        return self._decide(
            lambda st, p: st.with_label(clip_id, label),
            lambda p: [self.store.add_label(clip_id, label, labeler=self.labeler,
                                            strategy="expert", reason="chosen by the expert",
                                            events=events)])

    def label_many(self, clip_ids, label: str) -> Proposal | None:
        """Give many clips (e.g. a region selected on a map) the same label, in one commit.

        The model is refitted once, after all of them are stored.
        """
        label = self._check_label(label)
        clip_ids = [int(c) for c in clip_ids]
        self._check_labelable(clip_ids)
        if not clip_ids:
            return self.current
        return self._decide(
            lambda st, p: st.with_labels(clip_ids, label),
            lambda p: [self.store.add_label(c, label, labeler=self.labeler, strategy="expert",
                                            reason="labeled as a group by the expert")
                       for c in clip_ids])

    def _successor(self, state: _State) -> _State:
        """``state`` after a decision: it trains on the pseudo-labels of the current plan."""
        plan = self._plan
        pseudo = () if plan.pseudo is None else tuple(sorted(
            (int(self._ids[r]), self.classes[int(k)]) for r, k in zip(plan.pseudo, plan.pseudo_labels)))
        return replace(state, pseudo=pseudo)

    def _decide(self, step, write, *, on_current: bool = False) -> Proposal | None:
        """Commit a decision, then move on to the next clip.

        ``step(state, proposal)`` is the state after it; ``write(proposal)`` stores it and
        returns its event ids. The events and the pseudo-labels the next fit trains on are
        written in one transaction, before anything else. Views hear of it after the lock
        is released (they read the session).
        """
        with self._lock:
            p = self._require_current() if on_current else None
            state = self._successor(step(self._state, p))
            with self.store.transaction():
                events = write(p)
                if state.pseudo:
                    clips, labels = zip(*state.pseudo)
                    self.store.add_pseudo_labels(
                        clips, labels, strategy=self.strategy.name,
                        model_version=self._state.n_decisions, event_id=events[-1])
            self._history.extend(events)
            nxt = self._advance(state)
        self._notify()
        return nxt

    def _check_label(self, label) -> str:
        label = str(label)
        if label != DOUBT and label not in self.classes:
            raise ValueError(f"label={label!r} is not one of {self.classes} (or {DOUBT!r})")
        return label

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

    def queue(self, clip_ids) -> None:
        """Ask these clips next (in order), before the strategy's picks; undecided ones only.

        The queue lives in this session (a new session starts with an empty one).
        """
        clip_ids = [int(c) for c in clip_ids]
        self._check_features(clip_ids)
        with self._lock:
            st = self._state
            queued = tuple(dict.fromkeys(st.queued + tuple(clip_ids)))
            self._cancel_precompute()
            self._state = replace(st, queued=queued)
            self._precompute()
        self._notify()

    def observe(self, callback) -> None:
        """Call ``callback(session)`` after every decision, undo or queue change."""
        self._observers.append(callback)

    def unobserve(self, callback) -> None:
        """Stop calling ``callback`` (e.g. a widget that is no longer shown)."""
        self._observers = [c for c in self._observers if c is not callback and c != callback]

    def _notify(self) -> None:
        # The decision is already stored: a failing view must not make it look failed.
        for callback in list(self._observers):
            try:
                callback(self)
            except Exception as exc:
                warnings.warn(f"a view of the session failed to update: "
                              f"{type(exc).__name__}: {exc}", stacklevel=3)

    def proposal_for(self, clip_id: int) -> Proposal:
        """A clip of the expert's choosing as a :class:`Proposal`, with the current prediction."""
        clip_id = int(clip_id)
        self._check_features([clip_id])
        kw = {}
        P = self._plan.proba
        if P is not None:
            row = P[self._row[clip_id]]
            best = int(row.argmax())
            kw = dict(predicted=self.classes[best], confidence=float(row[best]),
                      p_target=float(row[self.classes.index(self.target)]))
        return self._proposal(self._row[clip_id], "chosen by the expert", "expert",
                              self._state.n_decisions, **kw)

    def pool_view(self) -> PoolView:
        """Status, human label and current prediction of every clip, as arrays (for maps)."""
        with self._lock:
            state, plan = self._state, self._plan
        n = len(self._ids)
        status = np.zeros(n, np.uint8)
        label = np.full(n, -1, np.int16)
        code = {c: i for i, c in enumerate(self.classes)}
        code[DOUBT] = len(self.classes)
        if state.labels:
            rows = np.fromiter((self._row[c] for c, _ in state.labels), np.int64, len(state.labels))
            label[rows] = [code[lab] for _, lab in state.labels]
            status[rows] = np.where(label[rows] == len(self.classes), _DOUBT, _LABELED)
        if state.skipped:
            status[[self._row[c] for c in state.skipped]] = _SKIPPED
        if self._val_rows is not None:
            status[self._val_rows] = _VALIDATION
        if plan.pseudo is not None:
            status[plan.pseudo[status[plan.pseudo] == _UNLABELED]] = _PSEUDO
        if plan.proposal is not None and not self.done:
            status[self._row[plan.proposal.clip_id]] = _PROPOSED
        if plan.proba is None:
            predicted = np.full(n, -1, np.int16)
            p = np.full(n, np.nan, np.float32)
        else:
            predicted = plan.proba.argmax(axis=1).astype(np.int16)
            p = (plan.proba[:, self.classes.index(self.target)] if len(self.classes) == 2
                 else plan.proba.max(axis=1)).astype(np.float32)
        return PoolView(self._ids, status, label, predicted, p, list(self.classes),
                        self.n_labels, state.n_decisions)

    def projection(self, method: str = "umap", *, progress=None, **kwargs):
        """The 2-d map of the session's clips, aligned with :meth:`pool_view` (cached in the store).

        See :func:`alwidget.projections.compute_projection` for ``method`` and ``kwargs``.
        """
        from .projections import Projection, compute_projection

        p = compute_projection(self.store, self.feature_set, method, progress=progress, **kwargs)
        if not np.isin(self._ids, p.clip_ids).all():
            raise RuntimeError(f"the {method} map lacks clips of this session: its features "
                               "changed since the session started; start a new Session")
        if not np.array_equal(p.clip_ids, self._ids):
            pos = np.searchsorted(p.clip_ids, self._ids)
            p = Projection(self._ids, p.coords[pos], p.method, p.n_fit, p.seconds, p.from_cache)
        return p

    @property
    def has_tagger(self) -> bool:
        """True when the store has the AudioSet tagger's (``yamnet-tags``) features."""
        from .features.yamnet import YAMNetTags

        return any(fs.extractor == YAMNetTags.name for fs in self.store.feature_sets())

    def tagger_top1(self):
        """The AudioSet tagger's top-1 class name and probability per clip (aligned with
        :meth:`pool_view`), or None when the store has no ``yamnet-tags`` features."""
        from .features.yamnet import top1

        if not self.has_tagger:
            return None
        ids, names, prob = top1(self.store)
        out_names = np.full(len(self._ids), "", dtype=object)
        out_prob = np.full(len(self._ids), np.nan, np.float32)
        pos = np.searchsorted(ids, self._ids)
        ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == self._ids)
        out_names[ok], out_prob[ok] = names[pos[ok]], prob[pos[ok]]
        return out_names, out_prob

    def doubt(self) -> Proposal | None:
        """Put the current clip in the Doubt class (kept for a doubt-resolution round)."""
        return self.submit(DOUBT)

    def skip(self) -> Proposal | None:
        """Skip the current clip (committed; it is not asked again); return the next clip."""
        return self._decide(
            lambda st, p: st.with_skip(p.clip_id),
            lambda p: [self.store.add_skip(p.clip_id, labeler=self.labeler, strategy=p.strategy,
                                           reason=p.reason, model_version=p.model_version)],
            on_current=True)

    def undo(self) -> Proposal | None:
        """Take back the last decision; its clip becomes the current one again."""
        with self._lock:
            if not self._history:
                raise ValueError("nothing to undo")
            self.store.undo_decision(self._history[-1])
            self._cancel_precompute()
            queued = self._state.queued
            self._state = replace(self._load_state(), queued=queued)
            self._plan = self._make_plan(self._state)
            self._precompute()
        self._notify()
        return self.current

    def _require_current(self) -> Proposal:
        if self.done or self._plan.proposal is None:
            raise ValueError("the session is done: no clip to decide on")
        return self._plan.proposal

    def _advance(self, state: _State) -> Proposal | None:
        key = self._key(state)
        future = self._futures.get(key)
        plan = future.result() if future is not None else None
        self._cancel_precompute()  # before a refit here: stale plans must not compete for cores
        if plan is None or plan.state != state:  # not precomputed, or stale
            plan = self._make_plan(state)
            self.n_sync_plans += 1
        self._state, self._plan = state, plan
        if plan.val_f1 is not None:
            self.curve.append((self.n_labels, plan.val_f1))
        self._precompute()
        return self.current

    # -- planning (pure: reads only the in-memory features) -------------------
    @staticmethod
    def _key(state: _State) -> tuple:
        return (state.labels, state.skipped, state.queued, state.pseudo)

    def _make_plan(self, state: _State) -> _Plan:
        t0 = time.perf_counter()
        labels = dict(state.labels)
        excluded = set(labels) | state.skipped | self._val_ids
        pool = np.flatnonzero(~np.isin(self._ids, np.fromiter(excluded, np.int64, len(excluded))))
        if len(pool) == 0:
            return _Plan(state, None, time.perf_counter() - t0)
        train = [(c, lab) for c, lab in labels.items() if lab != DOUBT]
        present = sorted({lab for _, lab in train})
        rng = rng_for(self.random_state, state.n_decisions)
        queued = [c for c in state.queued if c not in excluded]
        if len(present) < 2:
            if queued:
                prop = self._proposal(self._row[queued[0]], "queued by the expert", "expert",
                                      state.n_decisions)
                return _Plan(state, prop, time.perf_counter() - t0)
            pick = int(pool[rng.integers(len(pool))])
            why = "no labels yet" if not present else f"only {present[0]!r} labeled so far"
            prop = self._proposal(pick, f"random: {why}", "random", state.n_decisions)
            return _Plan(state, prop, time.perf_counter() - t0)
        model = clone(self.model)
        if "random_state" in model.get_params():
            model.set_params(random_state=self.random_state * 100_003 + state.n_decisions)
        # semi-supervised AL: the previous model's balanced confident predictions train too
        fit_on = train + [(c, lab) for c, lab in state.pseudo
                          if c not in labels and c not in self._val_ids]
        learner = Learner(model, self.classes).fit(
            self._X[[self._row[c] for c, _ in fit_on]], [lab for _, lab in fit_on])
        P_all = learner.predict_proba(self._X).astype(np.float32)
        P = P_all[pool]
        t_col = self.classes.index(self.target)
        ctx = QueryContext(n_pool=len(pool), proba=P, classes=np.array(self.classes, dtype=object),
                           positive=t_col, iteration=state.n_decisions, X_pool=self._X[pool],
                           X_labeled=self._X[[self._row[c] for c, _ in train]])
        val_f1 = None
        if self._val_rows is not None and len(self.classes) == 2:
            val_f1 = f1_at(self._val_y, learner.predict_proba(self._X[self._val_rows])[:, t_col], 0.5)
        pseudo = pseudo_labels = None
        if queued:
            j = int(np.searchsorted(self._ids[pool], queued[0]))
            reason, strategy = "queued by the expert", "expert"
        else:
            q = self.strategy.query(ctx, 1)
            j, reason, strategy = int(q.indices[0]), q.reasons[0], self.strategy.name
            if len(q.pseudo_indices):
                pseudo, pseudo_labels = pool[q.pseudo_indices], q.pseudo_labels
        best = int(P[j].argmax())
        prop = self._proposal(int(pool[j]), reason, strategy, state.n_decisions,
                              predicted=self.classes[best], confidence=float(P[j, best]),
                              p_target=float(P[j, t_col]))
        return _Plan(state, prop, time.perf_counter() - t0, val_f1, P_all, pseudo, pseudo_labels)

    def _proposal(self, row: int, reason: str, strategy: str, version: int, **kw) -> Proposal:
        clip_id = int(self._ids[row])
        s = self._src_row[clip_id]
        return Proposal(clip_id, self._sources.path[s], float(self._sources.start_s[s]),
                        float(self._sources.duration_s[s]), reason, strategy, version, **kw)

    # -- background precompute -------------------------------------------------
    def _outcomes(self) -> list[str]:
        p, P = self._plan.proposal, self._plan.proba
        if len(self.classes) <= 2 or p is None or P is None:
            return list(self.classes)
        top2 = np.argsort(-P[self._row[p.clip_id]], kind="stable")[:2]  # the two likeliest
        return [self.classes[int(k)] for k in top2]

    def _precompute(self) -> None:
        if not self.precompute or self._plan.proposal is None or self.done:
            return
        clip = self._plan.proposal.clip_id
        states = [self._successor(self._state.with_label(clip, lab)) for lab in self._outcomes()]
        states.append(self._successor(self._state.with_skip(clip)))
        for st in states:
            self._futures[self._key(st)] = self._pool.submit(self._timed_plan, st)

    def _timed_plan(self, state: _State) -> _Plan:
        plan = self._make_plan(state)
        self.last_retrain_s = plan.seconds
        return plan

    def _cancel_precompute(self) -> None:
        for f in self._futures.values():
            f.cancel()
        self._futures = {}

    def close(self) -> None:
        """Stop the background thread (the store stays open)."""
        self._cancel_precompute()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
