"""Query strategies: small seeded classes whose ``query`` returns picks and reasons.

Every strategy takes a :class:`QueryContext` and a batch size and returns a
:class:`Query` (pool positions, utilities, one reason per pick, and for the
semi-supervised strategy pseudo-labels). :func:`make_strategy` builds one from
its short name, as used on the command line.

| name | strategy |
|---|---|
| ``random`` | :class:`RandomSampling` |
| ``lc`` | :class:`LeastConfidence`, fixed threshold 0.5 |
| ``lc-tuned`` | :class:`LeastConfidence`, threshold re-tuned on validation ("varied") |
| ``ssal-0.95``, ``ssal-0.98`` | :class:`SemiSupervised` with T_SSL |
| ``ac-5``, ``ac-10`` | :class:`AlternatingConfidence` every 5 / 10 |
| ``entropy``, ``margin`` | :class:`Entropy`, :class:`Margin` |
| ``mal`` | :class:`MedoidSampling` (k-medoids of the pool) |
| ``mal-mf`` | :class:`MismatchFirst` |
"""

from __future__ import annotations

import re

from .base import Query, QueryContext, Strategy
from .batch import Entropy, Margin, MedoidSampling, MismatchFirst, farthest_first
from .rare import AlternatingConfidence, LeastConfidence, RandomSampling, SemiSupervised

__all__ = [
    "AlternatingConfidence", "Entropy", "LeastConfidence", "Margin", "MedoidSampling",
    "MismatchFirst", "Query", "QueryContext", "RandomSampling", "SemiSupervised", "Strategy",
    "farthest_first", "make_strategy", "STRATEGY_NAMES",
]

STRATEGY_NAMES = ("random", "lc", "lc-tuned", "ssal-0.95", "ssal-0.98", "ac-5", "ac-10",
                  "entropy", "margin", "mal", "mal-mf")

_SIMPLE = {"random": RandomSampling, "entropy": Entropy, "margin": Margin,
           "mal": MedoidSampling, "mal-mf": MismatchFirst}


def make_strategy(name: str, random_state=None) -> Strategy:
    """A strategy from its short name (see the module docstring); ``strategy.name`` gives it back.

    ``ssal-T`` and ``ac-K`` accept any T in (0.5, 1) and any K >= 1; ``lc@T`` is least
    confidence at a fixed threshold T other than 0.5; a ``-tuned`` suffix on ``ssal-T`` or
    ``ac-K`` tunes their least-confidence threshold on validation, as ``lc-tuned`` does.

    Examples
    --------
    >>> make_strategy("ac-10", random_state=0)
    AlternatingConfidence(every=10, random_state=0)
    >>> make_strategy("ssal-0.98-tuned").name
    'ssal-0.98-tuned'
    """
    if not isinstance(name, str):
        raise TypeError(f"strategy name {name!r} must be a string")
    if name in _SIMPLE:
        return _SIMPLE[name](random_state=random_state)
    if name == "lc-varied":  # the study's word for tuned
        name = "lc-tuned"
    if m := re.fullmatch(r"(lc|ssal-(0\.\d+)|ac-(\d+))(-tuned|@(0\.\d+))?", name):
        threshold = "tuned" if m.group(4) == "-tuned" else float(m.group(5) or 0.5)
        if m.group(2) and not 0.5 < float(m.group(2)) < 1:
            raise ValueError(f"strategy {name!r}: T_SSL must be in (0.5, 1), e.g. ssal-0.95")
        if m.group(3) and int(m.group(3)) < 1:
            raise ValueError(f"strategy {name!r}: K must be >= 1, e.g. ac-5")
        if m.group(1) == "lc":
            return LeastConfidence(threshold, random_state)
        if m.group(2):
            return SemiSupervised(float(m.group(2)), threshold, random_state=random_state)
        return AlternatingConfidence(int(m.group(3)), threshold=threshold,
                                     random_state=random_state)
    raise ValueError(f"strategy {name!r} is unknown; choose from {', '.join(STRATEGY_NAMES)}")
