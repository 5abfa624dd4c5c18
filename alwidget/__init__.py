"""alwidget: active learning for labeling audio, inside JupyterLab.

Examples
--------
>>> import alwidget
>>> summary = alwidget.ingest("recordings/", "project.db", clip_seconds=1.0)  # doctest: +SKIP
>>> fs = alwidget.extract_features("project.db", "logmel")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .exchange import export_labels, import_labels  # noqa: E402
from .features import extract_features, import_features  # noqa: E402
from .ingestion import ingest  # noqa: E402
from .store import Store  # noqa: E402

__all__ = ["Store", "__version__", "export_labels", "extract_features",
           "import_features", "import_labels", "ingest", "load_model", "save_model",
           "search_by_example"]

#: Public names imported on first use: they pull in scikit-learn (seconds at start-up).
#: (Detection is ``from alwidget.detect import detect``: ``alwidget.detect`` is its package.)
_LAZY = {"load_model": "model_file", "save_model": "model_file", "search_by_example": "search"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'alwidget' has no attribute {name!r}")

