"""Which ``logmel-frames`` shape the CRNN should read: F1 and cost of each (issue 16, review).

For 4 ESC-10 targets (dog, rooster, chainsaw, rain) x 2 seeds, the CRNN (default settings, no
time budget: it stops by its epochs, ``tol`` or ``patience``) is trained on 100 random clips
(one target vs the rest) and tested on the other 300. Each shape is a true extraction
(:class:`alwidget.features.LogMelFrames`, cached in the benchmark's store), not a pooled copy
of another. Prints one line per fit and the mean F1, fit time and epochs per shape.

    nice -n 19 .venv/bin/python benchmarks/crnn_input_shapes.py --shapes 64x96,64x48,32x48,32x96

Needs the ESC-10 store of ``benchmarks/rare_target_deep.py`` (``benchmarks/out/deep/esc10.db``).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from alwidget.features import LogMelFrames, extract_features
from alwidget.learn import CRNN
from alwidget.store import Store

MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "esc10" / "manifest.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("benchmarks/out/deep/esc10.db"))
    ap.add_argument("--shapes", default="64x96,64x48,32x48,32x96", help="MELSxFRAMES, ...")
    ap.add_argument("--targets", default="dog,rooster,chainsaw,rain")
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args()
    store = Store(args.db)
    by_name = {Path(r["path"]).name: r["label"] for r in csv.DictReader(open(MANIFEST))}
    sets, ids = {}, None
    for shape in args.shapes.split(","):
        mels, frames = (int(v) for v in shape.split("x"))
        fs = extract_features(store, LogMelFrames(n_mels=mels, n_frames=frames), progress=False)
        got, X = store.get_features(fs)
        if ids is None:
            ids = got
        assert np.array_equal(got, ids), "every shape must cover the same clips"
        sets[shape] = (X, mels)
    labels = np.array([by_name[Path(str(p)).name] for p in store.clip_sources(ids).path])
    results: dict[str, list] = {}
    for target in args.targets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            y = np.where(labels == target, "t", "r")
            perm = np.random.default_rng(seed).permutation(len(ids))
            train, test = perm[:100], perm[100:]
            for shape, (X, mels) in sets.items():
                t0 = time.perf_counter()
                model = CRNN(n_mels=mels, random_state=seed, max_seconds=None).fit(X[train],
                                                                                   y[train])
                fit_s = time.perf_counter() - t0
                f1 = f1_score(y[test] == "t", model.predict(X[test]) == "t")
                results.setdefault(shape, []).append((f1, fit_s, model.n_epochs_))
                print(f"{target} seed {seed} {shape}: F1 {f1:.3f}, fit {fit_s:.1f} s, "
                      f"{model.n_epochs_} epochs ({model.stopped_})", flush=True)
    for shape, rows in results.items():
        f1, fit_s, epochs = np.mean(rows, axis=0)
        print(f"{shape}: mean F1 {f1:.3f}, mean fit {fit_s:.1f} s, {epochs:.1f} epochs")


if __name__ == "__main__":
    main()
