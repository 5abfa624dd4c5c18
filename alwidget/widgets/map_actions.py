"""What a :class:`~alwidget.widgets.MapView` does with clicks, selections and figures: show a
clicked clip in the labeler, list, label, queue or search a selection, and the map and its
snapshots as figures of their own (HTML, PNG). A part of :class:`MapView`, in a module of its own.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from .map_events import file_names
from .map_snapshots import map_figure, snapshot_figure, write_figure
from ..session import STATUS_NAMES
from .map_style import escaped, show_legend, show_scale

__all__ = ["MapActions"]


class MapActions:
    """Clicks, selections, snapshots and exports of a map view (see :class:`MapView`)."""

    # -- clicks and selections ----------------------------------------------------------
    def pick(self, clip_id: int) -> None:
        """Show and play ``clip_id`` in the labeler (or call ``on_pick``), as a click does;
        a clip outside the session's clips (not drawn) is not shown."""
        v = self.session.pool.view()
        row = np.searchsorted(v.clip_ids, clip_id)
        if row < len(v.clip_ids) and v.clip_ids[row] == clip_id \
                and v.status[row] == STATUS_NAMES.index("outside"):
            return
        for show in (getattr(self.labeler, "show_clip", None), self.on_pick):
            if show is not None:
                self._act(show, clip_id)

    def select(self, clip_ids) -> None:
        """Make ``clip_ids`` the selection (as a box or lasso does) and list them below the map.

        Clips that are not on the map (not the session's, or outside its node/time window or
        clip list: not drawn) are left out.
        """
        ids = np.asarray(clip_ids, dtype=np.int64)
        v = self.session.pool.view()
        if self.projection is not None:
            ids = ids[np.isin(ids, self.projection.clip_ids)]
        outside = v.clip_ids[v.status == STATUS_NAMES.index("outside")]
        self.selection.show(ids[~np.isin(ids, outside)], v)

    def select_box(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Select the clips inside a rectangle of map coordinates (as a box drag does)."""
        xy = self.projection.coords
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        self.select(self.projection.clip_ids[inside])
        return self.selected

    def label_selection(self, label: str) -> int:
        """Give the selected clips that are still undecided ``label`` at once, without asking
        (the "Label all…" button asks to confirm the count first). See
        :meth:`SelectionPanel.label`; returns the number of clips labeled."""
        return self.selection.label(label)

    def queue_selection(self) -> None:
        """Ask the selected clips next, before the strategy's picks."""
        self.selection.queue()

    def search_selection(self, **kwargs):
        """Show the clips nearest to the selection in a gallery below the map, to label.

        ``kwargs`` go to :class:`~alwidget.widgets.SearchGallery` (``k``, ``metric``,
        ``combine``...); returns the gallery. Several clips search near their centroid
        unless ``combine="nearest"``.
        """
        from .gallery import SearchGallery

        if not len(self.selected):
            raise ValueError("the selection is empty: select clips with the box or lasso first")
        self.gallery = SearchGallery(self.session, [int(c) for c in self.selected], **kwargs)
        self.gallery_box.children = [self.gallery]
        return self.gallery

    def _act(self, fn, *args) -> None:
        try:
            fn(*args)
            self.error.value = ""
        except Exception as exc:
            self.error.value = f"<pre role='alert'>{escaped(f'{type(exc).__name__}: {exc}')}</pre>"
            traceback.print_exc()

    # -- snapshots ---------------------------------------------------------------------
    def snapshot_figure(self) -> go.Figure:
        """The kept snapshots side by side, coloured by predicted probability (a static figure
        as wide as the notebook, in the theme of the page the map is shown in)."""
        if not self.snapshots:
            raise ValueError(f"no snapshot yet: they are taken at iterations "
                             f"{self.snapshots.iterations}")
        classes = self.session.classes
        return snapshot_figure([self.snapshots[k] for k in sorted(self.snapshots)],
                               target=classes[-1] if len(classes) == 2 else "predicted class",
                               theme=self.theme)

    def _static_figure(self) -> go.Figure:
        """The map as a figure of its own, coloured from the session as it is now (not from
        the live figure, which may wait for a pause to be redrawn), with plotly's tooltips
        (file, time, clip)."""
        v = self.session.pool.view()
        places = self.session.pool.places()  # of the pool as it is now (it may have grown)
        fig = map_figure(self.figure, places, file_names(places.paths),
                         ring=self._ring(), title=f"{v.n_labels} labels · model "
                         f"v{v.model_version} · {self.projection.describe()}")
        c, values, sizes = self._colours(v)
        n = len(self.projection.clip_ids)
        fig.data[0].marker.update(color=values[:n], size=sizes[:n])
        show_scale(fig.data[0], c)
        show_legend(fig.data[1:], [e[:2] for e in self._legend_of(c, v)])
        return fig

    def export(self, path, *, snapshots: bool = False) -> Path:
        """Write the map (or the snapshots) to ``path``: ``.html`` always, ``.png`` with a Chromium.

        HTML files embed plotly.js, so they open offline.
        """
        return write_figure(self.snapshot_figure() if snapshots else self._static_figure(), path)
