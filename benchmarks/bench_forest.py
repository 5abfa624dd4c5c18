"""RandomForest (numba) against scikit-learn's forests: speed, compile cost and F1.

Compared, all with 100 trees on synthetic float32 features (``make_classification``,
2 classes) at active-learning sizes (labeled clips, pool scored, feature dims):

* ``RandomForest`` with ``n_jobs=-1`` (all cores, the default) and ``n_jobs=1``;
* scikit-learn's ``RandomForestClassifier`` (the same algorithm) and
  ``ExtraTreesClassifier`` (random thresholds, no bootstrap: cheaper per tree),
  each with ``n_jobs=1`` and ``n_jobs=-1``.

Sizes: 2, 5, 10, 25 and 50 labels with a 400-clip pool of 296-d features (ESC-10 with
logmel features), and 50 and 200 labels with a 100,000-clip pool of 64-d features. Each
time is the median of ``--repeats`` runs after a warm-up run: ``fit``, ``predict_proba``
on the pool, and both ("fit + predict": one active-learning step, refit on the labels and
score the pool).

Also measured, each in a fresh process: the first fit + predict with an empty numba cache
(compiling), ``warm_up()`` with an empty cache (what ``./dev.sh`` pays at install), and the
first fit + predict after that warm-up (loading the cache); and the test-set macro F1 of
our forest and scikit-learn's on one dataset, averaged over seeds.

Run from the project root, with nothing else heavy running:

    .venv/bin/python benchmarks/bench_forest.py --out benchmarks/results/forest.md

Prints markdown tables; ``--out FILE`` also writes them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.metrics import f1_score

from alwidget.learn.forest import RandomForest

SIZES = [(2, 400, 296), (5, 400, 296), (10, 400, 296), (25, 400, 296), (50, 400, 296),
         (50, 100_000, 64), (200, 100_000, 64)]

MODELS = {
    "ours -1": lambda: RandomForest(n_estimators=100, n_jobs=-1, random_state=0),
    "ours 1": lambda: RandomForest(n_estimators=100, n_jobs=1, random_state=0),
    "RF -1": lambda: RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0),
    "RF 1": lambda: RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0),
    "ET -1": lambda: ExtraTreesClassifier(n_estimators=100, n_jobs=-1, random_state=0),
    "ET 1": lambda: ExtraTreesClassifier(n_estimators=100, n_jobs=1, random_state=0),
}

# Seconds for the import and for the first fit + predict of a fresh process.
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

# Seconds for the import and for warm_up() of a fresh process (what ./dev.sh runs).
WARM_UP = """
import time
t0 = time.perf_counter()
from alwidget.learn.forest import warm_up
t1 = time.perf_counter()
warm_up()
print(t1 - t0, time.perf_counter() - t1)
"""


def data(n_train: int, n_pool: int, dim: int, seed: int = 0):
    """Labeled clips (both classes present) and a pool, float32."""
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
    """{(model, "fit" | "predict" | "step"): seconds} at one size."""
    X, y, pool = data(n_train, n_pool, dim)
    row = {}
    for name, make in MODELS.items():
        model = make()
        row[name, "fit"] = median_time(lambda: model.fit(X, y), repeats)
        row[name, "predict"] = median_time(lambda: model.predict_proba(pool), repeats)
        row[name, "step"] = median_time(lambda: model.fit(X, y).predict_proba(pool), repeats)
    return row


def _fresh(script: str, cache: str) -> list[float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return [float(v) for v in out] + [time.perf_counter() - t]


def first_call() -> dict:
    """Compile and load times, each in a fresh process (numba cache in a temporary folder)."""
    out = {}
    with tempfile.TemporaryDirectory() as empty:
        out["import"], out["compile"], out["compile process"] = _fresh(FIRST_CALL, empty)
    with tempfile.TemporaryDirectory() as cache:
        _, out["warm_up"], out["warm_up process"] = _fresh(WARM_UP, cache)
        out["import after"], out["load"], out["load process"] = _fresh(FIRST_CALL, cache)
        _, out["warm_up again"], out["warm_up again process"] = _fresh(WARM_UP, cache)
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


def table(rows, what: str) -> list[str]:
    names = list(MODELS)
    sklearn_names = [n for n in names if not n.startswith("ours")]
    lines = ["| labeled | pool | dims | " + " | ".join(names)
             + " | fastest scikit-learn ÷ ours -1 | ÷ ours 1 |",
             "|---|---|---|" + "---|" * (len(names) + 2)]
    for (n_train, n_pool, dim), r in rows:
        fastest = min(r[n, what] for n in sklearn_names)
        lines.append(f"| {n_train} | {n_pool} | {dim} | "
                     + " | ".join(ms(r[n, what]) for n in names)
                     + f" | {fastest / r['ours -1', what]:.1f}x"
                     + f" | {fastest / r['ours 1', what]:.1f}x |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    compile_times = first_call()
    rows = []
    for size in SIZES:
        rows.append((size, speed(*size, args.repeats)))
        print(f"done {size}", file=sys.stderr, flush=True)
    f1_ours, f1_sklearn = f1_parity()

    c = compile_times
    lines = [
        "Made by `.venv/bin/python benchmarks/bench_forest.py --out benchmarks/results/forest.md`",
        f"({os.cpu_count()} cores, Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}). 100 trees, 2 classes, float32 features; median of "
        f"{args.repeats} runs after a warm-up; times in ms. `ours` = alwidget's "
        "`RandomForest`, `RF` = scikit-learn's `RandomForestClassifier` (the same algorithm), "
        "`ET` = scikit-learn's `ExtraTreesClassifier`; -1 = all cores, 1 = one thread.",
        "",
        "**One active-learning step** (fit on the labels + predict_proba on the pool):",
        "",
        *table(rows, "step"),
        "",
        "**fit**:",
        "",
        *table(rows, "fit"),
        "",
        "**predict_proba** on the pool:",
        "",
        *table(rows, "predict"),
        "",
        "**First call, each in a fresh process** (numba cache in an empty temporary folder):",
        "",
        f"- no warm-up: the first fit + predict takes {c['compile']:.1f} s (compiling; "
        f"importing `alwidget.learn.forest` takes another {c['import']:.1f} s);",
        f"- `warm_up()` with an empty cache (what `./dev.sh` runs after installing): "
        f"{c['warm_up']:.1f} s, {c['warm_up process']:.1f} s for the whole `python -c` "
        "process;",
        f"- after that warm-up, the first fit + predict of a new process takes "
        f"{c['load']:.2f} s (loading the cached kernels; import {c['import after']:.1f} s);",
        f"- `warm_up()` once cached: {c['warm_up again']:.2f} s "
        f"({c['warm_up again process']:.1f} s for the whole process).",
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
