"""The ``alwidget export`` and ``alwidget import-labels`` commands (wired in by
:mod:`alwidget.cli` through :func:`add_parsers`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .export import FORMATS, export_labels
from .imports import import_labels

__all__ = ["add_parsers", "run_export", "run_import"]


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def run_export(args: argparse.Namespace) -> int:
    """``alwidget export``: write the labels; print one line saying what was written."""
    from alwidget.store import Store

    if not Path(args.db).is_file():
        raise ValueError(f"database {str(args.db)!r} does not exist; give a project database "
                         "made by 'alwidget ingest'")
    classes = _names(args.classes)
    with Store(args.db) as store:
        nodes = _names(args.nodes)
        files = export_labels(store, args.out, args.format, labeler=args.labeler,
                              classes=classes, clips=not args.events_only,
                              ontology=args.audioset_ontology, nodes=nodes,
                              start=args.start, end=args.end)
        inside = audios = None
        if nodes is not None or args.start is not None or args.end is not None:
            from alwidget.nodes import clips_where

            window = clips_where(store, nodes, args.start, args.end)
            inside = set(window.tolist())
            audios = set(store.clip_sources(window).audio_id.tolist()) if len(window) else set()
        n_labels = sum((classes is None or r.label in classes)
                       and (inside is None or r.clip_id in inside)
                       for r in store.label_records(labeler=args.labeler))
        n_events = sum((classes is None or e.label in classes)
                       and args.labeler in (None, e.labeler)
                       and (audios is None or e.audio_id in audios)
                       for e in store.strong_events())
    kinds = {"csv": "CSV", "raven": "Raven table", "audacity": "Audacity label track",
             "audioset": "AudioSet TSV"}
    parts = [f"{len(v)} {kinds[k]}{'s' * (len(v) != 1)}" for k, v in files.items()]
    print(f"exported {n_labels} clip label{'s' * (n_labels != 1)} and {n_events} "
          f"event{'s' * (n_events != 1)} to {args.out}: {', '.join(parts)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """``alwidget import-labels``: import the tables; print the summary."""
    summary = import_labels(args.db, args.paths, labeler=args.labeler, root=args.root,
                            annotation_column=args.annotation_column,
                            overwrite=args.overwrite, ontology=args.audioset_ontology)
    print(summary)
    return 0


def add_parsers(subparsers) -> None:
    """Add ``export`` and ``import-labels`` to the ``alwidget`` command's subparsers; each
    sets ``func`` to its handler (``func(args) -> exit status``).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="alwidget")
    >>> add_parsers(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["export", "--db", "p.db", "--out", "labels",
    ...                           "--format", "raven,csv"])
    >>> args.func is run_export, args.format
    (True, 'raven,csv')
    """
    p = subparsers.add_parser(
        "export", help="write the labels as CSV, Raven tables, Audacity tracks, AudioSet TSV",
        description="Write a project's current labels and strong-label events for other "
        "tools: labels.csv, raven/<recording>.Table.1.selections.txt, "
        "audacity/<recording>.txt, audioset_strong.tsv. Only reads the project.")
    p.add_argument("--db", required=True, type=Path, help="project database")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--format", default=",".join(FORMATS),
                   help=f"comma-separated formats (default {','.join(FORMATS)})")
    p.add_argument("--labeler", help="only this labeler's labels")
    p.add_argument("--classes", help="only these labels, comma-separated (e.g. target)")
    p.add_argument("--nodes", help="only clips of these nodes, comma-separated")
    p.add_argument("--start", help="only clips of files recorded from this ISO time on")
    p.add_argument("--end", help="only clips of files recorded before this ISO time")
    p.add_argument("--events-only", action="store_true",
                   help="Raven, Audacity and AudioSet files hold strong-label events only, not "
                   "clip labels (labels.csv holds both)")
    p.add_argument("--audioset-ontology", type=Path,
                   help="AudioSet ontology.json: labels named like its classes are written as "
                   "their MIDs in audioset_strong.tsv")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "import-labels", help="import labels from Raven, Audacity, CSV or AudioSet TSV files",
        description="Import label tables (or folders of them). A row on a clip's window "
        "labels the clip; others become strong-label events. A clip with a decision in force "
        "is skipped and reported (--overwrite adds the label anyway). Everything is checked "
        "before anything is stored.")
    p.add_argument("paths", nargs="+", type=Path, help="tables or folders")
    p.add_argument("--db", required=True, type=Path, help="project database")
    p.add_argument("--labeler", help="who the labels are from (default: the table's labeler "
                   "column, else 'import')")
    p.add_argument("--root", type=Path, help="folder the tables' relative file paths start from")
    p.add_argument("--annotation-column", default="Annotation",
                   help="Raven column holding the labels (default Annotation)")
    p.add_argument("--overwrite", action="store_true",
                   help="label clips that have a decision in force too (reported)")
    p.add_argument("--audioset-ontology", type=Path,
                   help="AudioSet ontology.json: MIDs in AudioSet TSVs become class names")
    p.set_defaults(func=run_import)
