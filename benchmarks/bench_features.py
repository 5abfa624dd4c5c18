"""Feature extraction speed: clips per second and x real time, for 1-s and 10-s clips.

Writes a synthetic corpus (10-s files, like the recording nodes'), ingests it,
then times ``extract_features`` with the default ``logmel`` extractor on all
cores. Source rates: 16 kHz (the analysis rate, no resampling) and 48 kHz
(resampled to 16 kHz with soxr).

Run from the project root:

    .venv/bin/python benchmarks/bench_features.py --files 300
    .venv/bin/python benchmarks/bench_features.py --files 300 --extractor yamnet

Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

import alwidget
from alwidget.store import Store


def write_corpus(folder: Path, n_files: int, seconds: int, sr: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n_files):
        y = 0.1 * rng.standard_normal(seconds * sr)
        sf.write(folder / f"node01_20240501_{i:06d}.wav", y, sr, subtype="PCM_16")


def run(n_files: int, sr: int, clip_seconds: float, jobs: int, extractor: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_corpus(tmp / "audio", n_files, 10, sr)
        db = tmp / "b.db"
        t0 = time.perf_counter()
        s = alwidget.ingest(tmp / "audio", db, clip_seconds=clip_seconds, progress=False,
                            verbose=False)
        t_ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        alwidget.extract_features(db, extractor, n_jobs=jobs, progress=False)
        t_feat = time.perf_counter() - t0
        assert Store(db).n_clips() == s.clips
    audio_s = n_files * 10.0
    return dict(sr=sr, clip=clip_seconds, clips=s.clips, t_feat=t_feat, t_ingest=t_ingest,
                clips_per_s=s.clips / t_feat, x_rt=audio_s / t_feat, ingest_x_rt=audio_s / t_ingest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300, help="10-s files per run")
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--extractor", default="logmel", help="logmel, yamnet or yamnet-tags")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    run(4, 16000, 1.0, args.jobs, args.extractor)  # warm-up: start workers, load libraries
    rows = [run(args.files, sr, clip, args.jobs, args.extractor)
            for sr in (16000, 48000) for clip in (1.0, 10.0)]
    lines = [
        f"Features ({args.extractor}), {args.files} files x 10 s, n_jobs={args.jobs}, "
        f"{os.cpu_count()} cores, after a warm-up run; ingest (read + validate + hash) "
        "shown for comparison.",
        "",
        "| source rate | clip | clips | extract s | clips/s | x real time | ingest x real time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sr'] // 1000} kHz | {r['clip']:g} s | {r['clips']} | {r['t_feat']:.2f} | "
            f"{r['clips_per_s']:.0f} | {r['x_rt']:.0f}x | {r['ingest_x_rt']:.0f}x |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
