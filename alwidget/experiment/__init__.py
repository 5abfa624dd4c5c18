"""Simulated-oracle experiments: compare query strategies on labeled data.

Both protocols drive the loop core (:class:`alwidget.loop.LoopCore`), the same
active-learning step a labeling session runs, with a simulated oracle answering:

* :func:`run_rare_target` — the rare-sound study's protocol (binary, one query per step,
  test F1 at the validation-tuned threshold);
* :func:`run_batches` — the data-centric framework's (multi-class, batches, committee).
"""

from .batches import run_batches
from .folds import describe_pairs, ordered_folds, split
from .oracles import GroundTruthOracle, NoisyOracle
from .rare import run_rare_target, save_to_store, start_pair
from .results import SUMMARY_AT, BatchResult, ExperimentResult, summarise, write_tables

__all__ = ["BatchResult", "ExperimentResult", "GroundTruthOracle", "NoisyOracle", "SUMMARY_AT",
           "describe_pairs", "ordered_folds", "run_batches", "run_rare_target", "save_to_store",
           "split", "start_pair", "summarise", "write_tables"]
