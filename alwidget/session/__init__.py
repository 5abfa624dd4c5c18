"""The labeling session: decisions committed first, the next clip planned in the background.

* :class:`Session` — the loop state and the expert's decisions (:mod:`.session`);
* :class:`~alwidget.session.planner.Planner` — plans the next clip for every answer ahead;
* ``session.pool`` (:class:`~alwidget.session.pool.SessionPool`) — the pool as data for maps.
"""

from .pool import STATUS_NAMES, PoolView, SessionPool
from .session import Session
from .state import DOUBT, LoopState, Proposal, StaleDecision, Status

__all__ = ["DOUBT", "STATUS_NAMES", "LoopState", "PoolView", "Proposal", "Session",
           "SessionPool", "StaleDecision", "Status"]
