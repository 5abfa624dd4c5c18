"""Detections of a saved model over the archive.

:func:`detect` scores the clips of a store with a saved model
(:mod:`alwidget.model_file`), stores each clip's score apart from the labels (resumable:
each batch is committed, clips already scored are skipped), in this process or on a Dask
cluster, and writes the positives, merged into events, as Raven selection tables and a CSV.

This package only re-exports; the code lives in its modules: ``run`` (:func:`detect`),
``scoring`` (what is stored, which clips are positives), ``select`` (clips by id or
recording time), ``events`` (merging, tables), ``distributed`` (Dask) and ``command``
(``alwidget detect``).
"""

from .events import Event, merge_clips
from .run import DetectSummary, detect, detection_events
from .scoring import BACKGROUND_CLASSES, PositiveRule, positive_rule

__all__ = ["BACKGROUND_CLASSES", "DetectSummary", "Event", "PositiveRule", "detect",
           "detection_events", "merge_clips", "positive_rule"]
