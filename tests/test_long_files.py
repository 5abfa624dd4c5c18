"""Long files in bounded memory: read in blocks, with the features of the whole file.

The thresholds are made small here so that minutes of audio take the block path; the
memory this bounds is measured on 2-hour and 24-hour files in
``benchmarks/bench_long_files.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import alwidget
from alwidget.features import LogMel, extract_features
from alwidget.features import base
from alwidget.features.base import extract_clips, feature_set_for, file_jobs, reads_whole


def _recording(path, seconds: float, sr: int = 48000, channels: int = 2, seed: int = 0):
    """Noise with a chirp and a few clicks, so every clip differs from the next."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.05 * rng.standard_normal((n, channels))
    y += 0.2 * np.sin(2 * np.pi * (300 + 20 * t) * t)[:, None]
    y[rng.integers(0, n, 40)] += 0.8
    sf.write(path, np.clip(y, -1, 1), sr, subtype="PCM_16")
    return path


@pytest.mark.parametrize("block_seconds", [1.0, 7.0, 60.0])
def test_blocks_give_the_features_of_the_whole_file(tmp_path, block_seconds):
    path = _recording(tmp_path / "long.wav", 95.0)
    starts = np.concatenate([np.arange(0.0, 94.0, 1.0), np.arange(0.25, 93.0, 2.5)])
    durations = np.concatenate([np.ones(94), np.full(len(np.arange(0.25, 93.0, 2.5)), 1.5)])
    whole = extract_clips(LogMel(), str(path), starts, durations)
    blocks = extract_clips(LogMel(), str(path), starts, durations, whole_file_samples=0,
                           block_seconds=block_seconds)
    assert blocks.shape == whole.shape == (len(starts), LogMel().dim)
    # the same frames pooled; only the resampler's rounding at block edges differs
    assert np.abs(blocks - whole).max() < 1e-3
    assert np.isfinite(blocks).all()


def test_an_extractor_without_offset_gets_starts_from_its_stretch(tmp_path):
    path = _recording(tmp_path / "a.wav", 30.0, sr=16000, channels=1)

    class FirstSample:
        name, sample_rate, dim = "first", 16000, 1

        def extract(self, y, sample_rate, starts, durations):
            return np.array([[y[int(round(s * sample_rate))]] for s in starts], np.float32)

    starts = np.arange(0.0, 29.0, 1.0)
    whole = extract_clips(FirstSample(), str(path), starts, np.ones(len(starts)))
    blocks = extract_clips(FirstSample(), str(path), starts, np.ones(len(starts)),
                           whole_file_samples=0, block_seconds=4.0)
    np.testing.assert_array_equal(blocks, whole)


def test_a_long_file_is_split_into_pieces_and_extracted_like_a_short_one(tmp_path, monkeypatch):
    (tmp_path / "rec").mkdir()
    _recording(tmp_path / "rec" / "long.wav", 80.0)
    store = alwidget.Store(tmp_path / "p.db")
    alwidget.ingest(tmp_path / "rec", store, clip_seconds=1.0, progress=False, verbose=False)
    fs_whole = extract_features(store, n_jobs=1, progress=False)
    ids, whole = store.get_features(fs_whole)

    other = alwidget.Store(tmp_path / "q.db")
    alwidget.ingest(tmp_path / "rec", other, clip_seconds=1.0, progress=False, verbose=False)
    monkeypatch.setattr(base, "WHOLE_FILE_SAMPLES", 48000 * 10)  # 10 s at 48 kHz: "long"
    monkeypatch.setattr(base, "PIECE_SECONDS", 25.0)
    monkeypatch.setattr(base, "BLOCK_SECONDS", 6.0)
    fs = feature_set_for(other, LogMel())
    jobs = file_jobs(other, fs, 16000)
    assert [len(j[1]) for j in jobs] == [25, 25, 25, 5]  # pieces of at most 25 s
    assert not reads_whole(80 * 48000, 48000, 16000)
    fs_blocks = extract_features(other, n_jobs=1, progress=False)
    ids2, blocks = other.get_features(fs_blocks)
    np.testing.assert_array_equal(ids2, ids)
    assert np.abs(blocks - whole).max() < 1e-3


def test_a_file_read_whole_keeps_its_features_bit_identical(tmp_path, monkeypatch):
    """Features cached before blocks existed stay valid: a file read whole gives the values
    of reading it at once (soundfile), averaging its channels and resampling it (librosa,
    soxr_hq), with the spectrogram computed over all frames at once."""
    import librosa

    from alwidget.features import logmel as logmel_module

    path = _recording(tmp_path / "a.wav", 80.0)  # 5,000 frames: more than one chunk of them
    starts = np.arange(0.0, 80.0, 1.0)
    got = extract_clips(LogMel(), str(path), starts, np.ones(80))
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = librosa.resample(y.mean(axis=1), orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    monkeypatch.setattr(logmel_module, "_FRAMES_PER_CHUNK", 10 ** 9)  # all frames at once
    reference = LogMel().extract(y.astype(np.float32), 16000, starts, np.ones(80))
    np.testing.assert_array_equal(got, reference)


def test_rf64_files_ingest_and_a_truncated_one_is_reported(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    sf.write(rec / "big.wav", 0.1 * np.random.default_rng(1).standard_normal((48000 * 3, 2)),
             48000, format="RF64", subtype="PCM_16")
    data = (rec / "big.wav").read_bytes()
    assert data[:4] == b"RF64"
    (rec / "cut.wav").write_bytes(data[: len(data) - 10000])
    store = alwidget.Store(tmp_path / "p.db")
    s = alwidget.ingest(rec, store, clip_seconds=1.0, progress=False, verbose=False)
    assert (s.added, s.clips) == (1, 3)
    assert len(s.errors) == 1 and s.errors[0][0].endswith("cut.wav")
    assert "truncated" in s.errors[0][1]
