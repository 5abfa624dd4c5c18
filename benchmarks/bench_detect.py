"""Detection speed: clips scored per second by a saved model over a project, on 2 cores.

For each size, builds a project of synthetic clips (files of 1,000 one-second clips) with
float32 features of ``--dim`` columns stored in SQLite, fits the default model
(:func:`alwidget.learn.default_model`, a random forest of 100 trees) on 2,000 noisy
labeled rows (a 5 % target) and saves it; then, each in a fresh Python process, times
:func:`alwidget.detect.detect` over every clip: reading the features from SQLite, scoring,
and committing the detections batch by batch (setup is not timed; no tables are written).
Runners: ``local`` (this process; the forest's threads on the cores) and ``dask`` (a
``LocalCluster`` of 2 single-thread workers: the client writes partition files of
vectors, workers score them). Peak RSS is ``getrusage``'s ``ru_maxrss`` of the detecting
process (for dask, the client's).

Run from the project root (1M clips at --dim 128 needs ~1.5 GB of disk in --tmp):

    .venv/bin/python benchmarks/bench_detect.py --clips 100000 1000000 \\
        --out benchmarks/results/detect.md

Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_STEP = r"""
import json, resource, sys, time, warnings
from alwidget.detect import detect
db, model, runner, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
kw = {}
if runner == "dask":
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    kw["client"] = Client(cluster)
t0 = time.perf_counter()
s = detect(db, model, progress=False, batch_clips=batch, **kw)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "scored": s.n_scored,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build(db: Path, n: int, dim: int, seed: int = 0) -> None:
    """A project of ``n`` clips with synthetic ``dim``-column features."""
    from alwidget.store import NewAudio, Store

    store = Store(db)
    per_file = 1000
    with store.transaction():
        for i in range((n + per_file - 1) // per_file):
            k = min(per_file, n - i * per_file)
            store.add_audio(NewAudio("/archive", f"f{i:06d}.wav", 16000, 16, 16000 * k, 1,
                                     "WAV", "PCM_16", f"h{i}", 0,
                                     recorded_at=f"2024-05-01T{i % 24:02d}:00:00"),
                            [(float(j), 1.0) for j in range(k)])
    fs = store.feature_set("bench", {"dim": dim}, dim)
    rng = np.random.default_rng(seed)
    ids = store.clip_ids()
    for i in range(0, len(ids), 100_000):  # in pieces: bounded memory while building
        part = ids[i:i + 100_000]
        store.put_features(fs, part, rng.normal(size=(len(part), dim)).astype(np.float32))
    store.close()


def save_models(db: Path, folder: Path, dim: int, runners: list[str]) -> dict[str, Path]:
    """One saved default model per runner (different seeds: different model ids)."""
    from alwidget.learn import default_model
    from alwidget.model_file import save_model
    from alwidget.store import Store

    store = Store(db)
    fs = store.feature_sets()[0]
    out = {}
    for k, runner in enumerate(runners):
        rng = np.random.default_rng(100 + k)
        y = np.where(rng.random(2000) < 0.05, "owl", "rain")
        X = rng.normal(size=(2000, dim)).astype(np.float32)
        X[y == "owl", :4] += 1.0  # a weak signal: deep trees, as on real data
        forest = default_model().set_params(random_state=k).fit(X, y)
        out[runner] = save_model(folder / f"{runner}.alwmodel", forest, classes=["rain", "owl"],
                                 target="owl", feature_set=fs).path
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--runners", nargs="+", default=["local", "dask"],
                    choices=["local", "dask"])
    ap.add_argument("--batch-clips", type=int, default=20_000)
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the projects")
    ap.add_argument("--out", type=Path, help="also write the table here")
    args = ap.parse_args()
    lines = [f"Detections of a saved default random forest (100 trees), {args.dim} float32 "
             f"features per clip, batches of {args.batch_clips} clips, 2 cores; setup not "
             "timed.", "",
             "| clips | runner | seconds | clips/s | peak RSS MB |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in args.clips:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            db = folder / "p.db"
            t = time.perf_counter()
            build(db, n, args.dim)
            models = save_models(db, folder, args.dim, args.runners)
            print(f"{n} clips: set up in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            for runner in args.runners:
                done = subprocess.run([sys.executable, "-c", _STEP, str(db), str(models[runner]),
                                       runner, str(args.batch_clips)], capture_output=True,
                                      text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                assert r["scored"] == n, r
                lines.append(f"| {n:,} | {runner} | {r['seconds']:.1f} | "
                             f"{n / r['seconds']:,.0f} | {r['rss_mb']:,.0f} |")
                print(lines[-1], file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
