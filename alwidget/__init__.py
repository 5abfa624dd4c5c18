"""alwidget: active learning for labeling audio, inside JupyterLab.

Examples
--------
>>> import alwidget
>>> summary = alwidget.ingest("recordings/", "project.db", clip_seconds=1.0)  # doctest: +SKIP
>>> fs = alwidget.extract_features("project.db", "logmel")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .features import extract_features, import_features  # noqa: E402
from .ingestion import ingest  # noqa: E402
from .store import Store  # noqa: E402

__all__ = ["Store", "__version__", "extract_features", "import_features", "ingest"]
