"""Maps of a round, as in the framework's figures: the clips a round trained on (its medoids),
the clips it proposed and those it discarded, placed by UMAP, t-SNE or PCA of their
embeddings, and the same map coloured by the tagger's top-1 class.

Which clips a map shows (:func:`round_map`):

* the round's **proposals**: ``"proposed"`` (agreed since, with their label, or still
  waiting for annotations or a doubt-resolution round) or ``"discarded"`` (no agreement even
  after doubt resolution);
* the **medoids the round trained on** (role ``"medoid"``, ``trained`` True): the list the
  round recorded (``params["medoids"]``); for rounds planned before it was recorded, it is
  recomputed with planning's rule (:func:`~alwidget.team.medoid_priority`: the round's
  window first, then its nodes' other windows, then other nodes), from the labels in force now
  (:meth:`Store.agreed_labels <alwidget.store.Store.agreed_labels>`) less the clips first
  proposed by this round or a later one (they were unlabeled when it was planned), up to
  the number the round recorded (``params["n_medoids"]``). A label agreed after the round
  was planned on a clip of an earlier round (e.g. in a doubt-resolution round) cannot be
  told apart and counts as if it was there. A doubt-resolution round trains on nothing: its
  map holds its proposals only.

The projection is fitted on those points' embeddings alone (the round's feature set, else
the team's, else the store's default), through :func:`alwidget.projections.project`: memory is bounded by the points (and the list of labeled clips,
as in planning), never by the archive.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from ..projections import METHODS, project
from ..store import FeatureSet, Store, StoreError
from .medoids import medoid_priority
from .planning import default_tagger
from .team import Team

__all__ = ["ROLES", "RoundMap", "round_figures", "round_map"]

#: A point's role on a round's map.
ROLES = ("medoid", "proposed", "discarded")
_ROLE_STYLE = {"medoid": ("diamond", "#1f77b4", 9), "proposed": ("circle", "#ff7f0e", 7),
               "discarded": ("x", "#7f7f7f", 8)}
_NO_TAG = "#d9d9d9"
_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@dataclass(frozen=True, eq=False)
class RoundMap:
    """The points of one round's map (arrays aligned, by clip id, read-only).

    Attributes
    ----------
    round_id : int
    kind : str
        "round" or "doubt" (a doubt-resolution round).
    clip_ids : ndarray of int64, ascending
    coords : ndarray of float32, shape (n, 2)
    roles : ndarray of str
        One of :data:`ROLES` per point.
    trained : ndarray of bool
        A medoid the round trained on (False: one of the round's proposals).
    labels : ndarray of object
        The agreed label, or None (a proposal without agreement).
    top1 : ndarray of object
        The tagger's most likely class, or None (no tagger, or no probabilities for it).
    method : str
        "umap", "tsne" or "pca".
    seed : int
    features : str
        The extractor of the embeddings the map was fitted on.
    tagger : str or None
        The extractor of the tagger's probabilities.
    """

    round_id: int
    kind: str
    clip_ids: np.ndarray
    coords: np.ndarray
    roles: np.ndarray
    trained: np.ndarray
    labels: np.ndarray
    top1: np.ndarray
    method: str
    seed: int
    features: str
    tagger: str | None

    def counts(self) -> dict[str, int]:
        """Points per role, e.g. ``{"medoid": 40, "proposed": 3, "discarded": 1}``."""
        return {role: int((self.roles == role).sum()) for role in ROLES}

    def describe(self) -> str:
        """One line for a title, e.g. ``"round 2: PCA of 83 clips (40 medoids, ...)"``."""
        c = self.counts()
        return (f"round {self.round_id}: {_NAMES[self.method]} of {len(self.clip_ids)} clips "
                f"({c['medoid']} medoids, of them {int(self.trained.sum())} trained on; "
                f"{c['proposed']} proposed; {c['discarded']} discarded)")


def round_map(team_or_store: Team | Store, round_id: int, *, method: str = "umap",
              seed: int = 0, **params) -> RoundMap:
    """The points of round ``round_id``'s map: its medoids, proposed and discarded clips
    (see the module docstring for which clips), placed by ``method``.

    Parameters
    ----------
    team_or_store : Team or Store
    round_id : int
        A round of :meth:`Store.rounds <alwidget.store.Store.rounds>`.
    method : {"umap", "tsne", "pca"}, default "umap"
        UMAP and t-SNE are fitted on the round's points (UMAP compiles for 15–40 s in a
        fresh process); PCA is instant.
    seed : int, default 0
        Seeds the projection: the same round and seed give the same map.
    **params
        Passed to :func:`~alwidget.projections.project` (``perplexity``,
        ``n_neighbors``, ``min_dist``).

    Returns
    -------
    RoundMap

    Raises
    ------
    ValueError
        When ``round_id`` is not a round of the store, ``method`` is unknown, the round has
        fewer than 3 points, or a point has no embedding.

    Examples
    --------
    >>> from alwidget.store import Store
    >>> from alwidget.team import Team
    >>> from alwidget.team.synthetic import synthetic_archive
    >>> store = Store(":memory:")
    >>> _ = synthetic_archive(store, n_nodes=1, days=2, files_per_day=4, dim=16)
    >>> team = Team.create(store, groups={"A": ["ann", "bob"]}, batch_size=6)
    >>> r = team.plan_round(["node1"], "2024-05-01", "2024-05-02")
    >>> m = round_map(team, r, method="pca")
    >>> m.counts(), m.coords.dtype.name, m.top1[0] is not None
    ({'medoid': 0, 'proposed': 6, 'discarded': 0}, 'float32', True)
    >>> fig = round_figures(m)
    >>> [t.name for t in fig.data][:3]
    ['medoid (0)', 'proposed (6)', 'discarded (0)']
    """
    team, store = _team_and_store(team_or_store)
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {METHODS}")
    rounds = store.rounds()
    found = [r for r in rounds if not isinstance(round_id, bool)
             and isinstance(round_id, (int, np.integer)) and r["id"] == int(round_id)]
    if not found:
        raise ValueError(f"round_id={round_id!r} is not a round of {store.path!r}; its rounds "
                         f"are {[r['id'] for r in rounds]}")
    this = found[0]
    proposals = store.round_proposals(this["id"])
    labeled = store.agreed_labels()  # bounded by the labels, as in planning
    trained = _trained_medoids(store, this, rounds, labeled) if this["kind"] == "round" else \
        np.zeros(0, np.int64)
    label_of = {c: label for c, label, _, _ in labeled}
    clip_ids = np.r_[trained, np.array([p.clip_id for p in proposals], np.int64)]
    roles = np.array(["medoid"] * len(trained) + [
        "discarded" if p.status == "discarded" else "proposed" for p in proposals], dtype=object)
    labels = np.empty(len(clip_ids), object)
    labels[:] = [label_of.get(int(c)) for c in trained] + [p.label for p in proposals]
    is_trained = np.r_[np.ones(len(trained), bool), np.zeros(len(proposals), bool)]
    order = np.argsort(clip_ids, kind="stable")
    clip_ids, roles, labels, is_trained = (a[order] for a in (clip_ids, roles, labels,
                                                               is_trained))
    if len(clip_ids) < 3:
        raise ValueError(f"round {this['id']} has {len(clip_ids)} clip(s) to map; a map needs "
                         "3 at least")
    features = _embedding_set(store, team, this)
    try:
        _, X = store.get_features(features, clip_ids)
    except StoreError as exc:
        raise ValueError(f"round {this['id']}: {exc}") from None
    coords = _project(X, method, seed, params)
    tagger = _tagger_set(store, team)
    top1 = _tagger_top1(store, tagger, clip_ids)
    for a in (clip_ids, coords, roles, is_trained, labels, top1):
        a.flags.writeable = False
    return RoundMap(int(this["id"]), this["kind"], clip_ids, coords, roles, is_trained, labels,
                    top1, method, int(seed), features.extractor,
                    None if tagger is None else tagger.extractor)


def round_figures(round_map: RoundMap, *, height: int = 480, width: int = 1200):
    """One figure, two panels, as in the framework's figures: (a) the round's points by
    role (medoids, proposed, discarded: distinct markers, a legend), (b) the same points
    coloured by the tagger's top-1 class (a legend of classes, most frequent first).

    Hovering a point shows its clip id, role, agreed label and top-1 class (escaped).

    Parameters
    ----------
    round_map : RoundMap
        From :func:`round_map`.
    height, width : int, default 480 and 1200
        In pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Write it with ``fig.write_html(path, include_plotlyjs=True)`` to open it offline.

    Examples
    --------
    See :func:`round_map`.
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    m = round_map
    what = "top-1 class of " + _escaped(m.tagger) if m.tagger else "no tagger in the store"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.2, subplot_titles=(
        f"(a) medoids, proposed and discarded · {_NAMES[m.method]}", f"(b) {what}"))
    hover = np.array([f"clip {c}<br>{role}{' (trained on)' if t else ''}<br>label "
                      f"{_escaped(lab) if lab is not None else '—'}<br>top-1 "
                      f"{_escaped(top) if top is not None else '—'}"
                      for c, role, t, lab, top in zip(m.clip_ids, m.roles, m.trained, m.labels,
                                                      m.top1)], dtype=object)
    for role in ROLES:
        rows = m.roles == role
        symbol, color, size = _ROLE_STYLE[role]
        fig.add_trace(go.Scattergl(
            x=m.coords[rows, 0], y=m.coords[rows, 1], mode="markers", name=f"{role} ({rows.sum()})",
            legend="legend", hovertext=hover[rows], hoverinfo="text",
            marker=dict(symbol=symbol, color=color, size=size, line=dict(width=0))), 1, 1)
    known = np.array([t is not None for t in m.top1], bool)
    names, counts = np.unique(m.top1[known].astype(str), return_counts=True)
    classes = [str(n) for n in names[np.argsort(-counts, kind="stable")]]
    palette = tuple(qualitative.Plotly) + tuple(qualitative.Alphabet)
    for k, name in enumerate(classes + ([None] if (~known).any() else [])):
        rows = ~known if name is None else (m.top1 == name)
        fig.add_trace(go.Scattergl(
            x=m.coords[rows, 0], y=m.coords[rows, 1], mode="markers",
            name=("no top-1 class" if name is None else _escaped(name)) + f" ({rows.sum()})",
            legend="legend2", hovertext=hover[rows], hoverinfo="text",
            marker=dict(color=_NO_TAG if name is None else palette[k % len(palette)], size=7,
                        symbol=[_ROLE_STYLE[r][0] for r in m.roles[rows]],
                        line=dict(width=0))), 1, 2)
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    fig.update_layout(
        title=_escaped(m.describe()), height=height, width=width, template="plotly_white",
        showlegend=True,  # a legend of one non-empty trace would be hidden
        margin=dict(l=10, r=10, t=70, b=10),  # each legend to the right of its panel
        legend=dict(x=0.405, y=1, xanchor="left", yanchor="top"),
        legend2=dict(x=1.005, y=1, xanchor="left", yanchor="top"))
    return fig


# -- helpers -----------------------------------------------------------------------------
def _team_and_store(team_or_store) -> tuple[Team | None, Store]:
    if isinstance(team_or_store, Team):
        return team_or_store, team_or_store.store
    if isinstance(team_or_store, Store):
        store = team_or_store
        return (Team(store) if store.team_settings() else None), store
    raise TypeError(f"team_or_store={team_or_store!r} must be a Team or a Store")


def _trained_medoids(store: Store, this: dict, rounds: list[dict], labeled: list
                     ) -> np.ndarray:
    """The clips round ``this`` trained on (see the module docstring), in priority order;
    ``labeled``: :meth:`Store.agreed_labels`."""
    params = this["params"]
    if "medoids" in params:  # recorded by the round: exact
        have = {c for c, _, _, _ in labeled}
        return np.array([c for c in params["medoids"] if int(c) in have], np.int64)
    later: set[int] = set()
    for r in rounds:
        if r["kind"] == "round" and r["id"] >= this["id"]:
            later.update(p.clip_id for p in store.round_proposals(r["id"]))
    labeled = [row for row in labeled if row[0] not in later]
    nodes, start, end = this["nodes"], this["window_start"], this["window_end"]
    same_node = np.array([nodes is None or node in nodes for _, _, node, _ in labeled], bool)
    in_time = np.array([(start is None and end is None) or (
        t is not None and (start is None or t >= start) and (end is None or t < end))
        for _, _, _, t in labeled], bool)  # as Store.window_clips compares ISO times
    cap = params.get("n_medoids", params.get("max_medoids", len(labeled)))
    return medoid_priority(np.array([row[0] for row in labeled], np.int64),
                           same_node & in_time, same_node, int(cap))


def _feature_set(store: Store, extractor: str, what: str) -> FeatureSet:
    sets = [fs for fs in store.feature_sets() if fs.extractor == extractor]
    if not sets:
        raise ValueError(f"the {what} {extractor!r} is not a feature set of the store")
    return sets[-1]


def _embedding_set(store: Store, team: Team | None, this: dict) -> FeatureSet:
    name = this["params"].get("features") or (team.settings["features"] if team else None)
    return _feature_set(store, name, "round's features") if name else \
        store.default_feature_set()


def _tagger_set(store: Store, team: Team | None) -> FeatureSet | None:
    name = team.settings["tagger"] if team else None
    return _feature_set(store, name, "team's tagger") if name else default_tagger(store)


def _tagger_top1(store: Store, tagger: FeatureSet | None, clip_ids: np.ndarray) -> np.ndarray:
    out = np.full(len(clip_ids), None, dtype=object)
    if tagger is None:
        return out
    ids, P = _present(store, tagger, clip_ids)
    if len(ids):
        out[np.searchsorted(clip_ids, ids)] = np.asarray(tagger.columns, object)[P.argmax(1)]
    return out


def _present(store: Store, fs: FeatureSet, clip_ids: np.ndarray):
    """The vectors of those of ``clip_ids`` (ascending) that have one in ``fs``: one read,
    halving around clips without a vector (a tagger run that skipped a few clips)."""
    try:
        return store.get_features(fs, clip_ids)
    except StoreError as exc:
        if type(exc) is not StoreError:  # locked, full...: not a missing vector
            raise
        if len(clip_ids) == 1:
            return clip_ids[:0], np.empty((0, fs.dim), np.float32)
    half = len(clip_ids) // 2
    (a, A), (b, B) = (_present(store, fs, clip_ids[:half]),
                      _present(store, fs, clip_ids[half:]))
    return np.r_[a, b], np.concatenate([A, B])


def _project(X: np.ndarray, method: str, seed: int, params: dict) -> np.ndarray:
    """``X``'s 2-d map by ``method``, fitted on ``X`` alone (:func:`alwidget.projections.project`)."""
    return project(X, method, random_state=seed, **params)


def _escaped(value) -> str:
    return html.escape(str(value), quote=False)
