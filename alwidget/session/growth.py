"""A session on a growing archive: new recordings ingested and their features computed join
the pool at the session's next plan (:class:`Growth`, a part of :class:`Session`)."""

from __future__ import annotations

import numpy as np

from .pool import SessionPool

__all__ = ["Growth"]


class Growth:
    """Session methods that take in the clips a growing archive adds.

    A clip joins when its features in the session's feature set are stored, whatever the
    order they are stored in (``extract_features`` stores its batches as they finish):
    the store tells which clips above a mark have features, and up to which clip all have
    (:meth:`Store.feature_ids_since`); the pool takes those it lacks.

    Which new clips the session labels (``inside``): every one for a session opened without
    ``clips=``; those the same node/time filter chooses for one opened with
    ``clips=clips_where(...)``; none for one opened with plain clip ids (it does not grow;
    :meth:`add_new_clips` with ``clips=`` takes the listed ones).
    """

    def _init_growth(self, clips) -> None:
        """Called by ``Session.__init__`` with its ``clips=``."""
        self._grow_where = getattr(clips, "where", None)  # clips_where's (nodes, start, end)
        self._grow_all = clips is None
        #: Take in new clips of a growing archive after every decision (one indexed lookup
        #: of the features stored since): True unless the session was opened with plain
        #: clip ids. ``session.follow_archive = False`` stops it.
        self.follow_archive = clips is None or self._grow_where is not None
        self._grown_to = 0  # every clip up to this id with features is in the pool
        self._X_spare = None  # the grown feature matrix's (buffer, view in use): appended

    def add_new_clips(self, clips=None) -> int:
        """Take in the clips that got features since the session opened (a growing archive:
        new recordings ingested, then ``extract_features``): the plans made from now on
        consider them; the clip on screen stays. Returns how many the session will label.

        A session opened with ``clips=clips_where(...)`` takes the new clips that filter
        chooses; one opened with plain clip ids takes only those listed in ``clips`` here.
        With ``follow_archive`` (the default unless opened with plain clip ids) the session
        does this after every decision.

        Examples
        --------
        >>> alwidget.ingest("s3://port-archive/2024/", "project.db")  # doctest: +SKIP
        >>> alwidget.extract_features("project.db", "logmel")  # new clips only  # doctest: +SKIP
        >>> session.add_new_clips()  # doctest: +SKIP
        120
        """
        with self._lock:
            added = self._take_new_clips(clips)
            if not added:
                return 0
            if self._planned.proposal is None:  # nothing was left to label: plan now
                self._advance(record=False)
            else:
                self._precompute()
        self._notify()
        return added

    def _take_new_clips(self, clips) -> int:
        """Extend the pool with the clips that have features and are not in it (and make
        those of ``clips`` inside); plans made before are dropped. Returns how many clips
        became inside. Lock held."""
        listed = None if clips is None else \
            np.asarray([self._clip_id(c) for c in clips], np.int64)
        ids, grown_to = self.store.feature_ids_since(self.feature_set, self._grown_to)
        new_ids = ids[~np.isin(ids, self._ids)]
        inside = np.zeros(len(self._ids) + len(new_ids), bool)
        inside[self._inside_rows] = True
        was = len(self._inside_rows)
        if listed is not None:  # listed clips already in the pool, outside until now
            rows = np.flatnonzero(np.isin(self._ids, listed))
            inside[rows[~np.isin(self._ids[rows], list(self._val_ids))]] = True
        if len(new_ids):
            if listed is not None:
                take = np.isin(new_ids, listed)
            elif self._grow_where is not None:
                take = np.isin(new_ids, self.store.window_clips(*self._grow_where))
            else:
                take = np.full(len(new_ids), self._grow_all or self.follow_archive)
            inside[len(self._ids):] = take
        if not len(new_ids) and inside.sum() == was:
            self._grown_to = grown_to
            return 0
        X_new = self.store.get_features(self.feature_set, new_ids)[1] if len(new_ids) else None
        add = self.store.clip_sources(new_ids)  # every store read before anything changes
        self._planner.cancel()  # plans made without them
        if len(new_ids):
            first = len(self._ids)
            self._core.X, self._X_spare = appended(self._core.X, X_new, self._X_spare)
            self._ids = np.concatenate([self._ids, new_ids])
            self._row.update({int(c): first + i for i, c in enumerate(new_ids)})
            if getattr(self, "_fitted", None) is not None:  # a model trained apart: score them
                try:
                    self._fitted = self._core.scored(self._fitted)
                except Exception:  # each plan scores them then (LoopCore.plan)
                    pass
        self._inside_rows = np.flatnonzero(inside)
        val_rows = np.array(sorted(self._row[c] for c in self._val_ids), np.int64)
        old = self.pool._sources
        sources = type(old)(*(old.path + add.path if name == "path" else
                              np.concatenate([getattr(old, name), getattr(add, name)])
                              for name in ("clip_id", "audio_id", "path", "start_s",
                                           "duration_s")))
        self.pool = SessionPool(
            store=self.store, feature_set=self.feature_set, clip_ids=self._ids,
            sources=sources, classes=self.classes, target=self.target,
            validation_rows=val_rows, inside=inside, snapshot=self._snapshot)
        self._grown_to = grown_to
        return int(inside.sum()) - was


#: Spare rows a grown feature matrix gets, as a share of its rows: the next arrivals are
#: written into them (pages not yet written cost no memory).
SPARE_ROWS = 0.25


def appended(X: np.ndarray, X_new: np.ndarray, spare: tuple | None):
    """``(X with X_new's rows after it, (buffer, that view))``: written into the spare rows of
    the buffer ``X`` came from (``spare``, from the last call) when it has room (no copy of
    ``X``; views of the old rows stay valid, as those rows never change), else into a new
    buffer with :data:`SPARE_ROWS` more. A growing archive's matrix (1M clips of YAMNet: 4 GB)
    is then copied a few times, not at every decision that brings clips.

    Examples
    --------
    >>> X, spare = appended(np.zeros((4, 2), np.float32), np.ones((1, 2), np.float32), None)
    >>> X.shape, len(spare[0])
    ((5, 2), 6)
    >>> X2, spare2 = appended(X, np.ones((1, 2), np.float32), spare)
    >>> X2.shape, spare2[0] is spare[0], np.shares_memory(X, X2)
    ((6, 2), True, True)
    """
    n, m = len(X), len(X_new)
    if X_new.shape[1:] != X.shape[1:]:
        raise ValueError(f"new rows of shape {X_new.shape} do not fit a matrix of {X.shape}")
    buffer = spare[0] if spare is not None and spare[1] is X else None  # X: its first rows
    if buffer is None or len(buffer) < n + m:
        buffer = np.empty((n + m + int(SPARE_ROWS * (n + m)), X.shape[1]), np.float32)
        buffer[:n] = X
    buffer[n:n + m] = X_new
    view = buffer[:n + m]
    return view, (buffer, view)
