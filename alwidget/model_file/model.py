"""Saved models: a fitted learner in a file that cannot run code, with its model card.

A model file is one zip archive holding

* ``card.json`` — the **model card**, plain JSON: the classes, the target and decision
  threshold, the feature set the model reads (extractor, config hash, dim), the label
  events it was trained on (event ids, clip ids, labels), its validation metrics, and the
  learner itself as a tree of trusted type names, parameters and learned values;
* ``arrays/<name>.npy`` — every learned array (a forest's nodes, a regression's
  coefficients), each pinned in the card by its SHA-256, dtype and shape.

**Loading never runs code from the file.** No pickle is written or read: arrays are read
with ``allow_pickle=False``, and a learner is rebuilt only from the types listed in
:data:`TRUSTED_TYPES` (alwidget's learners and the scikit-learn parts of the committee),
by calling their constructor with the card's parameters and setting the learned values.
A card naming any other type, an array that does not match its hash, a truncated file or
a file that is not an alwidget model is refused with an error naming the file.

A model's id (:attr:`SavedModel.model_id`) is a short hash of its card, which pins every
array: the same model saved twice has the same id, and any change to the file changes it.

Examples
--------
>>> import numpy as np
>>> from alwidget.learn import RandomForest
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
>>> forest = RandomForest(n_estimators=5, bootstrap=False, random_state=0)
>>> forest = forest.fit(X, ["rain", "rain", "bird", "bird"])
>>> fs = {"extractor": "logmel", "config_hash": "0123abcd", "dim": 1}
>>> path = getfixture("tmp_path") / "bird.alwmodel"
>>> saved = save_model(path, forest, classes=["rain", "bird"], target="bird", threshold=0.4,
...                    feature_set=fs)
>>> from alwidget.model_file import load_model
>>> model = load_model(path)
>>> model.classes, model.target, model.threshold, model.model_id == saved.model_id
(('rain', 'bird'), 'bird', 0.4, True)
>>> model.predict_proba(np.array([[0.2], [2.9]], np.float32))
array([[1., 0.],
       [0., 1.]], dtype=float32)
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ..store import FeatureSet, Store
from .codec import ARRAYS_PREFIX, CARD_NAME, array_entry, card_id, encode, type_name

__all__ = ["FORMAT", "FORMAT_VERSION", "SavedModel", "feature_set_of_card", "save_model"]

#: What ``card.json`` says it is, and the version of its layout this alwidget writes.
FORMAT = "alwidget-model"
FORMAT_VERSION = 1

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes


# --------------------------------------------------------------------------- the saved model
@dataclass(frozen=True, eq=False)
class SavedModel:
    """A model read from (or written to) a model file.

    Attributes
    ----------
    model_id : str
        Short hash of the file's content (its card, which pins every array by SHA-256).
    classes : tuple of str
        The column order of :meth:`predict_proba`.
    target : str or None
        The positive class of a binary task (None with more than two classes).
    threshold : float or None
        Decision threshold on P(target) for a binary task; None means "the most likely class".
    feature_set : dict
        ``{"extractor", "config_hash", "dim"}`` of the features the model reads.
    card : dict
        The model card, as stored in the file's ``card.json``.
    path : Path or None
        The file it was read from or written to.
    learner : classifier
        The fitted learner, rebuilt from :data:`TRUSTED_TYPES` only.
    columns : ndarray of int64
        The learner's probability column of each of :attr:`classes`.
    """

    model_id: str
    classes: tuple[str, ...]
    target: str | None
    threshold: float | None
    feature_set: dict
    card: dict
    path: Path | None = None
    learner: object = field(default=None, repr=False)
    columns: np.ndarray = field(default=None, repr=False)  # learner's column of each class

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each row of ``X``, columns in the order of :attr:`classes`.

        Parameters
        ----------
        X : array of float32, shape (n, dim)
            Features from the model's feature set (:meth:`check_feature_set`).

        Returns
        -------
        ndarray of float32, shape (n, n_classes)
            The learner's probabilities as the loop core keeps them (float32), so
            ``P[:, classes.index(target)] >= threshold`` decides each clip exactly as the
            session that saved the model did.

        Examples
        --------
        >>> import numpy as np
        >>> from alwidget.learn import RandomForest
        >>> rf = RandomForest(n_estimators=3, random_state=0).fit([[0.0], [1.0]], ["a", "b"])
        >>> path = getfixture("tmp_path") / "m.alwmodel"
        >>> fs = {"extractor": "toy", "config_hash": "00", "dim": 1}
        >>> model = save_model(path, rf, classes=["b", "a"], feature_set=fs)
        >>> model.predict_proba(np.array([[0.0]], np.float32))  # columns: b, a
        array([[0., 1.]], dtype=float32)
        """
        X = np.asarray(X)
        dim = self.feature_set["dim"]
        if X.ndim != 2 or X.shape[1] != dim:
            raise ValueError(f"X has shape {X.shape}, but model {self.model_id} "
                             f"({self._where()}) reads {dim} features per row: give an array of "
                             f"shape (n, {dim}) from {self._set_name(self.feature_set)}")
        if len(X) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        P = self.learner.predict_proba(X.astype(np.float32, copy=False))
        return np.asarray(P)[:, self.columns].astype(np.float32)

    def check_feature_set(self, fs: FeatureSet) -> None:
        """Refuse features of another set than the model's (extractor, config hash and dim).

        Raises
        ------
        ValueError
            Naming both sets and what to do.

        Examples
        --------
        >>> from alwidget.store import FeatureSet
        >>> from alwidget.learn import RandomForest
        >>> rf = RandomForest(n_estimators=2, random_state=0).fit([[0.0], [1.0]], ["a", "b"])
        >>> fs = FeatureSet(1, "logmel", "5eed", {}, 1)
        >>> model = save_model(getfixture("tmp_path") / "m.alwmodel", rf, classes=["a", "b"],
        ...                    feature_set=fs)
        >>> model.check_feature_set(fs)
        >>> model.check_feature_set(FeatureSet(2, "yamnet", "beef", {}, 1024))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model ... was trained on logmel:5eed features (dim 1), not on yamnet:beef ...
        """
        mine = self.feature_set
        if (fs.extractor, fs.config_hash, int(fs.dim)) != (
                mine["extractor"], mine["config_hash"], int(mine["dim"])):
            raise ValueError(
                f"model {self.model_id} ({self._where()}) was trained on "
                f"{self._set_name(mine)} features (dim {mine['dim']}), not on "
                f"{fs.extractor}:{fs.config_hash} features (dim {fs.dim}): extract the "
                f"model's features ({mine['extractor']} with the configuration in its card) "
                "or use a model trained on these")

    def feature_set_in(self, store: Store) -> FeatureSet:
        """The feature set of ``store`` this model reads.

        Raises
        ------
        ValueError
            When the store has no such set (saying which extractor and configuration to run).

        Examples
        --------
        >>> from alwidget.learn import RandomForest
        >>> from alwidget.store import Store
        >>> store = Store(":memory:")
        >>> fs = store.feature_set("toy", {"n": 1}, 1)
        >>> rf = RandomForest(n_estimators=2, random_state=0).fit([[0.0], [1.0]], ["a", "b"])
        >>> model = save_model(getfixture("tmp_path") / "m.alwmodel", rf, classes=["a", "b"],
        ...                    feature_set=fs)
        >>> model.feature_set_in(store) == fs
        True
        """
        for fs in store.feature_sets():
            if (fs.extractor, fs.config_hash) == (self.feature_set["extractor"],
                                                   self.feature_set["config_hash"]):
                self.check_feature_set(fs)
                return fs
        config = self.card.get("feature_set", {}).get("config")
        how = "" if config is None else f" with config {json.dumps(config, sort_keys=True)}"
        raise ValueError(
            f"model {self.model_id} ({self._where()}) reads {self._set_name(self.feature_set)} "
            f"features (dim {self.feature_set['dim']}), which this store does not have: "
            f"extract them first (extractor {self.feature_set['extractor']!r}{how})")

    def _where(self) -> str:
        return "not saved" if self.path is None else f"file {os.fsdecode(self.path)!r}"

    @staticmethod
    def _set_name(fs: dict) -> str:
        return f"{fs['extractor']}:{fs['config_hash']}"


# --------------------------------------------------------------------------- saving
def save_model(path, learner, *, classes, target=None, threshold=None, feature_set,
               trained_on=None, metrics=None, store=None) -> SavedModel:
    """Write a fitted learner and its model card to ``path`` (nothing in it can run code).

    Parameters
    ----------
    path : str or Path
        The model file to write (replaced whole if it exists: written aside, then renamed).
    learner : fitted classifier
        One of :data:`TRUSTED_TYPES` (e.g. :func:`alwidget.learn.default_model` fitted, or a
        :class:`~alwidget.learn.Learner` around it, as sessions hold).
    classes : sequence of str
        The model's classes, in the column order :meth:`SavedModel.predict_proba` gives;
        the same classes as the learner's ``classes_`` (in any order).
    target : str, optional
        The positive class of a binary task; default the last of ``classes`` when there are
        two, None otherwise.
    threshold : float, optional
        Decision threshold on P(target) (binary tasks only); None means the most likely class.
    feature_set : FeatureSet or dict
        The features the model reads: a store's :class:`~alwidget.store.FeatureSet`, or a
        dict with ``extractor``, ``config_hash`` and ``dim`` (and optionally ``config``).
    trained_on : dict or sequence of (event_id, clip_id, label), optional
        The label events the model was fitted on: ``{"event_ids", "clip_ids", "labels"}`` of
        equal lengths (optionally ``"pseudo_clip_ids"``, ``"pseudo_labels"``), or triples.
    metrics : dict, optional
        Validation metrics (JSON numbers and text), kept as given.
    store : Store, optional
        Record the model in this store (:meth:`~alwidget.store.Store.add_model`).

    Returns
    -------
    SavedModel
        The model as it will load (its learner is the one given).

    Examples
    --------
    >>> import json, zipfile
    >>> from alwidget.learn import RandomForest
    >>> rf = RandomForest(n_estimators=2, random_state=0).fit([[0.0], [1.0]], ["bg", "dog"])
    >>> path = getfixture("tmp_path") / "dog.alwmodel"
    >>> fs = {"extractor": "toy", "config_hash": "00", "dim": 1}
    >>> m = save_model(path, rf, classes=["bg", "dog"], threshold=0.3, feature_set=fs,
    ...                trained_on=[(7, 1, "bg"), (8, 2, "dog")], metrics={"f1": 1.0})
    >>> card = json.loads(zipfile.ZipFile(path).read("card.json"))
    >>> card["target"], card["trained_on"]["clip_ids"], card["metrics"]
    ('dog', [1, 2], {'f1': 1.0})
    """
    path = Path(os.fsdecode(path)) if not isinstance(path, Path) else path
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes={list(classes)!r} must list at least two distinct classes")
    fitted = getattr(learner, "classes_", None)
    if fitted is None:
        raise ValueError(f"learner {type(learner).__name__} is not fitted (no classes_): fit it "
                         "before saving")
    fitted = [str(c) for c in np.asarray(fitted).tolist()]
    if sorted(fitted) != sorted(classes):
        raise ValueError(f"classes={list(classes)!r} differ from the learner's classes "
                         f"{fitted!r}: give the classes it was fitted with")
    columns = np.array([fitted.index(c) for c in classes], np.int64)
    if target is None and len(classes) == 2:
        target = classes[-1]
    if target is not None:
        target = str(target)
        if target not in classes:
            raise ValueError(f"target={target!r} is not one of classes={list(classes)!r}")
    if threshold is not None:
        if len(classes) != 2:
            raise ValueError(f"threshold={threshold!r} is for a binary task; with "
                             f"{len(classes)} classes give threshold=None (most likely class)")
        if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                or not 0.0 <= float(threshold) <= 1.0):
            raise ValueError(f"threshold={threshold!r} must be a probability in [0, 1] or None")
        threshold = float(threshold)
    fs_card = _feature_set_card(feature_set)

    arrays: dict[str, np.ndarray] = {}
    spec = encode(learner, arrays, "learner")
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "alwidget_version": _version(),
        "classes": list(classes),
        "target": target,
        "threshold": threshold,
        "feature_set": fs_card,
        "learner_type": type_name(learner),
        "learner": spec,
        "arrays": {name: array_entry(a) for name, a in sorted(arrays.items())},
        "trained_on": _trained_on(trained_on),
        "metrics": None if metrics is None else _plain(metrics, "metrics"),
    }
    text = json.dumps(card, sort_keys=True, indent=1, allow_nan=False)
    model_id = card_id(card)
    tmp = path.with_name(path.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(zipfile.ZipInfo(CARD_NAME, _ZIP_TIME), text.encode(),
                       compress_type=zipfile.ZIP_DEFLATED)
            for name, a in sorted(arrays.items()):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                z.writestr(zipfile.ZipInfo(f"{ARRAYS_PREFIX}{name}.npy", _ZIP_TIME), buf.getvalue(),
                           compress_type=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    saved = SavedModel(model_id, classes, target, threshold, feature_set_of_card(fs_card),
                       json.loads(text), path, learner, columns)
    if store is not None:
        store.add_model(model_id, _store_set(saved, store, feature_set), saved.card)
    return saved


def _store_set(saved: SavedModel, store: Store, feature_set) -> FeatureSet | None:
    if isinstance(feature_set, FeatureSet):
        return feature_set
    try:
        return saved.feature_set_in(store)
    except ValueError:
        return None


def _feature_set_card(fs) -> dict:
    if isinstance(fs, FeatureSet):
        return {"extractor": fs.extractor, "config_hash": fs.config_hash, "dim": int(fs.dim),
                "config": _plain(fs.config, "feature_set.config")}
    if isinstance(fs, dict) and {"extractor", "config_hash", "dim"} <= set(fs):
        dim = fs["dim"]
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"feature_set dim={dim!r} must be a positive integer")
        out = {"extractor": str(fs["extractor"]), "config_hash": str(fs["config_hash"]),
               "dim": int(dim)}
        if fs.get("config") is not None:
            out["config"] = _plain(fs["config"], "feature_set.config")
        return out
    raise ValueError(f"feature_set={fs!r} must be a store FeatureSet or a dict with "
                     "'extractor', 'config_hash' and 'dim'")


def feature_set_of_card(fs_card: dict) -> dict:
    """The three keys of a card's feature set that :attr:`SavedModel.feature_set` holds."""
    return {k: fs_card[k] for k in ("extractor", "config_hash", "dim")}


def _trained_on(trained_on) -> dict | None:
    if trained_on is None:
        return None
    if isinstance(trained_on, dict):
        out = {k: list(trained_on.get(k, ())) for k in ("event_ids", "clip_ids", "labels")}
        extra = sorted(set(trained_on) - {"event_ids", "clip_ids", "labels", "pseudo_clip_ids",
                                          "pseudo_labels"})
        if extra:
            raise ValueError(f"trained_on has unknown keys {extra}; give event_ids, clip_ids, "
                             "labels (and optionally pseudo_clip_ids, pseudo_labels)")
        pseudo = {k: list(trained_on.get(k, ())) for k in ("pseudo_clip_ids", "pseudo_labels")}
    else:
        rows = [tuple(t) for t in trained_on]
        if any(len(t) != 3 for t in rows):
            raise ValueError("trained_on must hold (event_id, clip_id, label) triples")
        out = {"event_ids": [t[0] for t in rows], "clip_ids": [t[1] for t in rows],
               "labels": [t[2] for t in rows]}
        pseudo = {"pseudo_clip_ids": [], "pseudo_labels": []}
    if not len(out["event_ids"]) == len(out["clip_ids"]) == len(out["labels"]):
        raise ValueError(f"trained_on has {len(out['event_ids'])} event ids, "
                         f"{len(out['clip_ids'])} clip ids and {len(out['labels'])} labels: "
                         "give one of each per label")
    if len(pseudo["pseudo_clip_ids"]) != len(pseudo["pseudo_labels"]):
        raise ValueError("trained_on: pseudo_clip_ids and pseudo_labels differ in length")
    out["event_ids"] = [None if e is None else int(e) for e in out["event_ids"]]
    out["clip_ids"] = [int(c) for c in out["clip_ids"]]
    out["labels"] = [str(v) for v in out["labels"]]
    if pseudo["pseudo_clip_ids"]:
        out["pseudo_clip_ids"] = [int(c) for c in pseudo["pseudo_clip_ids"]]
        out["pseudo_labels"] = [str(v) for v in pseudo["pseudo_labels"]]
    out["n_labels"] = len(out["labels"])
    return out


def _plain(value, where: str):
    """``value`` as plain JSON (numpy scalars and arrays become numbers and lists)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"{where}={value!r} is not a finite number (JSON has no NaN or inf)")
        return float(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"{where}={value!r} ({type(value).__name__}) is not JSON: give numbers, "
                     "text, lists or dicts")


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("alwidget")
    except Exception:  # not installed (a source checkout on the path)
        return None


