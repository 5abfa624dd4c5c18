"""The active-learning step, written once: labels + features + learner + strategy + seed → plan.

:class:`LoopCore` is pure and synchronous: no store, no threads, no widgets. Given the
labeled rows of a feature matrix, the rows still in the pool and the iteration, it fits
the learner, scores every row, tunes the decision threshold on the validation rows, and
asks the strategy for the next picks. The live :class:`~alwidget.session.Session` wraps
it with the store and a background planner; the simulated experiments
(:mod:`alwidget.experiment`) drive it with an oracle. So the strategy tables in the README
measure the loop the expert runs.

The rules, in one place:

* **Seeds.** Everything random is fixed by ``(random_state, iteration)``: the model's
  ``random_state`` is :func:`model_seed`, the strategy's and the cold start's draws use
  :func:`~alwidget.strategies.base.rng_for` (a strategy given without a ``random_state``
  gets the loop's). ``iteration`` is the number of decisions taken so far (labels,
  including a simulation's start pair, and skips), so a replay or a resumed session makes
  the same picks.
* **Training set.** The human labels outside the validation rows, plus the previous plan's
  pseudo-labels (semi-supervised strategies) on rows that are neither labeled nor
  validation, each in ascending row order (the order a forest's bootstrap sees does not
  depend on who asks).
* **Fewer than two classes labeled.** No model is fitted; a strategy that needs one
  (:attr:`~alwidget.strategies.Strategy.needs_model`) is replaced by a random pick whose
  reason says so (``start="random"``, the default). With ``start="nearest"`` (a cold
  start from search by example) the picks are instead the pool rows nearest, by cosine
  distance, to the known positive(s) — the labeled rows of the target (binary) or of the
  one class labeled (multi-class) — whatever the strategy, until a second class is
  labeled (or, binary tasks, while fewer than ``start_labels`` rows are labeled); with no
  positive known yet the one-class rule applies.
* **Threshold.** Binary tasks: tuned for F1 on the validation rows when there are any
  (:func:`~alwidget.learn.tune_threshold`), else 0.5. ``lc-tuned`` and other ``-tuned``
  strategies read it, and refuse to start without validation rows.
* **Expert's queue.** Queued rows still in the pool come first, before the strategy.
* **Slow learners.** A deep learner's refit (:class:`~alwidget.learn.CRNN`) may run apart
  from planning: :meth:`LoopCore.fit` makes a :class:`Fitted` model, and
  ``plan(..., fitted=..., refit=False)`` plans with it instead of refitting. A plan made with
  a model fitted on another training set than the plan's own is *stale*: the model's
  training set (:attr:`Fitted.key`, its (row, label) pairs) is compared with the plan's,
  ``Plan.stale`` counts the labels in which they differ and each pick's reason says how
  (labels the model lacks; labels it was trained on that are undone or changed). Rows added
  to ``X`` after a fit are scored with the fitted model when a plan needs them
  (:meth:`LoopCore.scored`).
* **Warm start.** A deep learner with ``warm_start=True`` (the CRNN by name,
  :func:`~alwidget.learn.make_model`; never scikit-learn's ensembles, whose ``warm_start``
  only adds trees: :func:`alwidget.learn.models.warm_starts`) given the ``previous`` fit
  continues from its weights when the training set only grew (same classes, every earlier
  label still in force); otherwise it starts afresh. Deterministic given the previous fit: a
  simulation passes each plan's :attr:`Plan.fitted` to the next.
"""

from .core import START_NAMES, LoopCore
from .plans import Fitted, Plan, model_seed, stale_note

__all__ = ["Fitted", "LoopCore", "Plan", "START_NAMES", "model_seed", "stale_note"]
