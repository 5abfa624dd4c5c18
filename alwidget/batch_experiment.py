"""Multi-class batch experiments (protocol 2): committee strategies, accuracy vs labels.

For each fold k: test = fold k, pool = every other fold (no threshold to tune,
so no validation fold). The first batch is the same for every strategy: the
medoids of a k-medoids clustering of the pool (MAL's first iteration). Each
iteration fits the model (by default the data-centric framework's committee:
medoid label propagation + logistic regression) on the labeled clips,
records test accuracy and macro-F1, and asks the strategy for the next batch,
whose labels the oracle reveals.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from .experiment import GroundTruthOracle, NoisyOracle, _folds, write_tables
from .learn import Committee
from .strategies import MedoidSampling, QueryContext, make_strategy

__all__ = ["BatchResult", "run_batches"]


@dataclass
class BatchResult:
    """Per-iteration records of a batch experiment."""

    records: list[dict]
    params: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """Per strategy: accuracy and macro-F1 (mean over folds and seeds) at each label count."""
        out = []
        for s in dict.fromkeys(r["strategy"] for r in self.records):
            rows = [r for r in self.records if r["strategy"] == s]
            for n in sorted({r["n_labels"] for r in rows}):
                at = [r for r in rows if r["n_labels"] == n]
                out.append({"strategy": s, "n_labels": n,
                            "accuracy": float(np.mean([r["accuracy"] for r in at])),
                            "macro_f1": float(np.mean([r["macro_f1"] for r in at]))})
        return out

    def summary_markdown(self) -> str:
        rows = self.summary()
        counts = sorted({r["n_labels"] for r in rows})
        lines = ["| strategy | " + " | ".join(f"{n} labels" for n in counts) + " |",
                 "|---|" + "---|" * len(counts)]
        for s in dict.fromkeys(r["strategy"] for r in rows):
            cells = {r["n_labels"]: r for r in rows if r["strategy"] == s}
            lines.append(f"| {s} | " + " | ".join(
                f"{cells[n]['accuracy']:.3f} / {cells[n]['macro_f1']:.3f}" if n in cells else ""
                for n in counts) + " |")
        return "accuracy / macro-F1\n\n" + "\n".join(lines)

    def to_csv(self, folder) -> dict:
        """Write ``records.csv``, ``summary.csv`` and ``summary.md``; return their paths."""
        return write_tables(folder, {"records": self.records, "summary": self.summary()},
                            self.summary_markdown())


def _run(X, labels, classes, test, pool, strategy_name, seed, iterations, batch_size, model,
         oracle_error, fold):
    first = MedoidSampling(random_state=seed).query(QueryContext(n_pool=len(pool), X_pool=X[pool]),
                                                    batch_size)
    labeled = list(pool[first.indices])
    oracle = (NoisyOracle(oracle_error, classes=classes, random_state=seed) if oracle_error
              else GroundTruthOracle())
    answers = dict(zip(labeled, oracle(labels[labeled], 0)))
    unlabeled = np.setdiff1d(pool, labeled)
    strategy = make_strategy(strategy_name, random_state=seed)
    records = []
    for it in range(iterations):
        m = clone(model)
        if "classes" in m.get_params():
            m.set_params(classes=classes)
        m.fit(X[labeled], np.array([answers[i] for i in labeled], dtype=object))
        pred = m.predict(X[test]).astype(str)
        records.append(dict(strategy=strategy_name, fold=str(fold), seed=seed, iteration=it,
                            n_labels=len(labeled),
                            accuracy=float(accuracy_score(labels[test], pred)),
                            macro_f1=float(f1_score(labels[test], pred, average="macro",
                                                    labels=classes, zero_division=0))))
        if it == iterations - 1 or len(unlabeled) == 0:
            break
        votes = m.votes(X[unlabeled]) if hasattr(m, "votes") else None
        ctx = QueryContext(n_pool=len(unlabeled), proba=m.predict_proba(X[unlabeled]),
                           classes=np.asarray(classes, dtype=object), iteration=it,
                           X_pool=X[unlabeled], X_labeled=X[labeled], committee=votes,
                           member_names=getattr(m, "names_", ()))
        q = strategy.query(ctx, batch_size)
        picked = unlabeled[q.indices]
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
    iterations: int = 10,
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
        Labels asked per iteration (the framework used 400 on large archives).
    iterations : int, default 10
    seeds : sequence of int
    model : classifier, optional
        Default: :class:`alwidget.learn.Committee` (its ``classes`` is set to
        the sorted labels).
    oracle_error : float, default 0
    n_jobs : int, default -1
    progress : bool, default True

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, c = make_blobs(300, centers=4, random_state=0)
    >>> res = run_batches(X, c.astype(str), np.arange(300) % 3, strategies=["random", "mal-mf"],
    ...                   batch_size=8, iterations=3, n_jobs=1, progress=False)
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
    for s in strategies:
        make_strategy(s)
    classes = sorted(set(labels.tolist()))
    model = Committee(classes=classes) if model is None else model
    jobs = []
    order = _folds(folds)
    if len(order) < 2:
        raise ValueError(f"need at least 2 folds (test and pool); got {order}")
    for k in order:
        test = np.flatnonzero(folds == k)
        pool = np.flatnonzero(folds != k)
        for seed in seeds:
            s_seed = int(seed) * 1000 + zlib.crc32(str(k).encode()) % 1000
            for s in strategies:
                jobs.append(delayed(_run)(X, labels, classes, test, pool, s, s_seed, iterations,
                                          batch_size, model, oracle_error, k))
    records = []
    bar = tqdm(total=len(jobs), desc="simulate (batches)", unit="run", disable=not progress)
    for out in Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)(jobs):
        records.extend(out)
        bar.update()
    bar.close()
    return BatchResult(records, dict(protocol="batches", strategies=list(strategies),
                                     batch_size=batch_size, iterations=iterations,
                                     seeds=list(seeds), model=repr(model)))
