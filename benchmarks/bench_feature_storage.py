"""Where features live: BLOBs in the store's SQLite file vs a sidecar .npy file.

Times writing and reading a float32 matrix of N clips x D features both ways.
The store keeps features as one BLOB per clip (see README, "Storage of
features", for the decision).

Run from the project root:

    .venv/bin/python benchmarks/bench_feature_storage.py --clips 100000 --dim 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from alwidget.store import NewAudio, Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    args = ap.parse_args()
    n, d = args.clips, args.dim
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "f.db")
        per_file = 100
        with store.transaction():
            for i in range(n // per_file):
                store.add_audio(
                    NewAudio("/x", f"{i}.wav", 16000, 16, 16000 * per_file, 1, "WAV", "PCM_16",
                             str(i), 0),
                    [(float(j), 1.0) for j in range(per_file)],
                )
        ids = store.clip_ids()
        X = np.random.default_rng(0).random((len(ids), d), dtype=np.float32)
        fs = store.feature_set("bench", {}, d)
        t = time.perf_counter(); store.put_features(fs, ids, X); w_sql = time.perf_counter() - t
        t = time.perf_counter(); _, X2 = store.get_features(fs); r_sql = time.perf_counter() - t
        assert np.array_equal(X, X2)
        npy = Path(tmp) / "f.npy"
        t = time.perf_counter(); np.save(npy, X); w_npy = time.perf_counter() - t
        t = time.perf_counter(); np.load(npy); r_npy = time.perf_counter() - t
    print(f"{len(ids)} clips x {d} float32")
    print("| where | write s | read s |\n|---|---|---|")
    print(f"| SQLite BLOB per clip | {w_sql:.3f} | {r_sql:.3f} |")
    print(f"| sidecar .npy | {w_npy:.3f} | {r_npy:.3f} |")


if __name__ == "__main__":
    main()
