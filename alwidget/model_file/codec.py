"""How a learner is written into a model card and read back: a tree of JSON values and
arrays, rebuilt only from :data:`TRUSTED_TYPES` (nothing in a model file can run code)."""

from __future__ import annotations

import hashlib
import inspect
import json
import math

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..learn import CRNN, Committee, EmbeddingHead, Learner, MedoidPropagation, RandomForest

__all__ = ["ARRAYS_PREFIX", "CARD_NAME", "TRUSTED_TYPES", "Refused", "array_entry", "array_hash",
           "card_id", "decode", "encode", "type_name"]

#: The model card's name in a model file, and the folder of its arrays.
CARD_NAME = "card.json"
ARRAYS_PREFIX = "arrays/"

#: The only types a model file may name: learners are rebuilt from these, nothing else.
TRUSTED_TYPES: dict[str, type] = {
    "alwidget.learn.RandomForest": RandomForest,
    "alwidget.learn.Learner": Learner,
    "alwidget.learn.Committee": Committee,
    "alwidget.learn.MedoidPropagation": MedoidPropagation,
    "alwidget.learn.CRNN": CRNN,  # weights as arrays (weights_), never a pickle
    "alwidget.learn.EmbeddingHead": EmbeddingHead,
    "sklearn.linear_model.LogisticRegression": LogisticRegression,
    "sklearn.preprocessing.StandardScaler": StandardScaler,
    "sklearn.pipeline.Pipeline": Pipeline,
}
_TYPE_NAMES = {cls: name for name, cls in TRUSTED_TYPES.items()}


def array_entry(a: np.ndarray) -> dict:
    return {"sha256": array_hash(a), "dtype": a.dtype.str, "shape": list(a.shape)}


def array_hash(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}{list(a.shape)}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- the learner tree
# A value in the card is JSON; what JSON cannot say directly is tagged with one key:
#   {"array": name}        an array (or numpy scalar, with "scalar": true) in arrays/name.npy
#   {"objects": [...], "shape": [...]}  an object array (e.g. class names), element by element
#   {"tuple": [...]}, {"dict": [[key, value], ...]}, {"float": "inf" | "-inf" | "nan"}
#   {"type": "alwidget.learn.RandomForest", "params": {...}, "state": {...}}  an estimator
def encode(value, arrays: dict, where: str):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.str_):
        a = np.asarray(value)
        if a.dtype.kind == "O":
            return {"objects": [encode(v, arrays, f"{where}[{i}]")
                                for i, v in enumerate(a.reshape(-1).tolist())],
                    "shape": list(a.shape)}
        if a.dtype.kind not in "biufcUS":
            raise TypeError(f"{where}: arrays of dtype {a.dtype} cannot be saved")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(a)
        return {"array": name, "scalar": isinstance(value, np.generic)}
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {"dict": [[encode(k, arrays, f"{where} key"), encode(v, arrays, f"{where}.{k}")]
                         for k, v in value.items()]}
    if type(value) in _TYPE_NAMES:
        params = value.get_params(deep=False)
        state = {k: v for k, v in vars(value).items() if k not in params}
        return {"type": _TYPE_NAMES[type(value)],
                "params": {k: encode(v, arrays, f"{where}.{k}") for k, v in params.items()},
                "state": {k: encode(v, arrays, f"{where}.{k}") for k, v in state.items()}}
    if isinstance(value, BaseEstimator):
        raise TypeError(f"{where}: a {type(value).__module__}.{type(value).__name__} cannot be "
                        f"saved; model files hold only {sorted(TRUSTED_TYPES)}")
    raise TypeError(f"{where}={value!r} ({type(value).__name__}) cannot be saved in a model "
                    "file (it holds numbers, text, arrays and alwidget's learners)")


class Refused(ValueError):
    """The card or an array is not what a model file may hold (the caller names the file)."""


def decode(value, arrays: dict, where: str):
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [decode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict) or len(value) == 0:
        raise Refused(f"{where} holds {type(value).__name__} values, which model cards do not")
    keys = set(value)
    if keys == {"array", "scalar"}:
        name = value["array"]
        if name not in arrays:
            raise Refused(f"{where} names array {name!r}, which the card does not list")
        a = arrays[name]
        return a[()] if value["scalar"] is True else a
    if keys == {"objects", "shape"}:
        items = [decode(v, arrays, where) for v in value["objects"]]
        out = np.empty(len(items), dtype=object)
        out[:] = items
        try:
            return out.reshape([int(s) for s in value["shape"]])
        except (TypeError, ValueError) as exc:
            raise Refused(f"{where}: object array of shape {value['shape']!r}: {exc}") from None
    if keys == {"tuple"}:
        return tuple(decode(value["tuple"], arrays, where))
    if keys == {"dict"}:
        pairs = decode(value["dict"], arrays, where)
        try:
            return {k: v for k, v in pairs}
        except (TypeError, ValueError):
            raise Refused(f"{where}: a dict must be a list of [key, value] pairs") from None
    if keys == {"float"}:
        if value["float"] not in ("inf", "-inf", "nan"):
            raise Refused(f"{where}: float {value['float']!r} is not inf, -inf or nan")
        return float(value["float"])
    if keys == {"type", "params", "state"}:
        name = value["type"]
        cls = TRUSTED_TYPES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise Refused(f"{where} names type {name!r}, which alwidget does not load (model "
                           f"files may name only {sorted(TRUSTED_TYPES)})")
        params, state = value["params"], value["state"]
        if not isinstance(params, dict) or not isinstance(state, dict):
            raise Refused(f"{where}: params and state must be JSON objects")
        allowed = {p for p in inspect.signature(cls).parameters if p != "self"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise Refused(f"{where}: {name} has no parameters {unknown}")
        bad = sorted(k for k in state if not k.isidentifier() or k.startswith("__")
                     or hasattr(cls, k) or k in allowed)
        if bad:
            raise Refused(f"{where}: {bad} are not attribute names a fitted {name} holds")
        obj = cls(**{k: decode(v, arrays, f"{where}.{k}") for k, v in params.items()})
        for k, v in state.items():
            setattr(obj, k, decode(v, arrays, f"{where}.{k}"))
        check = getattr(obj, "_check_loaded", None)  # a deep learner: weights fit its params
        if check is not None and state:
            try:
                check()
            except (ValueError, TypeError, AttributeError, RuntimeError) as exc:
                raise Refused(f"{where}: {exc}") from None
        return obj
    raise Refused(f"{where} holds an object with keys {sorted(keys)}, which model cards do not")


def type_name(obj) -> str | None:
    """The name :data:`TRUSTED_TYPES` gives the type of ``obj``; None for any other type."""
    return _TYPE_NAMES.get(type(obj))


def card_id(card: dict) -> str:
    """A model's id: the first 16 hex digits of the SHA-256 of its card (which pins every
    array)."""
    text = json.dumps(card, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
