"""The demo data set: a synthetic soundscape with a rare target sound.

In the spirit of the rare-sound study: several recording nodes save 10-s WAV
files whose names carry the node and a time stamp
(``{node}_{YYYYmmdd_HHMMSS}.wav``). Each node has its own background:
broadband noise, low rumble with mains hum, bird-like chirps, or babble-like
formants. About 3 % of the one-second clips contain the rare target, a
harmonic artifact noise (a buzzing tone with harmonics), sometimes faint.

Ground truth per one-second clip is written to ``labels.csv`` (columns
``path,start_s,duration_s,label,node,fold,snr_db``), for simulated oracles
and teaching. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, lfilter, sosfilt

__all__ = ["make_demo", "NAME_PATTERN", "TARGET", "BACKGROUND"]

NAME_PATTERN = "{node}_{time:%Y%m%d_%H%M%S}"
TARGET = "target"
BACKGROUND = "background"
_KINDS = ("broadband", "rumble", "chirps", "babble")


def make_demo(
    out_dir: str | Path = "data/demo",
    *,
    seed: int = 0,
    n_nodes: int = 4,
    files_per_node: int = 50,
    file_seconds: int = 10,
    sample_rate: int = 16000,
    target_share: float = 0.03,
    n_folds: int = 5,
    progress: bool = True,
) -> Path:
    """Write the demo corpus to ``out_dir``; return the path of ``labels.csv``.

    With the defaults: 4 nodes x 50 files x 10 s = 2,000 one-second clips,
    60 of them (3 %) with the target. Audio goes to ``out_dir/audio/<node>/``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created). Existing demo files are overwritten.
    seed : int
        Seed of everything random.
    n_nodes, files_per_node, file_seconds, sample_rate : int
        Size of the corpus.
    target_share : float
        Share of one-second clips that contain the target.
    n_folds : int
        Files are assigned to folds 1..n_folds (whole files), for experiments.
    progress : bool
        Show a progress bar.

    Examples
    --------
    >>> from alwidget.demo import make_demo
    >>> labels_csv = make_demo("data/demo", seed=0)  # doctest: +SKIP
    """
    if not 0 < target_share < 1:
        raise ValueError(f"target_share={target_share!r} must be between 0 and 1")
    for key, v in dict(n_nodes=n_nodes, files_per_node=files_per_node,
                       file_seconds=file_seconds, sample_rate=sample_rate, n_folds=n_folds).items():
        if int(v) != v or v < 1:
            raise ValueError(f"{key}={v!r} must be a positive integer")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate!r} must be >= 8000")
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    n_files = n_nodes * files_per_node
    n_clips = n_files * file_seconds
    n_targets = max(1, int(round(target_share * n_clips)))
    is_target = np.zeros(n_clips, bool)
    is_target[rng.choice(n_clips, n_targets, replace=False)] = True
    folds = rng.permutation(np.arange(n_files) % n_folds + 1)
    start = datetime(2024, 5, 1, 5, 0, 0)
    rows = []
    bar = tqdm(total=n_files, desc="demo data", unit="file", disable=not progress)
    for node_i in range(n_nodes):
        node = f"node{node_i + 1:02d}"
        kind = _KINDS[node_i % len(_KINDS)]
        folder = out / "audio" / node
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(files_per_node):
            file_i = node_i * files_per_node + j
            when = start + timedelta(seconds=file_seconds * j + 3 * node_i)
            name = f"{node}_{when:%Y%m%d_%H%M%S}.wav"
            y = _background(kind, file_seconds * sample_rate, sample_rate, rng)
            bg_rms = float(np.sqrt(np.mean(y**2)))
            for k in range(file_seconds):
                clip_i = file_i * file_seconds + k
                snr = ""
                if is_target[clip_i]:
                    snr_db = float(rng.uniform(-6, 12))  # faint at the low end
                    _add_target(y, k, sample_rate, bg_rms, snr_db, rng)
                    snr = f"{snr_db:.1f}"
                rows.append([f"audio/{node}/{name}", k, 1.0,
                             TARGET if is_target[clip_i] else BACKGROUND, node,
                             int(folds[file_i]), snr])
            peak = np.max(np.abs(y))
            if peak > 0.99:
                y *= 0.99 / peak
            sf.write(folder / name, y, sample_rate, subtype="PCM_16")
            bar.update()
    bar.close()
    labels = out / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "start_s", "duration_s", "label", "node", "fold", "snr_db"])
        w.writerows(rows)
    return labels


def _background(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    level = rng.uniform(0.02, 0.06)
    noise = rng.standard_normal(n)
    # gentle pink-ish floor under every background
    floor = lfilter([0.05], [1, -0.95], noise) * 0.2
    if kind == "broadband":
        y = noise * 0.6 + floor
    elif kind == "rumble":
        sos = butter(4, 150, "lowpass", fs=sr, output="sos")
        hum_f = rng.choice([50.0, 60.0])
        y = sosfilt(sos, noise) * 6 + 0.3 * np.sin(2 * np.pi * hum_f * t) + floor
    elif kind == "chirps":
        y = floor * 2
        for _ in range(rng.poisson(8)):
            _add_chirp(y, sr, rng)
    else:  # babble-like formants: glottal pulse trains through vowel resonators
        y = floor.copy()
        pos = 0
        while pos < n:
            seg = int(sr * rng.uniform(0.15, 0.4))
            f0 = rng.uniform(90, 220)
            pulses = np.zeros(min(seg, n - pos))
            pulses[:: max(1, int(sr / f0))] = 1.0
            voiced = pulses
            for fc, bw in zip(rng.uniform([300, 900, 2300], [800, 2000, 3000]), (80, 120, 160)):
                r = np.exp(-np.pi * bw / sr)
                voiced = voiced + lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r], pulses) * 3
            y[pos : pos + len(voiced)] += voiced * rng.uniform(0.2, 0.8)
            pos += seg + int(sr * rng.uniform(0.0, 0.2))
    y = y / (np.sqrt(np.mean(y**2)) + 1e-12) * level
    return y.astype(np.float64)


def _add_chirp(y: np.ndarray, sr: int, rng: np.random.Generator) -> None:
    dur = rng.uniform(0.05, 0.3)
    m = int(dur * sr)
    start = int(rng.integers(0, len(y) - m))
    tt = np.arange(m) / sr
    f_a, f_b = rng.uniform(2000, 6000, 2)
    phase = 2 * np.pi * (f_a * tt + (f_b - f_a) * tt**2 / (2 * dur))
    y[start : start + m] += np.sin(phase) * np.hanning(m) * rng.uniform(0.5, 2.0)


def _add_target(y: np.ndarray, second: int, sr: int, bg_rms: float, snr_db: float,
                rng: np.random.Generator) -> None:
    """Add the harmonic artifact noise inside second ``second`` of ``y``."""
    dur = rng.uniform(0.3, 0.8)
    m = int(dur * sr)
    offset = int(rng.integers(0, sr - m))
    tt = np.arange(m) / sr
    f0 = rng.uniform(180, 420)
    f = f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 8) * tt))  # slight vibrato
    phase = 2 * np.pi * np.cumsum(f) / sr
    buzz = sum(np.sin(h * phase) / h**0.7 for h in range(1, int(rng.integers(6, 11))))
    env = np.minimum(1, np.minimum(tt, tt[::-1]) / 0.02)  # 20-ms ramps
    buzz = buzz * env
    gain = bg_rms * 10 ** (snr_db / 20) / (np.sqrt(np.mean(buzz**2)) + 1e-12)
    a = second * sr + offset
    y[a : a + m] += buzz * gain
