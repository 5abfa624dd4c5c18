"""The multi-class batch protocol: committee strategies, accuracy and macro-F1 against labels.

For each fold k: test = fold k, pool = every other fold (no threshold to tune, so no
validation fold). The first batch is the same for every strategy: the medoids of a
k-medoids clustering of the pool (MAL's first iteration). Then ``queries`` times the
loop core (:class:`~alwidget.loop.LoopCore`) fits the model (by default the data-centric
framework's committee: medoid label propagation + logistic regression), and the
strategy picks the next batch, whose labels the oracle reveals. Each fit records test
accuracy and macro-F1.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, f1_score

from ..learn import Committee
from ..loop import LoopCore
from ..strategies import MedoidSampling, QueryContext, make_strategy
from .folds import ordered_folds
from .oracles import GroundTruthOracle, NoisyOracle
from .results import BatchResult

__all__ = ["run_batches"]


def _run(X, labels, classes, test, pool, strategy_name, seed, queries, batch_size, model,
         oracle_error, fold):
    first = MedoidSampling(random_state=seed).query(QueryContext(n_pool=len(pool), X_pool=X[pool]),
                                                    batch_size)
    labeled = [int(i) for i in pool[first.indices]]
    oracle = (NoisyOracle(oracle_error, classes=classes, random_state=seed) if oracle_error
              else GroundTruthOracle())
    answers = dict(zip(labeled, oracle(labels[labeled], 0)))
    unlabeled = np.setdiff1d(pool, labeled)
    core = LoopCore(X, classes, model=model, strategy=strategy_name, random_state=seed,
                    batch_size=batch_size)
    records = []
    for it in range(queries + 1):
        plan = core.plan(labeled, [answers[i] for i in labeled], pool=unlabeled,
                         iteration=len(labeled))
        if plan.proba is not None:
            pred = np.asarray(classes, dtype=object)[plan.proba[test].argmax(axis=1)].astype(str)
        else:  # one class labeled: the only one there is
            pred = np.full(len(test), str(answers[labeled[0]]))
        records.append(dict(strategy=strategy_name, fold=str(fold), seed=seed, iteration=it,
                            n_labels=len(labeled),
                            accuracy=float(accuracy_score(labels[test], pred)),
                            macro_f1=float(f1_score(labels[test], pred, average="macro",
                                                    labels=classes, zero_division=0))))
        if it == queries or not len(plan.picks):
            break
        picked = plan.picks
        for i, a in zip(picked, oracle(labels[picked], it + 1)):
            answers[int(i)] = a
            labeled.append(int(i))
        unlabeled = np.setdiff1d(unlabeled, picked)
    return records


def run_batches(
    X: np.ndarray,
    labels: Sequence,
    folds: Sequence,
    *,
    strategies: Sequence[str] = ("random", "entropy", "margin", "mal-mf"),
    batch_size: int = 20,
    queries: int = 9,
    seeds: Sequence[int] = (0,),
    model=None,
    oracle_error: float = 0.0,
    n_jobs: int = -1,
    progress: bool = True,
) -> BatchResult:
    """Compare batch strategies on a multi-class task (see the module docstring).

    Parameters
    ----------
    X, labels, folds : arrays with one entry per clip
    strategies : names from :data:`alwidget.strategies.STRATEGY_NAMES`
    batch_size : int, default 20
        Labels asked per batch (the framework used 400 on large archives).
    queries : int, default 9
        Batches asked after the first (medoid) batch; a run fits ``queries + 1`` models.
    seeds : sequence of int
    model : classifier, optional
        Default: :class:`alwidget.learn.Committee`, the framework's model (MAL-MF reads
        where its members disagree).
    oracle_error : float, default 0
    n_jobs : int, default -1
    progress : bool, default True

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, c = make_blobs(300, centers=4, random_state=0)
    >>> res = run_batches(X, c.astype(str), np.arange(300) % 3, strategies=["random", "mal-mf"],
    ...                   batch_size=8, queries=2, n_jobs=1, progress=False)
    >>> sorted({r["n_labels"] for r in res.records})
    [8, 16, 24]
    """
    from tqdm.auto import tqdm

    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels).astype(str).astype(object)
    folds = np.asarray(folds)
    if not (len(X) == len(labels) == len(folds)):
        raise ValueError("X, labels and folds must have one entry per clip")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    if int(queries) != queries or queries < 0:
        raise ValueError(f"queries={queries!r} must be an integer >= 0")
    for s in strategies:
        make_strategy(s)
    classes = sorted(set(labels.tolist()))
    model = Committee(classes=classes) if model is None else model
    jobs = []
    order = ordered_folds(folds)
    if len(order) < 2:
        raise ValueError(f"need at least 2 folds (test and pool); got {order}")
    for k in order:
        test = np.flatnonzero(folds == k)
        pool = np.flatnonzero(folds != k)
        for seed in seeds:
            s_seed = int(seed) * 1000 + zlib.crc32(str(k).encode()) % 1000
            for s in strategies:
                jobs.append(delayed(_run)(X, labels, classes, test, pool, s, s_seed, int(queries),
                                          int(batch_size), model, oracle_error, k))
    records = []
    bar = tqdm(total=len(jobs), desc="simulate (batches)", unit="run", disable=not progress)
    for out in Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)(jobs):
        records.extend(out)
        bar.update()
    bar.close()
    return BatchResult(records, dict(protocol="batches", strategies=list(strategies),
                                     batch_size=batch_size, queries=int(queries),
                                     seeds=list(seeds), model=repr(model)))
