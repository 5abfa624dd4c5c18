"""Training time per refit and memory of the deep learners (issue 16), beside the forest.

For 25, 100 and 400 labels of ESC-10 (one class against the rest, "dog", its own 10 %
prevalence; the labeled clips drawn at random, seed 0), each learner is fitted once in a
fresh process with its default settings, and then scores the 400 clips (what every plan
does), after one warm-up fit (numba's compiled kernels, torch's first calls): the fit's wall
time, epochs and why it stopped, the scoring time, and the process's peak memory above what it held after loading the data and importing torch (``ru_maxrss``).

* ``forest/logmel``: the default forest (100 trees) on the 296 logmel statistics;
* ``head/yamnet``: :class:`alwidget.learn.EmbeddingHead` (64 hidden units) on YAMNet (1024-d);
* ``crnn/logmel-frames``: :class:`alwidget.learn.CRNN` on the default ``logmel-frames`` set
  (64 bands x 48 frames, 3,072-d), 1 torch thread; also a warm-started refit (the model of
  n - 1 labels given one more, as a session's trainer and the simulations do) and the
  scoring with 10 passes of Monte-Carlo dropout.

Every learner is fitted without a time budget (``max_seconds=None``): the table shows the
work a fit takes to stop by its epochs and stopping rules (a live session's CRNN stops at
20 s at the latest; ``max_seconds``).

Run from the project root after ``benchmarks/rare_target_deep.py`` made the features
(``benchmarks/out/deep/esc10.db``):

    nice -n 19 .venv/bin/python benchmarks/bench_deep_learners.py

Results go to ``benchmarks/results/deep_learners.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

DB = Path("benchmarks/out/deep/esc10.db")
LEARNERS = {"forest/logmel": ("forest", "logmel"), "head/yamnet": ("head", "yamnet"),
            "crnn/logmel-frames": ("crnn", "logmel-frames")}

CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch  # imported before the baseline: every learner's process has it
from alwidget.learn import Learner, make_model
from alwidget.store import Store

db, model_name, extractor, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store(db, read_only=True)
from alwidget.features import get_extractor
want = get_extractor(extractor).config()
fs = [f for f in store.feature_sets() if f.extractor == extractor and f.config == want][0]
ids, X = store.get_features(fs)
labels = np.array(json.loads(sys.argv[5]))[np.searchsorted(np.array(json.loads(sys.argv[6])), ids)]
y = np.where(labels == "dog", "dog", "not dog")
rng = np.random.default_rng(0)
rows = rng.choice(len(X), n, replace=False)
if len(set(y[rows])) < 2:
    rows[0] = int(np.flatnonzero(y == "dog")[0])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = make_model(model_name, random_state=0)
if "n_jobs" in model.get_params():
    model.set_params(n_jobs=1)
if "max_seconds" in model.get_params():
    model.set_params(max_seconds=None)
if model_name == "crnn":
    model.set_params(n_mels=want["n_mels"], n_frames=want["n_frames"])
Learner(model, ["not dog", "dog"]).fit(X[rows], y[rows]).predict_proba(X[:8])  # warm-up:
# compiled kernels and torch's first calls are a session's first refit only
t0 = time.perf_counter()
learner = Learner(model, ["not dog", "dog"]).fit(X[rows], y[rows])
t1 = time.perf_counter()
learner.predict_proba(X)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
est = learner.estimator_
out = {"fit_s": t1 - t0, "score_s": t2 - t1, "peak_mb": (peak - base) / 1024,
       "epochs": getattr(est, "n_epochs_", None), "stopped": getattr(est, "stopped_", None),
       "dim": int(X.shape[1])}
if model_name == "crnn":  # one more label, warm-started; and Monte-Carlo dropout's scoring
    from sklearn.base import clone
    warm = clone(model).fit(X[rows[:-1]], y[rows[:-1]])
    t3 = time.perf_counter()
    warm.fit(X[rows], y[rows])
    t4 = time.perf_counter()
    warm.set_params(mc_dropout=10).predict_proba(X)
    t5 = time.perf_counter()
    out.update(warm_s=t4 - t3, warm_epochs=warm.n_epochs_, warm_stopped=warm.stopped_,
               mc10_s=t5 - t4)
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=DB)
    ap.add_argument("--labels", default="25,100,400")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db} is missing: run benchmarks/rare_target_deep.py first")
    from alwidget.store import Store

    manifest = Path(__file__).resolve().parents[2] / "shared" / "data" / "esc10" / "manifest.csv"
    store = Store(args.db, read_only=True)
    # clip id -> class, through the files' names (one clip per file)
    by_name = {}
    with open(manifest) as fh:
        for r in csv.DictReader(fh):
            by_name[Path(r["path"]).name] = r["label"]
    src = store.clip_sources(store.clip_ids())
    ids = [int(c) for c in src.clip_id]
    labels = [by_name[Path(str(p)).name] for p in src.path]
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    ids = [ids[i] for i in order]
    labels = [labels[i] for i in order]
    rows = []
    for name, (model, extractor) in LEARNERS.items():
        for n in [int(v) for v in args.labels.split(",")]:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.db), model, extractor, str(n),
                 json.dumps(labels), json.dumps(ids)], capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            r.update(learner=name, labels=n)
            rows.append(r)
            print(r, flush=True)
    lines = ["## Deep learners: time per refit and memory (ESC-10, dog vs rest)", "",
             "One fit on n labeled clips (drawn at random, seed 0), then scoring all 400 clips, "
             "each in a fresh process after one warm-up fit; peak memory = the process's peak RSS above what it held "
             "after loading the features and importing torch. Default settings without a time "
             "budget (CRNN: at most 60 epochs, 1 torch thread); CRNN rows also: a warm-started "
             "refit on n labels from the model of n - 1, and scoring with 10 passes of "
             f"Monte-Carlo dropout. {os.cpu_count()} cores, shared with other "
             "jobs (niced): times are upper bounds on a quiet machine.", "",
             "| learner | features | labels | fit (s) | epochs (stopped by) | score 400 clips (s) "
             "| peak memory (MB) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ep = "" if r["epochs"] is None else f"{r['epochs']} ({r['stopped']})"
        if "warm_s" in r:
            ep += (f"; warm refit {r['warm_s']:.2f} s, {r['warm_epochs']} ({r['warm_stopped']})"
                   f"; mc10 score {r['mc10_s']:.2f} s")
        lines.append(f"| {r['learner'].split('/')[0]} | {r['learner'].split('/')[1]} "
                     f"({r['dim']}-d) | {r['labels']} | {r['fit_s']:.2f} | {ep} | "
                     f"{r['score_s']:.2f} | {r['peak_mb']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deep_learners.md").write_text(text)


if __name__ == "__main__":
    main()
