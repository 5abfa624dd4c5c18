"""The store: the only part of alwidget that talks to SQLite.

See :class:`Store`.
"""

from .store import (
    Audio,
    ClipSources,
    Decision,
    DetectionTable,
    FeatureSet,
    IngestError,
    LabelRecord,
    LabelTable,
    NewAudio,
    RoundProposal,
    Store,
    StoreError,
    StoredProjection,
    StoreFull,
    StoreLocked,
    StoreNameClash,
    StoreReadOnly,
    StrongEvent,
)

__all__ = [
    "Audio",
    "ClipSources",
    "Decision",
    "DetectionTable",
    "FeatureSet",
    "IngestError",
    "LabelRecord",
    "LabelTable",
    "NewAudio",
    "RoundProposal",
    "Store",
    "StoreError",
    "StoredProjection",
    "StoreFull",
    "StoreLocked",
    "StoreNameClash",
    "StoreReadOnly",
    "StrongEvent",
]
