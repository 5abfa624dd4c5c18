"""Saved models: a fitted learner in a file that cannot run code, with its model card.

See :mod:`alwidget.model_file.model` (the file, :func:`save_model`, :func:`load_model`) and
:mod:`alwidget.model_file.codec` (the learner as a tree of trusted types and arrays).
"""

from .codec import TRUSTED_TYPES
from .loading import load_model
from .model import FORMAT, FORMAT_VERSION, SavedModel, save_model

__all__ = ["FORMAT", "FORMAT_VERSION", "TRUSTED_TYPES", "SavedModel", "load_model", "save_model"]
