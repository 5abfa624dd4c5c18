"""Shared fixtures: a fresh store, audio written on the fly, the real data in ../shared."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from alwidget.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def own_config(tmp_path, monkeypatch):
    """The user's config folder (the key that signs map models), outside the project and
    never the real one."""
    monkeypatch.setenv("ALWIDGET_CONFIG_DIR", str(tmp_path / "home-config"))


def listening(session, kind):
    """The views of ``kind`` the session still tells about its decisions."""
    return [c.__self__ for c in session._observers
            if isinstance(getattr(c, "__self__", None), kind)]


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "test.db")
    yield s
    s.close()


@pytest.fixture
def shared_data() -> Path:
    """The real recordings beside the project; skip when a fresh clone lacks them."""
    if not (SHARED / "README.md").exists():
        pytest.skip(f"real recordings not found at {SHARED} (../shared/data beside the project)")
    return SHARED


def write_audio(path: Path, seconds: float = 1.0, sr: int = 16000, channels: int = 1,
                subtype: str | None = None, freq: float = 440.0, seed: int | None = None,
                **kw) -> Path:
    """Write a tone plus a little noise; return the path.

    The noise's seed defaults to one taken from the file's folder and name, so that two
    files get different content (ingest stores one content once) unless a seed is given.
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    if seed is None:
        seed = zlib.crc32(f"{path.parent.name}/{path.name}".encode("utf-8", "surrogateescape"))
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(n)
    y = np.repeat(y[:, None], channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype, **kw)
    return path


def die_in_training(monkeypatch, after: int, exc: BaseException, when=lambda: True) -> list:
    """Make a neural fit raise ``exc`` at its batch number ``after + 1`` (fits for which
    ``when()`` holds; ``alwidget.learn.neural`` checks before every batch). Returns the list
    that counts the batches those fits reached."""
    from alwidget.learn import neural

    batches, check_stop = [], neural._check_stop

    def check():
        check_stop()
        if when():
            batches.append(1)
            if len(batches) > after:
                raise exc

    monkeypatch.setattr(neural, "_check_stop", check)
    return batches
