"""RandomForest (numba) against scikit-learn's RandomForestClassifier: speed and F1.

Both with 100 trees on all cores (ours ``n_jobs=-1``, scikit-learn ``n_jobs=-1``),
on synthetic float32 features (``make_classification``, 2 classes) at
active-learning sizes: (labeled clips, pool scored, feature dims). Each time is
the median of ``--repeats`` runs after a warm-up run. "fit + predict" is one
active-learning step: refit on the labels, score the pool.

Also reports the numba compile time of the first fit + predict in a fresh
process (empty ``NUMBA_CACHE_DIR``) and with the on-disk cache filled, and the
test-set macro F1 of both forests on one dataset, averaged over seeds.

Run from the project root:

    .venv/bin/python benchmarks/bench_forest.py

Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score

from alwidget.learn.forest import RandomForest

# (200, 400, 296) adds the size of the fit-time goal (100 trees on 200 x 296)
SIZES = [(2, 400, 296), (100, 400, 296), (200, 400, 296), (200, 100_000, 64),
         (500, 100_000, 64)]

FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from alwidget.learn.forest import RandomForest
t1 = time.perf_counter()
forest = RandomForest(n_estimators=10).fit(np.random.rand(20, 5), np.arange(20) % 2)
forest.predict_proba(np.random.rand(10, 5))
print(t1 - t0, time.perf_counter() - t1)
"""


def data(n_train: int, n_pool: int, dim: int, seed: int = 0):
    X, y = make_classification(n_samples=n_train + n_pool + 2, n_features=dim,
                               n_informative=min(dim, 10), random_state=seed)
    X = X.astype(np.float32)
    first = [int(np.flatnonzero(y == 0)[0]), int(np.flatnonzero(y == 1)[0])]  # both classes
    rest = np.setdiff1d(np.arange(len(y)), first)
    train = np.r_[first, rest[: n_train - 2]]
    return X[train], y[train], X[rest[n_train:n_train + n_pool]]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def speed(n_train: int, n_pool: int, dim: int, repeats: int) -> dict:
    X, y, pool = data(n_train, n_pool, dim)
    row = {}
    for name, model in [("ours", RandomForest(n_estimators=100, n_jobs=-1, random_state=0)),
                        ("sklearn", RandomForestClassifier(n_estimators=100, n_jobs=-1,
                                                           random_state=0))]:
        row[name, "fit"] = median_time(lambda: model.fit(X, y), repeats)
        row[name, "predict"] = median_time(lambda: model.predict_proba(pool), repeats)
        row[name, "step"] = median_time(lambda: model.fit(X, y).predict_proba(pool), repeats)
    return row


def first_call() -> dict:
    """Seconds for import and the first fit + predict, with an empty then a filled cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = {}
        for label in ("compile (empty cache)", "load (filled cache)"):
            text = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                                  capture_output=True, text=True).stdout.split()
            out[label] = float(text[1])
        out["import"] = float(text[0])
    return out


def f1_parity(seeds: int = 5) -> tuple[float, float]:
    """Mean test macro F1 (ours, scikit-learn): 300 labeled, 3000 test, 4 classes, 64 dims."""
    ours, theirs = [], []
    for seed in range(seeds):
        X, y = make_classification(n_samples=3300, n_features=64, n_informative=12,
                                   n_classes=4, random_state=seed)
        X = X.astype(np.float32)
        tr, te = slice(0, 300), slice(300, None)
        ours.append(f1_score(y[te], RandomForest(random_state=seed).fit(X[tr], y[tr])
                             .predict(X[te]), average="macro"))
        sk = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=seed)
        theirs.append(f1_score(y[te], sk.fit(X[tr], y[tr]).predict(X[te]), average="macro"))
    return float(np.mean(ours)), float(np.mean(theirs))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    compile_times = first_call()
    rows = [(size, speed(*size, args.repeats)) for size in SIZES]
    f1_ours, f1_sklearn = f1_parity()

    lines = [
        f"RandomForest vs scikit-learn RandomForestClassifier, 100 trees, n_jobs=-1, "
        f"{os.cpu_count()} cores; median of {args.repeats} runs after a warm-up; times in ms.",
        "",
        "| labeled | pool | dims | fit ours | fit sklearn | predict_proba ours | "
        "predict_proba sklearn | fit + predict ours | fit + predict sklearn | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (n_train, n_pool, dim), r in rows:
        lines.append(
            f"| {n_train} | {n_pool} | {dim} | {ms(r['ours', 'fit'])} | "
            f"{ms(r['sklearn', 'fit'])} | {ms(r['ours', 'predict'])} | "
            f"{ms(r['sklearn', 'predict'])} | {ms(r['ours', 'step'])} | "
            f"{ms(r['sklearn', 'step'])} | {r['sklearn', 'step'] / r['ours', 'step']:.0f}x |")
    lines += [
        "",
        f"First fit + predict in a fresh process: {compile_times['compile (empty cache)']:.1f} s "
        f"with an empty numba cache (compiling), "
        f"{compile_times['load (filled cache)']:.2f} s once cached "
        f"(import of alwidget.learn.forest: {compile_times['import']:.1f} s).",
        "",
        f"Test macro F1, 4 classes, 64 dims, 300 labeled / 3000 test, mean of 5 seeds: "
        f"ours {f1_ours:.3f}, scikit-learn {f1_sklearn:.3f}.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
