"""Fold order and the (test, validation, pool) split of the rare-target protocol."""

from __future__ import annotations

import numpy as np

__all__ = ["describe_pairs", "ordered_folds", "split"]


def _number(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def ordered_folds(folds, order=None) -> list:
    """The distinct fold values in protocol order.

    Numbers sort as numbers (also when read from a CSV as text: "1", "2", "10"), other
    values as text; ``order`` gives the order explicitly (every fold value once).

    Examples
    --------
    >>> ordered_folds(np.array(["1", "10", "2", "3"]))
    ['1', '2', '3', '10']
    >>> ordered_folds(np.array(["b", "a"]), order=["b", "a"])
    ['b', 'a']
    """
    values = sorted(set(np.asarray(folds).tolist()), key=str)
    if order is not None:
        order = list(order)
        as_text = {str(v): v for v in values}
        missing = sorted(set(as_text) - {str(o) for o in order})
        extra = [o for o in order if str(o) not in as_text]
        if missing or extra or len({str(o) for o in order}) != len(order):
            raise ValueError(f"fold order {order} must list every fold once: the folds are "
                             f"{[str(v) for v in values]}" + (f"; missing {missing}" if missing
                                                              else "")
                             + (f"; unknown {extra}" if extra else ""))
        return [as_text[str(o)] for o in order]
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        return [v for _, v in sorted(zip(numbers, values), key=lambda t: t[0])]
    return sorted(values, key=str)


def split(folds, k, order=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test, validation, pool) positions for test fold ``k``: validation is the next fold.

    Examples
    --------
    >>> folds = np.array([1, 2, 3, 1, 2, 3])
    >>> [t.tolist() for t in split(folds, 3)]
    [[2, 5], [0, 3], [1, 4]]
    """
    folds = np.asarray(folds)
    order = ordered_folds(folds, order)
    if len(order) < 3:
        raise ValueError(f"need at least 3 folds (test, validation, pool); got {order}")
    if k not in order:
        raise ValueError(f"fold {k!r} is not one of {order}")
    val_fold = order[(order.index(k) + 1) % len(order)]
    test = np.flatnonzero(folds == k)
    val = np.flatnonzero(folds == val_fold)
    pool = np.flatnonzero((folds != k) & (folds != val_fold))
    return test, val, pool


def describe_pairs(folds, order=None) -> str:
    """The protocol's (test → validation) fold pairs, to print.

    Examples
    --------
    >>> describe_pairs(np.array(["1", "2", "10"]))
    'test 1 → validation 2, test 2 → validation 10, test 10 → validation 1'
    """
    order = ordered_folds(folds, order)
    return ", ".join(f"test {a} → validation {order[(i + 1) % len(order)]}"
                     for i, a in enumerate(order))
