"""Reading a model file: :func:`load_model` (nothing in the file is run)."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .codec import ARRAYS_PREFIX, CARD_NAME, Refused, array_hash, card_id, decode, type_name
from .model import FORMAT, FORMAT_VERSION, SavedModel, feature_set_of_card

__all__ = ["load_model"]


# --------------------------------------------------------------------------- loading
def load_model(path) -> SavedModel:
    """Read a model file written by :func:`save_model`; nothing in it is run.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SavedModel

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file: not an alwidget model, damaged or truncated, tampered with (an
        array that does not match its hash in the card, a type alwidget does not load), or
        written by a newer alwidget.

    Examples
    --------
    >>> from alwidget.learn import RandomForest
    >>> from alwidget.model_file import save_model
    >>> rf = RandomForest(n_estimators=2, random_state=0).fit([[0.0], [1.0]], ["a", "b"])
    >>> path = getfixture("tmp_path") / "m.alwmodel"
    >>> fs = {"extractor": "toy", "config_hash": "00", "dim": 1}
    >>> _ = save_model(path, rf, classes=["a", "b"], feature_set=fs)
    >>> load_model(path).feature_set
    {'extractor': 'toy', 'config_hash': '00', 'dim': 1}
    >>> _ = path.write_text("hello")
    >>> load_model(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... is not an alwidget model file (not a zip archive...
    """
    path = Path(os.fsdecode(path)) if not isinstance(path, Path) else path
    shown = repr(os.fsdecode(path))
    if not path.is_file():
        raise FileNotFoundError(f"model file {shown} does not exist")
    not_model = (f"{shown} is not an alwidget model file (%s); model files are written by "
                 "alwidget.model_file.save_model or Session.save_model")
    damaged = f"model file {shown} is damaged or truncated (%s); save the model again"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if CARD_NAME not in names:
                raise ValueError(not_model % "no card.json inside")
            try:
                card = json.loads(z.read(CARD_NAME).decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(damaged % f"card.json is not JSON: {exc}") from None
            if not isinstance(card, dict):
                raise ValueError(not_model % "its card.json is not a JSON object")
            if card.get("format") != FORMAT:
                raise ValueError(not_model % f"its card.json does not say format={FORMAT!r}")
            version = card.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise ValueError(f"model file {shown} has format version {version!r}, newer than "
                                 f"this alwidget reads ({FORMAT_VERSION}); upgrade alwidget")
            arrays = _read_arrays(z, card, names, shown)
    except zipfile.BadZipFile as exc:
        if _looks_like_zip(path):
            raise ValueError(damaged % exc) from None
        raise ValueError(not_model % "not a zip archive") from None
    except (EOFError, zlib.error, OSError, NotImplementedError) as exc:  # cut short, corrupt
        if isinstance(exc, PermissionError):
            raise
        raise ValueError(damaged % f"{type(exc).__name__}: {exc}") from None
    try:
        return _model_from_card(card, arrays, path)
    except Refused as exc:
        raise ValueError(f"model file {shown} was tampered with or is damaged: {exc}; "
                         "nothing in it was run") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"model file {shown} has a card alwidget cannot read "
                         f"({type(exc).__name__}: {exc}); nothing in it was run") from None


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _read_arrays(z: zipfile.ZipFile, card: dict, names: list[str], shown: str) -> dict:
    listed = card.get("arrays")
    if not isinstance(listed, dict):
        raise ValueError(f"model file {shown} has a card without its arrays' hashes")
    members = {n[len(ARRAYS_PREFIX):-4]: n for n in names if n.startswith(ARRAYS_PREFIX) and n.endswith(".npy")}
    others = sorted(set(names) - set(members.values()) - {CARD_NAME})
    tampered = f"model file {shown} was tampered with or is damaged: %s; nothing in it was run"
    if others:
        raise ValueError(tampered % f"it holds {others}, which model files do not")
    if set(members) != set(listed):
        raise ValueError(tampered % f"its arrays {sorted(members)} are not those its card lists "
                         f"({sorted(listed)})")
    arrays = {}
    for name, member in members.items():
        try:
            a = np.load(io.BytesIO(z.read(member)), allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):  # an object array: reading it would run a pickle
                raise ValueError(tampered % f"array {name!r} cannot be read without running "
                                 "code") from None
            raise ValueError(f"model file {shown} is damaged or truncated (array {name!r}: "
                             f"{exc}); save the model again") from None
        except zipfile.BadZipFile:
            raise
        except Exception as exc:  # zlib errors, CRC mismatches, a cut .npy header
            raise ValueError(f"model file {shown} is damaged or truncated (array {name!r}: "
                             f"{type(exc).__name__}: {exc}); save the model again") from None
        entry = listed[name]
        if not isinstance(a, np.ndarray) or not isinstance(entry, dict) \
                or entry.get("sha256") != array_hash(a):
            raise ValueError(tampered % f"array {name!r} does not match the hash in its card")
        arrays[name] = a
    return arrays


def _model_from_card(card: dict, arrays: dict, path: Path) -> SavedModel:
    classes = tuple(card["classes"])
    if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise Refused(f"classes {list(classes)!r} are not a list of class names")
    learner = decode(card["learner"], arrays, "learner")
    if type_name(learner) is None or not hasattr(learner, "predict_proba"):
        raise Refused("its learner is not one of alwidget's learners")
    fitted = [str(c) for c in np.asarray(learner.classes_).tolist()]
    if sorted(fitted) != sorted(classes):
        raise Refused(f"its learner's classes {fitted} are not the card's {list(classes)}")
    target, threshold = card["target"], card["threshold"]
    if target is not None and target not in classes:
        raise Refused(f"its target {target!r} is not one of its classes {list(classes)}")
    if threshold is not None and not (isinstance(threshold, float) and 0 <= threshold <= 1):
        raise Refused(f"threshold {threshold!r} is not a probability")
    if threshold is not None and (target is None or len(classes) != 2):
        raise Refused("a decision threshold needs a binary task with a target")
    fs = feature_set_of_card(card["feature_set"])
    if not (isinstance(fs["extractor"], str) and fs["extractor"]
            and isinstance(fs["config_hash"], str) and isinstance(fs["dim"], int)
            and not isinstance(fs["dim"], bool) and fs["dim"] > 0):
        raise Refused(f"its feature set {fs!r} is not an extractor, a config hash and a "
                      "positive dimension")
    return SavedModel(card_id(card), classes, card["target"], threshold, fs, card, path,
                      learner, np.array([fitted.index(c) for c in classes], np.int64))
