"""The data-centric framework's team work: a labeling group's agreement (more to come: rounds,
groups and quotas, doubt-resolution rounds, the ontology's suggestions).

See :mod:`alwidget.team.agreement`.
"""

from .agreement import AGREEMENT_SHARE, Agreement, cohen_kappa, fleiss_kappa, medoid_label

__all__ = ["AGREEMENT_SHARE", "Agreement", "cohen_kappa", "fleiss_kappa", "medoid_label"]
