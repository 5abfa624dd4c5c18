"""The store: the only part of alwidget that talks to SQLite.

See :class:`Store`.
"""

from .store import (
    Audio,
    AudioLevels,
    ClipSources,
    Decision,
    DetectionTable,
    FeatureSet,
    IngestError,
    LabelRecord,
    Listed,
    NodeDay,
    NodeInfo,
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
    "AudioLevels",
    "ClipSources",
    "Decision",
    "DetectionTable",
    "FeatureSet",
    "IngestError",
    "LabelRecord",
    "LabelTable",
    "Listed",
    "NodeDay",
    "NodeInfo",
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
