"""A synthetic archive of recording nodes for team rounds, and simulated labelers.

For tests, the team notebook and the 1M-clip benchmark: audio rows without audio files
(nodes, times, clips), embeddings drawn around one centre per class, and a tagger's
probabilities (a feature set with named columns) that is right most of the time. Ground
truth is one AudioSet class per clip; each node (as in a port: quay, gate, breakwater...)
hears its own mixture of classes.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from ..store import NewAudio, Store

__all__ = ["PORT_CLASSES", "SimulatedLabeler", "synthetic_archive"]

#: Ground-truth classes of the synthetic port archive (AudioSet names).
PORT_CLASSES = ("Silence", "Engine", "Boat, Water vehicle", "Gull, seagull", "Wind", "Speech",
                "Hammer", "Foghorn")


def synthetic_archive(store: Store, *, n_nodes: int = 7, days: int = 7, files_per_day: int = 24,
                      clips_per_file: int = 10, dim: int = 128, start: str = "2024-05-01",
                      seed: int = 0, tagger: bool = True, audio_dir=None,
                      progress: bool = False) -> dict:
    """Fill ``store`` with a synthetic archive; return ``{clip_id: true class}``.

    ``n_nodes x days x files_per_day`` audio rows of ``clips_per_file`` one-second clips
    (no files on disk, ``/synthetic/...``, unless ``audio_dir`` is given: then 16 kHz WAV
    files are written there, each second a sound of its class, so clips can be shown and
    played); node ``k`` is named ``node{k+1}`` and its files are
    spread evenly over each day from ``start``. Features: ``"synthetic-embedding"``
    (``dim`` float32 values, a class centre plus noise), and with ``tagger`` a
    ``"synthetic-tagger"`` set of class probabilities named by :data:`PORT_CLASSES`.

    Examples
    --------
    >>> from alwidget.store import Store
    >>> store = Store(":memory:")
    >>> truth = synthetic_archive(store, n_nodes=2, days=1, files_per_day=2, dim=8)
    >>> len(truth), store.window_clips(["node1"]).size
    (40, 20)
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    k = len(PORT_CLASSES)
    centres = rng.normal(0, 1, (k, dim)).astype(np.float32)
    mixes = rng.dirichlet(np.full(k, 0.6), n_nodes)  # each node hears its own mixture
    emb = store.feature_set("synthetic-embedding", {"dim": dim, "seed": seed}, dim)
    tag = (store.feature_set("synthetic-tagger", {"seed": seed}, k, columns=list(PORT_CLASSES))
           if tagger else None)
    day0 = _dt.datetime.fromisoformat(start)
    step = _dt.timedelta(seconds=86400 // files_per_day)
    truth: dict[int, str] = {}
    bar = tqdm(total=n_nodes * days, desc="synthetic archive", unit="node-day",
               disable=not progress)
    for d in range(days):
        for node in range(n_nodes):
            audio_ids = []
            with store.transaction():  # one node-day at a time
                y = rng.choice(k, files_per_day * clips_per_file, p=mixes[node])
                for f in range(files_per_day):
                    when = day0 + _dt.timedelta(days=d) + f * step
                    folder = f"/synthetic/node{node + 1}"
                    if audio_dir is not None:
                        folder = _write_wav(audio_dir, node, when,
                                            y[f * clips_per_file:(f + 1) * clips_per_file], rng)
                    audio = NewAudio(folder,
                                     f"node{node + 1}_{when:%Y%m%d_%H%M%S}.wav", 16000, 16,
                                     16000 * clips_per_file, 1, "WAV", "PCM_16",
                                     f"synthetic-{seed}-{node}-{d}-{f}",
                                     32000 * clips_per_file, node=f"node{node + 1}",
                                     recorded_at=when.isoformat())
                    audio_ids.append(store.add_audio(
                        audio, [(float(c), 1.0) for c in range(clips_per_file)]))
                ids = store.audio_clip_ids(audio_ids)
                X = centres[y] + rng.normal(0, 1.2, (len(ids), dim)).astype(np.float32)
                store.put_features(emb, ids, X)
                if tag is not None:
                    logits = rng.normal(0, 1, (len(ids), k))
                    logits[np.arange(len(ids)), y] += 2.0
                    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                    store.put_features(tag, ids, P.astype(np.float32))
            truth.update(zip(ids.tolist(), np.asarray(PORT_CLASSES, object)[y].tolist()))
            bar.update()
    bar.close()
    return truth


_SR = 16000


def _write_wav(audio_dir, node: int, when, classes, rng) -> str:
    """One file of one-second sounds of ``classes``; return its folder."""
    import soundfile as sf
    from pathlib import Path

    folder = Path(audio_dir) / f"node{node + 1}"
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(_SR) / _SR
    parts = []
    for c in classes:
        name = PORT_CLASSES[int(c)]
        y = rng.normal(0, 0.01, _SR)
        if name == "Engine":
            y += 0.2 * np.sin(2 * np.pi * 60 * t) + 0.1 * np.sin(2 * np.pi * 120 * t)
        elif name == "Boat, Water vehicle":
            y += 0.15 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
        elif name == "Gull, seagull":
            y += 0.2 * np.sin(2 * np.pi * (2500 + 1500 * np.sin(2 * np.pi * 4 * t)) * t) * (t > 0.3)
        elif name == "Wind":
            y += np.convolve(rng.normal(0, 0.3, _SR), np.ones(30) / 30, "same")
        elif name == "Speech":
            y += 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (300, 900, 2400)) * (
                np.sin(2 * np.pi * 5 * t) > 0)
        elif name == "Hammer":
            hits = (np.arange(_SR) % 4000) < 200
            y[hits] += rng.normal(0, 0.5, int(hits.sum()))
        elif name == "Foghorn":
            y += 0.3 * np.sin(2 * np.pi * 220 * t) * ((t > 0.2) & (t < 0.9))
        parts.append(y)
    audio = np.clip(np.concatenate(parts), -0.99, 0.99).astype(np.float32)
    sf.write(folder / f"node{node + 1}_{when:%Y%m%d_%H%M%S}.wav", audio, _SR, subtype="PCM_16")
    return str(folder)


@dataclass
class SimulatedLabeler:
    """A labeler who hears the true class, errs with probability ``error`` (another class)
    and marks Doubt with probability ``doubt``; events span part of the clip (one event, or
    two of the same tag 30 % of the time).

    Examples
    --------
    >>> lab = SimulatedLabeler("ann", error=0.0, doubt=0.0, seed=1)
    >>> lab.events("Engine")[0][0]
    'Engine'
    """

    name: str
    error: float = 0.1
    doubt: float = 0.05
    seed: int = 0
    classes: tuple = PORT_CLASSES
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self._rng = np.random.default_rng([self.seed, sum(map(ord, self.name))])

    def events(self, true_class: str, clip_seconds: float = 1.0) -> list[tuple]:
        """The events this labeler marks on a clip of ``true_class``."""
        r = self._rng.random()
        if r < self.doubt:
            return [("Doubt", 0.0, clip_seconds)]
        tag = true_class
        if r < self.doubt + self.error:
            tag = str(self._rng.choice([c for c in self.classes if c != true_class]))
        onset = round(float(self._rng.uniform(0, 0.3)) * clip_seconds, 3)
        offset = round(float(self._rng.uniform(0.7, 1.0)) * clip_seconds, 3)
        if self._rng.random() < 0.3:  # heard twice: two events of the tag
            middle = round((onset + offset) / 2, 3)
            return [(tag, onset, middle - 0.05 * clip_seconds), (tag, middle, offset)]
        return [(tag, onset, offset)]
