"""Extractors known by name: :data:`EXTRACTORS` and :func:`get_extractor`."""

from __future__ import annotations

from .base import Extractor
from .logmel import LogMel
from .logmel_frames import LogMelFrames
from .panns import PANNs, PANNsTags
from .yamnet import YAMNet, YAMNetTags

__all__ = ["EXTRACTORS", "get_extractor"]

#: Extractors known by name.
EXTRACTORS = {"logmel": LogMel, "logmel-frames": LogMelFrames, "yamnet": YAMNet, "yamnet-tags": YAMNetTags, "panns": PANNs,
              "panns-tags": PANNsTags}


def get_extractor(extractor: str | Extractor) -> Extractor:
    """An extractor instance from a name in :data:`EXTRACTORS`, or the one given.

    Examples
    --------
    >>> get_extractor("logmel").name
    'logmel'
    >>> get_extractor("vggish")
    Traceback (most recent call last):
    ...
    ValueError: extractor='vggish' is unknown; choose one of ['logmel', 'logmel-frames', 'panns', 'panns-tags', 'yamnet', 'yamnet-tags']
    """
    if isinstance(extractor, str):
        try:
            return EXTRACTORS[extractor]()
        except KeyError:
            raise ValueError(
                f"extractor={extractor!r} is unknown; choose one of {sorted(EXTRACTORS)}"
            ) from None
    if not isinstance(extractor, Extractor):
        raise TypeError(f"extractor={extractor!r} does not follow the Extractor protocol")
    return extractor
