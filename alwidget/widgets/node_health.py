"""The node health view: a node x day grid coloured by health; click a cell to hear that
day's review clip (:func:`alwidget.nodes.node_health`)."""

from __future__ import annotations

import math
import traceback
from pathlib import Path

import anywidget
import traitlets as t

from ..audio import printable
from ..nodes import HealthReport
from .live import MainThread
from .payload import clip_payload

__all__ = ["NodeHealthView"]

_HERE = Path(__file__).parent


class NodeHealthView(anywidget.AnyWidget):
    """Node x day grid of a :class:`~alwidget.nodes.HealthReport`: green (ok), amber (warn),
    red (bad), grey (not meant to record), marked with the cause (M missing, S silent,
    C clipped time); a node that stopped sending is flagged beside its name. Click a cell (or focus it and press Enter or Space) to hear that day's review
    clip; its tooltip says the shares of missing, silent and clipped time and the levels.

    The audio is read when a cell is played, never before; messages from the browser are
    handled on the kernel's main thread.

    Parameters
    ----------
    report : HealthReport
    context_s : float, default 0.0
        Audio played around the review clip.

    Examples
    --------
    >>> from alwidget.nodes import node_health  # doctest: +SKIP
    >>> NodeHealthView(node_health(store))  # doctest: +SKIP
    """

    _esm = (_HERE / "spectrogram.js").read_text() + (_HERE / "node_health.js").read_text()
    _css = _HERE / "node_health.css"

    nodes = t.List(t.Dict()).tag(sync=True)  # {name, stopped (text or "")}
    days = t.List(t.Unicode()).tag(sync=True)
    cells = t.List(t.Dict()).tag(sync=True)  # {n, d, status, text, playable, mark}
    title = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    audio = t.Bytes(b"").tag(sync=True)
    playing = t.Unicode("").tag(sync=True)  # what is playing, as text
    play_request = t.Int(0).tag(sync=True)

    def __init__(self, report: HealthReport, *, context_s: float = 0.0, **kwargs):
        if not isinstance(report, HealthReport):
            raise TypeError(f"report must be a HealthReport (alwidget.nodes.node_health), not "
                            f"{type(report).__name__}")
        if not (isinstance(context_s, (int, float)) and math.isfinite(context_s)
                and context_s >= 0):
            raise ValueError(f"context_s={context_s!r} must be a finite number >= 0")
        super().__init__(**kwargs)
        self.report = report
        self.context_s = float(context_s)
        self._main = MainThread()
        self.on_msg(self._on_message)
        self.show(report)

    def show(self, report: HealthReport) -> None:
        """Show another report (e.g. made after the next ingest)."""
        self.report = report
        index = {n: i for i, n in enumerate(report.nodes)}
        days = {d: i for i, d in enumerate(report.days)}
        with self.hold_sync():
            self.nodes = [{"name": n, "stopped": "" if n not in report.stopped else (
                f"stopped: last heard {report.stopped[n]}" if report.stopped[n]
                else "stopped: never heard since its installation")} for n in report.nodes]
            self.days = list(report.days)
            self.cells = [{"n": index[c.node], "d": days[c.day], "status": c.status,
                           "text": c.summary(), "playable": c.review is not None,
                           "mark": (c.cause or "")[:1].upper()}
                          for c in report.cells.values()]
            self.title = str(report).splitlines()[0]

    def _on_message(self, widget, content, buffers) -> None:
        self._main.call(self._handle, content)  # messages may arrive on a subshell thread

    def _handle(self, content) -> None:
        if not isinstance(content, dict) or content.get("type") != "play":
            return
        try:
            self.play(str(content.get("node")), str(content.get("day")))
            self.error = ""
        except Exception as exc:  # shown in the widget, the traceback in the log
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()

    def play(self, node: str, day: str) -> None:
        """Send the review clip of ``node`` on ``day`` to the browser and play it."""
        cell = self.report.cell(node, day)
        if cell is None:
            raise ValueError(f"no cell for node {node!r} on {day!r} in this report")
        if cell.review is None:
            raise ValueError(f"{node} sent nothing on {day}: no clip to hear")
        clip_id, path, start_s, duration_s = cell.review
        pay = clip_payload(path, start_s, duration_s, context_s=self.context_s)
        with self.hold_sync():
            self.audio = pay.wav
            self.playing = (f"{node} {day}: clip {clip_id}, {printable(Path(path).name)} "
                            f"{start_s:g}–{start_s + duration_s:g} s")
            self.play_request += 1
