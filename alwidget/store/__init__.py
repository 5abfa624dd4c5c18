"""The store: the only part of alwidget that talks to SQLite.

See :class:`Store`.
"""

from .store import (
    Audio,
    ClipSources,
    Decision,
    FeatureSet,
    IngestError,
    LabelTable,
    NewAudio,
    Store,
    StoreError,
    StoredProjection,
    StoreFull,
    StoreLocked,
    StoreNameClash,
    StoreReadOnly,
)

__all__ = [
    "Audio",
    "ClipSources",
    "Decision",
    "FeatureSet",
    "IngestError",
    "LabelTable",
    "NewAudio",
    "Store",
    "StoreError",
    "StoredProjection",
    "StoreFull",
    "StoreLocked",
    "StoreNameClash",
    "StoreReadOnly",
]
