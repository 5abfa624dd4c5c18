"""Maps of the pool: projection fit time (20k and 100k clips) and the map's recolour time.

Projections: a 10-cluster Gaussian mixture of 64-d float32 features stands for
clip embeddings; each method runs through ``compute_projection`` on a fresh
store (so the times include reading features and writing the cache). Above
20,000 clips, UMAP and t-SNE are fitted on a seeded 20,000-clip subsample and
the rest are placed by ``transform`` (the default ``max_fit``); ``--full``
adds a t-SNE fitted on all 100,000. UMAP's one-off numba compilation (paid
once per fresh process) is measured apart on 5,000 points.

Recolour: a 100,000-clip session with a ``MapView`` runs inside a real
Jupyter kernel (ipykernel, so widget messages are serialised and sent as in
JupyterLab); after each of 30 labels, the time of ``MapView.recolor()`` on the
Python side (pool view + float32 arrays in ``batch_update``) is recorded.

Run from the project root (about 6 minutes; 10 with --full):

    .venv/bin/python benchmarks/bench_maps.py --out benchmarks/results/maps.md
"""

from __future__ import annotations

import argparse
import json
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np


def mixture(n: int, dim: int = 64, k: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, dim))
    return (centres[rng.integers(k, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


def toy_store(path: Path, X: np.ndarray):
    from alwidget.store import NewAudio, Store

    store = Store(path)
    per = 100
    with store.transaction():
        for i in range(len(X) // per):
            store.add_audio(NewAudio("/bench", f"n1_{i:05d}.wav", 16000, 16, 16000 * per, 1, "WAV",
                                     "PCM_16", str(i), 0), [(float(k), 1.0) for k in range(per)])
    fs = store.feature_set("bench", {}, X.shape[1])
    store.put_features(fs, store.clip_ids(), X)
    return store, fs


def report(lines: list[str], out: Path | None) -> None:
    """Print the markdown report, and write it to ``out`` when given."""
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(text + "\n")


def time_projection(n: int, method: str, **kw) -> tuple[float, int]:
    from alwidget.projections import compute_projection

    with tempfile.TemporaryDirectory() as tmp:
        store, fs = toy_store(Path(tmp) / "maps.db", mixture(n))
        t0 = time.perf_counter()
        p = compute_projection(store, fs, method, **kw)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = compute_projection(store, fs, method, **kw)
        cached = time.perf_counter() - t1
        assert again.from_cache
    return seconds, p.n_fit, cached


KERNEL_CODE = textwrap.dedent("""
    import json, sys, tempfile, time
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, {bench_dir!r})
    from bench_maps import mixture, toy_store
    from alwidget.session import Session
    from alwidget.widgets import MapView

    X = mixture({n})
    tmp = tempfile.mkdtemp()
    store, fs = toy_store(Path(tmp) / "recolour.db", X)
    ids = store.clip_ids()
    s = Session(store, classes=["background", "target"], random_state=0)
    m = MapView(s, method="pca", background=False)
    s.label(int(ids[0]), "target"); s.label(int(ids[1]), "background")
    s._planner.wait()
    pool, total = [], []
    for i in range({labels}):
        t0 = time.perf_counter(); s.pool.view(); pool.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); m.recolor(); total.append(time.perf_counter() - t0)
        s.label(int(ids[2 + i]), "background" if i % 3 else "target")
        s._planner.wait()
    s.close()
    print("RESULT" + json.dumps(dict(pool=pool, total=total)))
""")


def time_recolour(n: int, labels: int) -> dict:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    out: list[str] = []
    try:
        code = KERNEL_CODE.format(bench_dir=str(Path(__file__).parent), n=n, labels=labels)
        reply = kc.execute_interactive(
            code, timeout=900,
            output_hook=lambda msg: out.append(msg["content"].get("text", ""))
            if msg["msg_type"] == "stream" else None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("\n".join(reply["content"].get("traceback", [])))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    line = next(x for x in "".join(out).splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--methods", default="pca,umap,tsne")
    ap.add_argument("--full", action="store_true", help="also fit t-SNE on all 100,000 clips")
    ap.add_argument("--labels", type=int, default=30)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["Projection fit time (s), 64-d features, 2 cores; cached = reading the map back.", "",
             "| method | clips | fitted on | compute (s) | cached (s) |", "|---|---|---|---|---|"]
    if "umap" in args.methods:
        t0 = time.perf_counter()
        time_projection(5000, "umap")  # > 4096 points: compiles the NN-descent path too
        lines.insert(1, f"UMAP's numba compilation + 5,000-point fit in a fresh process: "
                        f"{time.perf_counter() - t0:.1f} s (not included below).")
    runs = [(int(n), m, {}) for n in args.sizes.split(",") for m in args.methods.split(",")]
    if args.full:
        runs.append((100_000, "tsne", {"max_fit": 100_000}))
    for n, method, kw in runs:
        seconds, n_fit, cached = time_projection(n, method, **kw)
        lines.append(f"| {method} | {n:,} | {n_fit:,} | {seconds:.1f} | {cached:.2f} |")
        print(lines[-1], flush=True)
    r = time_recolour(100_000, args.labels)
    med = lambda v: 1000 * float(np.median(v))  # noqa: E731
    p95 = lambda v: 1000 * float(np.percentile(v, 95))  # noqa: E731
    lines += ["", f"Map recolour after a label, 100,000 clips, inside a Jupyter kernel "
                  f"({args.labels} labels, ms, Python side):", "",
              "| step | median | p95 |", "|---|---|---|",
              f"| session.pool.view() | {med(r['pool']):.1f} | {p95(r['pool']):.1f} |",
              f"| MapView.recolor() (pool view + batch_update) | {med(r['total']):.1f} | "
              f"{p95(r['total']):.1f} |"]
    report(lines, args.out)


if __name__ == "__main__":
    main()
