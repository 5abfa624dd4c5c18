"""2-d maps of a feature set: UMAP, t-SNE (openTSNE) and PCA.

A map is computed once per feature set and method, cached in the store
(coordinates; not when the store is read-only) with the fitted model beside the database file
(``<db>.maps/*.model``, pickles signed with the user's own key: see
:mod:`alwidget.projections.signing`), and reused across kernel restarts. Clips that get
features later are placed with the method's own ``transform``; nothing is
recomputed per label.

Features are standardised and reduced to at most 50 principal components
before UMAP and t-SNE. Above ``max_fit`` clips (default
:data:`DEFAULT_MAX_FIT`), the method is fitted on a seeded subsample and the
other clips are placed by ``transform``; :attr:`Projection.n_fit` says so.
PCA is always fitted on everything: it is the instant map shown while UMAP
or t-SNE are computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from ..store import FeatureSet, Store
from .progress import MapProgress
from .signing import Untrusted, read_signed, write_signed

__all__ = ["DEFAULT_MAX_FIT", "METHODS", "Projection", "compute_projection", "project"]

#: Map methods: "pca" (instant), "tsne" (openTSNE), "umap" (umap-learn).
METHODS = ("pca", "tsne", "umap")
#: Above this many clips, UMAP and t-SNE are fitted on a seeded subsample of
#: this size and the rest are placed by ``transform`` (openTSNE fits 20,000
#: points in about half a minute on 2 cores).
DEFAULT_MAX_FIT = 20_000
_DEFAULTS = {"pca": {}, "tsne": {"perplexity": 30.0}, "umap": {"n_neighbors": 15, "min_dist": 0.1}}
_MODELS: OrderedDict = OrderedDict()  # cache key -> (fit id, fitted model), this process
_MAX_MODELS = 4
_MODELS_LOCK = threading.Lock()

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Projection:
    """A 2-d map of clips.

    Attributes
    ----------
    clip_ids : ndarray of int64, ascending
    coords : ndarray of float32, shape (n, 2)
    method : str
    n_fit : int
        Clips the method was fitted on; the others were placed by ``transform``.
    seconds : float
        Time spent computing (0 when read from the cache).
    from_cache : bool
    """

    clip_ids: np.ndarray
    coords: np.ndarray
    method: str
    n_fit: int
    seconds: float
    from_cache: bool

    @property
    def subsampled(self) -> bool:
        """True when some clips were placed by ``transform`` rather than fitted."""
        return self.n_fit < len(self.clip_ids)

    def describe(self) -> str:
        """One line for the UI, e.g. ``"t-SNE of 100,000 clips (fitted on 20,000, rest placed)"``."""
        name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[self.method]
        text = f"{name} of {len(self.clip_ids):,} clips"
        if self.subsampled:
            text += f" (fitted on {self.n_fit:,}, the rest placed by transform)"
        return text


def _checked_params(method: str, params: dict) -> dict:
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {METHODS}")
    unknown = set(params) - set(_DEFAULTS[method])
    if unknown:
        raise ValueError(f"{method} takes no parameter {sorted(unknown)}; "
                         f"known: {sorted(_DEFAULTS[method])}")
    return {k: type(_DEFAULTS[method][k])(v) for k, v in params.items()}


def project(X, method: str = "umap", *, random_state: int = 0,
            progress: Progress | None = None, **params) -> np.ndarray:
    """The 2-d map of the rows of ``X`` by ``method``, fitted on them alone and not cached:
    the same steps as every map of alwidget (standardised, at most 50 principal components,
    seeded). For small sets of points, e.g. the clips of one round.

    Examples
    --------
    >>> import numpy as np
    >>> xy = project(np.random.default_rng(0).normal(size=(20, 5)), "pca")
    >>> xy.shape, xy.dtype.name
    ((20, 2), 'float32')
    """
    params = _checked_params(method, params)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"a map needs a 2-d array of at least 3 rows; got shape {X.shape}")
    params = {**_DEFAULTS[method], **params, "random_state": int(random_state),
              "max_fit": len(X)}
    _, xy, _ = _fit(method, X, params, progress or (lambda fraction, message: None))
    return np.ascontiguousarray(xy, np.float32)


def compute_projection(store: Store, feature_set: FeatureSet | None = None, method: str = "umap",
                       *, random_state: int = 0, max_fit: int = DEFAULT_MAX_FIT,
                       progress: Progress | None = None, **params) -> Projection:
    """The 2-d map of a feature set by ``method``: from the cache, extended, or computed.

    Parameters
    ----------
    store : Store
    feature_set : FeatureSet, optional
        Default: :meth:`Store.default_feature_set` (the oldest set that has vectors).
    method : {"umap", "tsne", "pca"}
    random_state : int, default 0
        Seeds the subsample and the method: the same inputs give the same map.
    max_fit : int, default DEFAULT_MAX_FIT
        Fit on a subsample of this size above it; place the rest by transform.
    progress : callable(fraction, message), optional
        Called as the work advances (fraction in [0, 1], never decreasing) and at least every
        second while a map is fitted, with the stage, the time spent and about how long is
        left, e.g. ``"t-SNE: iteration 120/750 · 12 s so far, about 20 s left"``
        (:class:`~alwidget.projections.progress.MapProgress`).
    **params
        Passed to the method: ``perplexity`` (t-SNE, default 30, as in the
        rare-sound study), ``n_neighbors`` and ``min_dist`` (UMAP).

    Returns
    -------
    Projection

    Examples
    --------
    >>> import numpy as np
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(":memory:")
    >>> _ = store.add_audio(NewAudio("/a", "x.wav", 16000, 16, 160000, 1, "WAV", "PCM_16",
    ...                              "h", 0), [(float(i), 1.0) for i in range(10)])
    >>> fs = store.feature_set("demo", {}, 3)
    >>> store.put_features(fs, store.clip_ids(), np.random.default_rng(0).normal(size=(10, 3)))
    >>> p = compute_projection(store, fs, "pca")
    >>> p.coords.shape, p.coords.dtype.name, p.describe()
    ((10, 2), 'float32', 'PCA of 10 clips')
    >>> compute_projection(store, fs, "pca").from_cache
    True
    """
    params = _checked_params(method, params)  # 30 and 30.0, np.int64(15) and 15: one entry
    if max_fit < 10:
        raise ValueError(f"max_fit={max_fit!r} must be >= 10")
    report = progress or (lambda fraction, message: None)
    if feature_set is None:
        feature_set = store.default_feature_set()  # the oldest set with vectors
    params = {**_DEFAULTS[method], **params, "random_state": int(random_state),
              "max_fit": int(max_fit)}
    where = id(store) if store.path == ":memory:" else os.path.abspath(store.path)
    key = (where, feature_set.id, method, json.dumps(params, sort_keys=True))
    t0 = time.perf_counter()
    ids, X = store.get_features(feature_set)
    if len(ids) < 3:
        raise ValueError(f"a map needs at least 3 clips with features; {feature_set.extractor} "
                         f"has {len(ids)}")
    cached = store.get_projection(feature_set, method, params)
    if cached is not None:
        reused = _extend(cached, key, store, feature_set, method, params, ids, X, report)
        if reused is not None:
            xy, n_fit = reused
            if xy is cached.coords:
                report(1.0, "map read from the cache")
                return Projection(ids, xy, method, n_fit, 0.0, True)
            return _save(store, feature_set, method, params, ids, xy, n_fit,
                         _fingerprint(ids, X), cached.fit_id, t0, report)
    model, xy, n_fit = _fit(method, X, params, report)
    fit_id = _fingerprint(ids, X)  # a new fit: its id is the fingerprint of what it saw
    projection = _save(store, feature_set, method, params, ids, xy, n_fit, fit_id, fit_id, t0,
                       report)
    _remember(key, fit_id, model, store, feature_set, method, params)  # after the row: see _load
    return projection


def _extend(cached, key, store, feature_set, method, params, ids, X, report):
    """Coordinates from the cache, with new clips placed by transform; None to refit.

    Refit when a cached clip lost its features, when the vectors of cached clips
    changed (fingerprint), when the pool has more than doubled since a fit below
    ``max_fit``, or when the fitted model of this map is not at hand.
    """
    c_ids, c_xy, n_fit = cached.clip_ids, cached.coords, cached.n_fit
    old = np.isin(ids, c_ids)
    if old.sum() != len(c_ids):
        return None
    seen = _fingerprint(ids, X) if old.all() else _fingerprint(ids[old], X[old])  # no copy
    if seen != cached.fingerprint:
        return None
    if old.all():
        return c_xy, n_fit
    if len(ids) > 2 * n_fit and n_fit < params["max_fit"]:
        return None  # a map fitted on a small early pool: fit again on the grown one
    model = _load_model(key, cached.fit_id, store, feature_set, method, params)
    if model is None:
        return None
    xy = np.empty((len(ids), 2), np.float32)
    xy[old] = c_xy  # both ascending by clip id
    new = int((~old).sum())
    with MapProgress(report, method, [("placing", new)]) as progress:
        xy[~old] = _place(model, X[~old], progress, f"placing {new:,} new clips")
    return xy, n_fit


def _fingerprint(ids: np.ndarray, X: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    return h.hexdigest()


def _save(store, feature_set, method, params, ids, xy, n_fit, fingerprint, fit_id, t0,
          report) -> Projection:
    seconds = time.perf_counter() - t0
    if store.read_only:  # a project opened to look: the map is shown, not cached
        report(1.0, "map ready (not cached: the project is read-only)")
        return Projection(ids, xy.astype(np.float32), method, n_fit, seconds, False)
    store.put_projection(feature_set, method, params, ids, xy, n_fit=n_fit, seconds=seconds,
                         fingerprint=fingerprint, fit_id=fit_id)
    report(1.0, "map ready")
    return Projection(ids, xy.astype(np.float32), method, n_fit, seconds, False)


# -- methods ---------------------------------------------------------------------
@dataclass
class _Fitted:
    scaler: StandardScaler
    pca: PCA
    method: str
    model: object  # None for PCA


def _fit(method: str, X: np.ndarray, params: dict, report: Progress):
    rng = check_random_state(params["random_state"])
    seed = int(rng.randint(2**31 - 1))
    fit_rows = np.arange(len(X))
    if method != "pca" and len(X) > params["max_fit"]:
        fit_rows = np.sort(rng.choice(len(X), params["max_fit"], replace=False))
    rest = np.setdiff1d(np.arange(len(X)), fit_rows)
    n = len(fit_rows)
    stages = ([("neighbours", n)] if method == "tsne" else []) + [("layout", n)]
    with MapProgress(report, method, stages + ([("placing", len(rest))] if len(rest) else []),
                     tick=0 if method == "pca" else 1.0) as progress:
        scaler = StandardScaler().fit(X[fit_rows])
        n_comp = 2 if method == "pca" else min(50, X.shape[1], n)
        pca = PCA(n_components=min(n_comp, X.shape[1]), random_state=seed)
        Z = pca.fit_transform(scaler.transform(X[fit_rows])).astype(np.float32)
        if method == "pca":  # fitted on every clip: Z is the map
            return _Fitted(scaler, pca, method, None), _two_columns(Z), len(X)
        if method == "tsne":
            progress.stage("neighbours", f"nearest neighbours of {n:,} clips")
            model = _fit_tsne(Z, params, seed, progress)
        else:
            progress.stage("layout", f"neighbours and layout of {n:,} clips "
                                     "(umap-learn reports no progress: estimated)")
            model = _fit_umap(Z, params, seed)
        fitted = _Fitted(scaler, pca, method, model)
        xy = np.empty((len(X), 2), np.float32)
        xy[fit_rows] = np.asarray(model if method == "tsne" else model.embedding_,
                                  dtype=np.float32)
        if len(rest):
            xy[rest] = _place(fitted, X[rest], progress,
                              f"placing the other {len(rest):,} clips by transform")
    return fitted, xy, n


def _fit_tsne(Z: np.ndarray, params: dict, seed: int, progress: MapProgress):
    from openTSNE import TSNE

    perplexity = min(float(params["perplexity"]), (len(Z) - 1) / 3)
    total = 250 + 500  # openTSNE's early-exaggeration + main iterations
    done = [0]

    def tick(iteration, error, embedding):
        if done[0] == 0:  # the affinities are computed: the layout stage has begun
            progress.stage("layout", f"iteration 0/{total}")
        done[0] += 10
        progress.step(done[0] / total, f"iteration {done[0]}/{total}")

    emb = TSNE(perplexity=perplexity, random_state=seed, n_jobs=-1, verbose=False,
               callbacks=tick, callbacks_every_iters=10).fit(Z)
    emb.gradient_descent_params.pop("callbacks", None)  # keep the model picklable
    return emb


def _fit_umap(Z: np.ndarray, params: dict, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state"
        import umap

        return umap.UMAP(n_components=2, n_neighbors=min(int(params["n_neighbors"]), len(Z) - 1),
                         min_dist=float(params["min_dist"]), random_state=seed).fit(Z)


def _place(fitted: "_Fitted", X: np.ndarray, progress: MapProgress, message: str,
           chunk: int = 5000) -> np.ndarray:
    """``_transform`` in chunks, reporting each (placing 100,000 clips takes minutes)."""
    progress.stage("placing", message)
    out = np.empty((len(X), 2), np.float32)
    for a in range(0, len(X), chunk):
        out[a:a + chunk] = _transform(fitted, X[a:a + chunk])
        done = min(len(X), a + chunk)
        progress.step(done / len(X), f"{message}: {done:,}/{len(X):,}")
    return out


def _two_columns(Z: np.ndarray) -> np.ndarray:
    """PCA of 1-d features has one component: pad to a 2-d map."""
    return (Z if Z.shape[1] == 2 else np.column_stack([Z, np.zeros(len(Z))])).astype(np.float32)


def _transform(fitted: _Fitted, X: np.ndarray) -> np.ndarray:
    Z = fitted.pca.transform(fitted.scaler.transform(X)).astype(np.float32)
    if fitted.method == "pca":
        return _two_columns(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fitted.model.transform(Z), dtype=np.float32)


# -- fitted models: this process, and a sidecar folder beside the database ----------
_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def _sidecar(store: Store, feature_set: FeatureSet, method: str, params: dict) -> Path | None:
    if store.path == ":memory:":
        return None
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return Path(store.path + ".maps") / f"fs{feature_set.id}-{method}-{digest}.model"


def _remember(key, fit_id, model, store, feature_set, method, params) -> None:
    with _MODELS_LOCK:
        _MODELS[key] = (fit_id, model)
        _MODELS.move_to_end(key)
        while len(_MODELS) > _MAX_MODELS:  # fitted t-SNE/UMAP models hold their data
            _MODELS.popitem(last=False)
    path = _sidecar(store, feature_set, method, params)
    if path is None or store.read_only:
        return
    try:
        path.parent.mkdir(exist_ok=True)
        write_signed(path, {"fit_id": fit_id, "model": model}, fit_id=fit_id)
    except (OSError, Untrusted) as exc:  # the map is stored; only placing new clips refits
        warnings.warn(f"the fitted {_NAMES[method]} model is not saved beside the database "
                      f"({exc}); a new kernel refits it when new clips arrive", stacklevel=3)


def _load_model(key, fit_id, store, feature_set, method, params):
    """The fitted model of the cached map ``fit_id``, or None (then the caller refits).

    A model file is unpickled only when this user's signing key vouches for its bytes, its
    name and its fit (see :mod:`alwidget.projections.signing`); anything else is left unread.
    """
    with _MODELS_LOCK:
        if key in _MODELS and _MODELS[key][0] == fit_id:
            return _MODELS[key][1]
    path = _sidecar(store, feature_set, method, params)
    if path is None or not path.exists():
        return None
    try:
        payload = read_signed(path, fit_id=fit_id)
    except Untrusted as exc:
        warnings.warn(f"the cached {_NAMES[method]} model {str(path)!r} is not loaded: {exc}; "
                      "refitting the map", stacklevel=3)
        return None
    except Exception as exc:  # unreadable, or a signed file of an older library version
        warnings.warn(f"cannot read the cached {_NAMES[method]} model {str(path)!r} ({exc}); "
                      "refitting the map", stacklevel=3)
        return None
    model = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(model, _Fitted) or model.method != method or payload["fit_id"] != fit_id:
        return None
    with _MODELS_LOCK:
        _MODELS[key] = (fit_id, model)
    return model
