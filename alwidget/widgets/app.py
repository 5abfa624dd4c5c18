"""The labeling widget with the map of the pool beside it: what the quickstart shows."""

from __future__ import annotations

import ipywidgets as W

from ..session import Session
from .labeler import LabelingWidget
from .live import release_view, replace_view
from .mapview import MapView

__all__ = ["LabelingApp"]


class LabelingApp(W.Box):
    """A :class:`LabelingWidget` and a :class:`MapView` of the same session, side by side.

    Clicking a point on the map shows and plays that clip in the labeler, where
    it can be labeled at once; every decision recolours the map, and a ring on the map marks
    the clip in the labeler. The two sit side by side when the notebook is wide enough (both
    fit a 1400 x 1000 screen with JupyterLab's file browser open), one above the other when it
    is not. A session has one live app, one live labeler and one live map: a new app (a re-run
    cell) closes the previous one and its two views.

    Parameters
    ----------
    session : Session
    map_method : {"tsne", "umap", "pca"}, default "tsne"
    map_color : str, default "status"
    labeler_kwargs, map_kwargs : dict, optional
        Passed to :class:`LabelingWidget` and :class:`MapView`.

    Examples
    --------
    >>> from alwidget.session import Session  # doctest: +SKIP
    >>> LabelingApp(Session("project.db", classes=["background", "target"]))  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, map_method: str = "tsne", map_color: str = "status",
                 labeler_kwargs: dict | None = None, map_kwargs: dict | None = None):
        self.session = session
        self.labeler = LabelingWidget(session, **(labeler_kwargs or {}))
        self.map = MapView(session, method=map_method, color=map_color, labeler=self.labeler,
                           **{"height": 400, **(map_kwargs or {})})
        self.labeler.layout = W.Layout(flex="1 1 480px", min_width="360px", max_width="780px",
                                       margin="0 8px 8px 0")
        self.map.layout = W.Layout(flex="1 1 420px", min_width="340px")
        super().__init__([self.labeler, self.map], layout=W.Layout(
            display="flex", flex_flow="row wrap", align_items="flex-start", width="100%"))
        self._open = True
        replace_view(session, "app", self)  # closes the app this one replaces

    def close(self) -> None:
        """Close the app and both views (they stop listening to the session)."""
        if getattr(self, "_open", False):  # once (ipywidgets' __del__ closes too)
            self._open = False
            self.labeler.close()
            self.map.close()
            release_view(self.session, "app", self)
        super().close()
