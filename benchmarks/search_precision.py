"""Which distance finds a clip's own class: precision of the 10 nearest clips, every clip as a
query, for cosine and Euclidean, on mean-centred and on per-dimension standardised vectors.

Reads the feature sets stored by ``benchmarks/rare_target.py`` in ``benchmarks/out/esc10.db``
and ``benchmarks/out/fsdd.db`` (labels from ``../shared/data/<set>/manifest.csv``). Run from
the project root:

    .venv/bin/python benchmarks/search_precision.py
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from alwidget.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def precision_at_10(Z: np.ndarray, y: np.ndarray, metric: str) -> float:
    """Mean share of each clip's 10 nearest (itself left out) that have its label."""
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    hits = []
    for q in range(len(Z)):
        d = -(Zn @ Zn[q]) if metric == "cosine" else ((Z - Z[q]) ** 2).sum(axis=1)
        d[q] = np.inf
        hits.append((y[np.argpartition(d, 10)[:10]] == y[q]).mean())
    return float(np.mean(hits))


def main() -> None:
    print("| set | features | clips | centred cosine | centred Euclidean | standardised cosine "
          "| standardised Euclidean |\n|---|---|---|---|---|---|---|")
    for name in ("esc10", "fsdd"):
        store = Store(ROOT / "benchmarks" / "out" / f"{name}.db", read_only=True)
        label = {os.path.realpath(SHARED / name / r["path"]): r["label"]
                 for r in csv.DictReader(open(SHARED / name / "manifest.csv"))}
        for fs in store.feature_sets():
            if not store.count_features(fs):
                continue
            ids, X = store.get_features(fs)
            y = np.array([label[os.path.realpath(p)] for p in store.clip_sources(ids).path])
            centred = X - X.mean(axis=0)
            sd = X.std(axis=0)
            standardised = centred / np.where(sd > 0, sd, 1)
            cells = [precision_at_10(Z, y, m) for Z in (centred, standardised)
                     for m in ("cosine", "euclidean")]
            print(f"| {name} | {fs.extractor} | {len(ids)} | "
                  + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
