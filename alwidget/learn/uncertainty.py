"""Predictive entropy and mutual information (BALD), from :mod:`alwidget.uncertainty`."""

from ..uncertainty import mutual_information, predictive_entropy

__all__ = ["mutual_information", "predictive_entropy"]
