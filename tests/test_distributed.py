"""Feature extraction on Dask: same vectors as the local runner, survives a killed worker."""

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

import alwidget
from alwidget.features import LogMel

distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
import cloudpickle  # noqa: E402  (comes with dask)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


@dataclass(frozen=True)
class SlowLogMel(LogMel):
    """logmel, 0.2 s per file: slow enough to kill a worker mid-run."""

    def extract(self, y, sample_rate, starts, durations):
        time.sleep(0.2)
        return super().extract(y, sample_rate, starts, durations)


def corpus(tmp_path, n_files):
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_files):
        sf.write(audio / f"f{i:03d}.wav", 0.1 * rng.standard_normal(2 * 16000), 16000)
    db = tmp_path / "p.db"
    alwidget.ingest(audio, db, clip_seconds=1.0, progress=False)
    return db


@pytest.fixture
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.slow
def test_same_vectors_as_the_local_runner(tmp_path, client):
    from alwidget.features.distributed import extract_features_distributed

    db = corpus(tmp_path, 12)
    fs = extract_features_distributed(db, "logmel", client=client, files_per_partition=5,
                                      progress=False)
    ids, X = alwidget.Store(db).get_features(fs)
    local = tmp_path / "local.db"
    alwidget.ingest(tmp_path / "audio", local, clip_seconds=1.0, progress=False)
    lids, LX = alwidget.Store(local).get_features(
        alwidget.extract_features(local, "logmel", n_jobs=1, progress=False))
    assert len(ids) == 24 and np.allclose(X, LX, atol=1e-5)
    assert not list((tmp_path / "p.db.extract").rglob("*.npz"))  # partition files merged, gone


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(tmp_path, client):
    from alwidget.features.distributed import extract_features_distributed

    db = corpus(tmp_path, 40)
    pids = list(client.run(os.getpid).values())
    store = alwidget.Store(db)
    fs = store.feature_set("logmel", SlowLogMel().config(), SlowLogMel().dim)

    def kill_when_started():
        for _ in range(600):
            if len(store.get_features(fs)[0]) > 0:  # the first partition is merged
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    got = extract_features_distributed(db, SlowLogMel(), client=client, files_per_partition=4,
                                       progress=False)
    killer.join()
    assert got == fs
    ids, X = store.get_features(fs)
    assert len(ids) == 80 and np.isfinite(X).all()  # every clip, despite the dead worker
    assert pids[0] not in client.run(os.getpid).values()  # it really died (the nanny restarted it)


@dataclass(frozen=True)
class BrokenLogMel(LogMel):
    """logmel that must not be called: a restarted run has to reuse partition files."""

    def extract(self, y, sample_rate, starts, durations):
        raise RuntimeError("computed again")


@pytest.mark.slow
def test_a_restarted_run_reuses_partition_files_already_written(tmp_path, client):
    import hashlib

    from alwidget.features.distributed import _run_partition, extract_features_distributed

    db = corpus(tmp_path, 6)
    store = alwidget.Store(db)
    fs = store.feature_set("logmel", LogMel().config(), LogMel().dim)
    src = store.clip_sources(store.clips_without_features(fs))
    cuts = np.flatnonzero(np.diff(src.audio_id)) + 1
    jobs = [(src.path[g[0]], src.clip_id[g], src.start_s[g], src.duration_s[g])
            for g in np.split(np.arange(len(src)), cuts)]
    name = hashlib.sha1(np.concatenate([j[1] for j in jobs]).tobytes()).hexdigest()[:16]
    work = tmp_path / "p.db.extract" / f"fs{fs.id}"
    work.mkdir(parents=True)
    _run_partition(LogMel(), jobs, str(work / f"part-{name}.npz"))  # written before a "crash"
    extract_features_distributed(db, BrokenLogMel(), client=client, files_per_partition=6,
                                 progress=False)
    assert len(store.get_features(fs)[0]) == 12
