"""Widgets: views of a session. They talk to the session only, never to the store or a learner.

* :class:`LabelingWidget` — spectrogram, audio, label buttons and hotkeys, status.
* :class:`MapView` — a PCA / t-SNE / UMAP map of the pool, recoloured after every decision;
  click a point to hear and label it, select a region to list, label or queue its clips.
* :class:`LabelingApp` — both, wired together (what the quickstart shows).
* :func:`spectrogram_grid` — spectrograms of clips from several map regions, side by side.
* :class:`SearchGallery` — the clips nearest an example (a clip, a file, a map selection) as
  spectrograms with play buttons and label keys; labeling there commits like any decision.
* :class:`TeamLabeler` — one labeler's assigned clips of the team's rounds: several events per
  clip, tags searched or browsed in the ontology, committed through the team.
* :class:`NodeHealthView` — recording nodes x days coloured by health (missing, silent,
  clipped time); a node that stopped is flagged; click a day to hear its review clip.
* :class:`TeamView` — the team's rounds, each labeler's progress and quota, agreement, doubts,
  suggested classes and the histogram of classes labeled; ``refresh()`` shows the others' work.
"""

from .app import LabelingApp
from .compare import spectrogram_grid
from .gallery import SearchGallery
from .labeler import LabelingWidget
from .mapview import COLOR_MODES, MapView, Snapshot
from .node_health import NodeHealthView
from .team_labeler import TeamLabeler
from .team_view import TeamView

__all__ = ["COLOR_MODES", "LabelingApp", "LabelingWidget", "MapView", "NodeHealthView",
           "SearchGallery", "Snapshot",
           "TeamLabeler", "TeamView", "spectrogram_grid"]
