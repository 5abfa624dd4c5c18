"""Features: the logmel extractor and the cached, resumable, parallel runner."""

import warnings

import numpy as np
import pytest

import alwidget
from alwidget.features import Extractor, LogMel, extract_features, get_extractor
from alwidget.store import Store
from conftest import write_audio


def tone(freq, seconds=1.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_dimension_and_blocks():
    assert LogMel().dim == 4 * 64 + 40
    assert LogMel(stats=("mean", "mfcc")).dim == 64 + 40
    assert isinstance(LogMel(), Extractor)


@pytest.mark.parametrize("kw, msg", [
    (dict(stats=("mean", "loudness")), "choose one or more of"),
    (dict(stats=()), "choose one or more of"),
    (dict(stats=("mean", "mean")), "repeats"),
    (dict(n_mels=0), "n_mels=0 must be > 0"),
    (dict(fmax=9000.0), "fmax=9000.0"),
])
def test_bad_settings_are_clear_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        LogMel(**kw)


def test_a_tone_peaks_in_the_band_of_its_frequency():
    ex = LogMel(stats=("mean",))
    low = ex.extract(tone(300), 16000, np.array([0.0]), np.array([1.0]))[0]
    high = ex.extract(tone(3000), 16000, np.array([0.0]), np.array([1.0]))[0]
    assert np.argmax(low) < np.argmax(high)
    import librosa

    centres = librosa.mel_frequencies(n_mels=64 + 2, fmin=50, fmax=8000)[1:-1]
    assert abs(centres[np.argmax(high)] - 3000) < 250


def test_each_window_sees_only_its_own_audio():
    ex = LogMel()
    y = np.concatenate([tone(300), np.zeros(16000, np.float32) + 1e-4, tone(300)])
    X = ex.extract(y, 16000, np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(X[0], X[2], atol=1e-2)  # same content, same vector
    assert X[1, :64].mean() < X[0, :64].mean() - 20  # the quiet second is quieter


def test_short_and_odd_windows_give_finite_vectors():
    ex = LogMel()
    X = ex.extract(tone(440, 0.01), 16000, np.array([0.0]), np.array([0.01]))
    assert X.shape == (1, ex.dim) and np.isfinite(X).all()
    X = ex.extract(np.zeros(16000, np.float32), 16000, np.array([0.9]), np.array([0.1]))
    assert np.isfinite(X).all()


def test_wrong_rate_is_refused():
    with pytest.raises(ValueError, match="expects audio at 16000 Hz"):
        LogMel().extract(tone(440), 8000, np.array([0.0]), np.array([1.0]))


def test_unknown_extractor_name():
    with pytest.raises(ValueError, match="extractor='vggish' is unknown"):
        get_extractor("vggish")


@pytest.fixture
def small_project(tmp_path):
    for i in range(6):
        write_audio(tmp_path / "in" / f"f{i}.wav", 3.0, sr=22050 if i % 2 else 16000,
                    channels=1 + i % 2, freq=200 + 300 * i)
    db = tmp_path / "s.db"
    alwidget.ingest(tmp_path / "in", db, clip_seconds=1.0, progress=False, verbose=False)
    return db


def test_every_clip_gets_a_vector_and_parallel_equals_serial(small_project, tmp_path):
    fs = extract_features(small_project, n_jobs=1, progress=False)
    store = Store(small_project)
    ids, X = store.get_features(fs)
    assert ids.tolist() == store.clip_ids().tolist() and X.shape == (18, fs.dim)
    # the same clips in a second database, computed by 2 processes
    other = tmp_path / "copy.db"
    alwidget.ingest(tmp_path / "in", other, clip_seconds=1.0, progress=False, verbose=False)
    fs2 = extract_features(other, n_jobs=2, files_per_batch=1, progress=False)
    np.testing.assert_allclose(Store(other).get_features(fs2)[1], X, rtol=1e-5, atol=1e-4)


def test_a_small_job_is_extracted_without_worker_processes(small_project, tmp_path, monkeypatch):
    from alwidget.features import runner

    asked = []
    real = runner.Parallel
    monkeypatch.setattr(runner, "Parallel", lambda n_jobs, **kw: asked.append(n_jobs) or
                        real(n_jobs=n_jobs, **kw))
    extract_features(small_project, progress=False)  # 18 clips: workers would cost more
    monkeypatch.setattr(runner, "MIN_CLIPS_FOR_WORKERS", 10)
    extract_features(small_project, "logmel-frames", progress=False)
    assert asked == [1, -1]


class Exploding(LogMel):
    """Fails on the n-th file it reads, like a kill in the middle of a run."""

    def __init__(self, fail_at):
        super().__init__()
        object.__setattr__(self, "fail_at", fail_at)
        object.__setattr__(self, "calls", [])

    def extract(self, y, sr, starts, durations):
        self.calls.append(len(starts))
        if len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        return super().extract(y, sr, starts, durations)


def test_an_interrupted_run_resumes_without_recomputing(small_project):
    ex = Exploding(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        extract_features(small_project, ex, n_jobs=1, files_per_batch=1, progress=False)
    store = Store(small_project)
    fs = store.feature_set(ex.name, ex.config(), ex.dim)
    assert len(store.clips_without_features(fs)) == 18 - 2 * 3  # two files were committed
    ex2 = Exploding(fail_at=0)
    extract_features(small_project, ex2, n_jobs=1, files_per_batch=1, progress=False)
    assert len(ex2.calls) == 4  # only the four files left
    assert len(store.clips_without_features(fs)) == 0
    extract_features(small_project, ex2, n_jobs=1, progress=False)
    assert len(ex2.calls) == 4  # all cached: nothing read


def test_a_file_gone_since_ingest_is_reported_and_the_rest_done(small_project, tmp_path):
    (tmp_path / "in" / "f2.wav").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fs = extract_features(small_project, n_jobs=1, progress=False)
    assert any("f2.wav" in str(w.message) for w in caught)
    assert len(Store(small_project).clips_without_features(fs)) == 3


# -- the package's structure: no import cycle, no private imports across modules -----------
