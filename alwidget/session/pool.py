"""The session's pool as data for maps: every clip's status, label and prediction, its 2-d map,
and the tagger's top-1 class.

:class:`SessionPool` (``session.pool``) reads a consistent snapshot of the session; it never
changes the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import tagger
from ..store import ClipSources, FeatureSet, Store
from .state import DOUBT, Proposal

__all__ = ["STATUS_NAMES", "ClipPlaces", "PoolView", "SessionPool"]

#: Names of :attr:`PoolView.status` codes, in code order. "labeled" is the framework's
#: "medoid" (a clip with a human label), "skipped" its "discarded". "pseudo-labeled": clips
#: a semi-supervised strategy (``ssal-*``) labels itself under the current model; the next
#: fit trains on them. "outside": clips with features that the session does not ask about
#: (its ``clips=`` leaves them out).
STATUS_NAMES = ("unlabeled", "proposed", "labeled", "skipped", "doubt", "validation",
                "pseudo-labeled", "outside")
(_UNLABELED, _PROPOSED, _LABELED, _SKIPPED, _DOUBT, _VALIDATION, _PSEUDO,
 _OUTSIDE) = range(len(STATUS_NAMES))


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
class ClipPlaces:
    """Where each clip of the session comes from, aligned with :attr:`PoolView.clip_ids` (for a
    map's tooltips): the file as an index into ``paths``, and the clip's time in its file.

    Attributes
    ----------
    file : ndarray of int32
        Index into ``paths``, ``nodes`` and ``recorded_at``.
    start_s, duration_s : ndarray of float32
    paths : list of str
        Each file's path (as stored: make it printable before showing it).
    nodes, recorded_at : list of str or None
        Each file's recording node and start time, when ingest read them from its name.
    """

    file: np.ndarray
    start_s: np.ndarray
    duration_s: np.ndarray
    paths: list
    nodes: list
    recorded_at: list


class SessionPool:
    """Map data of a session: :meth:`view`, :meth:`projection`, :meth:`tagger_top1`,
    :meth:`proposal`.

    Made by the session (``session.pool``); ``snapshot()`` returns the session's current
    ``(SessionPlan, done)`` under its lock.

    Examples
    --------
    >>> session = Session("project.db", classes=["background", "target"])  # doctest: +SKIP
    >>> view = session.pool.view()  # doctest: +SKIP
    >>> STATUS_NAMES[view.status[0]], view.p_target.dtype  # doctest: +SKIP
    ('unlabeled', dtype('float32'))
    >>> coords = session.pool.projection("umap").coords  # doctest: +SKIP
    """

    def __init__(self, *, store: Store, feature_set: FeatureSet, clip_ids: np.ndarray,
                 sources: ClipSources, classes: list, target: str, validation_rows: np.ndarray,
                 inside: np.ndarray, snapshot: Callable):
        self.store = store
        self.feature_set = feature_set
        self.clip_ids = clip_ids
        self.classes = classes
        self.target = target
        self._sources = sources
        self._src_row = {int(c): i for i, c in enumerate(sources.clip_id)}
        self._row = {int(c): i for i, c in enumerate(clip_ids)}
        self._validation_rows = validation_rows
        self._inside = inside
        self._snapshot = snapshot
        self._places: ClipPlaces | None = None

    def row(self, clip_id: int) -> int:
        """The clip's row in the session's feature matrix (a clear error when it has none)."""
        try:
            return self._row[int(clip_id)]
        except KeyError:
            raise ValueError(f"clip {clip_id} has no {self.feature_set.extractor} features") from None

    def describe(self, row: int, reason: str, strategy: str, version: int, proba=None) -> Proposal:
        """A :class:`Proposal` for the clip at ``row``, with the model's prediction when given."""
        clip_id = int(self.clip_ids[row])
        s = self._src_row[clip_id]
        kw = {}
        if proba is not None:
            p = proba[row]
            best = int(p.argmax())
            kw = dict(predicted=self.classes[best], confidence=float(p[best]),
                      p_target=float(p[self.classes.index(self.target)])
                      if len(self.classes) == 2 else None)
        return Proposal(clip_id, self._sources.path[s], float(self._sources.start_s[s]),
                        float(self._sources.duration_s[s]), reason, strategy, version, **kw)

    def proposal(self, clip_id: int) -> Proposal:
        """A clip of the expert's choosing (e.g. clicked on a map), with the current prediction."""
        planned, _ = self._snapshot()
        return self.describe(self.row(clip_id), "chosen by the expert", "expert",
                             planned.state.n_decisions, planned.plan.proba)

    def places(self) -> ClipPlaces:
        """File, node and time in the file of every clip (read once, then kept)."""
        if self._places is None:
            src = self._sources
            rows = np.fromiter((self._src_row[int(c)] for c in self.clip_ids), np.int64,
                               len(self.clip_ids))
            audio_ids, first, file = np.unique(src.audio_id[rows], return_index=True,
                                               return_inverse=True)
            audios = {a.id: a for a in self.store.audios()}
            self._places = ClipPlaces(
                file.astype(np.int32), src.start_s[rows].astype(np.float32),
                src.duration_s[rows].astype(np.float32), [src.path[rows[i]] for i in first],
                [getattr(audios.get(int(a)), "node", None) for a in audio_ids],
                [getattr(audios.get(int(a)), "recorded_at", None) for a in audio_ids])
        return self._places

    def view(self) -> PoolView:
        """Status, human label and current prediction of every clip, as arrays."""
        planned, done = self._snapshot()
        state, plan = planned.state, planned.plan
        n = len(self.clip_ids)
        status = np.where(self._inside, _UNLABELED, _OUTSIDE).astype(np.uint8)
        label = np.full(n, -1, np.int16)
        code = {c: i for i, c in enumerate(self.classes)}
        code[DOUBT] = len(self.classes)
        if state.labels:
            rows = np.fromiter((self._row[c] for c, _ in state.labels), np.int64, len(state.labels))
            label[rows] = [code[lab] for _, lab in state.labels]
            status[rows] = np.where(label[rows] == len(self.classes), _DOUBT, _LABELED)
        if state.skipped:
            status[[self._row[c] for c in state.skipped]] = _SKIPPED
        status[self._validation_rows] = _VALIDATION
        if len(plan.pseudo_rows):
            rows = plan.pseudo_rows
            status[rows[status[rows] == _UNLABELED]] = _PSEUDO
        if planned.proposal is not None and not done:
            status[self._row[planned.proposal.clip_id]] = _PROPOSED
        if plan.proba is None:
            predicted = np.full(n, -1, np.int16)
            p = np.full(n, np.nan, np.float32)
        else:  # a plan made before the pool grew covers its first rows: the rest wait
            m = min(len(plan.proba), n)  # for the next plan (NaN, -1)
            predicted = np.full(n, -1, np.int16)
            p = np.full(n, np.nan, np.float32)
            predicted[:m] = plan.proba[:m].argmax(axis=1)
            p[:m] = plan.proba[:m, self.classes.index(self.target)] if len(self.classes) == 2 \
                else plan.proba[:m].max(axis=1)
        held = set(self.clip_ids[self._validation_rows].tolist())
        n_labels = sum(1 for c, lab in state.labels if lab != DOUBT and c not in held)
        return PoolView(self.clip_ids, status, label, predicted, p, list(self.classes),
                        n_labels, state.n_decisions)

    def projection(self, method: str = "umap", *, progress=None, **kwargs):
        """The 2-d map of the session's clips, aligned with :meth:`view` (cached in the store).

        See :func:`alwidget.projections.compute_projection` for ``method`` and ``kwargs``.
        """
        from ..projections import Projection, compute_projection

        p = compute_projection(self.store, self.feature_set, method, progress=progress, **kwargs)
        if not np.isin(self.clip_ids, p.clip_ids).all():
            raise RuntimeError(f"the {method} map lacks clips of this session: its features "
                               "changed since the session started; start a new Session")
        if not np.array_equal(p.clip_ids, self.clip_ids):
            pos = np.searchsorted(p.clip_ids, self.clip_ids)
            p = Projection(self.clip_ids, p.coords[pos], p.method, p.n_fit, p.seconds, p.from_cache)
        return p

    @property
    def has_tagger(self) -> bool:
        """True when the store has a tagger's class probabilities with their class names."""
        return bool(tagger.tagger_sets(self.store))

    def tagger_top1(self):
        """The tagger's top-1 class name and probability per clip (aligned with :meth:`view`),
        or None when the store has no tagger probabilities."""
        if not self.has_tagger:
            return None
        ids, names, prob = tagger.top1(self.store)
        out_names = np.full(len(self.clip_ids), "", dtype=object)
        out_prob = np.full(len(self.clip_ids), np.nan, np.float32)
        pos = np.searchsorted(ids, self.clip_ids)
        ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == self.clip_ids)
        out_names[ok], out_prob[ok] = names[pos[ok]], prob[pos[ok]]
        return out_names, out_prob
