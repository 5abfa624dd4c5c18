"""Planted model files never run: alwidget unpickles only map models it signed for this user.

Each test plants a pickle whose loading would create a marker file, under every model file
name the code wrote in ``<db>.maps/`` (and the older ``.joblib`` names), in several disguises,
then takes one of the ways the code reads model files. The marker must never appear and the
map must still be drawn (refitted).
"""

import os
import pickle
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import alwidget.projections as proj
from alwidget.projections import compute_projection
from alwidget.projections.signing import (KEY_NAME, MAGIC, Untrusted, read_signed, signing_key,
                                          write_signed)
from alwidget.session import Session
from alwidget.widgets import MapView
from test_projections import make_store

N = 60  # clips of the first fit
VARIANTS = ("unsigned", "another user's key", "edited", "another fit", "damaged header")
PATHS = ("transform new clips", "draw a map", "switch methods", "fresh process")


class Evil:
    """Unpickling this creates ``marker`` (as a planted model could run any code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(autouse=True)
def own_config(tmp_path, monkeypatch):
    """This user's config folder (the signing key), outside the project folder."""
    config = tmp_path / "home" / "config"
    monkeypatch.setenv("ALWIDGET_CONFIG_DIR", str(config))
    proj._MODELS.clear()
    yield config
    proj._MODELS.clear()


class Project:
    """A toy project with PCA and t-SNE maps fitted, and a way to add clips."""

    def __init__(self, folder: Path, *, fit: bool = True):
        folder.mkdir(exist_ok=True)
        self.db = folder / "p.db"
        self.maps = folder / "p.db.maps"
        self.stores = []
        self.added = 0
        if fit:
            store, fs = self.open(make_store(self.db, N))
            compute_projection(store, fs, "pca")
            compute_projection(store, fs, "tsne")

    def open(self, made):
        self.stores.append(made[0])
        return made

    def grow(self, n=5):
        """New clips with features: placing them needs the fitted models (from the files)."""
        self.added += 1
        proj._MODELS.clear()  # as in a new kernel
        return self.open(make_store(self.db, n, seed=100 + self.added, start=self.added))

    @property
    def n_clips(self) -> int:
        return N + 5 * self.added

    def close(self):
        for s in self.stores:
            s.close()


def plant(maps: Path, variant: str, marker: Path, planted: dict) -> dict:
    """Replace every model file the code wrote in ``maps`` by a malicious one; also plant
    the same pickle under the older ``.joblib`` names.

    ``planted`` (path -> bytes planted there, updated) tells files alwidget rewrote since
    (refitted maps) from files still as planted (maps not drawn since): the disguises that
    copy a genuine header take it from the file alwidget last wrote.
    """
    real = sorted(maps.glob("*.model"))
    assert {p.name.split("-")[1] for p in real} == {"pca", "tsne"}  # one per map, as written
    evil = {"fit_id": "x", "model": Evil(marker)}
    raw = pickle.dumps(evil)
    for path in real:
        data = path.read_bytes()
        if data != planted.get(path):
            planted[("genuine", path)] = data  # written by alwidget
        magic, fit_id, signature, _ = planted[("genuine", path)].split(b"\n", 3)
        if variant == "unsigned":  # what an older alwidget (joblib) or anyone else writes
            path.write_bytes(raw)
        elif variant == "another user's key":  # a project received from someone else
            write_signed(path, evil, fit_id=fit_id.decode(), key=os.urandom(32))
            assert path.read_bytes().split(b"\n", 2)[1] == fit_id  # right fit, wrong key
        elif variant == "edited":  # our header (fit, signature) kept, the pickle replaced
            path.write_bytes(b"\n".join([magic, fit_id, signature]) + b"\n" + raw)
        elif variant == "another fit":  # signed with this user's key, for another fit
            write_signed(path, evil, fit_id="0" * 24)
        elif variant == "damaged header":
            path.write_bytes(MAGIC + raw)
        else:
            raise AssertionError(variant)
        old = path.with_suffix(".joblib")  # the name older versions read
        old.write_bytes(raw)
        planted[path], planted[old] = path.read_bytes(), raw
    return planted


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_planted_model_never_runs_along_any_path(tmp_path, variant):
    project = Project(tmp_path / "project")
    marker = tmp_path / "PWNED"
    planted = {}
    for path in PATHS:
        plant(project.maps, variant, marker, planted)
        if path == "transform new clips":
            store, fs = project.grow()
            with pytest.warns(UserWarning, match="is not loaded: .*refitting the map"):
                maps = [compute_projection(store, fs, m) for m in ("pca", "tsne")]
            assert [p.n_fit for p in maps] == [project.n_clips] * 2  # refitted, not placed
        elif path == "draw a map":
            store, fs = project.grow()
            s = Session(store, classes=["no", "yes"], random_state=0)
            with pytest.warns(UserWarning, match="PCA model .* is not loaded"):
                m = MapView(s, method="pca", background=False)
            assert len(m.trace.x) == project.n_clips and m.projection.n_fit == project.n_clips
            m.close()
            s.close()
        elif path == "switch methods":
            store, fs = project.grow()
            s = Session(store, classes=["no", "yes"], random_state=0)
            with pytest.warns(UserWarning, match="is not loaded"):
                m = MapView(s, method="pca", background=False)
                m.method_box.value = "t-SNE"
            assert m.projection.method == "tsne" and m.projection.n_fit == project.n_clips
            assert len(m.trace.x) == project.n_clips and "t-SNE of" in m.info.value
            m.close()
            s.close()
        else:
            project.grow()
            out = fresh_process(project.db, os.environ["ALWIDGET_CONFIG_DIR"])
            assert out["n_fit"] == [project.n_clips] * 2
            assert out["warnings"] == 2 and all("is not loaded" in w for w in out["texts"])
        assert not marker.exists(), f"{variant} model ran code along '{path}'"
        assert all(p.exists() for p in planted if isinstance(p, Path))
    project.close()


def fresh_process(db: Path, config: str, *, forbid_fit: bool = False) -> dict:
    """Draw the PCA and t-SNE maps of ``db`` in a new Python process (a new kernel)."""
    script = textwrap.dedent(f"""
        import json, warnings
        import alwidget.projections as proj
        from alwidget.projections import compute_projection
        from alwidget.store import Store
        if {forbid_fit!r}:
            def no_fit(*a, **k):
                raise AssertionError("refitted")
            proj._fit = no_fit
        store = Store({str(db)!r})
        fs = store.feature_set("toy", {{}}, 8)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            maps = [compute_projection(store, fs, m) for m in ("pca", "tsne")]
        texts = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
        print(json.dumps({{"n_fit": [p.n_fit for p in maps], "n": [len(p.clip_ids) for p in maps],
                          "warnings": len(texts), "texts": texts}}))
    """)
    env = {**os.environ, "ALWIDGET_CONFIG_DIR": config}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_model_signed_by_this_user_is_reused_without_refitting(tmp_path, monkeypatch):
    project = Project(tmp_path / "project")
    first = compute_projection(project.stores[0], project.stores[0].feature_set("toy", {}, 8),
                               "tsne")
    store, fs = project.grow()

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although a signed model was at hand")

    monkeypatch.setattr(proj, "_fit", no_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not loaded" warning either
        again = compute_projection(store, fs, "tsne")
        pca = compute_projection(store, fs, "pca")
    assert again.n_fit == N and pca.n_fit == N and len(again.clip_ids) == N + 5
    assert np.array_equal(again.coords[:N], first.coords)  # old clips kept their place
    project.grow()  # and in a new process, with the same user's key
    out = fresh_process(project.db, os.environ["ALWIDGET_CONFIG_DIR"], forbid_fit=True)
    assert out == {"n_fit": [N, N], "n": [N + 10] * 2, "warnings": 0, "texts": []}
    project.close()


def test_a_project_received_from_someone_else_refits_its_maps(tmp_path):
    project = Project(tmp_path / "theirs")
    project.close()
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(project.db, mine / "p.db")
    shutil.copytree(project.maps, mine / "p.db.maps")
    received = Project(mine, fit=False)  # the copy, grown here
    received.grow()
    out = fresh_process(received.db, str(tmp_path / "my-config"))
    assert out["n_fit"] == [N + 5] * 2 and out["warnings"] == 2
    assert all("does not match this user's key" in t for t in out["texts"])
    received.grow()  # refitted maps are signed with the receiver's key: reused from now on
    out = fresh_process(received.db, str(tmp_path / "my-config"), forbid_fit=True)
    assert out["n_fit"] == [N + 5] * 2 and out["warnings"] == 0
    received.close()


def test_the_key_lives_in_the_users_config_folder_with_mode_0600(tmp_path, own_config):
    project = Project(tmp_path / "project")
    key = own_config / KEY_NAME
    assert key.exists() and not list((tmp_path / "project").rglob(KEY_NAME))
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(own_config.stat().st_mode) == 0o700
        key.chmod(0o644)  # others could read it, and sign what they plant
        with pytest.raises(Untrusted, match="chmod 600"):
            signing_key()
        store, fs = project.grow()
        with pytest.warns(UserWarning) as seen:
            assert compute_projection(store, fs, "tsne").n_fit == project.n_clips
        texts = [str(w.message) for w in seen]
        assert any("is not loaded" in t and "chmod 600" in t for t in texts)
        assert any("is not saved" in t and "chmod 600" in t for t in texts)
        key.chmod(0o600)
    assert signing_key() == signing_key() and len(signing_key()) == 32
    project.close()


def test_each_signature_covers_name_fit_and_bytes(tmp_path):
    path = tmp_path / "m.model"
    write_signed(path, {"a": np.arange(3)}, fit_id="f1")
    assert np.array_equal(read_signed(path, fit_id="f1")["a"], np.arange(3))
    moved = tmp_path / "other-name.model"
    shutil.copy(path, moved)  # a signed model of another map, renamed into this one's place
    with pytest.raises(Untrusted, match="does not match"):
        read_signed(moved, fit_id="f1")
    with pytest.raises(Untrusted, match="another fit"):
        read_signed(path, fit_id="f2")
    data = bytearray(path.read_bytes())
    data[-2] ^= 1  # one bit of the pickle
    path.write_bytes(bytes(data))
    with pytest.raises(Untrusted, match="does not match"):
        read_signed(path, fit_id="f1")
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # writes leave no temp files


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and FIFOs")
def test_links_and_fifos_are_refused_without_reading_them(tmp_path):
    target = tmp_path / "elsewhere.model"
    write_signed(target, {"a": 1}, fit_id="f1")
    link = tmp_path / "link.model"
    link.symlink_to(target)
    with pytest.raises(Untrusted, match="symbolic link"):
        read_signed(link, fit_id="f1")
    fifo = tmp_path / "fifo.model"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(Untrusted, match="not a regular file"):
        read_signed(fifo, fit_id="f1")
