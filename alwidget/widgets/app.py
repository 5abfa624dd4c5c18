"""The labeling widget with the map of the pool below it: what the quickstart shows."""

from __future__ import annotations

import ipywidgets as W

from ..session import Session
from .labeler import LabelingWidget
from .live import release_view, replace_view
from .mapview import MapView

__all__ = ["LabelingApp"]


class LabelingApp(W.VBox):
    """A :class:`LabelingWidget` and a :class:`MapView` of the same session.

    Clicking a point on the map shows and plays that clip in the labeler, where
    it can be labeled at once; every decision recolours the map. A session has one live
    app, one live labeler and one live map: a new app (a re-run cell) closes the previous
    one and its two views.

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
                           **(map_kwargs or {}))
        super().__init__([self.labeler, self.map])
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
