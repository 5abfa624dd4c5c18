"""Memory on long files: peak RSS to ingest and to extract features from one long recording.

Writes one 48 kHz stereo 16-bit recording per duration (noise with a slow chirp; RF64 when
it passes the 4 GB limit of WAV), then, each in a fresh Python process, ingests it into a new
project and extracts ``logmel`` features with one worker (``n_jobs=1``: the process is the
worker) and with two (``n_jobs=2``: the peak of the two worker processes and that of the
parent are reported apart). Peak RSS is ``getrusage``'s ``ru_maxrss`` of each process (for
the workers, the largest child's). The recording and the project are deleted afterwards.

Run from the project root (24 h needs ~17 GB of free disk in ``--tmp`` for a few minutes):

    .venv/bin/python benchmarks/bench_long_files.py --hours 2 24 \\
        --out benchmarks/results/long_files.md

Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 48000
WAV_LIMIT = 4 * 2**30 - 2**20  # bytes of audio data a plain WAV holds (a little under 4 GB)

_STEP = r"""
import json, resource, sys, time
import alwidget
step, audio, db, jobs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
if step == "ingest":
    s = alwidget.ingest(audio, db, clip_seconds=1.0, progress=False, verbose=False)
    assert not s.errors, s.errors
    done = s.clips
    seconds = time.perf_counter() - t0
else:
    fs = alwidget.extract_features(db, "logmel", n_jobs=jobs, progress=False)
    seconds = time.perf_counter() - t0
    done = alwidget.Store(db).count_features(fs)
    if jobs != 1:  # end joblib's worker processes, so that getrusage counts them
        from joblib.externals.loky import get_reusable_executor
        get_reusable_executor().shutdown(wait=True)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(dict(seconds=seconds, clips=done, rss_mb=own, children_rss_mb=children)))
"""


def write_recording(path: Path, hours: float, block_s: int = 60) -> None:
    """``hours`` of 48 kHz stereo PCM_16, written a minute at a time."""
    frames = int(hours * 3600 * SR)
    fmt = "RF64" if frames * 2 * 2 > WAV_LIMIT else "WAV"
    rng = np.random.default_rng(0)
    t = np.arange(block_s * SR) / SR
    with sf.SoundFile(path, "w", SR, 2, subtype="PCM_16", format=fmt) as f:
        done = 0
        while done < frames:
            n = min(block_s * SR, frames - done)
            y = 0.05 * rng.standard_normal((n, 2)).astype(np.float32)
            y += (0.2 * np.sin(2 * np.pi * (300 + done / SR / 60) * t[:n]))[:, None]
            f.write(y)
            done += n


def run_step(step: str, audio: Path, db: Path, jobs: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _STEP, step, str(audio), str(db), str(jobs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, nargs="+", default=[2.0, 24.0])
    ap.add_argument("--tmp", default=None, help="folder for the recording (default: the system's)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for hours in args.hours:
        tmp = Path(tempfile.mkdtemp(dir=args.tmp, prefix="alwidget-long-"))
        try:
            audio = tmp / "audio"
            audio.mkdir()
            wav = audio / f"node01_20240501_000000_{hours:g}h.wav"
            t0 = time.perf_counter()
            write_recording(wav, hours)
            size_gb = wav.stat().st_size / 1e9
            print(f"{hours:g} h: wrote {size_gb:.2f} GB in {time.perf_counter() - t0:.0f} s",
                  flush=True)
            db = tmp / "p.db"
            ing = run_step("ingest", audio, db, 1)
            print(f"  ingest {ing}", flush=True)
            one = run_step("features", audio, db, 1)
            print(f"  features n_jobs=1 {one}", flush=True)
            db2 = tmp / "q.db"
            run_step("ingest", audio, db2, 1)
            two = run_step("features", audio, db2, 2)
            print(f"  features n_jobs=2 {two}", flush=True)
            rows.append(dict(hours=hours, size_gb=size_gb, fmt=sf.info(wav).format, ingest=ing,
                             one=one, two=two))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "Long files: one 48 kHz stereo PCM_16 recording, 1-s clips, logmel features; peak RSS "
        "(`ru_maxrss`) of each fresh process; 2 cores.",
        "",
        "| recording | file | clips | ingest s | ingest peak RSS | features s (1 worker) | "
        "peak RSS (1 worker) | features s (2 workers) | peak RSS per worker | parent |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hours']:g} h | {r['size_gb']:.2f} GB {r['fmt']} | {r['ingest']['clips']:,} | "
            f"{r['ingest']['seconds']:.0f} | {r['ingest']['rss_mb']:.0f} MB | "
            f"{r['one']['seconds']:.0f} | {r['one']['rss_mb']:.0f} MB | "
            f"{r['two']['seconds']:.0f} | {r['two']['children_rss_mb']:.0f} MB | "
            f"{r['two']['rss_mb']:.0f} MB |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
