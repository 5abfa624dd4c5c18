"""Recording nodes: the deployment (which node records where, with what) and node health.

* :func:`load_deployment` / :func:`apply_deployment` — a small YAML or CSV description of the
  deployment into the store's ``sources``, ``node_types``, ``nodes`` and ``paths``.
* :func:`node_health` — per node and day: missing, silent and clipped time, level
  distribution, a review clip; nodes that stopped sending (shown by
  :class:`alwidget.widgets.node_health.NodeHealthView`).
* :func:`clips_where` — the one filter of clips by node and time window (sessions, maps,
  rounds and export take its result as ``clips=``).
"""

from .deployment import Deployment, DeploymentError, apply_deployment, load_deployment
from .health import DayHealth, HealthReport, node_health
from .select import clips_where

__all__ = ["DayHealth", "Deployment", "DeploymentError", "HealthReport", "apply_deployment",
           "clips_where", "load_deployment", "node_health"]
