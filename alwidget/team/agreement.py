"""Agreement of a labeling group (the data-centric framework's rule), and how far labelers agree.

A proposal is labeled by every member of its group, each marking events (a tag of the
ontology with an onset and an offset) on the clip. When every member has labeled it, its
**medoid label** is the tag found in at least 2/3 of the group's annotations (a tag is found
in an annotation when one of its events has that tag); if several tags pass, the one with
the longest total duration over the group's events wins (then the one more annotations
hold, then the first by name, so that the rule always gives one answer). Without a tag
that passes, the proposal goes to doubt resolution. The Doubt tag is never a medoid label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..session.state import DOUBT

__all__ = ["AGREEMENT_SHARE", "Agreement", "cohen_kappa", "fleiss_kappa", "medoid_label"]

#: The share of a group's annotations a tag must be found in to become the medoid label.
AGREEMENT_SHARE = 2 / 3

Event = tuple[str, float, float]


@dataclass(frozen=True)
class Agreement:
    """What a group's annotations of one proposal say.

    Attributes
    ----------
    label : str or None
        The medoid label; None while annotations are missing or without agreement.
    n_labelers : int
        Members of the group who annotated the proposal.
    agreement : float
        Share of the group whose annotation holds ``label`` (without a label: the largest
        share any tag reached), in [0, 1].
    complete : bool
        Every member of the group annotated the proposal.
    doubt : bool
        Complete, and no tag reached the share: the proposal goes to doubt resolution.
    """

    label: str | None
    n_labelers: int
    agreement: float
    complete: bool
    doubt: bool


def medoid_label(annotations: Mapping[str, Sequence[Event]], group: Sequence[str], *,
                 share: float = AGREEMENT_SHARE) -> Agreement:
    """The framework's 2/3 rule for one proposal.

    Parameters
    ----------
    annotations : mapping of labeler name to a list of (tag, onset_s, offset_s)
        Each labeler's events on the clip (a clip with no event of interest holds the
        background tag's event). Labelers outside ``group`` are not counted.
    group : sequence of str
        The group that labels the proposal (two members at least).
    share : float, default 2/3
        The share of the group's annotations a tag must be found in.

    Returns
    -------
    Agreement

    Examples
    --------
    Two of three members hear an owl; the third a frog and an owl; the owl wins, found in
    all three annotations. Rain in two annotations passes too, but lasts less:

    >>> a = {"ann": [("owl", 0.1, 0.9), ("rain", 0.0, 0.2)],
    ...      "bob": [("owl", 0.2, 0.8), ("rain", 0.0, 0.3)],
    ...      "kim": [("frog", 0.0, 0.5), ("owl", 0.5, 0.6)]}
    >>> medoid_label(a, ["ann", "bob", "kim"])
    Agreement(label='owl', n_labelers=3, agreement=1.0, complete=True, doubt=False)
    >>> medoid_label({"ann": [("owl", 0, 1)], "bob": [("frog", 0, 1)]}, ["ann", "bob"])
    Agreement(label=None, n_labelers=2, agreement=0.5, complete=True, doubt=True)
    >>> medoid_label({"ann": [("owl", 0, 1)]}, ["ann", "bob", "kim"]).complete
    False
    """
    group = [str(g) for g in group]
    if len(set(group)) != len(group) or len(group) < 2:
        raise ValueError(f"group={group!r} must name two labelers or more, each once: a group "
                         "of one cannot agree (give each labeler different clips instead)")
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1]")
    found: dict[str, int] = {}  # tag -> annotations holding it
    duration: dict[str, float] = {}  # tag -> total seconds over the group's events
    annotated = [g for g in group if g in annotations]
    for who in annotated:
        tags = set()
        for event in annotations[who]:
            try:
                tag, onset, offset = event
                onset, offset = float(onset), float(offset)
            except (TypeError, ValueError):
                raise ValueError(f"{who}'s event {event!r} must be (tag, onset_s, offset_s)") \
                    from None
            if not (np.isfinite(onset) and np.isfinite(offset) and 0 <= onset < offset):
                raise ValueError(f"{who}'s event {event!r} needs 0 <= onset_s < offset_s")
            tags.add(str(tag))
            duration[str(tag)] = duration.get(str(tag), 0.0) + offset - onset
        for tag in tags:
            found[tag] = found.get(tag, 0) + 1
    complete = len(annotated) == len(group)
    need = share * len(group) - 1e-9
    passing = [t for t, n in found.items() if n >= need and t != DOUBT]
    best = max(found.values(), default=0) / len(group)
    if not complete:
        return Agreement(None, len(annotated), best, False, False)
    if not passing:
        return Agreement(None, len(annotated), best, True, True)
    label = min(passing, key=lambda t: (-duration[t], -found[t], t))
    return Agreement(label, len(annotated), found[label] / len(group), True, False)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two labelers' labels of the same clips (1: always agree, 0: as by
    chance). NaN when chance agreement is already perfect (both gave one label only).

    Examples
    --------
    >>> cohen_kappa(["owl", "owl", "frog", "frog"], ["owl", "owl", "frog", "owl"])
    0.5
    """
    a, b = np.asarray(a, dtype=object).astype(str), np.asarray(b, dtype=object).astype(str)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("give two equally long, non-empty sequences of labels of the same clips")
    observed = float(np.mean(a == b))
    classes = np.union1d(a, b)
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in classes))
    return float("nan") if expected == 1.0 else (observed - expected) / (1.0 - expected)


def fleiss_kappa(labels: Sequence[Sequence[str]]) -> float:
    """Fleiss' kappa of a group: ``labels[i]`` holds the labels the group's members gave
    clip ``i`` (the same number of members for every clip). NaN when chance agreement is
    already perfect.

    Examples
    --------
    >>> round(fleiss_kappa([["owl", "owl", "owl"], ["frog", "frog", "owl"],
    ...                     ["frog", "frog", "frog"]]), 3)
    0.55
    """
    rows = [[str(x) for x in r] for r in labels]
    if not rows or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
        raise ValueError("give each clip's labels by the same two or more labelers")
    classes = sorted({x for r in rows for x in r})
    counts = np.array([[r.count(c) for c in classes] for r in rows], dtype=np.float64)
    n = len(rows[0])
    per_clip = ((counts ** 2).sum(axis=1) - n) / (n * (n - 1))
    p = counts.sum(axis=0) / counts.sum()
    expected = float((p ** 2).sum())
    observed = float(per_clip.mean())
    return float("nan") if expected == 1.0 else (observed - expected) / (1.0 - expected)
