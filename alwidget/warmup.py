"""In a Jupyter kernel, what the first clip waits for is imported while the first cells run.

``import alwidget`` in a kernel starts a background thread that imports plotly's widget (it
imports nbformat and jsonschema: 3-8 s on 2 cores): paid in front of the first clip otherwise,
when the labeler and its map are shown (``benchmarks/bench_first_run.py``); meanwhile it
overlaps the cells that ingest and extract features. Two threads importing the same packages
at once can hand one of them a partly initialised module, so only packages a notebook's cells
do not import meanwhile are imported here.
"""

from __future__ import annotations

import importlib
import sys
import threading

__all__ = ["NAMES", "start"]

#: What is imported in the background: plotly's widget only (nbformat, jsonschema), which a
#: notebook's own cells do not import meanwhile. Not alwidget's session or widgets: a cell
#: importing scikit-learn (e.g. ``alwidget.team``) while this thread did got a partly
#: initialised ``sklearn.base`` (CI, 2026-11-30).
NAMES = ("plotly.graph_objs._figurewidget",)
_started = False


def start() -> None:
    """Start the background import, in a Jupyter kernel only and once.

    Examples
    --------
    >>> from alwidget import warmup
    >>> warmup.start()  # outside a kernel (or again): nothing is started
    """
    global _started
    if _started or "ipykernel" not in sys.modules or all(n in sys.modules for n in NAMES):
        return
    _started = True

    def load():
        for name in NAMES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a warm-up: the map says what failed when made
                pass

    threading.Thread(target=load, name="alwidget-load-widgets", daemon=True).start()

