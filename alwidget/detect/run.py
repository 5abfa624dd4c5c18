"""``detect``: a saved model's detections over the archive, stored apart from labels,
resumable, in this process or on Dask; then Raven tables and a CSV of the positives."""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..store import Store
from .events import Event, begin_time, merge_clips, write_events
from .scoring import positive_rule, score_vectors
from .select import clips_in_scope

__all__ = ["DetectSummary", "detect", "detection_events"]


@dataclass(frozen=True)
class DetectSummary:
    """What a :func:`detect` run did.

    Attributes
    ----------
    model_id : str
    n_clips : int
        Clips in the run's scope (all, the ids given, and/or the time window).
    n_scored : int
        Clips scored by this run.
    n_skipped : int
        Clips in scope already scored by this model (``new_only=True``).
    n_without_features : int
        Clips in scope left unscored: they have no vectors of the model's feature set yet.
    n_untimed : int
        Clips left out of a time window because their file has no recording time.
    n_positive : int
        Positive clips in scope (of this run and earlier ones).
    events : tuple of Event
        The positive clips, merged (adjacent or overlapping clips of one file and class).
    tables : tuple of Path
        Raven selection tables written (one per file with events).
    csv : Path or None
        The CSV of the events, if written.
    seconds : float
        Wall time of the run.
    """

    model_id: str
    n_clips: int
    n_scored: int
    n_skipped: int
    n_without_features: int
    n_untimed: int
    n_positive: int
    events: tuple[Event, ...]
    tables: tuple[Path, ...]
    csv: Path | None
    seconds: float

    def __str__(self) -> str:
        parts = [f"model {self.model_id}: {self.n_scored} clips scored"]
        if self.n_skipped:
            parts.append(f"{self.n_skipped} scored before")
        if self.n_without_features:
            parts.append(f"{self.n_without_features} without features (extract them, then "
                         "run again)")
        if self.n_untimed:
            parts.append(f"{self.n_untimed} without a recording time left out")
        text = ", ".join(parts) + (f"; {self.n_positive} positive clips in {len(self.events)} "
                                   f"events")
        n = len(self.tables)
        written = [f"{n} Raven table{'s' if n != 1 else ''}"] if n else []
        if self.csv is not None:
            written.append(str(self.csv))
        if written:
            text += " (" + ", ".join(written) + ")"
        return text + f" in {self.seconds:.1f} s"


def _open(db) -> Store:
    if isinstance(db, Store):
        return db
    if str(db) != ":memory:" and not Path(db).is_file():
        raise ValueError(f"database {str(db)!r} does not exist; create it with 'alwidget "
                         "ingest' and extract features first")
    return Store(db)


def _model(model):
    from ..model_file import SavedModel, load_model  # scikit-learn: imported when used

    if isinstance(model, SavedModel):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model)
    raise TypeError(f"model={model!r}: give a model file (path) or a SavedModel")


def _feature_batches(store: Store, fs, ids: np.ndarray, batch_clips: int):
    """(clip ids, vectors) of the clips of ``ids`` that have vectors, in batches; and the
    ids that have none.

    Each batch's vectors are read when it is scored: memory holds one batch, not the set.
    """
    found = ~np.isin(ids, store.clips_without_features(fs))
    todo, missing = ids[found], ids[~found]

    def batches():
        for i in range(0, len(todo), batch_clips):
            yield store.get_features(fs, todo[i:i + batch_clips])

    return int(found.sum()), batches(), missing


def detect(db, model, *, clips=None, recorded_from=None, recorded_to=None,
           new_only: bool = True, out_dir=None, formats=("raven", "csv"),
           threshold: float | None = None, classes=None, gap_s: float = 0.0,
           batch_clips: int = 20_000, progress: bool = True, scheduler: str | None = None,
           client=None, n_workers: int = 2, work_dir=None) -> DetectSummary:
    """Score clips of the archive with a saved model, store the scores, report positives.

    Each clip in scope that has a vector of the model's feature set is scored: a binary
    model stores its target and P(target), a multi-class one its top class and that
    class's probability (:mod:`alwidget.detect.scoring`). Scores go to the store's
    ``detections`` (one row per model and clip), never to the labels. Each batch is
    committed as soon as it is scored, so a run that is stopped resumes where it stopped
    (with ``new_only``, the default, clips already scored are skipped).

    Clips with no vector yet are **not extracted here**: they are left unscored, counted
    in the summary and named in a warning; run the model's extractor
    (:func:`alwidget.extract_features`, ``alwidget features``) and run ``detect`` again to
    score just them. When no clip in scope has vectors, nothing is stored and a
    ``ValueError`` says what to extract.

    Then, with ``out_dir``, the positives in scope (of this run and earlier ones) are
    written: adjacent or overlapping positive clips of one file and class are merged into
    one event (begin = first start, end = last end, score = the highest); one Raven
    selection table per file with events (``<file stem>.Table.1.selections.txt``) and
    ``detections.csv`` (file, begin_s, end_s, label, score, clips, begin_time).

    Parameters
    ----------
    db : Store or path
        The project database (it must exist).
    model : path or SavedModel
        A model file (:func:`alwidget.model_file.save_model`). Refused, with nothing
        stored, when the store has no vectors of its feature set.
    clips : sequence of int, optional
        Only these clip ids.
    recorded_from, recorded_to : str or datetime, optional
        Only clips that start in ``[recorded_from, recorded_to)`` (ISO 8601), by their
        file's ``recorded_at`` plus their offset. Clips of files without a recording time
        are then left out (counted in the summary).
    new_only : bool, default True
        Skip clips this model has scored already; False scores every clip in scope again.
    out_dir : path, optional
        Where the tables go; None writes no file.
    formats : tuple, default ("raven", "csv")
    threshold : float, optional
        Least score of a positive, instead of the model's threshold
        (:func:`~alwidget.detect.scoring.positive_rule`). Changes only what is reported.
    classes : sequence of str, optional
        Multi-class models: the classes to report (default: all but
        :data:`~alwidget.detect.scoring.BACKGROUND_CLASSES`).
    gap_s : float, default 0
        Positive clips at most this far apart are merged too.
    batch_clips : int, default 20000
        Clips per committed batch (per Dask task); what a stop can lose.
    progress : bool, default True
        Show a progress bar.
    scheduler : str, optional
        Score on the Dask scheduler at this address (``"tcp://host:8786"``).
    client : distributed.Client, optional
        Score on this Dask client's cluster.
    n_workers : int, default 2
        Unused unless on Dask without ``scheduler`` or ``client``.
    work_dir : path, optional
        Dask only: where partition files go (every worker must reach it). Default:
        ``<db>.detect/<model id>/`` beside the database.

    Returns
    -------
    DetectSummary

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.learn import RandomForest
    >>> from alwidget.model_file import save_model
    >>> from alwidget.store import NewAudio, Store
    >>> tmp = getfixture("tmp_path")
    >>> store = Store(tmp / "p.db")
    >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 16000 * 4, 1, "WAV",
    ...                              "PCM_16", "h", 0), [(s, 1.0) for s in range(4)])
    >>> fs = store.feature_set("toy", {}, 1)
    >>> store.put_features(fs, store.clip_ids(), np.array([[0.], [3.], [3.], [0.]]))
    >>> rf = RandomForest(n_estimators=5, random_state=0).fit([[0.], [3.]], ["rain", "owl"])
    >>> model = save_model(tmp / "owl.alwmodel", rf, classes=["rain", "owl"], target="owl",
    ...                    feature_set=fs)
    >>> summary = detect(store, tmp / "owl.alwmodel", out_dir=tmp / "out", progress=False)
    >>> summary.n_scored, [(e.begin_s, e.end_s, e.n_clips) for e in summary.events]
    (4, [(1.0, 3.0, 2)])
    >>> found = store.detections(model.model_id)  # clip id, class scored, P(owl)
    >>> found.label.tolist(), (found.score > 0.5).tolist()
    (['owl', 'owl', 'owl', 'owl'], [False, True, True, False])
    """
    t0 = time.perf_counter()
    if batch_clips < 1:
        raise ValueError(f"batch_clips={batch_clips!r} must be >= 1")
    if scheduler is not None and client is not None:
        raise ValueError("give scheduler= or client=, not both")
    store = _open(db)
    try:
        model = _model(model)
        fs = model.feature_set_in(store)  # ValueError: the store lacks the model's features
        rule = positive_rule(model, threshold=threshold, classes=classes)
        scope, n_untimed = clips_in_scope(store, clips, recorded_from, recorded_to)
        todo = store.clips_without_detections(model.model_id, scope) if new_only else scope
        n_skipped = len(scope) - len(todo)
        n_scored, missing = 0, np.zeros(0, np.int64)
        on_dask = scheduler is not None or client is not None
        work = None
        if on_dask:
            if work_dir is None and store.path == ":memory:":
                raise ValueError("an in-memory store needs work_dir= for the partition files")
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model.model_id)
            work = Path(work_dir if work_dir is not None else store.path + ".detect") / safe

        def put(ids, index, score):
            store.put_detections(model.model_id, ids, [model.classes[i] for i in index], score)

        if on_dask and work.is_dir() and any(work.glob("part-*.npz")):  # a stopped run's scores
            store.check_writable("detections")
            store.add_model(model.model_id, fs, model.card)
            from .distributed import merge_leftovers

            merge_leftovers(work, put)
            todo = store.clips_without_detections(model.model_id, scope) if new_only else todo
        if len(todo):
            n_have, batches, missing = _feature_batches(store, fs, todo, batch_clips)
            if n_have == 0:
                raise ValueError(
                    f"none of the {len(todo)} clips to score has {fs.extractor} features "
                    f"(config {fs.config_hash}) yet; nothing was stored: extract them first "
                    f"(alwidget.extract_features(db, {fs.extractor!r}) or `alwidget features "
                    f"--db DB --extractor {fs.extractor}`)")
            store.check_writable("detections")
            store.add_model(model.model_id, fs, model.card)
            bar = tqdm(total=n_have, desc=f"detect ({model.model_id})", unit="clip",
                       disable=not progress)
            try:
                if on_dask:
                    from .distributed import score_on_dask

                    score_on_dask(model, batches, put, work=work,
                                  key=f"alwidget-detect-{model.model_id}", scheduler=scheduler,
                                  client=client, n_workers=n_workers, bar=bar)
                else:
                    for ids, X in batches:
                        index, score = score_vectors(model, X)
                        put(ids, index, score)  # committed: a stop loses at most this batch
                        bar.update(len(ids))
            finally:
                bar.close()
            n_scored = n_have
            if len(missing):
                warnings.warn(
                    f"{len(missing)} clips (e.g. {missing[:3].tolist()}) have no {fs.extractor} "
                    f"features (config {fs.config_hash}) yet and were not scored: extract them "
                    "(alwidget.extract_features, `alwidget features`), then run detect again; "
                    "it scores only what is left", stacklevel=2)
        events = detection_events(store, model, clips=scope, threshold=rule.threshold,
                                  classes=rule.classes, gap_s=gap_s)
        tables, table = ((), None)
        if out_dir is not None:
            rates = {a.id: a.sample_rate for a in store.audios()} if events else {}
            tables, table = write_events(events, out_dir, formats=formats, sample_rates=rates)
        return DetectSummary(
            model_id=model.model_id, n_clips=len(scope), n_scored=n_scored, n_skipped=n_skipped,
            n_without_features=len(missing), n_untimed=n_untimed,
            n_positive=sum(e.n_clips for e in events), events=tuple(events), tables=tables,
            csv=table, seconds=time.perf_counter() - t0)
    finally:
        if store is not db:
            store.close()


def detection_events(db, model, *, clips=None, threshold: float | None = None,
                     classes=None, gap_s: float = 0.0) -> list[Event]:
    """The stored positives of ``model`` (of ``clips``, or all), merged into events.

    Reads only what :func:`detect` stored; scores nothing.

    Parameters
    ----------
    db : Store or path
    model : path or SavedModel
    clips : sequence of int, optional
    threshold, classes : optional
        As in :func:`detect` (:func:`~alwidget.detect.scoring.positive_rule`).
    gap_s : float, default 0
        Positive clips of a file and class at most this far apart are merged too.

    Returns
    -------
    list of Event
        By file (audio id), then begin.

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> class Model:  # a SavedModel, as far as this needs
    ...     model_id, classes, target, threshold = "m1", ("rain", "owl"), "owl", 0.5
    >>> detection_events(store, Model())
    []
    """
    store = _open(db)
    try:
        model = model if not isinstance(model, (str, Path)) else _model(model)
        rule = positive_rule(model, threshold=threshold, classes=classes)
        found = store.detections(model.model_id, min_score=rule.threshold)
        keep = rule.mask(found.label, found.score)
        if clips is not None:
            keep &= np.isin(found.clip_id, np.asarray(clips, np.int64))
        ids, labels, scores = found.clip_id[keep], found.label[keep], found.score[keep]
        if not len(ids):
            return []
        src = store.clip_sources(ids)
        order = np.searchsorted(ids, src.clip_id)  # ids ascending (detections are by clip id)
        labels, scores = labels[order], scores[order]
        audio = {a.id: a for a in store.audios()}
        events: list[Event] = []
        cuts = np.flatnonzero(np.diff(src.audio_id)) + 1
        for g in np.split(np.arange(len(src)), cuts):
            a = audio[int(src.audio_id[g[0]])]
            starts = src.start_s[g]
            for begin, end, label, score, n in merge_clips(
                    starts, starts + src.duration_s[g], labels[g], scores[g], gap_s=gap_s):
                events.append(Event(a.id, a.path, begin, end, label, score, n,
                                    begin_time(a.recorded_at, begin)))
        return events
    finally:
        if store is not db:
            store.close()
