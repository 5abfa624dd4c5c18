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

Cold starts (``--start random,nearest,nearest:10``): the protocol's random pair against
search by example (the pair's positive alone, then its nearest clips by cosine until a
negative is labeled; ``nearest:10``: and until 10 labels; then the strategy), here for a
target made rare (2 % of each pool) with the default strategy; the table (F1 at 10, 25 and
50 labels and after 10 and 25 queries, mean ± sample sd over seeds) goes to
``benchmarks/results/rare_target_start_<set>_share2.md`` (about 2 + 6 minutes on 2 shared
cores):

    nice -n 10 .venv/bin/python benchmarks/rare_target.py --start random,nearest,nearest:10 \\
        --strategies lc --positive-share 0.02 --queries 50 --jobs 2

Only the default run (all seven strategies, random start, every class, seeds 0, 1, 2,
100 queries) writes the published ``rare_target_<set>.md``; other runs write their own files.

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
from alwidget.experiment import ExperimentResult, run_rare_target, summarise

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"esc10": "fold", "fsdd": "speaker"}
STRATEGIES = ("random", "lc", "lc-tuned", "ssal-0.95", "ssal-0.98", "ac-5", "ac-10")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--sets", default="esc10,fsdd")
    ap.add_argument("--queries", type=int, default=100, help="clips asked per run after the 2-label start")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--extractor", default="logmel", help="logmel (default) or yamnet")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated")
    ap.add_argument("--start", default="random",
                    help="comma-separated cold starts: random (1 positive + 1 negative), "
                         "nearest (1 positive, then its nearest clips until a negative), "
                         "nearest:N (... until a negative and N labels)")
    ap.add_argument("--positive-share", type=float, default=None,
                    help="subsample each pool's positives to this share (e.g. 0.02)")
    ap.add_argument("--targets", default=None, help="comma-separated classes; default all")
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
    strategies = args.strategies.split(",")
    starts = args.start.split(",")
    published = (seeds == [0, 1, 2] and tuple(strategies) == STRATEGIES and starts == ["random"]
                 and args.positive_share is None and args.targets is None
                 and args.queries == 100)
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
        targets = (sorted(set(data.labels.tolist())) if args.targets is None
                   else args.targets.split(","))
        tag = _tag(name, args.extractor)
        variant = _variant(args, strategies, starts)
        by_start, times = {}, {}
        for start in starts:
            t0 = time.perf_counter()
            kind, _, until = start.partition(":")
            res = run_rare_target(data.X, data.labels, data.folds, targets, strategies=strategies,
                                  queries=args.queries, seeds=seeds, n_jobs=args.jobs,
                                  positive_share=args.positive_share, start=kind,
                                  start_labels=int(until) if until else None)
            times[start] = time.perf_counter() - t0
            by_start[start] = res
            n_pseudo = _pseudo_share(res) if any(s.startswith("ssal") for s in strategies) else ""
            n_runs = len({(r["target"], r["strategy"], r["fold"], r["seed"])
                          for r in res.records})
            text = (
                f"## {name} ({args.extractor} features, {data.X.shape[1]}-d): {len(targets)} targets x {len(set(data.folds.tolist()))} folds x "
                f"{len(strategies)} strategies x {len(seeds)} seeds x {args.queries} queries "
                f"({n_runs} runs, {len(res.records)} model fits)"
                + (f", {start} start" if start != "random" else "")
                + (f", positives subsampled to {args.positive_share:.0%} of each pool"
                   if args.positive_share else "") + "\n\n"
                f"Features (cached in the store after the first run): {t_feat:.1f} s. "
                f"Simulation: {times[start]:.0f} s on {os.cpu_count()} cores.\n\n"
                + res.summary_markdown() + "\n\n"
                + n_pseudo
            )
            print(text)
            if published:  # the published tables; other runs never overwrite them
                (args.out / f"rare_target_{tag}.md").write_text(text)
            suffix = "" if published else (f"_{variant}" + (f"_{start.replace(':', '')}"
                                                           if len(starts) > 1 else ""))
            records = _records_dir(tag + suffix, seeds)
            res.to_csv(records)
            res.save_figure(records / "learning_curves.html")
        if len(starts) > 1:
            text = start_table(name, args, data, targets, strategies, seeds, by_start, times)
            print(text)
            (args.out / f"rare_target_start_{tag}{_share_tag(args)}.md").write_text(text)


def _share_tag(args) -> str:
    return "" if args.positive_share is None else f"_share{args.positive_share * 100:g}"


def _variant(args, strategies, starts) -> str:
    """A run's name for its records folder (never the published one)."""
    parts = ["-".join(strategies) if tuple(strategies) != STRATEGIES else "all"]
    if args.positive_share is not None:
        parts.append(_share_tag(args).lstrip("_"))
    if args.targets is not None:
        parts.append(args.targets.replace(",", "-"))
    parts.append(f"q{args.queries}")
    if len(starts) == 1 and starts != ["random"]:
        parts.append(starts[0].replace(":", ""))
    return "_".join(parts)


def start_table(name, args, data, targets, strategies, seeds, by_start, times) -> str:
    """Cold starts side by side: F1 at a few label and query counts, mean ± sd over seeds."""
    def per_seed(records, value):
        vals = [value([r for r in records if r["seed"] == s]) for s in seeds]
        vals = [v for v in vals if v is not None]
        if not vals:
            return ""
        sd = f" ± {np.std(vals, ddof=1):.3f}" if len(vals) > 1 else ""
        return f"{np.mean(vals):.3f}{sd}"

    def at_labels(n):
        def value(records):  # n must be one of SUMMARY_AT
            return summarise(records, [])[0][f"f1_at_{n}"]
        return value

    def after_queries(q):
        def value(records):
            at = [r["f1"] for r in records if r["iteration"] == q]
            return float(np.mean(at)) if at else None
        return value

    def positives_by(n):
        def value(records):  # positives among the first n labels (start included), per run
            runs = {}
            for r in records:
                key = (r["target"], r["fold"])
                runs[key] = runs.get(key, 1) + bool(r["query_positive"] and r["n_labels"] < n)
            return float(np.mean(list(runs.values())))  # 1 = the start's positive
        return value

    def mean_to(n):
        def value(records):
            return float(np.mean([r["f1"] for r in records if 2 <= r["n_labels"] <= n]))
        return value

    q = args.queries
    cols = [("F1@10", at_labels(10)), ("F1@25", at_labels(25))]
    if q >= 49:
        cols.append(("F1@50", at_labels(50)))
    cols += [("F1 after 10 queries", after_queries(10)),
             ("F1 after 25 queries", after_queries(25)),
             ("mean F1, 2–25 labels", mean_to(25)),
             ("positives in the first 10 labels", positives_by(10))]
    cols = [c for c in cols if not (c[0].startswith("F1 after") and int(c[0].split()[2]) > q)]
    lines = [f"## {name}: cold starts, {', '.join(strategies)}, "
             + (f"positives {args.positive_share:.0%} of each pool, " if args.positive_share else "")
             + f"{len(targets)} targets x {len(set(data.folds.tolist()))} folds x "
             f"{len(seeds)} seeds (seeds {','.join(map(str, seeds))}) x {q} queries",
             "",
             "Starts: random = 1 random positive + 1 random negative of the pool (2 labels); "
             "nearest = the same positive alone (1 label), then the pool clips nearest to the "
             "known positive(s) by cosine distance until a negative is labeled, then the "
             "strategy; nearest:N = the same, the nearest clips until a negative is labeled and "
             "N clips are labeled (a model is fitted from the first negative on). F1@n = test "
             "F1 at the validation-tuned threshold with n labels (start included); \"after q "
             "queries\" = q clips asked after the start (random: q + 2 labels, nearest: "
             "q + 1). Each cell: mean over targets, folds and seeds ± the "
             "sample sd (ddof=1) over seeds of each seed's mean.",
             "",
             "| strategy | start | " + " | ".join(c for c, _ in cols) + " | reference F1 |",
             "|---|---|" + "---|" * (len(cols) + 1)]
    for strategy in strategies:
        for start, res in by_start.items():
            recs = [r for r in res.records if r["strategy"] == strategy]
            ref = per_seed(res.references, lambda rs: float(np.mean([r["f1"] for r in rs])))
            lines.append(f"| {strategy} | {start} | "
                         + " | ".join(per_seed(recs, v) for _, v in cols) + f" | {ref} |")
    lines += ["", "Reference F1 = the same forest trained on the whole (subsampled) pool. "
              "Simulation: " + ", ".join(f"{s} start {t:.0f} s" for s, t in times.items())
              + f" on {os.cpu_count()} cores (shared).", ""]
    return "\n".join(lines)


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
