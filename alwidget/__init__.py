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


#: Set once the background import of alwidget's session and widgets (in a kernel) has ended.
_IMPORTED = __import__("threading").Event()
_IMPORTED.set()


def _load_widgets_meanwhile() -> None:
    """In a Jupyter kernel, import alwidget's session and widgets (scikit-learn, the forest's
    compiled kernels), then plotly's widget (it imports nbformat and jsonschema: 3-8 s on 2
    cores), in a background thread while the first cells ingest and extract features: paid
    in front of the first clip otherwise (``benchmarks/bench_first_run.py``).

    Code that would import the same packages (scipy, numba: the feature extractors) first
    waits for the first part (:func:`_wait_for_imports`): two threads importing the same
    packages at once can hand one of them a partly initialised module."""
    import importlib
    import sys
    import threading

    names = ["alwidget.widgets", "plotly.graph_objs._figurewidget"]
    if "ipykernel" not in sys.modules or all(n in sys.modules for n in names):
        return

    def load():
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a warm-up: the map says what failed when made
                pass
            finally:
                _IMPORTED.set()  # after alwidget's own part: plotly's imports are its own

    _IMPORTED.clear()
    threading.Thread(target=load, name="alwidget-load-widgets", daemon=True).start()


def _wait_for_imports() -> None:
    """Wait until the background import of alwidget's session and widgets has ended (at once
    outside a kernel)."""
    _IMPORTED.wait()


_load_widgets_meanwhile()
