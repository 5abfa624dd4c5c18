"""One exact active-learning iteration on a large pool: refit + score + select.

A pool of N clips with D float32 features (Gaussian, with a rare shifted
class), L labeled clips, random forest of 100 trees: times fitting the forest
on the labeled clips, predicting P(target) for the whole pool, and the
least-confidence pick. Compared with scikit-learn's RandomForestClassifier
(n_jobs=-1) doing the same fit + predict.

Run from the project root:

    .venv/bin/python benchmarks/bench_iteration.py --pool 100000 --dim 64 --labels 200
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from alwidget.learn import RandomForest
from alwidget.strategies import LeastConfidence, QueryContext


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y_all = rng.random(args.pool + args.labels) < 0.03
    X_all = (rng.normal(size=(len(y_all), args.dim)) + y_all[:, None]).astype(np.float32)
    X_pool, X_lab = X_all[: args.pool], X_all[args.pool :]
    y_lab = y_all[args.pool :]
    y_lab[:2] = [True, False]
    lc = LeastConfidence()

    def ours(seed):
        t = [time.perf_counter()]
        m = RandomForest(n_estimators=100, random_state=seed).fit(X_lab, y_lab)
        t.append(time.perf_counter())
        p = m.predict_proba(X_pool)[:, 1]
        t.append(time.perf_counter())
        lc.query(QueryContext(n_pool=len(p), proba=np.c_[1 - p, p]))
        t.append(time.perf_counter())
        return np.diff(t)

    def sklearn(seed):
        t = [time.perf_counter()]
        m = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=seed).fit(X_lab, y_lab)
        t.append(time.perf_counter())
        m.predict_proba(X_pool)
        t.append(time.perf_counter())
        return np.diff(t)

    ours(0), sklearn(0)  # warm-up (numba compile cache, thread pools)
    a = np.array([ours(s) for s in range(args.repeats)])
    b = np.array([sklearn(s) for s in range(args.repeats)])
    med = lambda v: statistics.median(v) * 1000  # noqa: E731
    print(f"pool {args.pool} x {args.dim}, {args.labels} labels, 100 trees, "
          f"median of {args.repeats} (ms)\n")
    print("| model | fit | score pool | select | total |\n|---|---|---|---|---|")
    print(f"| alwidget RandomForest | {med(a[:, 0]):.0f} | {med(a[:, 1]):.0f} | "
          f"{med(a[:, 2]):.0f} | {med(a.sum(1)):.0f} |")
    print(f"| scikit-learn RandomForestClassifier | {med(b[:, 0]):.0f} | {med(b[:, 1]):.0f} | "
          f"| {med(b.sum(1)):.0f} |")


if __name__ == "__main__":
    main()
