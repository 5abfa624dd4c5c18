"""``alwidget detect``: a saved model's detections over a project's clips.

:func:`add_parser` adds the command to ``alwidget``'s subcommands; its handler prints one
line (:class:`~alwidget.detect.DetectSummary`) and returns 0. Bad values raise
``ValueError`` (the ``alwidget`` command maps errors to its exit codes).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

__all__ = ["add_parser", "run_command"]


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--threshold {text} must be a number in [0, 1]")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--batch-clips {text} must be a whole number >= 1")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``detect`` to ``subparsers`` (of ``argparse``); return its parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="alwidget")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["detect", "--model", "owl.alwmodel", "--db", "p.db",
    ...                           "--from", "2024-05-01", "--to", "2024-05-02"])
    >>> args.func is run_command, args.new_only, args.recorded_from
    (True, True, '2024-05-01')
    """
    p = subparsers.add_parser(
        "detect",
        help="score clips with a saved model; Raven tables and a CSV of the detections",
        description="Score the clips of a project with a saved model (resumable: clips "
        "scored before are skipped unless --all), store the scores apart from the labels, "
        "and write the positives, adjacent clips merged into events, as one Raven selection "
        "table per recording and detections.csv. Clips without the model's features are "
        "left unscored (run 'alwidget features' first).",
    )
    p.add_argument("--model", required=True, type=Path, help="saved model file")
    p.add_argument("--db", required=True, type=Path, help="project database")
    p.add_argument("--out", type=Path,
                   help="folder for the tables (default: detections/<model id>/ beside the "
                        "database)")
    p.add_argument("--all", dest="new_only", action="store_false",
                   help="score every clip again, also those scored before")
    p.add_argument("--from", dest="recorded_from", metavar="ISO",
                   help="only clips recorded at or after this time, e.g. 2024-05-01T06:00")
    p.add_argument("--to", dest="recorded_to", metavar="ISO",
                   help="only clips recorded before this time")
    p.add_argument("--threshold", type=_probability,
                   help="least score reported (default: the model's threshold)")
    p.add_argument("--classes", help="multi-class models: classes to report, comma-separated "
                                     "(default: all but background/negative/noise/none/other)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="score on this Dask scheduler (tcp://host:8786); workers must see the "
                        "folder of the database")
    p.add_argument("--batch-clips", type=_positive_int, default=20_000,
                   help="clips per committed batch (default 20000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    """Run ``alwidget detect`` with parsed ``args``; print one line; return 0."""
    from ..model_file import load_model
    from .run import detect

    if not Path(args.db).is_file():
        raise ValueError(f"database {str(args.db)!r} does not exist; create it with "
                         "'alwidget ingest'")
    model = load_model(args.model)
    out = args.out
    if out is None:
        out = Path(args.db).parent / "detections" / re.sub(r"[^A-Za-z0-9_.-]", "_",
                                                           model.model_id)
    classes = None if not args.classes else [c.strip() for c in args.classes.split(",")
                                             if c.strip()]
    summary = detect(args.db, model, recorded_from=args.recorded_from,
                     recorded_to=args.recorded_to, new_only=args.new_only, out_dir=out,
                     threshold=args.threshold, classes=classes, batch_clips=args.batch_clips,
                     progress=not args.quiet, scheduler=args.scheduler)
    print(summary)
    return 0
