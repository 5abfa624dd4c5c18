"""The data-centric framework's team work: a labeling group's agreement and which medoids a
round keeps (more to come: rounds, groups and quotas, doubt-resolution rounds, the
ontology's suggestions).

See :mod:`alwidget.team.agreement`.
"""

from .aggregation import Aggregated, dawid_skene
from .agreement import AGREEMENT_SHARE, Agreement, cohen_kappa, fleiss_kappa, medoid_label
from .medoids import medoid_priority

__all__ = ["AGREEMENT_SHARE", "Aggregated", "Agreement", "cohen_kappa", "dawid_skene",
           "fleiss_kappa", "medoid_label", "medoid_priority"]
