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

``--resummarise`` rebuilds the tables from a finished run's records
(``benchmarks/out/<set>/records.csv``) without simulating again; ``--speed`` times one
seed of ESC-10 on a quiet machine and profiles one run of 100 queries, into
``benchmarks/results/rare_target_speed.md``.

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

import numpy as np

from alwidget import datasets
from alwidget.experiment import ExperimentResult, run_rare_target

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
    ap.add_argument("--resummarise", action="store_true",
                    help="rebuild the tables from benchmarks/out/<set>/records.csv")
    ap.add_argument("--speed", action="store_true",
                    help="time one seed of ESC-10 and profile one run")
    args = ap.parse_args()
    if args.resummarise:
        return resummarise(args)
    if args.speed:
        return speed(args)
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
        n_pseudo = _pseudo_share(res)
        t_run = time.perf_counter() - t0
        n_runs = len({(r["target"], r["strategy"], r["fold"], r["seed"]) for r in res.records})
        text = (
            f"## {name} ({args.extractor} features, {data.X.shape[1]}-d): {len(targets)} targets x {len(set(data.folds.tolist()))} folds x "
            f"7 strategies x {len(seeds)} seeds x {args.queries} queries ({n_runs} runs, "
            f"{len(res.records)} model fits)\n\n"
            f"Features (cached in the store after the first run): {t_feat:.1f} s. "
            f"Simulation: {t_run:.0f} s on {os.cpu_count()} cores.\n\n"
            + res.summary_markdown() + "\n\n"
            + n_pseudo
        )
        print(text)
        tag = _tag(name, args.extractor)
        if seeds == [0, 1, 2]:  # the published tables; other runs never overwrite them
            (args.out / f"rare_target_{tag}.md").write_text(text)
        records = _records_dir(tag, seeds)
        res.to_csv(records)
        res.save_figure(records / "learning_curves.html")


def _tag(name: str, extractor: str) -> str:
    return name if extractor == "logmel" else f"{name}_{extractor}"


def _pseudo_share(res) -> str:
    """How often the semi-supervised strategies' fits trained on pseudo-labels at all."""
    share = {s: float(np.mean([r["n_pseudo"] > 0 for r in res.records if r["strategy"] == s]))
             for s in ("ssal-0.95", "ssal-0.98")
             if any(r["strategy"] == s for r in res.records)}
    return ("Fits that trained on pseudo-labels: "
            + ", ".join(f"{k} {v:.1%}" for k, v in share.items()) + ".\n")


def _records_dir(tag: str, seeds: list[int]) -> Path:
    """Where a run's records go: one folder per set, features and seeds."""
    return Path("benchmarks/out") / f"{tag}_seeds_{'_'.join(map(str, seeds))}"


def resummarise(args) -> None:
    """Rewrite each set's table from its saved records (e.g. after a change of statistic)."""
    for name in args.sets.split(","):
        tag = _tag(name, args.extractor)
        md = args.out / f"rare_target_{tag}.md"
        head = md.read_text().split("\n| strategy |")[0]  # the run's description and timing
        res = ExperimentResult.read_csv(_records_dir(tag, [0, 1, 2]), dict(seeds=[0, 1, 2]))
        table = res.summary_markdown()
        table = table[table.index("| strategy |"):]
        text = head.rstrip("\n") + "\n\n" + table + "\n\n" + _pseudo_share(res)
        md.write_text(text)
        print(text)


def speed(args) -> None:
    """One seed of ESC-10, timed; cProfile of one run of 100 queries (lc, target dog, fold 1)."""
    import cProfile
    import io
    import pstats

    from alwidget.experiment import split
    from alwidget.experiment.rare import _one_run  # noqa: F401 (the unit being profiled)

    work = Path("benchmarks/out")
    data = datasets.from_manifest(args.data / "esc10" / "manifest.csv", work / "esc10.db",
                                  fold_column="fold", progress=False)
    targets = sorted(set(data.labels.tolist()))
    t0 = time.perf_counter()
    run_rare_target(data.X, data.labels, data.folds, targets, queries=100, seeds=[0],
                    n_jobs=args.jobs, progress=False)
    t_run = time.perf_counter() - t0
    from alwidget.learn import default_model

    y = data.labels == "dog"
    test, val, pool = split(data.folds, "1")
    model = default_model().set_params(n_jobs=1)
    one = lambda: _one_run(data.X, y, test, val, pool, "lc", 0, 100, model, 0, "dog", "1")  # noqa
    one()  # warm
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    one()
    prof.disable()
    t_one = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    total = sum(v[3] for k, v in stats.stats.items() if k[2] == "_one_run")

    def share(name: str) -> float:
        return sum(v[3] for k, v in stats.stats.items() if k[2] == name) / total

    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(12)
    text = (f"ESC-10 rare-target protocol, logmel, one seed (350 runs, 35,350 fits): "
            f"{t_run:.0f} s of simulation on {os.cpu_count()} cores.\n\n"
            f"One run of 100 queries (lc, target dog, test fold 1), one core: {t_one:.2f} s; "
            f"growing the forest {share('grow_forest'):.0%}, scikit-learn's clone "
            f"{share('clone'):.0%}, scoring every clip {share('forest_proba'):.0%}.\n\n"
            "Made by `.venv/bin/python benchmarks/rare_target.py --speed`.\n\n```\n"
            + buf.getvalue().strip() + "\n```\n")
    (args.out / "rare_target_speed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
