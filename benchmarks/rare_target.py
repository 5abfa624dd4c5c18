"""The rare-target benchmark on ESC-10 and FSDD: strategy table and wall time.

Protocol 1 of ``../shared/data/README.md``: every class as the target (one vs
rest), every fold as the test fold (validation = the next fold, pool = the
rest), start from 1 positive + 1 negative, then 100 queries of one clip each
through the loop core (the step a labeling session runs), the seven strategies
of the rare-sound study, default ``logmel`` features, random forest of 100
trees, seeds 0, 1 and 2. ESC-10 folds are the official ones; FSDD folds are
speakers.

Run from the project root (about half an hour on 2 cores):

    .venv/bin/python benchmarks/rare_target.py --out benchmarks/results
    .venv/bin/python benchmarks/rare_target.py --sets esc10 --extractor yamnet

The same runs through the command line:

    .venv/bin/alwidget simulate --manifest ../shared/data/esc10/manifest.csv \\
        --target all --queries 100 --seeds 0,1,2 --out benchmarks/out/esc10
    .venv/bin/alwidget simulate --manifest ../shared/data/fsdd/manifest.csv \\
        --fold-column speaker --target all --queries 100 --seeds 0,1,2 --out benchmarks/out/fsdd
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from alwidget import datasets
from alwidget.experiment import run_rare_target

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"esc10": "fold", "fsdd": "speaker"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--sets", default="esc10,fsdd")
    ap.add_argument("--queries", type=int, default=100, help="clips asked per run after the 2-label start")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--extractor", default="logmel", help="logmel (default) or yamnet")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if not (args.data / "README.md").exists():
        sys.exit(f"the shared recordings are not at {args.data}; pass --data")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("benchmarks/out")
    work.mkdir(parents=True, exist_ok=True)
    for name in args.sets.split(","):
        t0 = time.perf_counter()
        data = datasets.from_manifest(args.data / name / "manifest.csv", work / f"{name}.db",
                                      fold_column=SETS[name], extractor=args.extractor,
                                      progress=False)
        t_feat = time.perf_counter() - t0
        targets = sorted(set(data.labels.tolist()))
        t0 = time.perf_counter()
        res = run_rare_target(data.X, data.labels, data.folds, targets,
                              queries=args.queries, seeds=seeds, n_jobs=args.jobs)
        t_run = time.perf_counter() - t0
        n_runs = len({(r["target"], r["strategy"], r["fold"], r["seed"]) for r in res.records})
        text = (
            f"## {name} ({args.extractor} features, {data.X.shape[1]}-d): {len(targets)} targets x {len(set(data.folds.tolist()))} folds x "
            f"7 strategies x {len(seeds)} seeds x {args.queries} queries ({n_runs} runs, "
            f"{len(res.records)} model fits)\n\n"
            f"Features (cached in the store after the first run): {t_feat:.1f} s. "
            f"Simulation: {t_run:.0f} s on {os.cpu_count()} cores.\n\n"
            + res.summary_markdown() + "\n"
        )
        print(text)
        tag = name if args.extractor == "logmel" else f"{name}_{args.extractor}"
        (args.out / f"rare_target_{tag}.md").write_text(text)
        res.to_csv(work / tag)
        res.save_figure(work / tag / "learning_curves.html")


if __name__ == "__main__":
    main()
