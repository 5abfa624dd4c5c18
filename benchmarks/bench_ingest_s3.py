"""Ingest throughput from object storage (a local S3-compatible server) vs a local folder,
and the cost of a re-run when 1 % of the files are new.

The same ``--files`` WAV files of ``--seconds`` s (mono PCM_16 at ``--rate`` Hz, distinct
content, 7 nodes, named ``n3_20240501_100010.wav``) are written to a local folder and
uploaded to moto's threaded S3 server on 127.0.0.1 (the server the tests use:
tests/moto_s3.py; the upload is not timed). Then, for each source, into a fresh store:

1. first run: every file listed, read once (streamed from S3 in blocks, never saved to
   disk), validated, hashed, levels measured, stored with its clips (``--clip-seconds``);
2. re-run with nothing new: listing, and the comparison with what is stored;
3. ``--new-share`` of new files added (local files written, objects uploaded), re-run: only
   those are read;
4. (S3) as many new objects again, re-run with ``after_last_key=True``: each node's folder
   is listed only from after its newest stored key.

Reported per run: wall time, files read, files/s, MB/s and hours of audio per second of the
files read, and for the re-runs the share of the first run's time. Each run is
``alwidget.ingest(..., n_jobs=--jobs)`` in this process, as a user calls it.

Run from the project root, niced (the machine is shared):

    nice -n 19 .venv/bin/python benchmarks/bench_ingest_s3.py --files 10000

Prints a markdown table and writes it to ``--out`` (default benchmarks/results/ingest_s3.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from moto_s3 import BUCKET, S3Server  # noqa: E402

from alwidget.ingestion import ingest  # noqa: E402
from alwidget.store import Store  # noqa: E402

PATTERN = "{node}_{time:%Y%m%d_%H%M%S}"


def names(start: int, count: int) -> list[str]:
    """Keys ``n{node}/n{node}_{time}.wav``: 7 nodes, files every 10 s from 2024-05-01."""
    out = []
    t0 = np.datetime64("2024-05-01T00:00:00")
    for i in range(start, start + count):
        node = i % 7 + 1
        t = (t0 + np.timedelta64(10 * (i // 7), "s")).astype(object)
        out.append(f"n{node}/n{node}_{t:%Y%m%d_%H%M%S}.wav")
    return out


def write_files(folder: Path, keys: list[str], seconds: float, rate: int, first: int) -> None:
    base = (0.05 * np.random.default_rng(0).standard_normal(int(seconds * rate)))
    base = np.round(base * 32767).astype(np.int16)
    for k, key in enumerate(keys):
        y = base.copy()
        y[: 8] = np.frombuffer(np.int64(first + k).tobytes(), np.int16)[:4].repeat(2)
        y = np.roll(y, (first + k) * 7)  # distinct content and levels
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, rate, subtype="PCM_16")


def upload(server: S3Server, folder: Path, keys: list[str], prefix: str) -> None:
    client = server.client()

    def put(key):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=(folder / key).read_bytes())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))


def timed(source, db: Path, args, **kw) -> dict:
    store = Store(db)
    t = time.perf_counter()
    s = ingest(source, store, clip_seconds=args.clip_seconds, name_pattern=PATTERN,
               n_jobs=args.jobs, progress=False, verbose=False, **kw)
    wall = time.perf_counter() - t
    store.close()
    assert not s.errors, s.errors[:3]
    return dict(wall=wall, files=s.files, read=s.read, added=s.added)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--clip-seconds", type=float, default=1.0)
    ap.add_argument("--new-share", type=float, default=0.01)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "ingest_s3")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_s3.md")
    args = ap.parse_args()
    n_new = max(1, int(round(args.files * args.new_share)))
    shutil.rmtree(args.work, ignore_errors=True)
    local = args.work / "local"
    keys, new = names(0, args.files), names(args.files, n_new)
    newer = names(args.files + n_new, n_new)  # for the S3 re-run with after_last_key
    t = time.perf_counter()
    write_files(local, keys, args.seconds, args.rate, 0)
    file_mb = (local / keys[0]).stat().st_size / 1e6
    print(f"wrote {args.files} files ({file_mb:.2f} MB each) in {time.perf_counter() - t:.0f} s",
          flush=True)
    server = S3Server().start()
    for k, v in server.env().items():
        os.environ[k] = v
    server.client().create_bucket(Bucket=BUCKET)
    t = time.perf_counter()
    upload(server, local, keys, "archive")
    print(f"uploaded to {server.endpoint} in {time.perf_counter() - t:.0f} s", flush=True)
    sources = {"local folder": str(local), "S3 (moto, 127.0.0.1)": f"s3://{BUCKET}/archive"}
    rows = []
    try:
        for name, source in sources.items():
            db = args.work / f"{'s3' if source.startswith('s3') else 'local'}.db"
            first = timed(source, db, args)
            print(name, "first", first, flush=True)
            again = timed(source, db, args)
            print(name, "nothing new", again, flush=True)
            if source.startswith("s3"):
                upload(server, args.work / "new", new, "archive")
            else:
                write_files(args.work / "new", new, args.seconds, args.rate, args.files)
                for key in new:
                    (local / key).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(args.work / "new" / key, local / key)
            grown = timed(source, db, args)
            print(name, f"{n_new} new", grown, flush=True)
            rows.append((name, first, again, grown, None))
            if source.startswith("s3"):
                write_files(args.work / "newer", newer, args.seconds, args.rate,
                            args.files + n_new)
                upload(server, args.work / "newer", newer, "archive")
                quick = timed(source, db, args, after_last_key=True)
                print(name, f"{n_new} new, after_last_key", quick, flush=True)
                rows[-1] = rows[-1][:4] + (quick,)
    finally:
        server.stop()
    hours = args.seconds / 3600

    def line(name, label, r, base=None, idle=None):
        rate = r["read"] / r["wall"] if r["read"] else 0.0
        extra = ""
        if base is not None:
            extra = f"{100 * r['wall'] / base['wall']:.1f} % of the first run's time"
        # no "ms per new file" (re-run minus idle re-run): a difference of two single runs
        # of about a second is noise at these sizes
        return (f"| {name} | {label} | {r['files']:,} | {r['read']:,} | {r['added']:,} | "
                f"{r['wall']:.2f} | {rate:.0f} | {rate * file_mb:.1f} | {rate * hours:.2f} | "
                f"{extra} |")

    out = [
        f"Ingest of {args.files:,} files of {args.seconds:g} s ({args.rate} Hz mono PCM_16, "
        f"{file_mb:.2f} MB each; {args.files * args.seconds / 3600:.1f} h of audio), "
        f"clips of {args.clip_seconds:g} s, n_jobs={args.jobs}; a re-run with "
        f"{n_new:,} new files ({100 * args.new_share:g} %).",
        "",
        "| source | run | files listed | read | added | wall s | files/s | MB/s | "
        "audio h/s | re-run cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, first, again, grown, quick in rows:
        out.append(line(name, "first", first))
        out.append(line(name, "re-run, nothing new", again, first))
        out.append(line(name, f"re-run, {n_new:,} new", grown, first, again))
        if quick is not None:
            out.append(line(name, f"re-run, {n_new:,} more new, `after_last_key=True`", quick,
                            first))
    out += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; run niced (nice -n 19) while other benchmarks ran "
            "on the same 2 cores.", "",
            "Command: `nice -n 19 .venv/bin/python benchmarks/bench_ingest_s3.py "
            + shlex.join(sys.argv[1:]) + "`"]
    text = "\n".join(out) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
