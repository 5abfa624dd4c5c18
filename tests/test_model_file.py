"""Saved models: the same probabilities after loading, a JSON card, and nothing in a file runs."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alwidget.learn import Committee, Learner, MedoidPropagation, RandomForest, default_model
from alwidget.model_file import TRUSTED_TYPES, load_model, save_model
from alwidget.store import Store

FS = {"extractor": "toy", "config_hash": "c0ffee", "dim": 6}


def data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=n) > 0.8, "bird", "bg")
    return X, y


def forest(seed=1):
    X, y = data()
    return default_model().set_params(random_state=seed).fit(X, y)


LEARNERS = {
    "default forest": lambda X, y: default_model().set_params(random_state=3).fit(X, y),
    "Learner(forest) with an unseen class": lambda X, y: Learner(
        RandomForest(n_estimators=20, random_state=0, class_weight="balanced"),
        ["bg", "bird", "dog"]).fit(X, y),
    "Learner(committee)": lambda X, y: Learner(Committee(classes=["bg", "bird"]),
                                               ["bg", "bird"]).fit(X, y),
    "Learner(scaler + logistic regression)": lambda X, y: Learner(
        make_pipeline(StandardScaler(), LogisticRegression())).fit(X, y),
    "medoid propagation": lambda X, y: MedoidPropagation().fit(X, y),
    "one class labeled": lambda X, y: Learner(RandomForest(), ["bg", "bird"]).fit(X[:3],
                                                                                  ["bg"] * 3),
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_save_then_load_gives_the_same_probabilities_bit_for_bit(tmp_path, name):
    X, y = data()
    learner = LEARNERS[name](X, y)
    classes = [str(c) for c in learner.classes_]
    saved = save_model(tmp_path / "m.alwmodel", learner, classes=classes, feature_set=FS)
    model = load_model(tmp_path / "m.alwmodel")
    X_new, _ = data(seed=9, n=300)
    P = model.predict_proba(X_new)
    assert P.dtype == np.float32  # as the loop core keeps them
    assert np.array_equal(P, learner.predict_proba(X_new).astype(np.float32))
    assert model.model_id == saved.model_id and len(model.model_id) == 16
    assert model.classes == tuple(classes) and model.feature_set == FS
    assert type(model.learner) is type(learner)


def test_columns_follow_the_given_class_order(tmp_path):
    X, y = data()
    rf = forest()  # classes_ sorted: bg, bird
    model = save_model(tmp_path / "m.alwmodel", rf, classes=["bird", "bg"], feature_set=FS)
    loaded = load_model(model.path)
    assert loaded.classes == ("bird", "bg") and loaded.target == "bg"  # the last of two
    assert np.array_equal(loaded.predict_proba(X), rf.predict_proba(X)[:, ::-1].astype(np.float32))


def test_the_same_model_gets_the_same_id_and_bytes_and_another_model_another(tmp_path):
    rf = forest()
    a = save_model(tmp_path / "a.alwmodel", rf, classes=["bg", "bird"], threshold=0.3,
                   feature_set=FS)
    b = save_model(tmp_path / "b.alwmodel", rf, classes=["bg", "bird"], threshold=0.3,
                   feature_set=FS)
    assert a.model_id == b.model_id
    assert (tmp_path / "a.alwmodel").read_bytes() == (tmp_path / "b.alwmodel").read_bytes()
    c = save_model(tmp_path / "c.alwmodel", rf, classes=["bg", "bird"], threshold=0.4,
                   feature_set=FS)
    d = save_model(tmp_path / "d.alwmodel", forest(seed=2), classes=["bg", "bird"],
                   threshold=0.3, feature_set=FS)
    assert len({a.model_id, c.model_id, d.model_id}) == 3


def test_the_card_is_plain_json_with_everything_the_model_needs(tmp_path):
    store = Store(tmp_path / "p.db")
    fs = store.feature_set("logmel", {"n_mels": 64}, 6)
    trained = {"event_ids": [11, 12, 13], "clip_ids": [1, 2, 3], "labels": ["bg", "bird", "bg"]}
    saved = save_model(tmp_path / "m.alwmodel", forest(), classes=["bg", "bird"], target="bird",
                       threshold=np.float64(0.35), feature_set=fs, trained_on=trained,
                       metrics={"f1": np.float64(0.8), "n_labels": np.int64(3)}, store=store)
    with zipfile.ZipFile(tmp_path / "m.alwmodel") as z:
        card = json.loads(z.read("card.json"))
        assert all(n == "card.json" or (n.startswith("arrays/") and n.endswith(".npy"))
                   for n in z.namelist())
    assert card == saved.card
    assert card["format"] == "alwidget-model" and card["format_version"] == 1
    assert (card["classes"], card["target"], card["threshold"]) == (["bg", "bird"], "bird", 0.35)
    assert card["feature_set"] == {"extractor": "logmel", "config_hash": fs.config_hash,
                                   "dim": 6, "config": {"n_mels": 64}}
    assert card["trained_on"] == {**trained, "n_labels": 3}
    assert card["metrics"] == {"f1": 0.8, "n_labels": 3}
    assert card["learner_type"] == "alwidget.learn.RandomForest"
    assert card["learner"]["params"]["n_estimators"] == 100
    assert set(card["arrays"]) and all(set(e) == {"sha256", "dtype", "shape"}
                                       for e in card["arrays"].values())
    assert saved.feature_set == {"extractor": "logmel", "config_hash": fs.config_hash, "dim": 6}
    # recorded in the store given, committed (another connection sees it)
    assert Store(tmp_path / "p.db").model_cards() == {saved.model_id: card}


def test_trained_on_as_triples(tmp_path):
    saved = save_model(tmp_path / "m.alwmodel", forest(), classes=["bg", "bird"], feature_set=FS,
                       trained_on=[(5, 50, "bg"), (6, 60, "bird")])
    assert saved.card["trained_on"] == {"event_ids": [5, 6], "clip_ids": [50, 60],
                                        "labels": ["bg", "bird"], "n_labels": 2}


# --------------------------------------------------------------------------- nothing runs
class Planted:
    """Unpickling this writes a file: the proof that a pickle was run."""

    marker = None

    def __reduce__(self):
        return (open, (str(Planted.marker), "w"))


def rewrite(path, replace=None, add=None):
    """The model file at ``path`` with members replaced or added (a tampered copy)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members.update(replace or {})
    members.update(add or {})
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def npy_bytes(a, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.fixture
def saved(tmp_path):
    return save_model(tmp_path / "m.alwmodel", forest(), classes=["bg", "bird"], feature_set=FS)


def test_a_planted_pickle_member_is_refused_and_never_run(tmp_path, saved):
    Planted.marker = tmp_path / "pwned"
    rewrite(saved.path, add={"learner.pkl": pickle.dumps(Planted())})
    with pytest.raises(ValueError, match=r"m\.alwmodel.*tampered.*learner\.pkl"):
        load_model(saved.path)
    assert not Planted.marker.exists()


def test_a_pickled_object_array_is_refused_and_never_run(tmp_path, saved):
    Planted.marker = tmp_path / "pwned"
    evil = np.array([Planted()], dtype=object)
    name = sorted(saved.card["arrays"])[0]
    rewrite(saved.path, replace={f"arrays/{name}.npy": npy_bytes(evil, allow_pickle=True)})
    with pytest.raises(ValueError, match=r"m\.alwmodel.*cannot be read without running code"):
        load_model(saved.path)
    assert not Planted.marker.exists()


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "pickle.loads",
                                  "sklearn.ensemble.RandomForestClassifier"])
def test_a_card_naming_an_unknown_type_is_refused(saved, kind):
    card = dict(saved.card)
    card["learner"] = {"type": kind, "params": {}, "state": {}}
    rewrite(saved.path, replace={"card.json": json.dumps(card).encode()})
    with pytest.raises(ValueError, match=rf"m\.alwmodel.*names type '{kind}'.*nothing in it "
                                         "was run"):
        load_model(saved.path)


@pytest.mark.parametrize("attribute", ["__class__", "predict_proba", "n_estimators", "a b"])
def test_an_attribute_a_card_may_not_set_is_refused(saved, attribute):
    card = json.loads(json.dumps(saved.card))
    card["learner"]["state"][attribute] = "x"
    rewrite(saved.path, replace={"card.json": json.dumps(card).encode()})
    with pytest.raises(ValueError, match=r"m\.alwmodel.*not attribute names a fitted"):
        load_model(saved.path)


@pytest.mark.parametrize("edit, message", [
    (dict(target="owl"), "its target 'owl' is not one of its classes"),
    (dict(target=None, threshold=0.4), "a decision threshold needs a binary task with a target"),
    (dict(feature_set={"extractor": "logmel", "config_hash": "00", "dim": "296"}),
     "is not an extractor, a config hash and a positive dimension"),
])
def test_a_card_that_contradicts_itself_is_refused(saved, edit, message):
    card = json.loads(json.dumps(saved.card)) | edit
    rewrite(saved.path, replace={"card.json": json.dumps(card).encode()})
    with pytest.raises(ValueError, match=rf"m\.alwmodel.*{message}"):
        load_model(saved.path)


def test_an_array_that_does_not_match_its_hash_is_refused(saved):
    name = next(n for n, e in saved.card["arrays"].items() if e["dtype"] == "<f8")
    with zipfile.ZipFile(saved.path) as z:
        a = np.load(io.BytesIO(z.read(f"arrays/{name}.npy")))
    a = a.copy()
    a.flat[0] += 0.25  # a forest's threshold or leaf value changed
    rewrite(saved.path, replace={f"arrays/{name}.npy": npy_bytes(a)})
    with pytest.raises(ValueError, match=rf"m\.alwmodel.*array '{name}' does not match the hash"):
        load_model(saved.path)


def test_a_missing_array_is_refused(saved):
    with zipfile.ZipFile(saved.path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    first = sorted(n for n in members if n.startswith("arrays/"))[0]
    del members[first]
    with zipfile.ZipFile(saved.path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match=r"m\.alwmodel.*are not those its card lists"):
        load_model(saved.path)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_truncated_file_is_refused(saved, keep):
    data_ = saved.path.read_bytes()
    saved.path.write_bytes(data_[:int(len(data_) * keep)])
    with pytest.raises(ValueError, match=r"m\.alwmodel.*damaged or truncated"):
        load_model(saved.path)


def test_any_changed_byte_is_refused_or_changes_nothing_the_model_holds(saved):
    raw = saved.path.read_bytes()
    outcomes = set()
    for pos in np.random.default_rng(0).integers(0, len(raw), 150):
        changed = bytearray(raw)
        changed[pos] ^= 0xFF
        saved.path.write_bytes(bytes(changed))
        try:
            model = load_model(saved.path)
        except ValueError as exc:
            assert "m.alwmodel" in str(exc)
            outcomes.add("refused")
        else:  # a byte of zip bookkeeping (a timestamp): the model is the same
            assert model.model_id == saved.model_id
            outcomes.add("same")
    assert "refused" in outcomes


def test_files_that_are_not_models_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ValueError, match=r"notes\.txt' is not an alwidget model file"):
        load_model(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.md", "hello")
    with pytest.raises(ValueError, match=r"other\.zip' is not an alwidget model file.*no card"):
        load_model(other)
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.arange(3))
    with pytest.raises(ValueError, match=r"arrays\.npz' is not an alwidget model file"):
        load_model(npz)
    card = tmp_path / "card.zip"
    with zipfile.ZipFile(card, "w") as z:
        z.writestr("card.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"card\.zip' is not an alwidget model file.*format"):
        load_model(card)
    with pytest.raises(FileNotFoundError, match=r"missing\.alwmodel"):
        load_model(tmp_path / "missing.alwmodel")


def test_a_file_from_a_newer_alwidget_is_refused(saved):
    card = dict(saved.card, format_version=99)
    rewrite(saved.path, replace={"card.json": json.dumps(card).encode()})
    with pytest.raises(ValueError, match=r"format version 99.*upgrade alwidget"):
        load_model(saved.path)


# --------------------------------------------------------------------------- feature sets
def test_a_model_of_another_feature_set_is_refused(tmp_path):
    store = Store(tmp_path / "p.db")
    mine = store.feature_set("logmel", {"n_mels": 64}, 6)
    other = store.feature_set("logmel", {"n_mels": 32}, 6)
    model = load_model(save_model(tmp_path / "m.alwmodel", forest(), classes=["bg", "bird"],
                                  feature_set=mine).path)
    model.check_feature_set(mine)
    with pytest.raises(ValueError) as err:
        model.check_feature_set(other)
    msg = str(err.value)
    assert f"logmel:{mine.config_hash}" in msg and f"logmel:{other.config_hash}" in msg
    assert "m.alwmodel" in msg and "extract" in msg
    assert model.feature_set_in(store) == mine
    elsewhere = Store(tmp_path / "q.db")
    elsewhere.feature_set("logmel", {"n_mels": 32}, 6)
    with pytest.raises(ValueError, match=r"does not have: extract them first \(extractor "
                                         r"'logmel' with config \{\"n_mels\": 64\}\)"):
        model.feature_set_in(elsewhere)


def test_features_of_another_width_are_refused_by_predict_proba(saved):
    with pytest.raises(ValueError, match=r"shape \(4, 5\).*reads 6 features.*toy:c0ffee"):
        saved.predict_proba(np.zeros((4, 5), np.float32))
    assert saved.predict_proba(np.zeros((0, 6), np.float32)).shape == (0, 2)


# --------------------------------------------------------------------------- saving errors
def test_what_cannot_be_saved_is_refused_before_anything_is_written(tmp_path):
    X, y = data()
    path = tmp_path / "m.alwmodel"
    with pytest.raises(ValueError, match="not fitted"):
        save_model(path, RandomForest(), classes=["bg", "bird"], feature_set=FS)
    with pytest.raises(TypeError, match="RandomForestClassifier cannot be saved"):
        save_model(path, RandomForestClassifier(n_estimators=3).fit(X, y), classes=["bg", "bird"],
                   feature_set=FS)
    with pytest.raises(ValueError, match="differ from the learner's classes"):
        save_model(path, forest(), classes=["bg", "dog"], feature_set=FS)
    with pytest.raises(ValueError, match="target='dog' is not one of"):
        save_model(path, forest(), classes=["bg", "bird"], target="dog", feature_set=FS)
    three = Learner(LogisticRegression(), ["a", "b", "c"]).fit(X, np.where(y == "bg", "a", "b"))
    with pytest.raises(ValueError, match="threshold=0.5 is for a binary task"):
        save_model(path, three, classes=["a", "b", "c"], threshold=0.5, feature_set=FS)
    with pytest.raises(ValueError, match="threshold=1.5 must be a probability"):
        save_model(path, forest(), classes=["bg", "bird"], threshold=1.5, feature_set=FS)
    with pytest.raises(ValueError, match="feature_set=.*must be a store FeatureSet"):
        save_model(path, forest(), classes=["bg", "bird"], feature_set={"dim": 6})
    with pytest.raises(ValueError, match="metrics.f1=nan is not a finite number"):
        save_model(path, forest(), classes=["bg", "bird"], feature_set=FS,
                   metrics={"f1": float("nan")})
    with pytest.raises(ValueError, match="2 event ids, 2 clip ids and 1 labels"):
        save_model(path, forest(), classes=["bg", "bird"], feature_set=FS,
                   trained_on={"event_ids": [1, 2], "clip_ids": [1, 2], "labels": ["bg"]})
    assert list(tmp_path.iterdir()) == []


def test_saving_replaces_a_file_whole(tmp_path):
    path = tmp_path / "m.alwmodel"
    path.write_text("an older file")
    saved = save_model(path, forest(), classes=["bg", "bird"], feature_set=FS)
    assert load_model(path).model_id == saved.model_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.alwmodel"]


def test_the_trusted_types_are_learners_and_the_committees_parts():
    assert set(TRUSTED_TYPES) == {
        "alwidget.learn.RandomForest", "alwidget.learn.Learner", "alwidget.learn.Committee",
        "alwidget.learn.MedoidPropagation", "sklearn.linear_model.LogisticRegression",
        "alwidget.learn.CRNN", "alwidget.learn.EmbeddingHead",
        "sklearn.preprocessing.StandardScaler", "sklearn.pipeline.Pipeline"}
