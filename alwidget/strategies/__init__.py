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


def make_strategy(name: str, random_state=None) -> Strategy:
    """A strategy from its short name (see the module docstring).

    ``ssal-T`` and ``ac-K`` accept any T in (0.5, 1) and any K >= 1.

    Examples
    --------
    >>> make_strategy("ac-10", random_state=0)
    AlternatingConfidence(every=10, high_threshold=0.85, threshold=0.5, random_state=0)
    """
    if name == "random":
        return RandomSampling(random_state)
    if name == "lc":
        return LeastConfidence(0.5, random_state)
    if name in ("lc-tuned", "lc-varied"):
        return LeastConfidence("tuned", random_state)
    if m := re.fullmatch(r"ssal-(0\.\d+)", name):
        return SemiSupervised(float(m.group(1)), random_state=random_state)
    if m := re.fullmatch(r"ac-(\d+)", name):
        return AlternatingConfidence(int(m.group(1)), random_state=random_state)
    simple = {"entropy": Entropy, "margin": Margin, "mal": MedoidSampling, "mal-mf": MismatchFirst}
    if name in simple:
        return simple[name](random_state=random_state)
    raise ValueError(f"strategy {name!r} is unknown; choose from {', '.join(STRATEGY_NAMES)}")
