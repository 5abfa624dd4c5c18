"""What a session's model is worth, and the model as a file (part of :class:`Session`).

:class:`Results` is the part of :class:`~alwidget.session.Session` that reports on its
current model: :meth:`~Results.evaluation` (the validation set scored by the model, with the
numbers the session computed), :meth:`~Results.f1_by_labels` (validation F1 of the models
fitted on the first *n* labels, refitted with the loop core) and
:meth:`~Results.save_model` (the model, its threshold and its card in a file that cannot
run code, recorded in the store).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from ..loop import LoopCore
from ..model_file import SavedModel, save_model
from .state import DOUBT

__all__ = ["Evaluation", "Results"]


@dataclass(frozen=True)
class Evaluation:
    """The session's current model on its validation set.

    Attributes
    ----------
    classes : tuple of str
        Column order of ``proba`` and of the confusion matrix.
    target : str or None
        The positive class of a binary task (None with more classes).
    threshold : float or None
        The decision threshold on P(target) (binary tasks; tuned on this validation set).
    clip_ids : ndarray of int64
        The validation clips.
    labels, predicted : ndarray of str
        Their true and predicted classes (``P(target) >= threshold`` for a binary task, the
        most likely class otherwise).
    proba : ndarray (n_validation, n_classes)
        The model's probabilities.
    confusion : ndarray of int64 (n_classes, n_classes)
        Validation clips by true class (rows) and predicted class (columns).
    metrics : dict
        ``f1`` (the session's validation F1: at the threshold, or macro-F1), ``precision``,
        ``recall`` (of the target, or macro), ``threshold``, ``n_labels`` (human labels
        trained on), ``n_train`` (with pseudo-labels), ``n_validation``, and for a binary
        task ``n_validation_positive``.
    """

    classes: tuple[str, ...]
    target: str | None
    threshold: float | None
    clip_ids: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray
    confusion: np.ndarray
    metrics: dict


class Results:
    """The evaluation and model-saving methods of :class:`~alwidget.session.Session`.

    Examples
    --------
    A toy project: 200 clips of one file, every tenth a bird; the last 100 are the
    validation set.

    >>> import numpy as np
    >>> from alwidget.model_file import load_model
    >>> from alwidget.session import Session
    >>> from alwidget.store import NewAudio, Store
    >>> store = Store(getfixture("tmp_path") / "p.db")
    >>> _ = store.add_audio(NewAudio("/rec", "a.wav", 16000, 16, 16000 * 200, 1, "WAV",
    ...                              "PCM_16", "h", 0), [(float(k), 1.0) for k in range(200)])
    >>> ids = store.clip_ids()
    >>> truth = dict(zip(ids.tolist(), np.where(np.arange(200) % 10 == 0, "bird", "bg")))
    >>> X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    >>> X[::10] += 3
    >>> store.put_features(store.feature_set("toy", {}, 4), ids, X)
    >>> val = ids[100:].tolist()
    >>> session = Session(store, classes=["bg", "bird"], precompute=False,
    ...                   validation=(val, [truth[c] for c in val]))
    >>> for _ in range(30):
    ...     _ = session.submit(truth[session.current.clip_id])
    >>> ev = session.evaluation()
    >>> ev.metrics["f1"] == session.curve[-1][1], ev.confusion.sum()
    (True, np.int64(100))
    >>> session.f1_by_labels(n_points=3)[-1] == session.curve[-1]
    True
    >>> saved = session.save_model(getfixture("tmp_path") / "bird.alwmodel")
    >>> model = load_model(saved.path)
    >>> model.threshold == session.threshold, list(store.model_cards()) == [model.model_id]
    (True, True)
    >>> session.close()
    """

    # -- the current model on validation ------------------------------------------------
    def evaluation(self) -> Evaluation:
        """The current model on the validation set: probabilities, predictions, metrics.

        Raises
        ------
        ValueError
            Without a validation set, or before a model exists (two classes labeled).

        Examples
        --------
        >>> session = Session("project.db", classes=["bg", "bird"],
        ...                   validation=(val_ids, val_labels))  # doctest: +SKIP
        >>> session.evaluation().metrics["f1"] == session.curve[-1][1]  # doctest: +SKIP
        True
        """
        rows, labels = self._validation_set()
        planned = self._snapshot()[0]
        return self._evaluate(planned, rows, labels)

    def _evaluate(self, planned, rows, labels) -> Evaluation:
        plan = self._fitted_plan(planned)
        classes = tuple(self.classes)
        proba = np.asarray(plan.proba[rows], dtype=np.float64)
        labels = np.asarray([str(v) for v in labels], dtype=object)
        if len(classes) == 2:
            t = classes.index(self.target)
            other = classes[1 - t]
            is_pos = proba[:, t] >= plan.threshold
            predicted = np.where(is_pos, self.target, other).astype(object)
            truth = labels == self.target
            tp = int(np.count_nonzero(is_pos & truth))
            n_pred, n_pos = int(np.count_nonzero(is_pos)), int(np.count_nonzero(truth))
            precision = tp / n_pred if n_pred else 0.0
            recall = tp / n_pos if n_pos else 0.0
            extra = {"n_validation_positive": n_pos, "average": "binary"}
        else:
            predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
            kw = dict(labels=list(classes), average="macro", zero_division=0)
            precision = float(precision_score(labels.astype(str), predicted.astype(str), **kw))
            recall = float(recall_score(labels.astype(str), predicted.astype(str), **kw))
            extra = {"average": "macro"}
        human, _ = self._trained_labels(planned.state)
        metrics = {"f1": float(plan.val_f1), "precision": float(precision),
                   "recall": float(recall), "threshold": plan.threshold,
                   "n_labels": len(human), "n_train": int(plan.n_train),
                   "n_validation": len(rows), **extra}
        cm = confusion_matrix(labels.astype(str), predicted.astype(str), labels=list(classes))
        return Evaluation(classes, self.target if len(classes) == 2 else None, plan.threshold,
                          self._ids[rows].astype(np.int64), labels, predicted, proba,
                          cm.astype(np.int64), metrics)

    # -- the learning curve ------------------------------------------------------------
    def f1_by_labels(self, n_points: int = 20) -> list[tuple[int, float]]:
        """Validation F1 of the model fitted on the first *n* labels, for up to ``n_points`` n.

        Each point refits with the loop core (:class:`alwidget.loop.LoopCore`), on the human
        labels in force after the *n*-th one (in the order they were made, every labeler's),
        seeded as the session was at that decision: so the points are the F1 the session
        reported after each label (pseudo-labels of semi-supervised strategies aside).

        Parameters
        ----------
        n_points : int, default 20
            Most points; the last is always every label so far.

        Returns
        -------
        list of (n_labels, f1)
            From the first n with two classes labeled.

        Examples
        --------
        >>> session.f1_by_labels(n_points=3)  # doctest: +SKIP
        [(2, 0.4), (31, 0.8), (60, 0.9)]
        """
        if int(n_points) != n_points or n_points < 1:
            raise ValueError(f"n_points={n_points!r} must be a positive integer")
        val_rows, val_labels = self._validation_set()
        accepted = set(self.classes) | {DOUBT}
        events = [d for d in self.store.active_events() if d.clip_id in self._row]
        # after each label trained on: (labels so far, decisions so far = the model's seed)
        steps: list[tuple[int, int]] = []
        train: dict[int, str] = {}
        per_class = dict.fromkeys(self.classes, 0)
        for i, d in enumerate(events):
            if d.kind != "label" or d.label not in accepted or d.clip_id in self._val_ids:
                continue
            if d.clip_id in train:
                per_class[train.pop(d.clip_id)] -= 1
            if d.label == DOUBT:
                continue
            train[d.clip_id] = d.label
            per_class[d.label] += 1
            if sum(k > 0 for k in per_class.values()) < 2:
                continue  # no model before two classes
            if steps and steps[-1][0] == len(train):
                steps.pop()  # a clip relabeled: the newer model of the same size
            steps.append((len(train), i + 1))
        if not steps:
            return []
        picks = np.unique(np.linspace(0, len(steps) - 1, min(int(n_points), len(steps)))
                          .round().astype(int))
        chosen = [steps[k] for k in picks]
        # one small loop core over the rows involved, in the session's row order (a forest's
        # bootstrap sees the same rows in the same order as in the session's own fits)
        rows_used = np.union1d(np.fromiter((self._row[d.clip_id] for d in events), np.int64,
                                           len(events)), val_rows)
        at = {int(r): i for i, r in enumerate(rows_used)}
        core = LoopCore(self._core.X[rows_used], self.classes, target=self.target,
                        model=self.model, strategy="random", random_state=self.random_state,
                        validation=([at[int(r)] for r in val_rows], val_labels))
        out = []
        for n, iteration in chosen:
            replayed = {}
            for d in events[:iteration]:  # the labels in force then, as read_state reads them
                if d.kind == "label" and d.label in accepted:
                    replayed[d.clip_id] = d.label
            train = [(at[self._row[c]], lab) for c, lab in replayed.items() if lab != DOUBT]
            plan = core.plan([r for r, _ in train], [lab for _, lab in train], pool=[],
                             iteration=iteration)
            out.append((n, float(plan.val_f1)))
        return out

    # -- the model as a file -----------------------------------------------------------
    def save_model(self, path) -> SavedModel:
        """Save the current model, its threshold and its model card; record it in the store.

        The model is the one the session fitted on its labels (the current plan's), with
        the threshold it uses (tuned on the validation set when there is one, else 0.5;
        None with more than two classes). The card keeps the feature set, the label events
        it was trained on (event ids, clip ids, labels, and any pseudo-labels), and with a
        validation set the session's metrics (:attr:`Evaluation.metrics`). The file cannot
        run code (:mod:`alwidget.model_file`); load it with
        :func:`alwidget.model_file.load_model`.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        SavedModel

        Raises
        ------
        ValueError
            Before a model exists (fewer than two classes labeled).

        Examples
        --------
        >>> saved = session.save_model("bird.alwmodel")  # doctest: +SKIP
        >>> saved.card["metrics"]["f1"], saved.threshold  # doctest: +SKIP
        (0.91, 0.42)
        """
        planned, _ = self._snapshot()
        plan = self._fitted_plan(planned)
        human, pseudo = self._trained_labels(planned.state)
        newest = {}
        for d in self.store.active_events():
            if d.kind == "label":
                newest[(d.clip_id, d.label)] = d.id
        trained_on = {"event_ids": [newest.get((c, lab)) for c, lab in human],
                      "clip_ids": [c for c, _ in human], "labels": [lab for _, lab in human],
                      "pseudo_clip_ids": [c for c, _ in pseudo],
                      "pseudo_labels": [lab for _, lab in pseudo]}
        metrics = None
        if self._has_validation():
            rows, labels = self._validation_set()
            metrics = self._evaluate(planned, rows, labels).metrics
        binary = len(self.classes) == 2
        saved = save_model(path, plan.learner, classes=self.classes,
                           target=self.target if binary else None,
                           threshold=plan.threshold if binary else None,
                           feature_set=self.feature_set, trained_on=trained_on, metrics=metrics)
        if self.store.read_only:
            warnings.warn(f"the model was saved to {saved.path} but not recorded in the store, "
                          "which is open read-only", stacklevel=2)
        else:
            self.store.add_model(saved.model_id, self.feature_set, saved.card)
        return saved

    # -- parts ---------------------------------------------------------------------------
    def _has_validation(self) -> bool:
        return len(self._core.validation_rows) > 0

    def _validation_set(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._has_validation():
            raise ValueError("this session has no validation set, so there is nothing to "
                             "evaluate on: open it with validation=(clip_ids, labels), clips "
                             "labeled apart from the loop")
        return self._core.validation_rows, np.asarray(self._core.validation_labels, dtype=object)

    def _fitted_plan(self, planned=None):
        planned = self._snapshot()[0] if planned is None else planned
        if planned.plan.learner is None:
            raise ValueError("the session has no model yet: label clips of at least two "
                             f"classes ({', '.join(map(repr, self.classes))}) first")
        return planned.plan

    def _trained_labels(self, state):
        """(human labels, pseudo-labels) the plan for ``state`` was fitted on, by clip."""
        human = [(c, lab) for c, lab in state.labels if lab != DOUBT and c not in self._val_ids]
        decided = state.decided()
        pseudo = [(c, lab) for c, lab in state.pseudo
                  if c not in decided and c not in self._val_ids]
        return human, pseudo
