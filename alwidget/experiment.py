"""Simulated-oracle experiments: compare query strategies on labeled data.

The rare-target protocol (binary, one query per iteration): for a target
class and each fold k, test = fold k, validation = the next fold, pool = the
rest. Start from 1 random positive + 1 random negative of the pool (the same
for every strategy); each iteration trains the model, tunes the decision
threshold for F1 on validation, records test F1 at that threshold, then asks
the strategy for one pool clip whose label the oracle reveals. A reference
model trained on the whole pool gives the ceiling.

Outputs are tidy records (one row per strategy, target, fold, seed and
iteration), a summary per strategy, and a learning-curve figure.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from .learn import RandomForest, f1_at, tune_threshold
from .strategies import QueryContext, make_strategy

__all__ = ["GroundTruthOracle", "NoisyOracle", "ExperimentResult", "run_rare_target",
           "default_model", "summarise"]

SUMMARY_AT = (10, 25, 50, 100)


def default_model():
    """The rare-sound study's model: a random forest of 100 trees (see README)."""
    return RandomForest(n_estimators=100, n_jobs=1)


class GroundTruthOracle:
    """Answers with the true label.

    Examples
    --------
    >>> GroundTruthOracle()(np.array([True, False]), 0)
    array([ True, False])
    """

    def __call__(self, truth: np.ndarray, query_number: int) -> np.ndarray:
        return np.asarray(truth)


class NoisyOracle:
    """A non-expert: flips a label with probability ``error_rate``.

    For more than two classes, a wrong answer is drawn from the row of
    ``confusion`` (a dict ``{true: {answer: weight}}``) when given, else
    uniformly among the other classes.

    Parameters
    ----------
    error_rate : float
    classes : sequence, optional
        Needed for multi-class answers.
    confusion : dict, optional
    random_state : int, optional

    Examples
    --------
    >>> o = NoisyOracle(1.0, random_state=0)
    >>> o(np.array([True, False]), 0)
    array([False,  True])
    """

    def __init__(self, error_rate: float, classes=None, confusion=None, random_state=None):
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate={error_rate!r} must be between 0 and 1")
        self.error_rate = error_rate
        self.classes = classes
        self.confusion = confusion
        self.random_state = random_state

    def __call__(self, truth: np.ndarray, query_number: int) -> np.ndarray:
        rng = np.random.default_rng([int(self.random_state or 0), int(query_number)])
        truth = np.asarray(truth)
        wrong = rng.random(len(truth)) < self.error_rate
        if truth.dtype == bool:
            return np.where(wrong, ~truth, truth)
        out = truth.copy()
        for i in np.flatnonzero(wrong):
            if self.confusion and truth[i] in self.confusion:
                row = self.confusion[truth[i]]
                keys, w = list(row), np.asarray(list(row.values()), float)
                out[i] = keys[rng.choice(len(keys), p=w / w.sum())]
            else:
                others = [c for c in self.classes if c != truth[i]]
                out[i] = others[rng.integers(len(others))]
        return out


@dataclass
class ExperimentResult:
    """Records of a simulated comparison, with its summary and figure."""

    records: list[dict]
    references: list[dict]
    params: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """One row per strategy; see :func:`summarise`."""
        return summarise(self.records, self.references)

    def summary_markdown(self) -> str:
        rows = self.summary()
        head = ("| strategy | mean F1 | max F1 (labels) | "
                + " | ".join(f"F1@{n}" for n in SUMMARY_AT)
                + " | positive queries | reference F1 |")
        lines = [head, "|" + "---|" * (5 + len(SUMMARY_AT))]
        for r in rows:
            at = " | ".join("" if r[f"f1_at_{n}"] is None else f"{r[f'f1_at_{n}']:.3f}"
                            for n in SUMMARY_AT)
            lines.append(f"| {r['strategy']} | {r['mean_f1']:.3f} | {r['max_f1']:.3f} "
                         f"({r['max_f1_labels']}) | {at} | {r['positive_query_share']:.1%} | "
                         f"{r['reference_f1']:.3f} |")
        return "\n".join(lines)

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write ``records.csv``, ``summary.csv`` and ``summary.md``; return their paths."""
        return write_tables(folder, {"records": self.records, "summary": self.summary(),
                                     "references": self.references}, self.summary_markdown())

    def figure(self):
        """Plotly learning curves: mean F1 ± std per strategy against labels used."""
        import plotly.graph_objects as go

        fig = go.Figure()
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        for i, (strategy, n, mean, std) in enumerate(_curves(self.records)):
            colour = palette[i % len(palette)]
            fig.add_trace(go.Scatter(x=np.r_[n, n[::-1]], y=np.r_[mean + std, (mean - std)[::-1]],
                                     fill="toself", fillcolor=colour, opacity=0.15,
                                     line=dict(width=0), hoverinfo="skip", showlegend=False))
            fig.add_trace(go.Scatter(x=n, y=mean, name=strategy, line=dict(color=colour)))
        ref = np.mean([r["f1"] for r in self.references]) if self.references else None
        if ref is not None:
            fig.add_hline(y=ref, line_dash="dash", annotation_text=f"reference {ref:.2f}")
        fig.update_layout(xaxis_title="labels used", yaxis_title="test F1 (threshold tuned on validation)",
                          template="plotly_white", title="Learning curves (mean ± std)")
        return fig

    def save_figure(self, path: str | Path) -> Path:
        """Save the learning curves as a self-contained HTML file (works offline)."""
        path = Path(path)
        self.figure().write_html(path, include_plotlyjs=True)
        return path


def write_tables(folder: str | Path, tables: dict[str, list[dict]], summary_md: str) -> dict[str, Path]:
    """Write each table as ``NAME.csv`` and the summary as ``summary.md``; return the paths."""
    import csv

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in tables.items():
        paths[name] = folder / f"{name}.csv"
        with open(paths[name], "w", newline="") as fh:
            if rows:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    paths["summary_md"] = folder / "summary.md"
    paths["summary_md"].write_text(summary_md + "\n")
    return paths


def _curves(records: list[dict]):
    by: dict[str, dict[int, list[float]]] = {}
    for r in records:
        by.setdefault(r["strategy"], {}).setdefault(r["n_labels"], []).append(r["f1"])
    for strategy, curve in by.items():
        n = np.array(sorted(curve))
        vals = [np.asarray(curve[k]) for k in n]
        yield strategy, n, np.array([v.mean() for v in vals]), np.array([v.std() for v in vals])


def summarise(records: list[dict], references: list[dict]) -> list[dict]:
    """Per strategy: mean F1, max F1 and when, F1 at 10/25/50/100 labels, positive share.

    F1 values are means over targets, folds and seeds at each number of labels;
    "mean F1" averages that curve over all iterations.
    """
    ref = float(np.mean([r["f1"] for r in references])) if references else float("nan")
    out = []
    for strategy, n, mean, _ in _curves(records):
        q = [r["query_positive"] for r in records
             if r["strategy"] == strategy and r["query_positive"] is not None]
        best = int(np.argmax(mean))
        row = {"strategy": strategy, "mean_f1": float(mean.mean()), "max_f1": float(mean[best]),
               "max_f1_labels": int(n[best])}
        for k in SUMMARY_AT:
            row[f"f1_at_{k}"] = float(mean[n == k][0]) if (n == k).any() else None
        row["positive_query_share"] = float(np.mean(q)) if q else float("nan")
        row["reference_f1"] = ref
        out.append(row)
    return out


def _folds(fold_values: np.ndarray) -> list:
    return sorted(set(fold_values.tolist()), key=lambda v: (str(type(v)), v))


def split(folds: np.ndarray, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test, validation, pool) positions for fold ``k``: validation is the next fold."""
    order = _folds(folds)
    if len(order) < 3:
        raise ValueError(f"need at least 3 folds (test, validation, pool); got {order}")
    val_fold = order[(order.index(k) + 1) % len(order)]
    test = np.flatnonzero(folds == k)
    val = np.flatnonzero(folds == val_fold)
    pool = np.flatnonzero((folds != k) & (folds != val_fold))
    return test, val, pool


def _one_run(X, y, test, val, pool, strategy_name, seed, iterations, model, oracle_error,
             target, fold, initial=None):
    """One strategy on one fold and seed: the per-iteration records."""
    rng = np.random.default_rng([seed, zlib.crc32(str(fold).encode())])
    pos = pool[y[pool]]
    neg = pool[~y[pool]]
    if initial is not None:
        labeled = [int(i) for i in np.intersect1d(initial, pool)]
        if not labeled:
            raise ValueError(f"fold {fold!r}: none of the initial clips is in the pool")
    elif len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"target {target!r}, fold {fold!r}: the pool needs a positive and a "
                         "negative to start from")
    else:
        labeled = [int(rng.choice(pos)), int(rng.choice(neg))]
    answers = {i: bool(y[i]) for i in labeled}
    oracle = (NoisyOracle(oracle_error, random_state=seed) if oracle_error
              else GroundTruthOracle())
    strategy = make_strategy(strategy_name, random_state=seed)
    unlabeled = np.setdiff1d(pool, labeled)
    pseudo_idx = np.empty(0, np.int64)
    pseudo_lab = np.empty(0, bool)
    records = []
    for it in range(iterations):
        train = np.array(labeled)
        y_train = np.array([answers[i] for i in labeled])
        if len(pseudo_idx):
            train = np.r_[train, pseudo_idx]
            y_train = np.r_[y_train, pseudo_lab]
        m = _fit(model, X[train], y_train, seed + it)
        scored = np.r_[val, test, unlabeled]
        p = _p_true(m, X[scored])
        p_val, p_test, p_pool = np.split(p, [len(val), len(val) + len(test)])
        t, _ = tune_threshold(y[val], p_val)
        rec = dict(target=str(target), strategy=strategy_name, fold=str(fold), seed=seed,
                   iteration=it, n_labels=len(labeled), f1=f1_at(y[test], p_test, t),
                   threshold=t, query_positive=None, n_pseudo=int(len(pseudo_idx)))
        records.append(rec)
        if it == iterations - 1 or len(unlabeled) == 0:
            break
        ctx = QueryContext(n_pool=len(unlabeled), proba=np.c_[1 - p_pool, p_pool],
                           classes=np.array(["rest", str(target)]), threshold=t, iteration=it,
                           X_pool=X[unlabeled], X_labeled=X[labeled])
        q = strategy.query(ctx, 1)
        picked = unlabeled[q.indices]
        answer = oracle(y[picked], it)
        for i, a in zip(picked, answer):
            answers[int(i)] = bool(a)
            labeled.append(int(i))
        rec["query_positive"] = bool(y[picked].any())
        if len(q.pseudo_indices):
            pseudo_idx = unlabeled[q.pseudo_indices]
            pseudo_lab = q.pseudo_labels == 1
        else:
            pseudo_idx, pseudo_lab = np.empty(0, np.int64), np.empty(0, bool)
        keep = np.ones(len(unlabeled), bool)
        keep[q.indices] = False
        unlabeled = unlabeled[keep]
        if len(pseudo_idx):  # a clip the human labeled is never also pseudo-labeled
            mask = ~np.isin(pseudo_idx, picked)
            pseudo_idx, pseudo_lab = pseudo_idx[mask], pseudo_lab[mask]
    return records


def _fit(model, X, y, seed):
    m = clone(model)
    if "random_state" in m.get_params():
        m.set_params(random_state=seed)
    if len(np.unique(y)) == 1:  # defined behaviour: a constant model
        return ("constant", bool(y[0]))
    return m.fit(X, y)


def _p_true(m, X) -> np.ndarray:
    if isinstance(m, tuple):
        return np.full(len(X), 1.0 if m[1] else 0.0)
    P = m.predict_proba(X)
    return P[:, list(m.classes_).index(True)]


def _reference(X, y, test, val, pool, model, seed, target, fold) -> dict:
    m = _fit(model, X[pool], y[pool], seed)
    t, _ = tune_threshold(y[val], _p_true(m, X[val]))
    return dict(target=str(target), fold=str(fold), seed=seed, n_labels=len(pool),
                f1=f1_at(y[test], _p_true(m, X[test]), t), threshold=t)


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
    iterations: int = 100,
    seeds: Sequence[int] = (0,),
    model=None,
    oracle_error: float = 0.0,
    positive_share: float | None = None,
    initial: Sequence[int] | None = None,
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
        Fold of each clip (at least 3 folds).
    targets : sequence of str
        Target classes.
    strategies : sequence of str
        Names from :data:`alwidget.strategies.STRATEGY_NAMES`.
    iterations : int, default 100
        Model fits per run; the last one uses ``iterations + 1`` labels.
    seeds : sequence of int
        One run per seed (different start pair and forest seeds).
    model : classifier, optional
        Default :func:`default_model`; cloned, never changed.
    oracle_error : float, default 0
        Error rate of a noisy oracle (0 = ground truth).
    positive_share : float, optional
        Subsample the pool's positives to this share (a rarer target).
    initial : sequence of int, optional
        A chosen seed set (row indices of X): the runs start from those of
        them in the pool instead of 1 random positive + 1 random negative.
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
    ...                       strategies=["random", "lc"], iterations=5, n_jobs=1, progress=False)
    >>> [r["strategy"] for r in res.summary()]
    ['random', 'lc']
    """
    from tqdm.auto import tqdm

    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels).astype(str)
    folds = np.asarray(folds)
    if not (len(X) == len(labels) == len(folds)):
        raise ValueError(f"X ({len(X)}), labels ({len(labels)}) and folds ({len(folds)}) "
                         "must have one entry per clip")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations={iterations!r} must be a positive integer")
    for s in strategies:
        make_strategy(s)  # unknown names fail before any work
    missing = sorted(set(map(str, targets)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"targets {missing} are not among the labels "
                         f"{sorted(set(labels.tolist()))[:20]}")
    model = default_model() if model is None else model
    jobs, refs = [], []
    for target in targets:
        y = labels == str(target)
        for k in _folds(folds):
            test, val, pool = split(folds, k)
            for seed in seeds:
                pool_k = _rarer(y, pool, positive_share, seed, k)
                refs.append(delayed(_reference)(X, y, test, val, pool_k, model, seed, target, k))
                for s in strategies:
                    jobs.append(delayed(_one_run)(X, y, test, val, pool_k, s, seed, iterations,
                                                  model, oracle_error, target, k, initial))
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
                  strategies=list(strategies), iterations=iterations, seeds=list(seeds),
                  model=repr(model), oracle_error=oracle_error, positive_share=positive_share,
                  initial=None if initial is None else [int(i) for i in initial],
                  folds=[str(f) for f in _folds(folds)])
    return ExperimentResult(records, references, params)


def save_to_store(result: ExperimentResult, store, name: str = "simulation") -> int:
    """Write an experiment's records to the store's experiment tables; return its id."""
    rows = [{k: r[k] for k in ("target", "strategy", "fold", "seed", "iteration", "n_labels",
                               "f1", "threshold", "query_positive", "n_pseudo")}
            for r in result.records]
    return store.add_experiment(name, json.loads(json.dumps(result.params, default=str)), rows)
