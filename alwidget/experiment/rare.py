"""The rare-target protocol: one class against the rest, one query per step, a simulated oracle.

For a target class and each fold k: test = fold k, validation = the next fold (in
:func:`~alwidget.experiment.folds.ordered_folds`), pool = the rest. Every strategy starts
from the same 1 random positive + 1 random negative of the pool; then ``queries`` times
the loop core (:class:`~alwidget.loop.LoopCore`, the same step a labeling session runs)
fits the model, tunes the threshold for F1 on validation and picks one pool clip, whose
label the oracle reveals. Each fit records test F1 at the tuned threshold, so a run has
``queries + 1`` records, from 2 to ``queries + 2`` labels. A reference model trained on
the whole pool gives the ceiling.

``start="nearest"`` is the cold start from search by example: the runs start from the
positive of that pair alone (1 label), and the loop core's nearest start asks the pool
clips nearest to the known positive(s) (cosine) until a negative is labeled; then the
strategy. Its runs have ``queries + 1`` records from 1 to ``queries + 1`` labels.
"""

from __future__ import annotations

import json
import zlib
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from ..learn import default_model, f1_at
from ..loop import START_NAMES, LoopCore
from ..strategies import make_strategy
from .folds import describe_pairs, ordered_folds, split
from .oracles import GroundTruthOracle, NoisyOracle
from .results import ExperimentResult

__all__ = ["run_rare_target", "save_to_store", "start_pair"]


def _classes(target: str) -> list[str]:
    """The binary task's class list: the rest, then the target."""
    return [f"not {target}", str(target)]


def start_pair(y: np.ndarray, pool: np.ndarray, seed: int, fold) -> list[int]:
    """The protocol's start: 1 random positive and 1 random negative of the pool (seeded).

    Examples
    --------
    >>> y = np.array([True, False, False, True, False])
    >>> start_pair(y, np.arange(5), seed=0, fold=1)
    [0, 2]
    """
    rng = np.random.default_rng([int(seed), zlib.crc32(str(fold).encode())])
    pos, neg = pool[y[pool]], pool[~y[pool]]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"fold {fold!r}: the pool needs a positive and a negative to start from")
    return [int(rng.choice(pos)), int(rng.choice(neg))]


def _one_run(X, y, test, val, pool, strategy_name, seed, queries, model, oracle_error,
             target, fold, initial=None, start="random", start_labels=None):
    """One strategy on one fold and seed, through the loop core: one record per fit."""
    classes = _classes(target)
    names = np.asarray(classes, dtype=object)[y.astype(int)]
    core = LoopCore(X, classes, target=str(target), model=model, strategy=strategy_name,
                    random_state=seed, validation=(val, names[val]), start=start,
                    start_labels=start_labels)
    if initial is not None:
        labeled = [int(i) for i in np.intersect1d(initial, pool)]
        if not labeled:
            raise ValueError(f"fold {fold!r}: none of the initial clips is in the pool")
    elif start == "nearest":
        labeled = start_pair(y, pool, seed, fold)[:1]  # the same positive, alone
    else:
        labeled = start_pair(y, pool, seed, fold)
    answers = {i: bool(y[i]) for i in labeled}
    oracle = (NoisyOracle(oracle_error, random_state=seed) if oracle_error
              else GroundTruthOracle())
    unlabeled = np.setdiff1d(pool, labeled)
    pseudo = previous = None
    records = []
    for it in range(queries + 1):
        plan = core.plan(labeled, [classes[answers[i]] for i in labeled], pool=unlabeled,
                         iteration=len(labeled), pseudo=pseudo, previous=previous)
        previous = plan.fitted  # a deep learner with warm_start=True continues from it
        p_test = plan.proba[test, 1] if plan.proba is not None else np.zeros(len(test))
        rec = dict(target=str(target), strategy=strategy_name, fold=str(fold), seed=seed,
                   iteration=it, n_labels=len(labeled), f1=f1_at(y[test], p_test, plan.threshold),
                   threshold=plan.threshold, query_positive=None,
                   n_pseudo=max(0, plan.n_train - len(labeled)), picked=None)
        records.append(rec)
        if it == queries or not len(plan.picks):
            break
        picked = plan.picks
        for i, a in zip(picked, oracle(y[picked], it)):
            answers[int(i)] = bool(a)
            labeled.append(int(i))
        rec["query_positive"] = bool(y[picked].any())
        rec["picked"] = int(picked[0])
        pseudo = (plan.pseudo_rows, plan.pseudo_labels)
        unlabeled = np.setdiff1d(unlabeled, picked)
    return records


def _reference(X, y, test, val, pool, model, seed, target, fold) -> dict:
    classes = _classes(target)
    names = np.asarray(classes, dtype=object)[y.astype(int)]
    core = LoopCore(X, classes, target=str(target), model=model, strategy="random",
                    random_state=seed, validation=(val, names[val]))
    plan = core.plan(pool, names[pool], pool=[], iteration=len(pool))
    p_test = plan.proba[test, 1] if plan.proba is not None else np.zeros(len(test))
    return dict(target=str(target), fold=str(fold), seed=seed, n_labels=len(pool),
                f1=f1_at(y[test], p_test, plan.threshold), threshold=plan.threshold)


def _rarer(y: np.ndarray, pool: np.ndarray, share: float | None, seed: int, fold) -> np.ndarray:
    """Drop positives from the pool (fixed seed) so they make up ``share`` of it."""
    if share is None:
        return pool
    pos, neg = pool[y[pool]], pool[~y[pool]]
    keep = max(1, int(round(share * len(neg) / (1 - share))))
    if keep >= len(pos):
        return pool
    rng = np.random.default_rng([seed, 7919, zlib.crc32(str(fold).encode())])
    return np.sort(np.r_[neg, rng.choice(pos, keep, replace=False)])


def run_rare_target(
    X: np.ndarray,
    labels: Sequence,
    folds: Sequence,
    targets: Sequence[str],
    *,
    strategies: Sequence[str] = ("random", "lc", "lc-tuned", "ssal-0.95", "ssal-0.98", "ac-5", "ac-10"),
    queries: int = 100,
    seeds: Sequence[int] = (0,),
    model=None,
    oracle_error: float = 0.0,
    positive_share: float | None = None,
    initial: Sequence[int] | None = None,
    start: str = "random",
    start_labels: int | None = None,
    fold_order: Sequence | None = None,
    n_jobs: int = -1,
    progress: bool = True,
) -> ExperimentResult:
    """Run the rare-target protocol for every target, strategy, fold and seed.

    Parameters
    ----------
    X : ndarray (n_clips, d)
        Features.
    labels : sequence (n_clips,)
        Class of each clip; each target is compared against the rest.
    folds : sequence (n_clips,)
        Fold of each clip (at least 3 folds; numbers sort as numbers).
    targets : sequence of str
        Target classes.
    strategies : sequence of str
        Names from :data:`alwidget.strategies.STRATEGY_NAMES`.
    queries : int, default 100
        Clips asked per run after the start; a run fits ``queries + 1`` models, from 2 to
        ``queries + 2`` labels.
    seeds : sequence of int
        One run per seed (different start pair, forest and tie-break seeds).
    model : classifier, optional
        Default :func:`alwidget.learn.default_model`, as in a labeling session; cloned,
        never changed.
    oracle_error : float, default 0
        Error rate of a noisy oracle (0 = ground truth).
    positive_share : float, optional
        Subsample the pool's positives to this share (a rarer target).
    initial : sequence of int, optional
        A chosen seed set (row indices of X): the runs start from those of
        them in the pool instead of 1 random positive + 1 random negative.
    start : {"random", "nearest"}, default "random"
        The cold start (:class:`~alwidget.loop.LoopCore`'s ``start``). ``"random"``: 1
        random positive + 1 random negative, as in the protocol. ``"nearest"``: the same
        positive alone; the first queries are the pool clips nearest to the known
        positive(s) by cosine distance until a negative is labeled, then the strategy
        (search by example). With ``initial``, it only chooses the loop core's start.
    start_labels : int, optional
        With ``start="nearest"``: keep asking the nearest clips while fewer than this many
        clips are labeled (:class:`~alwidget.loop.LoopCore`'s ``start_labels``).
    fold_order : sequence, optional
        The folds in protocol order (each test fold is validated on the next); default
        :func:`~alwidget.experiment.folds.ordered_folds`.
    n_jobs : int, default -1
        Runs in parallel (processes; -1 = all cores).
    progress : bool, default True

    Returns
    -------
    ExperimentResult

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, c = make_classification(300, 8, weights=[0.9], random_state=0)
    >>> res = run_rare_target(X, c.astype(str), np.arange(300) % 4, ["1"],
    ...                       strategies=["random", "lc"], queries=5, n_jobs=1, progress=False)
    >>> [r["strategy"] for r in res.summary()]
    ['random', 'lc']
    >>> sorted({r["n_labels"] for r in res.records})
    [2, 3, 4, 5, 6, 7]
    >>> near = run_rare_target(X, c.astype(str), np.arange(300) % 4, ["1"], strategies=["lc"],
    ...                        queries=5, start="nearest", n_jobs=1, progress=False)
    >>> sorted({r["n_labels"] for r in near.records})
    [1, 2, 3, 4, 5, 6]
    """
    from tqdm.auto import tqdm

    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels).astype(str)
    folds = np.asarray(folds)
    if not (len(X) == len(labels) == len(folds)):
        raise ValueError(f"X ({len(X)}), labels ({len(labels)}) and folds ({len(folds)}) "
                         "must have one entry per clip")
    if int(queries) != queries or queries < 1:
        raise ValueError(f"queries={queries!r} must be a positive integer")
    for s in strategies:
        make_strategy(s)  # unknown names fail before any work
    if start not in START_NAMES:
        raise ValueError(f"start={start!r} must be one of {list(START_NAMES)}")
    if start_labels is not None and (int(start_labels) != start_labels or start_labels < 1):
        raise ValueError(f"start_labels={start_labels!r} must be a positive integer or None")
    missing = sorted(set(map(str, targets)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"targets {missing} are not among the labels "
                         f"{sorted(set(labels.tolist()))[:20]}")
    model = clone(default_model() if model is None else model)
    if n_jobs != 1 and "n_jobs" in model.get_params():
        model.set_params(n_jobs=1)  # runs are the parallel unit; results do not depend on it
    order = ordered_folds(folds, fold_order)
    jobs, refs = [], []
    for target in targets:
        y = labels == str(target)
        for k in order:
            test, val, pool = split(folds, k, order)
            for seed in seeds:
                pool_k = _rarer(y, pool, positive_share, seed, k)
                refs.append(delayed(_reference)(X, y, test, val, pool_k, model, seed, target, k))
                for s in strategies:
                    jobs.append(delayed(_one_run)(X, y, test, val, pool_k, s, seed, int(queries),
                                                  model, oracle_error, target, k, initial,
                                                  start, start_labels))
    bar = tqdm(total=len(jobs) + len(refs), desc="simulate", unit="run", disable=not progress)
    records, references = [], []
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    for out in parallel(jobs + refs):
        if isinstance(out, dict):
            references.append(out)
        else:
            records.extend(out)
        bar.update()
    bar.close()
    params = dict(protocol="rare-target", targets=list(map(str, targets)),
                  strategies=list(strategies), queries=int(queries), seeds=list(seeds),
                  model=repr(model), oracle_error=oracle_error, positive_share=positive_share,
                  start=("the initial set" if initial is not None
                         else "1 positive + 1 negative" if start == "random"
                         else "1 positive, then its nearest clips (cosine) until a negative"
                         + ("" if start_labels is None
                            else f" and {start_labels} labels")),
                  cold_start=start, start_labels=start_labels,
                  initial=None if initial is None else [int(i) for i in initial],
                  folds=[str(f) for f in order], fold_pairs=describe_pairs(folds, order))
    return ExperimentResult(records, references, params)


def save_to_store(result: ExperimentResult, store, name: str = "simulation",
                  features: str | None = None) -> int:
    """Write an experiment's records to the store's experiment tables; return its id.

    ``features`` names what it ran on (e.g. ``"logmel:<config hash>"``), so that runs on
    different features in one database can be told apart.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from alwidget.store import Store
    >>> X, c = make_classification(200, 6, weights=[0.9], random_state=0)
    >>> res = run_rare_target(X, c.astype(str), np.arange(200) % 3, ["1"], strategies=["lc"],
    ...                       queries=3, n_jobs=1, progress=False)
    >>> store = Store(":memory:")
    >>> save_to_store(res, store, "lc on toy data", features="toy:0")
    1
    >>> store.db.execute("SELECT features FROM experiments").fetchone()
    ('toy:0',)
    """
    rows = [{k: r[k] for k in ("target", "strategy", "fold", "seed", "iteration", "n_labels",
                               "f1", "threshold", "query_positive", "n_pseudo", "picked")}
            for r in result.records]
    params = json.loads(json.dumps({**result.params, "features": features}, default=str))
    return store.add_experiment(name, params, rows, features=features)
