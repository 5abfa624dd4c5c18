"""Ingest and features on the real recordings in ../shared/data (skipped when absent)."""

import csv
import os

import numpy as np
import pytest

import alwidget
from alwidget.store import Store

pytestmark = pytest.mark.shared


def manifest(folder):
    """Manifest rows by the path ingest stores: resolved, so ../shared may be a symlink."""
    with open(folder / "manifest.csv") as fh:
        return {os.path.realpath(folder / r["path"]): r for r in csv.DictReader(fh)}


def test_fsdd_3000_wavs_with_their_durations_and_rates(shared_data, tmp_path):
    folder = shared_data / "fsdd"
    rows = manifest(folder)
    summary = alwidget.ingest(folder / "recordings", tmp_path / "f.db", clip_seconds=1.0,
                              progress=False, verbose=False)
    assert summary.errors == [] and summary.added == 3000
    audios = Store(tmp_path / "f.db").audios()
    assert len(audios) == 3000
    for a in audios:
        r = rows[a.path]
        assert a.sample_rate == int(r["sample_rate"]) == 8000
        assert a.channels == 1 and a.bits_per_sample == 16
        assert a.frames == int(r["frames"])
        assert a.duration_s == pytest.approx(float(r["duration"]), abs=1e-3)


def test_esc10_400_flacs_and_their_features(shared_data, tmp_path):
    folder = shared_data / "esc10"
    rows = manifest(folder)
    db = tmp_path / "e.db"
    summary = alwidget.ingest(folder / "audio", db, clip_seconds=5.0, progress=False, verbose=False)
    assert summary.errors == [] and (summary.added, summary.clips) == (400, 400)
    store = Store(db)
    for a in store.audios():
        assert (a.sample_rate, a.format) == (16000, "FLAC")
        assert a.duration_s == pytest.approx(float(rows[a.path]["duration"]), abs=1e-3)
    fs = alwidget.extract_features(store, "logmel", n_jobs=2, progress=False)
    ids, X = store.get_features(fs)
    assert X.shape == (400, fs.dim) and np.isfinite(X).all()
    # clips of digital silence (the original's padding) differ from sounding ones
    assert len(np.unique(X.round(3), axis=0)) > 390
