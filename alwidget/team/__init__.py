"""The data-centric framework's team work: rounds over windows of a growing archive, groups
of labelers and their agreement, doubt-resolution rounds and the ontology's new classes.

Start with :class:`Team` (``Team.create(store, groups=...)`` once, then ``Team(store)`` in
every labeler's kernel).
"""

from .aggregation import Aggregated, dawid_skene
from .agreement import AGREEMENT_SHARE, Agreement, cohen_kappa, fleiss_kappa, medoid_label
from .maps import ROLES, RoundMap, round_figures, round_map
from .medoids import medoid_priority
from .ontology import AUDIOSET_ONTOLOGY, load_audioset_ontology, ontology_children, search_ontology
from .team import DEFAULT_LABELERS, LabelerProgress, Team

__all__ = ["AGREEMENT_SHARE", "AUDIOSET_ONTOLOGY", "Aggregated", "Agreement", "DEFAULT_LABELERS",
           "LabelerProgress", "ROLES", "RoundMap", "Team", "cohen_kappa", "dawid_skene", "fleiss_kappa",
           "load_audioset_ontology", "medoid_label", "medoid_priority", "ontology_children",
           "round_figures", "round_map", "search_ontology"]
