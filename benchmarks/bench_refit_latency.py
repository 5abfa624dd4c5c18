"""What the kernel feels while a deep learner refits in the background (issue 16).

A live session refits a CRNN or an embedding head in a background thread (the expert never
waits for it). That thread shares the kernel's process and its GIL with everything the
kernel does meanwhile: handling the page's messages, an answer, the next plan. This measures
both, in one process, on ESC-10's 400 clips (one class against the rest, "dog"):

* **tick**: the main thread sleeps 5 ms again and again; the overshoot of each sleep is how
  late the kernel would handle a message that arrived then (its p50 / p95 / max), during
  the refits and, as the baseline, with no refit running;
* **answer**: ``session.submit(label)`` (the decision stored, the next clip proposed) timed
  while a refit runs, and with none running.

For each learner (``crnn``: :class:`alwidget.learn.CRNN` on ``logmel-frames``; ``head``:
:class:`alwidget.learn.EmbeddingHead` on YAMNet; each by name, as ``Session(model=...)``
gives it, with its live time budget) and each ``--labels`` count, the session is given that
many answers (random labels at the class's 10 % prevalence, seed 0, the first two one of
each class), then ``--answers`` more, one every ``--gap`` seconds: every answer starts a
refit of the new label set, so answers and ticks fall while refits run. Other jobs of the
machine are not paused by the script (pause niced ones yourself for a quiet run: SIGSTOP);
the result file gives the load average.

    nice -n 0 .venv/bin/python benchmarks/bench_refit_latency.py

Results go to ``benchmarks/results/deep_refit_latency.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXTRACTOR = {"crnn": "logmel-frames", "head": "yamnet"}


def _tick(seconds: float, busy, out_busy: list, out_idle: list) -> None:
    """For ``seconds``, sleep 5 ms again and again on this (the main) thread; each wake-up's
    lateness (ms) goes to ``out_busy`` when ``busy()`` said a refit ran, else ``out_idle``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        refitting = busy()
        t = time.perf_counter()
        time.sleep(0.005)
        (out_busy if refitting else out_idle).append((time.perf_counter() - t - 0.005) * 1000)


def run(model_name: str, data: Path, labels: int, answers: int, gap: float) -> dict:
    from alwidget import datasets
    from alwidget.session import Session
    from alwidget.store import Store

    work = Path(tempfile.mkdtemp(prefix="refit_latency_"))
    try:
        db = work / "p.db"
        d = datasets.from_manifest(data / "esc10" / "manifest.csv", db,
                                   extractor=EXTRACTOR[model_name], progress=False)
        rng = np.random.default_rng(0)
        share = float(np.mean(d.labels == "dog"))
        store = Store(db)
        s = Session(store, classes=["other", "dog"], model=model_name, random_state=0)
        given = ["dog", "other"] + ["dog" if rng.random() < share else "other"
                                    for _ in range(labels - 2)]
        for lab in given:
            s.submit(lab)
        s.wait_for_model(600)
        busy_ticks, idle_ticks, busy_answers, idle_answers, fits = [], [], [], [], []
        _tick(3.0, lambda: False, busy_ticks, idle_ticks)  # the baseline: no refit running
        for _ in range(answers):
            refitting = s.refitting
            t = time.perf_counter()
            s.submit("dog" if rng.random() < share else "other")
            (busy_answers if refitting else idle_answers).append(
                (time.perf_counter() - t) * 1000)
            _tick(gap, lambda: s.refitting, busy_ticks, idle_ticks)  # the expert listens
            fitted = getattr(s.learner, "estimator_", None)
            if getattr(fitted, "fit_seconds_", None):
                fits.append(fitted.fit_seconds_)
        s.wait_for_model(600)
        s.close()
        return {"model": model_name, "labels": labels, "busy_ticks": busy_ticks,
                "idle_ticks": idle_ticks,
                "busy_answers": busy_answers, "idle_answers": idle_answers,
                "fit_seconds": sorted(set(fits))}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _q(values, q):
    return f"{np.percentile(values, q):.1f}" if len(values) else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--models", default="crnn,head")
    ap.add_argument("--labels", default="100,300",
                    help="labels before the answers timed, comma-separated")
    ap.add_argument("--answers", type=int, default=20)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between answers")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/deep_refit_latency.md"))
    args = ap.parse_args()
    if not (args.data / "README.md").exists():
        raise SystemExit(f"the shared recordings are not at {args.data}; pass --data")
    rows = [run(m, args.data, int(n), args.answers, args.gap)
            for n in args.labels.split(",") for m in args.models.split(",")]
    lines = ["## The kernel while a deep learner refits (ESC-10, 'dog' vs rest)", "",
             "`.venv/bin/python benchmarks/bench_refit_latency.py` "
             f"(--labels {args.labels} --answers {args.answers} --gap {args.gap}); "
             f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end. "
             "tick = how late a 5-ms sleep of the main thread wakes (a message to the kernel "
             "waits as long); answer = `session.submit` (stored + next clip proposed).", "",
             "| learner | labels | refit s (min–max) | tick p50 / p95 / max ms, refitting "
             "| idem, idle | answers during a refit: n, p50 / max ms | answers otherwise: n, p50 / max ms |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        fits = r["fit_seconds"]
        fit = f"{min(fits):.1f}–{max(fits):.1f}" if fits else "–"
        bt, it, ba, ia = r["busy_ticks"], r["idle_ticks"], r["busy_answers"], r["idle_answers"]
        lines.append(
            f"| {r['model']} | {r['labels']} | {fit} | {_q(bt, 50)} / {_q(bt, 95)} / "
            f"{max(bt) if bt else 0:.1f} | {_q(it, 50)} / {_q(it, 95)} / "
            f"{max(it) if it else 0:.1f} | {len(ba)}: {_q(ba, 50)} / "
            f"{max(ba) if ba else 0:.0f} | {len(ia)}: {_q(ia, 50)} / "
            f"{max(ia) if ia else 0:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
