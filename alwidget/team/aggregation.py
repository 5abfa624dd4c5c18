"""Probabilistic aggregation of several labelers' labels: Dawid & Skene (1979), beside the
framework's 2/3 rule. Each labeler gets a confusion matrix (how they label each true class),
estimated with the clips' true classes by expectation-maximisation from majority vote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["Aggregated", "dawid_skene"]


@dataclass(frozen=True)
class Aggregated:
    """The labels Dawid–Skene infers.

    Attributes
    ----------
    items : list
        The items (e.g. clip ids), in first-seen order.
    classes : list of str
    labels : list of str
        The most probable class of each item.
    proba : ndarray (n_items, n_classes)
        Each item's class probabilities.
    confusion : dict of labeler to ndarray (n_classes, n_classes)
        ``confusion[w][t, k]``: the probability that labeler ``w`` says class ``k`` when it
        is ``t``.
    """

    items: list
    classes: list
    labels: list
    proba: np.ndarray
    confusion: dict


def dawid_skene(annotations: Iterable[tuple], *, iterations: int = 50, tol: float = 1e-6,
                smoothing: float = 0.01) -> Aggregated:
    """Infer each item's class from ``(item, labeler, label)`` triples (Dawid & Skene).

    Starts from each item's vote shares, then alternates: each labeler's confusion matrix
    and the class priors from the items' probabilities (with ``smoothing`` added to every
    count), and the items' probabilities from them, until they change less than ``tol``.

    Examples
    --------
    Two careful labelers and one who always says "owl": the careful ones win where they
    agree, and the third is learned to be uninformative.

    >>> a = [(1, "ann", "owl"), (1, "bob", "owl"), (1, "zed", "owl"),
    ...      (2, "ann", "frog"), (2, "bob", "frog"), (2, "zed", "owl"),
    ...      (3, "ann", "frog"), (3, "bob", "frog"), (3, "zed", "owl")]
    >>> dawid_skene(a).labels
    ['owl', 'frog', 'frog']
    """
    rows = [(item, str(who), str(label)) for item, who, label in annotations]
    if not rows:
        raise ValueError("no annotations: give (item, labeler, label) triples")
    items = list(dict.fromkeys(r[0] for r in rows))
    workers = list(dict.fromkeys(r[1] for r in rows))
    classes = sorted({r[2] for r in rows})
    item_of = {x: i for i, x in enumerate(items)}
    worker_of = {w: i for i, w in enumerate(workers)}
    class_of = {c: i for i, c in enumerate(classes)}
    ii = np.array([item_of[r[0]] for r in rows])
    ww = np.array([worker_of[r[1]] for r in rows])
    kk = np.array([class_of[r[2]] for r in rows])
    n, m, c = len(items), len(workers), len(classes)
    T = np.zeros((n, c))
    np.add.at(T, (ii, kk), 1.0)
    T /= T.sum(axis=1, keepdims=True)  # vote shares
    for _ in range(int(iterations)):
        prior = (T.sum(axis=0) + smoothing) / (n + c * smoothing)
        conf = np.full((m, c, c), smoothing)
        np.add.at(conf, (ww, slice(None), kk), T[ii])  # conf[w, t, k] += T[item, t]
        conf /= conf.sum(axis=2, keepdims=True)
        logp = np.tile(np.log(prior), (n, 1))
        np.add.at(logp, ii, np.log(conf[ww, :, kk]))
        new = np.exp(logp - logp.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        done = np.abs(new - T).max() < tol
        T = new
        if done:
            break
    labels = [classes[k] for k in T.argmax(axis=1)]
    return Aggregated(items, classes, labels, T, {w: conf[i] for i, w in enumerate(workers)})
