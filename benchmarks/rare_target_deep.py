"""Deep learners against the forest, on the rare-target protocol (issue 16).

The protocol of ``benchmarks/rare_target.py`` (``../shared/data/README.md``, protocol 1):
every class as the target (one vs rest), every fold as the test fold (validation = the next
fold, pool = the rest), 1 positive + 1 negative to start, 100 queries of one clip through the
loop core, seeds 0, 1, 2; at the sets' own prevalence and with each pool's positives
subsampled to 2 % (``--positive-share 0.02``). One strategy: ``entropy``, the rare-sound
study's criterion (predictive entropy of the model's class distribution; in a binary task
the same order as least confidence at 0.5, up to ties). Learners:

* ``forest/logmel``: the default forest of 100 trees on the 296 logmel statistics;
* ``forest/yamnet``: the same forest on YAMNet embeddings (1024-d);
* ``head/yamnet``: :class:`alwidget.learn.EmbeddingHead` on YAMNet embeddings (its defaults,
  without the time budget it never reaches here: its fits take ~0.03 s; FSDD's head units were
  made with the default 10-s budget, and two of them re-run without it gave the same records);
* ``crnn/logmel-frames``: :class:`alwidget.learn.CRNN` on log-mel patches (64 bands x 48
  frames, the ``logmel-frames`` default), as ``make_model("crnn")`` gives it: bounded by
  epochs, not seconds (:data:`CRNN_PARAMS`: at most 60 epochs, stopped by ``tol`` /
  ``patience``; no time budget, so the results do not depend on the machine's speed or
  load), each refit warm-started from the previous plan's model (at most 10 epochs) since
  the labels only grow; the reference fit on the whole pool is a cold fit to convergence.

Work is done and saved one (set, share, learner, target) unit at a time (the CRNN's: one
seed of a target at a time) in ``benchmarks/results/deep_units/`` (gzipped records, a few
tens of kB per unit; committed, so a run spread over several checkouts keeps what it
finished), and a re-run skips it; the feature databases are a cache in
``benchmarks/out/deep/``. ``--summarise`` writes the table of what is done (with how much
is done) to ``benchmarks/results/rare_target_deep_<set>.md``. CPU heavy (the CRNN: a few
minutes per target, seed and share on 2 shared cores, see the README); run niced in the
background:

    nohup nice -n 19 .venv/bin/python benchmarks/rare_target_deep.py --sets esc10 \\
        --jobs 2 > benchmarks/out/deep.log 2>&1 &
    .venv/bin/python benchmarks/rare_target_deep.py --sets esc10 --summarise
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from alwidget import datasets
from alwidget.experiment import run_rare_target, summarise
from alwidget.features import get_extractor
from alwidget.learn import make_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"esc10": "fold", "fsdd": "speaker"}
#: learner name -> (model name, feature set)
LEARNERS = {"forest/logmel": ("forest", "logmel"), "forest/yamnet": ("forest", "yamnet"),
            "head/yamnet": ("head", "yamnet"), "crnn/logmel-frames": ("crnn", "logmel-frames")}
WORK = Path("benchmarks/out/deep")  # feature databases (a cache)
UNITS = Path("benchmarks/results/deep_units")  # finished units (committed)
FIELDS = ("target", "strategy", "fold", "seed", "iteration", "n_labels", "f1", "threshold",
          "query_positive")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--sets", default="esc10")
    ap.add_argument("--learners", default=",".join(LEARNERS))
    ap.add_argument("--shares", default="own,0.02", help="own (the set's prevalence) and/or "
                    "positive shares, comma-separated")
    ap.add_argument("--targets", default=None, help="comma-separated; default all, in order")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--summarise", action="store_true", help="only write the tables")
    args = ap.parse_args()
    if not (args.data / "README.md").exists():
        sys.exit(f"the shared recordings are not at {args.data}; pass --data")
    learners = args.learners.split(",")
    unknown = sorted(set(learners) - set(LEARNERS))
    if unknown:
        sys.exit(f"learners {unknown} are not among {list(LEARNERS)}")
    shares = [None if s == "own" else float(s) for s in args.shares.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    for name in args.sets.split(","):
        if args.summarise:
            write_table(name, args, learners, shares)
            continue
        data, configs = {}, {}
        for learner in learners:
            ex = LEARNERS[learner][1]
            if ex not in data:
                t0 = time.perf_counter()
                data[ex] = datasets.from_manifest(
                    args.data / name / "manifest.csv", WORK / f"{name}.db",
                    fold_column=SETS[name], extractor=ex, progress=False)
                configs[ex] = get_extractor(ex).config() if ex == "logmel-frames" else {}
                print(f"{name}: {ex} features {data[ex].X.shape} in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
        first = data[LEARNERS[learners[0]][1]]
        targets = (sorted(set(first.labels.tolist())) if args.targets is None
                   else args.targets.split(","))
        # cheap learners first over every target (all seeds at once); then the CRNN one seed
        # of one target at a time (a unit of 5-6 runs: saved before the next begins), every
        # target at seed 0 before any at seed 1, so a partial run covers all targets
        order = [(lr, t, s, None) for lr in learners if LEARNERS[lr][0] != "crnn"
                 for s in shares for t in targets]
        order += [(lr, t, s, seed) for lr in learners if LEARNERS[lr][0] == "crnn"
                  for seed in seeds for t in targets for s in shares]
        for learner, target, share, seed in order:
            unit = _unit(name, share, learner, target, seed)
            if _beside(unit, ".json").exists():
                continue
            d = data[LEARNERS[learner][1]]
            params = _params(learner, configs[LEARNERS[learner][1]])
            model = make_model(LEARNERS[learner][0], **params)
            run_seeds = seeds if seed is None else [seed]
            t0 = time.perf_counter()
            res = run_rare_target(d.X, d.labels, d.folds, [target], strategies=["entropy"],
                                  queries=args.queries, seeds=run_seeds, model=model,
                                  positive_share=share, n_jobs=args.jobs, progress=False)
            seconds = time.perf_counter() - t0
            _save(unit, res, learner, seconds, run_seeds)
            print(f"{name} share={share or 'own'} {learner} {target} seeds {run_seeds}: "
                  f"{seconds:.0f} s, mean F1 {np.mean([r['f1'] for r in res.records]):.3f}",
                  flush=True)
        # the table of everything done (all learners and shares), whatever this run did
        write_table(name, args, list(LEARNERS), [None, 0.02])


#: The CRNN's settings here (on top of ``make_model("crnn")``: warm start on): no time
#: budget, so a refit's length is set by its epochs and seed only.
CRNN_PARAMS = {"max_seconds": None, "max_epochs": 60, "warm_epochs": 10}


def _params(learner: str, config: dict) -> dict:
    if learner.startswith("crnn"):
        return {**CRNN_PARAMS, "n_mels": int(config["n_mels"]),
                "n_frames": int(config["n_frames"])}
    if learner.startswith("head"):
        # its fits take ~0.03 s here, far below the default 10-s budget; without one, a
        # paused or starved process gives the same results too
        return {"max_seconds": None}
    return {}


def _unit(name, share, learner, target, seed=None) -> Path:
    share_tag = "own" if share is None else f"share{share * 100:g}"
    tail = "" if seed is None else f"__s{seed}"
    return UNITS / f"{name}_{share_tag}" / f"{learner.replace('/', '_')}__{target}{tail}"


def _save(unit: Path, res, learner: str, seconds: float, seeds) -> None:
    """Write a unit's records, references and (last: it marks the unit done) its summary,
    each to a temporary file renamed into place, so a kill leaves no half-written file; the
    gzip headers hold no name or time, so a unit re-done alike has the same bytes."""
    unit.parent.mkdir(parents=True, exist_ok=True)

    def rows(suffix, fields, items):
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(items)
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(text.getvalue().encode("utf-8"))
        _replace(unit, suffix, buf.getvalue())

    rows(".records.csv.gz", FIELDS, ({**r, "strategy": learner} for r in res.records))
    rows(".references.csv.gz", ("target", "fold", "seed", "n_labels", "f1"), res.references)
    _replace(unit, ".json", json.dumps(
        {"seconds": seconds, "seeds": list(seeds), "model": res.params["model"],
         "runs": len({(r["fold"], r["seed"]) for r in res.records}),
         "cpus": os.cpu_count()}).encode("utf-8"))


def _beside(unit: Path, suffix: str) -> Path:
    """A unit's file: ``suffix`` after its name, or in place of a ``.json`` one's."""
    return unit.parent / (unit.name.removesuffix(".json") + suffix)


def _replace(unit: Path, suffix: str, data: bytes) -> None:
    path = _beside(unit, suffix)
    tmp = path.parent / (path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read(path: Path, keys) -> list[dict]:
    out = []
    with gzip.open(path, "rt", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row = dict(r)
            for k in keys:
                v = row.get(k)
                if v in ("", "None", None):
                    row[k] = None
                elif k == "query_positive":
                    row[k] = v == "True"
                elif k in ("f1", "threshold"):
                    row[k] = float(v)
                else:
                    row[k] = int(v)
            out.append(row)
    return out


def _per_target(units, learners, what) -> list[str]:
    """Mean F1 (over folds, seeds done and the 101 fits) per target and learner; a cell
    of fewer than 3 seeds says which."""
    means: dict[str, dict[str, str]] = {}
    for lr in learners:
        by_target: dict[str, list[float]] = {}
        seeds: dict[str, set] = {}
        for u in units[lr]:
            target = u.name.removesuffix(".json").split("__")[1]
            rows = _read(_beside(u, ".records.csv.gz"), ("f1", "seed"))
            by_target.setdefault(target, []).extend(r["f1"] for r in rows)
            seeds.setdefault(target, set()).update(r["seed"] for r in rows)
        means[lr] = {t: f"{np.mean(v):.3f}" + ("" if len(seeds[t]) >= 3 else
                                              f" [seed {','.join(map(str, sorted(seeds[t])))}]")
                     for t, v in by_target.items()}
    targets = sorted(set().union(*[m.keys() for m in means.values()]))
    if not targets:
        return []
    out = [f"### {what}: mean F1 per target (seeds 0, 1, 2 unless said)", "",
           "| target | " + " | ".join(learners) + " |", "|---|" + "---|" * len(learners)]
    for t in targets:
        out.append(f"| {t} | " + " | ".join(
            means[lr].get(t, "") for lr in learners) + " |")
    return out + [""]


def write_table(name, args, learners, shares) -> None:
    if not any(next(_unit(name, share, lr, "x").parent.glob(
            f"{lr.replace('/', '_')}__*.json"), None) for share in shares for lr in learners):
        # ESC-10's units were made before they were kept here: its table stays as it is
        print(f"{name}: no finished unit of {', '.join(learners)} in {UNITS}; "
              f"{args.out}/rare_target_deep_{name}.md is left as it is", file=sys.stderr)
        return
    lines = [f"## {name}: deep learners vs the forest, rare-target protocol, entropy strategy",
             "",
             "Protocol of the rare-target tables (one target vs rest, test fold k, validation "
             "fold k+1, pool the rest; 1 positive + 1 negative, then 100 queries; seeds 0, 1, 2), "
             "one strategy: entropy (the study's criterion). F1@n = test F1 at the validation-"
             "tuned threshold with n labels. Each row: mean over the targets done x folds x "
             "seeds; ± = sd over seeds of each seed's mean F1. Wall time = the simulation of "
             "that row's targets (all folds and seeds, references included) in parallel "
             f"processes on {os.cpu_count()} cores shared with other jobs, niced (and paused "
             "at times): an upper bound.",
             ""]
    for share in shares:
        units = {lr: sorted(_unit(name, share, lr, "x").parent.glob(
            f"{lr.replace('/', '_')}__*.json")) for lr in learners}
        done = {lr: {(u.name.removesuffix(".json").split("__")[1], s)
                     for u in us for s in json.loads(u.read_text())["seeds"]}
                for lr, us in units.items()}
        common = set.intersection(*[d for d in done.values() if d]) if any(done.values()) else set()
        what = "own prevalence (10 %)" if share is None else f"positives {share:.0%} of each pool"
        for subset, label in ((None, "all targets done"), (common, "targets done by every learner")):
            lines += [f"### {what}: {label}", "",
                      "| learner | targets done | mean F1 | F1@25 | F1@50 | F1@100 | positive "
                      "queries | reference F1 | wall time |", "|---|---|---|---|---|---|---|---|---|"]
            for lr in learners:
                pairs = sorted(done[lr] if subset is None else done[lr] & subset)
                if not pairs:
                    lines.append(f"| {lr} | 0 | | | | | | | |")
                    continue
                recs, refs, secs = [], [], 0.0
                for u in units[lr]:
                    keep = {s for t, s in pairs if t == u.name.removesuffix(".json").split("__")[1]}
                    info = json.loads(u.read_text())
                    if not keep & set(info["seeds"]):
                        continue
                    recs += [r for r in _read(_beside(u, ".records.csv.gz"),
                                              ("seed", "iteration", "n_labels", "f1", "threshold",
                                               "query_positive")) if r["seed"] in keep]
                    refs += [r for r in _read(_beside(u, ".references.csv.gz"),
                                              ("seed", "n_labels", "f1")) if r["seed"] in keep]
                    secs += info["seconds"] * len(keep & set(info["seeds"])) / len(info["seeds"])
                targets = sorted({t for t, _ in pairs})
                seeds_of = {t: sorted(s for tt, s in pairs if tt == t) for t in targets}
                covered = ", ".join(t if len(seeds_of[t]) == 3 else
                                 f"{t} [seed {','.join(map(str, seeds_of[t]))}]" for t in targets)
                row = summarise(recs, refs)[0]
                sd = "" if row["mean_f1_seed_sd"] is None else f" ± {row['mean_f1_seed_sd']:.3f}"
                cell = lambda k: "" if row[k] is None else f"{row[k]:.3f}"  # noqa: E731
                lines.append(f"| {lr} | {len(targets)} ({covered}) | "
                             f"{row['mean_f1']:.3f}{sd} | {cell('f1_at_25')} | {cell('f1_at_50')} | "
                             f"{cell('f1_at_100')} | {row['positive_query_share']:.1%} | "
                             f"{row['reference_f1']:.3f} | {secs:.0f} s |")
            lines.append("")
        lines += _per_target(units, learners, what)
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rare_target_deep_{name}.md").write_text(text)


if __name__ == "__main__":
    main()
