"""Which labeled clips a round trains on when there are too many: the framework's priority."""

from __future__ import annotations

import numpy as np

__all__ = ["medoid_priority"]


def medoid_priority(clip_ids, in_window, same_node, max_medoids: int) -> np.ndarray:
    """The labeled clips (medoids) a round keeps, at most ``max_medoids``: first those of the
    round's window, then labeled clips of the same node(s) from other windows, then other
    nodes' (each group in clip id order, oldest first).

    Parameters
    ----------
    clip_ids : array of int
        The labeled clips.
    in_window, same_node : arrays of bool
        Whether each clip lies in the round's window, and whether its node is one of the
        round's.
    max_medoids : int

    Returns
    -------
    ndarray of int64
        The clips kept, in priority order.

    Examples
    --------
    >>> medoid_priority([5, 3, 9, 1], in_window=[False, True, False, False],
    ...                 same_node=[True, True, False, True], max_medoids=3).tolist()
    [3, 1, 5]
    """
    ids = np.asarray(clip_ids, np.int64).reshape(-1)
    in_window = np.asarray(in_window, bool).reshape(-1)
    same_node = np.asarray(same_node, bool).reshape(-1)
    if not (len(ids) == len(in_window) == len(same_node)):
        raise ValueError(f"{len(ids)} clips, {len(in_window)} in_window and {len(same_node)} "
                         "same_node flags: give one of each per clip")
    if isinstance(max_medoids, bool) or not isinstance(max_medoids, (int, np.integer)) \
            or max_medoids < 0:
        raise ValueError(f"max_medoids={max_medoids!r} must be an integer >= 0")
    rank = np.where(in_window, 0, np.where(same_node, 1, 2))
    order = np.lexsort((ids, rank))
    return ids[order][:int(max_medoids)]
