"""Ingest throughput from object storage (a local S3-compatible server) vs a local folder,
and the cost of a re-run when 1 % of the files are new.

For each archive size of ``--files`` (several sizes show what a re-run's cost grows with),
WAV files of ``--seconds`` s (mono PCM_16 at ``--rate`` Hz, distinct content, 7 nodes, named
``n3/n3_20240501_100010.wav``, or ``n3/2024-05-01_10/n3_...`` with ``--layout node-hour``)
are written to a local folder (dated an hour back, as an archive written before) and
uploaded to moto's threaded S3 server on 127.0.0.1 (the server the tests use:
tests/moto_s3.py; the upload is not timed). Then, for each source, into a fresh store:

1. first run: every file listed, read once (streamed from S3 in blocks, never saved to
   disk), validated, hashed, levels measured, stored with its clips (``--clip-seconds``);
2. default re-run with nothing new (``--repeats`` times; the median): local folders
   unchanged since the last run are not listed, each S3 folder is listed from after the
   newest key listed in it;
3. ``--new`` new files added (local files written into the node folders, objects
   uploaded), default re-run: ``--repeats`` batches, the median;
4. ``full_listing=True`` with nothing new (``--repeats`` times): every folder listed and file
   examined, as every re-run did before.

Reported per run: wall time, files listed and read, files/s, MB/s and hours of audio per
second of the files read, what was listed (local folders listed / not listed; S3 LIST
requests, counted at the server), and for the re-runs the share of the first run's time; and
the cost per folder (the re-run with nothing new over the folders) and per new file (the
re-run with new files minus the one with nothing new, over the new files). Each run is
``alwidget.ingest(..., n_jobs=--jobs)`` in this process, as a user calls it.

Run from the project root, niced (the machine is shared):

    nice -n 19 .venv/bin/python benchmarks/bench_ingest_s3.py --files 10000
    nice -n 19 .venv/bin/python benchmarks/bench_ingest_s3.py --files 2000 20000 \
        --sources local --seconds 1 --rate 8000 --out benchmarks/results/ingest_s3_sizes.md

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
#: ``folder_pattern`` per layout: which folder level is time (a re-run visits only the newest
#: existing time folder and new ones; without it, every folder)
FOLDER_PATTERNS = {"node-hour": "n{node}/{time:%Y-%m-%d_%H}", "node-day": "n{node}/{time:%Y-%m-%d}"}
LAYOUTS = {"node": ", one flat folder each", "node-hour": "; a folder per node and hour",
           "node-day": "; a folder per node and day, a file every 12 h per node"}


def names(start: int, count: int, layout: str = "node") -> list[str]:
    """Keys of 7 nodes, files every 10 s from 2024-05-01: ``n{node}/n{node}_{time}.wav``
    (layout "node": one flat folder per node) or ``n{node}/{YYYY-MM-DD_HH}/...`` (layout
    "node-hour": a folder per node and hour, as recorders write per day or hour) or
    ``n{node}/{YYYY-MM-DD}/...`` with a file every 12 h per node (layout "node-day": an
    archive of many days, ``count / 14`` of them)."""
    out = []
    t0 = np.datetime64("2024-05-01T00:00:00")
    for i in range(start, start + count):
        node = i % 7 + 1
        step = 43200 if layout == "node-day" else 10
        t = (t0 + np.timedelta64(step * (i // 7), "s")).astype(object)
        folder = f"n{node}/" + {"node-hour": f"{t:%Y-%m-%d_%H}/", "node-day": f"{t:%Y-%m-%d}/"
                                }.get(layout, "")
        out.append(f"{folder}n{node}_{t:%Y%m%d_%H%M%S}.wav")
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


def timed(source, db: Path, args, server: S3Server, **kw) -> dict:
    store = Store(db)
    server.requests.clear()
    t = time.perf_counter()
    folders = FOLDER_PATTERNS.get(args.layout)  # the folders' time level, for re-runs
    if folders:
        kw.setdefault("folder_pattern", folders)
    s = ingest(source, store, clip_seconds=args.clip_seconds, name_pattern=PATTERN,
               n_jobs=args.jobs, progress=False, verbose=False, **kw)
    wall = time.perf_counter() - t
    store.close()
    assert not s.errors, s.errors[:3]
    lists = sum(1 for r in server.requests if r[0] == "GET" and r[1] == BUCKET)
    return dict(wall=wall, files=s.files, read=s.read, added=s.added, lists=lists,
                skipped=s.folders_skipped, from_key=s.prefixes_from_key,
                listed=s.folders_listed)


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's times."""
    out = dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])
    out["walls"] = [r["wall"] for r in runs]
    out["read"] = out["read"]
    return out


def measure(name: str, source: str, local: Path, server: S3Server, args, n_files: int,
            n_new: int) -> tuple:
    """First run, re-runs (nothing new; ``n_new`` new files, ``--repeats`` batches) and a
    full listing of one source into a fresh store."""
    s3 = source.startswith("s3")
    db = args.work / f"{'s3' if s3 else 'local'}-{n_files}.db"
    first = timed(source, db, args, server)
    print(name, n_files, "first", first, flush=True)
    idle = median_run([timed(source, db, args, server) for _ in range(args.repeats)])
    print(name, n_files, "nothing new", idle, flush=True)
    grown = []
    for batch in range(args.repeats):
        start = n_files + batch * n_new
        new = names(start, n_new, args.layout)
        folder = args.work / f"new{batch}"
        write_files(folder, new, args.seconds, args.rate, start)
        if s3:
            upload(server, folder, new, f"archive{n_files}")
        else:
            for key in new:
                (local / key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(folder / key, local / key)
        shutil.rmtree(folder)
        grown.append(timed(source, db, args, server))
        print(name, n_files, f"{n_new} new", grown[-1], flush=True)
    full = median_run([timed(source, db, args, server, full_listing=True)
                       for _ in range(args.repeats)])
    print(name, n_files, "full listing", full, flush=True)
    return (name, s3, n_files, first, idle, median_run(grown), full)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="+", default=[10000],
                    help="archive sizes (each measured into its own store)")
    ap.add_argument("--layout", choices=["node", "node-hour", "node-day"], default="node")
    ap.add_argument("--sources", nargs="+", choices=["local", "s3"], default=["local", "s3"])
    ap.add_argument("--new", type=int, default=100, help="new files per re-run batch")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--clip-seconds", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "ingest_s3")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_s3.md")
    args = ap.parse_args()
    n_new = args.new
    shutil.rmtree(args.work, ignore_errors=True)
    server = S3Server().start()
    for k, v in server.env().items():
        os.environ[k] = v
    server.client().create_bucket(Bucket=BUCKET)
    rows = []
    try:
        for n_files in args.files:
            local = args.work / f"local{n_files}"
            keys = names(0, n_files, args.layout)
            t = time.perf_counter()
            write_files(local, keys, args.seconds, args.rate, 0)
            past = time.time_ns() - 3600 * 10**9  # an archive written before (not settling)
            for folder, _, files in os.walk(local):
                for f in files:
                    os.utime(os.path.join(folder, f), ns=(past, past))
                os.utime(folder, ns=(past, past))
            file_mb = (local / keys[0]).stat().st_size / 1e6
            print(f"wrote {n_files} files ({file_mb:.2f} MB each) in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            if "local" in args.sources:
                rows.append(measure("local folder", str(local), local, server, args, n_files,
                                    n_new))
            if "s3" in args.sources:
                t = time.perf_counter()
                upload(server, local, keys, f"archive{n_files}")
                print(f"uploaded to {server.endpoint} in {time.perf_counter() - t:.0f} s",
                      flush=True)
                rows.append(measure("S3 (moto, 127.0.0.1)", f"s3://{BUCKET}/archive{n_files}",
                                    local, server, args, n_files, n_new))
            shutil.rmtree(local)
    finally:
        server.stop()
    hours = args.seconds / 3600
    folders = len({k.rsplit("/", 1)[0] for k in names(0, max(args.files), args.layout)})

    def line(name, n_files, label, r, s3, base=None):
        rate = r["read"] / r["wall"] if r["read"] else 0.0
        share = "" if base is None else f"{100 * r['wall'] / base['wall']:.1f} %"
        listed = (f"{r['lists']} LISTs" if s3 else
                  f"{r['listed']} listed, {r['skipped']} not")
        walls = "" if "walls" not in r else " (" + ", ".join(f"{w:.2f}" for w in r["walls"]) + ")"
        return (f"| {name} | {n_files:,} | {label} | {r['files']:,} | {r['read']:,} | "
                f"{r['added']:,} | {listed} | {r['wall']:.2f}{walls} | {rate:.0f} | "
                f"{rate * file_mb:.1f} | {rate * hours:.2f} | {share} |")

    out = [
        f"Ingest of {', '.join(f'{n:,}' for n in args.files)} files of {args.seconds:g} s "
        f"({args.rate} Hz mono PCM_16, {file_mb:.2f} MB each), layout `{args.layout}` "
        f"(7 nodes{LAYOUTS[args.layout]}), "
        f"clips of {args.clip_seconds:g} s, n_jobs={args.jobs}; re-runs with {n_new:,} new "
        f"files spread over the 7 nodes. Re-runs: median of {args.repeats} (each run's time in "
        "brackets).",
        "",
        "| source | archive | run | files listed | read | added | folders / requests | "
        "wall s | files/s | MB/s | audio h/s | of the first run |",
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    costs = []
    for name, s3, n_files, first, idle, grown, full in rows:
        out.append(line(name, n_files, "first", first, s3))
        out.append(line(name, n_files, "re-run, nothing new", idle, s3, first))
        out.append(line(name, n_files, f"re-run, {n_new:,} new", grown, s3, first))
        out.append(line(name, n_files, "re-run, nothing new, `full_listing=True`", full, s3,
                        first))
        per_file = (grown["wall"] - idle["wall"]) / n_new * 1000
        costs.append(f"| {name} | {n_files:,} | {idle['wall'] * 1000:.1f} ms | "
                     f"{grown['wall'] * 1000:.0f} ms | {per_file:.1f} ms | "
                     f"{first['wall'] / first['read'] * 1000:.1f} ms | "
                     f"{full['wall'] * 1000 / n_files:.3f} ms |")
    out += ["", f"Re-run cost, default listing, by archive size: nothing new, {n_new} new "
            "files, and per new file (re-run with new files minus nothing new, over the new "
            "files); the first run's time per file and the full listing's per file of the "
            "archive for comparison:", "",
            f"| source | archive | re-run, nothing new | re-run, {n_new} new | per new file | "
            "first run, per file | full listing, per archive file |",
            "|---|---:|---:|---:|---:|---:|---:|", *costs]
    out += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; run niced (nice -n 19) on a shared machine.", "",
            "Command: `nice -n 19 .venv/bin/python benchmarks/bench_ingest_s3.py "
            + shlex.join(sys.argv[1:]) + "`"]
    text = "\n".join(out) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
