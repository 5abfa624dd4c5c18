"""Labels in and out, in the formats of the field: CSV, Raven selection tables, Audacity label
tracks and AudioSet-style strong-label TSV.

:func:`export_labels` writes a project's labels (it only reads the project);
:func:`import_labels` brings labels made elsewhere in, marked with their source and never over
a human decision; :func:`write_selection_table` writes any selections as a Raven table.
"""

from .audacity import read_label_track, write_label_track
from .export import FORMATS, export_labels
from .imports import Conflict, ImportSummary, import_labels
from .raven import RAVEN_COLUMNS, raven_table_name, read_selection_table, write_selection_table
from .tables import (AUDIOSET_COLUMNS, CSV_COLUMNS, audioset_mids, read_audioset_tsv,
                     read_labels_csv, write_audioset_tsv, write_labels_csv)

__all__ = ["AUDIOSET_COLUMNS", "CSV_COLUMNS", "Conflict", "FORMATS", "ImportSummary",
           "RAVEN_COLUMNS", "audioset_mids", "export_labels", "import_labels",
           "raven_table_name", "read_audioset_tsv", "read_label_track", "read_labels_csv",
           "read_selection_table", "write_audioset_tsv", "write_label_track",
           "write_labels_csv", "write_selection_table"]
