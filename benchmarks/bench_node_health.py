"""Node health at the scale of a deployment: ``node_health`` over N nodes x D days of 10-s
files (8,640 per node and day), one node stopping halfway.

The archive's rows (audios, one clip each, levels) are written straight into a fresh store
(no audio files: the report reads only the store), then ``alwidget.nodes.node_health(store)``
is timed twice (cold and warm OS cache; the same process).

    nice -n 19 .venv/bin/python benchmarks/bench_node_health.py --nodes 7 --days 7

The report is made for the end of the last day (``now=``). Prints a markdown table and
writes it to ``--out`` (default benchmarks/results/node_health.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from alwidget.nodes import node_health
from alwidget.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=7)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                    "node_health.md")
    args = ap.parse_args()
    per_day = 8640
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "health.db")
        Store(path).close()
        con = sqlite3.connect(path)
        con.execute("INSERT INTO paths (path) VALUES ('/rec')")
        con.executemany("INSERT INTO nodes (name, installed_at) VALUES (?, ?)",
                        [(f"n{i + 1}", "2024-05-01T00:00:00") for i in range(args.nodes)])
        hist = np.zeros(41, np.uint32)
        hist[25] = 100
        blob, t0, aid = hist.tobytes(), datetime(2024, 5, 1), 0
        for n in range(args.nodes):
            rows, clips, levels = [], [], []
            for k in range(args.days * per_day):
                if n == args.nodes - 1 and k > args.days * per_day // 2:
                    break  # the last node stops halfway
                aid += 1
                rows.append((aid, 1, f"n{n + 1}_{k}.wav", 16000, 16, 10.0, 160000, 1, n + 1,
                             (t0 + timedelta(seconds=10 * k)).isoformat(), f"h{aid}", 320044,
                             "now"))
                clips.append((aid, aid, 0.0, 10.0))
                levels.append((aid, 0.1, 100, 0, 0, -30.0, -10.0, blob))
            con.executemany("INSERT INTO audios (id, path_id, file_name, sample_rate, "
                            "bits_per_sample, duration_s, frames, channels, node_id, "
                            "recorded_at, content_hash, size_bytes, ingested_at) VALUES "
                            "(?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            con.executemany("INSERT INTO clips (id, audio_id, start_s, duration_s) "
                            "VALUES (?,?,?,?)", clips)
            con.executemany("INSERT INTO audio_levels VALUES (?,?,?,?,?,?,?,?)", levels)
        con.commit()
        con.close()
        store = Store(path)
        lines = ["| run | nodes x days | files | wall s | µs per file | report |",
                 "|---|---|---:|---:|---:|---|"]
        walls = []
        for run in ("first", "second", "third"):
            t = time.perf_counter()
            report = node_health(store, now=(t0 + timedelta(days=args.days)).isoformat())
            wall = time.perf_counter() - t
            walls.append(wall)
            print(f"{args.nodes} nodes x {args.days} days, {aid:,} files: node_health {run} "
                  f"{wall:.2f} s; {str(report).splitlines()}")
            lines.append(f"| {run} | {args.nodes} x {args.days} | {aid:,} | {wall:.2f} | "
                         f"{1e6 * wall / aid:.1f} | {str(report).splitlines()[0]} |")
        store.close()
    text = "\n".join([
        f"# node_health: {args.nodes} nodes x {args.days} days of 10-s files", "",
        f"Command: `nice -n 19 .venv/bin/python benchmarks/bench_node_health.py --nodes "
        f"{args.nodes} --days {args.days}`; {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; three reports in a row in the process that wrote the "
        "store (its pages in the OS cache).", "", *lines, "",
        f"Median of the three: {float(np.median(walls)):.2f} s "
        f"({1e6 * float(np.median(walls)) / aid:.1f} µs per file).", ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
