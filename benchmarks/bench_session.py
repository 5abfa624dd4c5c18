"""Labeling latency: how long the expert waits between an answer and the next clip.

A 100,000-clip pool of 64-d float32 features (3 % rare target, shifted so it
is learnable), the session's default random forest (100 trees), least
confidence, and a simulated expert who answers from the ground truth after a
think time. The wait is the time ``Session.submit`` takes to return the next
clip; reported as median and p95 over 100 labels, for a think time of 2 s and
of 0 s. The session starts from 1 positive + 1 negative.

Peer: modAL's ``ActiveLearner`` (uncertainty sampling) with scikit-learn's
``RandomForestClassifier(n_estimators=100, n_jobs=-1)`` on the same pool: its
wait is ``teach`` + ``query`` (it does not depend on think time). modAL 0.4.2.1
breaks with scikit-learn >= 1.8, so it runs in its own virtual environment:

    python3 -m venv benchmarks/.venv-modal
    benchmarks/.venv-modal/bin/pip install "scikit-learn<1.8" modAL-python numpy

Run from the project root (about 5 minutes):

    .venv/bin/python benchmarks/bench_session.py --out benchmarks/results/session_latency.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

MODAL_PY = Path(__file__).parent / ".venv-modal" / "bin" / "python"


def make_data(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.03
    X = (rng.normal(size=(n, dim)) + y[:, None] * 1.5).astype(np.float32)
    return X, y


def run_alwidget(n: int, dim: int, labels: int, think: float) -> dict:
    from alwidget.session import Session
    from bench_maps import toy_store

    X, y = make_data(n, dim)
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = toy_store(Path(tmp) / "bench.db", X)
        ids = store.clip_ids()
        truth = dict(zip(ids.tolist(), np.where(y, "target", "background")))
        s = Session(store, classes=["background", "target"], strategy="lc", random_state=0)
        s.label(int(ids[np.flatnonzero(y)[0]]), "target")
        s.label(int(ids[np.flatnonzero(~y)[0]]), "background")
        waits, sync_before = [], s.n_sync_plans
        for _ in range(labels):
            time.sleep(think)  # the expert listens; the session plans in the background
            clip = s.current.clip_id
            t0 = time.perf_counter()
            s.submit(truth[clip], clip_id=clip)  # as the widget does
            waits.append(time.perf_counter() - t0)
        sync = s.n_sync_plans - sync_before
        s.close()
    return dict(waits=waits, sync=sync)


def modal_worker(n: int, dim: int, labels: int) -> None:
    """Runs inside benchmarks/.venv-modal: prints the waits as JSON."""
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_data(n, dim)
    start = [int(np.flatnonzero(y)[0]), int(np.flatnonzero(~y)[0])]
    learner = ActiveLearner(RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0),
                            query_strategy=uncertainty_sampling, X_training=X[start],
                            y_training=y[start])
    pool = np.setdiff1d(np.arange(n), start)
    idx, _ = learner.query(X[pool])
    waits = []
    for _ in range(labels):
        i = pool[idx[0]]
        t0 = time.perf_counter()
        learner.teach(X[[i]], y[[i]])
        pool = pool[pool != i]
        idx, _ = learner.query(X[pool])
        waits.append(time.perf_counter() - t0)
    print(json.dumps({"waits": waits}))


def stats(waits) -> tuple[float, float]:
    w = np.asarray(waits) * 1000
    return float(np.median(w)), float(np.percentile(w, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--think", default="2,0", help="think times in seconds, comma-separated")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--modal-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.modal_worker:
        modal_worker(args.pool, args.dim, args.labels)
        return
    rows = []
    for think in [float(t) for t in args.think.split(",")]:
        r = run_alwidget(args.pool, args.dim, args.labels, think)
        rows.append((f"alwidget Session, think {think:g} s", *stats(r["waits"]), r["sync"]))
        print(rows[-1], flush=True)
    modal = None
    if MODAL_PY.exists():
        out = subprocess.run([str(MODAL_PY), __file__, "--modal-worker", "--pool", str(args.pool),
                              "--dim", str(args.dim), "--labels", str(args.labels)],
                             capture_output=True, text=True, check=True)
        modal = stats(json.loads(out.stdout.strip().splitlines()[-1])["waits"])
        rows.append(("modAL ActiveLearner (teach + query), any think time", *modal, None))
    else:
        print(f"modAL peer skipped: {MODAL_PY} not found (see this script's docstring)")
    lines = [f"Wait between an answer and the next clip: pool {args.pool} x {args.dim}, "
             f"random forest of 100 trees, least confidence, {args.labels} labels (ms).", "",
             "| | median | p95 | plans computed while waiting |", "|---|---|---|---|"]
    for name, med, p95, sync in rows:
        lines.append(f"| {name} | {med:.1f} | {p95:.1f} | {'' if sync is None else sync} |")
    if modal:
        lines.append("")
        for name, med, _, _ in rows[:-1]:
            lines.append(f"modAL / {name}: {modal[0] / med:.0f}x (median)")
    from bench_maps import report

    report(lines, args.out)


if __name__ == "__main__":
    main()
