"""Feature extraction: the ``Extractor`` protocol, the extractors and the cached runners.

An extractor turns one file's mono audio plus a list of clip windows into one
vector per clip. :func:`extract_features` runs an extractor over every clip of
a store that has no vector yet in that extractor's feature set (so an
interrupted run resumes where it stopped), in parallel over files, writing
each batch to the store as it finishes; :func:`extract_features_distributed`
does the same on a Dask cluster, and :func:`import_features` stores vectors
computed elsewhere.

This package only re-exports; the code lives in its modules: ``base`` (the
protocol and what both runners share), ``registry`` (extractors by name),
``runner`` (local), ``distributed`` (Dask), ``precomputed`` (import) and one
module per extractor.
"""

from .base import Extractor
from .distributed import extract_features_distributed
from .logmel import LogMel
from .logmel_frames import LogMelFrames
from .panns import PANNs, PANNsTags
from .precomputed import import_features
from .registry import EXTRACTORS, get_extractor
from .runner import extract_features
from .yamnet import YAMNet, YAMNetTags

__all__ = ["Extractor", "LogMel", "LogMelFrames", "PANNs", "PANNsTags", "YAMNet", "YAMNetTags", "extract_features", "get_extractor",
           "extract_features_distributed", "import_features", "EXTRACTORS"]
