"""Search by example: query latency, index build time and memory at 100k and 1M clips.

Features are a 32-cluster Gaussian mixture far from the origin (like dB-scale logmel
statistics), float32, at 296 dimensions (logmel) and 1024 (yamnet). For each size and
dimension the benchmark

* builds a :class:`alwidget.search.SearchIndex` from the matrix in memory (time; the index's
  own bytes; the peak of memory allocated while building, traced by ``tracemalloc``, which
  sees numpy's arrays), then
* times ``search_by_example(index, clip_id, k=50)`` for ``--queries`` random clips, by
  cosine and by Euclidean distance, and for selections of 5 clips (``combine="mean"``):
  the median and the slowest, in ms (exact search: every vector is read for every query).

Loading from a store (``SearchIndex.from_store``: reading the SQLite rows, then building)
is timed on a store of ``--store-sizes`` clips written first.

The goal is under one second per query at 1M clips on 2 cores. No vector-index library is
compared: neither ``usearch`` nor ``faiss-cpu`` is installed in the project's environment
(the benchmark says so when it runs).

Run from the project root (needs about 9 GB of free memory at 1M x 1024; run it alone):

    .venv/bin/python benchmarks/bench_search.py --out benchmarks/results/search.md

A quick check that it works (seconds):

    .venv/bin/python benchmarks/bench_search.py --sizes 5000 --dims 16 --store-sizes 2000 --queries 3
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def mixture(n: int, dim: int, k: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors from a ``k``-cluster mixture centred far from the origin."""
    rng = np.random.default_rng(seed)
    centres = (rng.normal(scale=4.0, size=(k, dim)) - 40.0).astype(np.float32)
    X = np.empty((n, dim), np.float32)
    step = 1 << 16
    for a in range(0, n, step):
        m = min(step, n - a)
        X[a:a + m] = centres[rng.integers(k, size=m)]
        X[a:a + m] += rng.standard_normal((m, dim), dtype=np.float32)
    return X


def toy_store(path: Path, X: np.ndarray):
    from alwidget.store import NewAudio, Store

    store = Store(path)
    per = 1000
    with store.transaction():
        for i in range(-(-len(X) // per)):
            n = min(per, len(X) - i * per)
            store.add_audio(NewAudio("/bench", f"n1_{i:05d}.wav", 16000, 16, 16000 * n, 1, "WAV",
                                     "PCM_16", str(i), 0), [(float(k), 1.0) for k in range(n)])
    fs = store.feature_set("bench", {}, X.shape[1])
    step = 50_000
    ids = store.clip_ids()
    for a in range(0, len(X), step):
        store.put_features(fs, ids[a:a + step], X[a:a + step])
    return store, fs


def timed_queries(index, queries, **kw) -> list[float]:
    from alwidget.search import search_by_example

    out = []
    for q in queries:
        t0 = time.perf_counter()
        search_by_example(index, q, k=50, **kw)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def bench_one(n: int, dim: int, n_queries: int) -> dict:
    from alwidget.search import SearchIndex

    X = mixture(n, dim)
    ids = np.arange(1, n + 1, dtype=np.int64)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    index = SearchIndex(ids, X)
    build_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del X
    gc.collect()
    rng = np.random.default_rng(1)
    picks = [int(c) for c in rng.choice(ids, size=n_queries, replace=False)]
    sels = [[int(c) for c in rng.choice(ids, size=5, replace=False)] for _ in range(n_queries)]
    timed_queries(index, picks[:1])  # warm-up (BLAS threads, page faults)
    row = dict(n=n, dim=dim, build_s=build_s, index_mib=index.nbytes / 2**20,
               build_peak_mib=peak / 2**20)
    for name, qs, kw in (("cosine", picks, dict(metric="cosine")),
                         ("euclidean", picks, dict(metric="euclidean")),
                         ("selection", sels, dict(metric="cosine"))):
        ms = timed_queries(index, qs, **kw)
        row[f"{name}_median_ms"] = statistics.median(ms)
        row[f"{name}_max_ms"] = max(ms)
    del index
    gc.collect()
    return row


def bench_store(n: int, dim: int) -> dict:
    from alwidget.search import SearchIndex

    X = mixture(n, dim, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store, fs = toy_store(Path(tmp) / "bench.db", X)
        write_s = time.perf_counter() - t0
        del X
        gc.collect()
        t0 = time.perf_counter()
        index = SearchIndex.from_store(store, fs)
        load_s = time.perf_counter() - t0
        store.close()
    return dict(n=n, dim=dim, write_s=write_s, load_s=load_s, index_mib=index.nbytes / 2**20)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--dims", default="296,1024")
    ap.add_argument("--store-sizes", default="100000")
    ap.add_argument("--queries", type=int, default=9)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    dims = [int(d) for d in args.dims.split(",") if d]
    store_sizes = [int(s) for s in args.store_sizes.split(",") if s]
    libs = {name: importlib.util.find_spec(name) is not None for name in ("usearch", "faiss")}
    lines = [
        "# Search by example: exact search",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_search.py --sizes {args.sizes} --dims "
        f"{args.dims} --store-sizes {args.store_sizes} --queries {args.queries}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}; vector-index libraries installed: "
        + (", ".join(k for k, v in libs.items() if v) or "none (usearch, faiss-cpu absent)"),
        "",
        "Query latency (ms) of `search_by_example(index, query, k=50)`, median and slowest of "
        f"{args.queries}; build from a float32 matrix in memory.",
        "",
        "| clips | dim | build (s) | index (MiB) | build peak (MiB) | cosine median / max "
        "| Euclidean median / max | 5-clip selection median / max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for n in sizes:
        for dim in dims:
            r = bench_one(n, dim, args.queries)
            line = (f"| {n:,} | {dim} | {r['build_s']:.2f} | {r['index_mib']:.0f} | "
                    f"{r['build_peak_mib']:.0f} | {r['cosine_median_ms']:.0f} / "
                    f"{r['cosine_max_ms']:.0f} | {r['euclidean_median_ms']:.0f} / "
                    f"{r['euclidean_max_ms']:.0f} | {r['selection_median_ms']:.0f} / "
                    f"{r['selection_max_ms']:.0f} |")
            print(line, flush=True)
            lines.append(line)
    if store_sizes:
        more = ["", "Loading an index from a store (`SearchIndex.from_store`: SQLite rows, then "
                "the build):", "", "| clips | dim | store written (s) | load + build (s) |",
                "|---:|---:|---:|---:|"]
        print("\n".join(more), flush=True)
        lines += more
        for n in store_sizes:
            for dim in dims:
                r = bench_store(n, dim)
                line = f"| {n:,} | {dim} | {r['write_s']:.1f} | {r['load_s']:.2f} |"
                print(line, flush=True)
                lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
