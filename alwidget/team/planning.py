"""What one round of the framework proposes: a window's pool, its disjoint sets, the medoids
the model trains on, and the batch the loop core picks (MAL on the first round, MAL-MF
after). Memory is bounded by ``max_set`` and the embedding size: the archive is never read
whole (the window through the (node, recorded_at) index, its tagger probabilities in
blocks, the features of the chosen set and the medoids by clip id)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..learn import Committee
from ..loop import LoopCore
from ..store import FeatureSet, Store
from ..strategies.partition import disjoint_sets
from ..tagger import tagger_sets
from .medoids import medoid_priority

__all__ = ["RoundPlan", "plan_proposals"]

_BLOCK = 8192  # tagger rows read at a time


@dataclass(frozen=True)
class RoundPlan:
    """A round's proposals before they are written, and how they were chosen."""

    proposals: np.ndarray       # clip ids, the loop core's order
    reasons: tuple[str, ...]
    strategy: str               # "mal" or "mal-mf" (or "random" while one class is known)
    n_window: int               # clips in the window
    n_unlabeled: int            # of them unlabeled and never proposed
    n_sets: int
    set_sizes: list[int]
    sets_by: str                # "tagger:<extractor>", "one set" or "clip order"
    medoids: np.ndarray         # clip ids trained on
    labeled_share: float
    n_audios: int


def _tagger_top1(store: Store, tagger: FeatureSet, clip_ids: np.ndarray):
    """Top-1 class and probability of each clip, reading the tagger in blocks."""
    names = np.empty(len(clip_ids), object)
    prob = np.empty(len(clip_ids), np.float32)
    columns = np.asarray(tagger.columns, dtype=object)
    for k in range(0, len(clip_ids), _BLOCK):
        _, P = store.get_features(tagger, clip_ids[k:k + _BLOCK])
        best = P.argmax(axis=1)
        names[k:k + _BLOCK] = columns[best]
        prob[k:k + _BLOCK] = P[np.arange(len(P)), best]
    return names, prob


def plan_proposals(store: Store, *, nodes, start, end, features: FeatureSet,
                   tagger: FeatureSet | None, batch_size: int, max_set: int, max_medoids: int,
                   seed: int, model=None) -> RoundPlan:
    """Choose a round's batch (see the module docstring); writes nothing."""
    window = store.window_clips(nodes, start, end)
    if not len(window):
        where = "every node" if nodes is None else f"node(s) {list(nodes)}"
        raise ValueError(f"the window [{start}, {end}) of {where} holds no clips; choose "
                         "another time range or node")
    labeled = store.agreed_labels()
    ids = np.array([r[0] for r in labeled], np.int64)
    labels = np.array([r[1] for r in labeled], object)
    node_names = set(nodes) if nodes is not None else None
    in_window = np.isin(ids, window)
    same_node = np.array([node_names is None or r[2] in node_names for r in labeled], bool)
    keep = medoid_priority(ids, in_window, same_node, max_medoids)
    order = np.argsort(ids)
    medoids = np.sort(keep)
    medoid_labels = labels[order][np.searchsorted(ids[order], medoids)] if len(ids) else labels

    proposed = store.proposed_clips()
    unlabeled = window[~np.isin(window, ids) & ~np.isin(window, proposed)]
    if not len(unlabeled):
        raise ValueError(f"every clip of the window [{start}, {end}) is labeled or was "
                         "proposed already; choose another window")
    if len(unlabeled) > max_set:
        if tagger is not None:
            names, prob = _tagger_top1(store, tagger, unlabeled)
            sets_by = f"tagger:{tagger.extractor}"
        else:  # no tagger: sets in clip order (recording order), said in the round's params
            names = np.full(len(unlabeled), "unknown", object)
            prob = np.zeros(len(unlabeled), np.float32)
            sets_by = "clip order"
        sets = disjoint_sets(names, prob, max_set)
        first = np.sort(unlabeled[sets[0]])
        sizes = [len(s) for s in sets]
    else:
        first, sizes, sets_by = unlabeled, [len(unlabeled)], "one set"

    rows = np.r_[medoids, first]
    _, X = store.get_features(features, rows)
    present = sorted(set(medoid_labels.tolist()))
    classes = present if len(present) >= 2 else (present + ["(unlabeled)", "(none)"])[:2]
    strategy = "mal-mf" if len(medoids) else "mal"
    core = LoopCore(X, classes, model=model if model is not None else Committee(classes=classes),
                    strategy=strategy, random_state=seed,
                    batch_size=min(int(batch_size), len(first)))
    plan = core.plan(np.arange(len(medoids)), medoid_labels, pool=np.arange(len(medoids), len(rows)),
                     iteration=len(medoids))
    return RoundPlan(rows[plan.picks], plan.reasons, plan.strategies[0] if plan.strategies
                     else strategy, len(window), len(unlabeled), len(sizes), sizes, sets_by,
                     medoids, float(in_window.sum() / len(window)),
                     store.window_audio_count(nodes, start, end))


def default_tagger(store: Store) -> FeatureSet | None:
    """The newest tagger set of the store, or None."""
    sets = tagger_sets(store)
    return sets[-1] if sets else None
