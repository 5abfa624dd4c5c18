"""Compare statistics sets of the ``logmel`` extractor on ESC-10, to choose its default.

Protocol, per candidate stats set:

* Each of the 400 ESC-10 clips (10 classes x 40, folds 1-5) is loaded once as
  mono 16 kHz and summarised by one vector: ``LogMel(stats).extract(y, 16000,
  [0], [clip duration])``. Extraction time is the total over the 400 clips,
  single thread, audio decoding excluded, best of 5 runs.
* For each class as the target (one-vs-rest, binary) and each fold k in 1..5:
  test = fold k, validation = fold k % 5 + 1, train = the other three folds.
  A RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2) is fit
  on train; the decision threshold (predict positive when P >= t) is chosen on
  validation to maximise F1 among the unique validation probabilities plus
  0.5, the lower threshold on ties; F1 on test at that threshold is reported.
* F1 is averaged over folds, then over targets ("std" is over the 10 targets).

Run from the repository root:

    .venv/bin/python benchmarks/compare_feature_sets.py --out benchmarks/results/feature_sets.md
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from alwidget.audio import load_mono
from alwidget.features.logmel import LogMel

SR = 16000
REPEATS = 5
CANDIDATES = [
    ("mean", "std"),
    ("mean", "std", "max"),
    ("mean", "std", "dstd"),
    ("mean", "std", "max", "dstd"),
    ("mean", "std", "max", "dmean", "dstd"),
    ("mean", "std", "mfcc"),
    ("mean", "std", "max", "dstd", "mfcc"),
    ("mean", "std", "p10", "p90"),
    ("mean", "std", "max", "p10", "p90", "dmean", "dstd", "mfcc"),
]


def f1_at(y: np.ndarray, p: np.ndarray, t: float) -> float:
    return f1_score(y, p >= t, zero_division=0.0)


def tune_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising validation F1; ties go to the lower threshold."""
    candidates = np.unique(np.append(p, 0.5))  # sorted ascending
    scores = [f1_at(y, p, t) for t in candidates]
    return float(candidates[int(np.argmax(scores))])  # argmax takes the first (lowest)


def evaluate(X: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict[str, float]:
    """Mean test F1 over the 5 folds, for each class as the one-vs-rest target."""
    per_class = {}
    for target in sorted(set(labels)):
        y = labels == target
        scores = []
        for k in range(1, 6):
            val_fold = k % 5 + 1
            test, val = folds == k, folds == val_fold
            train = ~(test | val)
            clf = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2)
            clf.fit(X[train], y[train])
            t = tune_threshold(y[val], clf.predict_proba(X[val])[:, 1])
            scores.append(f1_at(y[test], clf.predict_proba(X[test])[:, 1], t))
        per_class[target] = float(np.mean(scores))
    return per_class


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/data/esc10",
                    help="ESC-10 folder holding manifest.csv and the audio")
    ap.add_argument("--out", type=Path, help="also write the markdown report here")
    args = ap.parse_args()

    manifest = args.data / "manifest.csv"
    if not manifest.is_file():
        sys.exit(f"error: no ESC-10 data at {args.data} (expected {manifest}); pass --data")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    labels = np.array([r["label"] for r in rows])
    folds = np.array([int(r["fold"]) for r in rows])
    print(f"loading {len(rows)} clips from {args.data} ...", file=sys.stderr)
    audio = [load_mono(args.data / r["path"], SR)[0] for r in rows]
    LogMel().extract(audio[0], SR, np.array([0.0]), np.array([1.0]))  # warm-up (imports, caches)

    # Extraction first, before any model fitting, and in rounds over all sets so that
    # machine noise spreads evenly; the timing is the best of REPEATS rounds.
    features, seconds = {}, {stats: float("inf") for stats in CANDIDATES}
    with threadpool_limits(1):  # single thread, BLAS included
        for _ in range(REPEATS):
            for stats in CANDIDATES:
                ex = LogMel(stats=stats)
                t0 = time.perf_counter()
                features[stats] = np.vstack(
                    [ex.extract(y, SR, np.array([0.0]), np.array([len(y) / SR])) for y in audio])
                seconds[stats] = min(seconds[stats], time.perf_counter() - t0)

    results = []  # (stats, dim, per-class F1, seconds)
    for stats in CANDIDATES:
        per_class = evaluate(features[stats], labels, folds)
        results.append((stats, LogMel(stats=stats).dim, per_class, seconds[stats]))
        print(f"{','.join(stats)}: F1 {np.mean(list(per_class.values())):.4f}", file=sys.stderr)

    lines = [
        "| stats set | dim | mean F1 | std over targets | extraction s |",
        "|---|---:|---:|---:|---:|",
    ]
    for stats, dim, per_class, secs in results:
        f1 = np.array(list(per_class.values()))
        lines.append(f"| {', '.join(stats)} | {dim} | {f1.mean():.3f} | {f1.std():.3f} | {secs:.2f} |")
    # Recommendation: best mean F1; within 0.01 of it, the smallest dim wins.
    best = max(np.mean(list(r[2].values())) for r in results)
    close = [r for r in results if np.mean(list(r[2].values())) >= best - 0.01]
    rec = min(close, key=lambda r: (r[1], -np.mean(list(r[2].values()))))
    lines += ["", f"Recommended (best mean F1, smaller dim within 0.01): **{', '.join(rec[0])}**",
              "", "| class | F1 |", "|---|---:|"]
    lines += [f"| {c} | {v:.3f} |" for c, v in rec[2].items()]

    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
