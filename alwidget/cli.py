"""The ``alwidget`` command line: ``alwidget ingest``, ``alwidget features``, ``alwidget demo``.

Run ``alwidget COMMAND --help`` for the options of each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _ingest(args: argparse.Namespace) -> int:
    from .ingestion import ingest

    summary = ingest(
        args.paths,
        args.db,
        clip_seconds=args.clip_seconds,
        hop_seconds=args.hop_seconds,
        min_last_seconds=args.min_last_seconds,
        name_pattern=args.name_pattern,
        folder_pattern=args.folder_pattern,
        project=args.project,
        max_channels=args.max_channels,
        n_jobs=args.jobs,
        progress=not args.quiet,
        verbose=True,
    )
    return 1 if args.strict and summary.errors else 0


def _features(args: argparse.Namespace) -> int:
    from .features import extract_features
    from .store import Store

    store = Store(args.db)
    fs = extract_features(store, args.extractor, n_jobs=args.jobs, progress=not args.quiet)
    ids, _ = store.get_features(fs)
    print(
        f"{fs.extractor} (config {fs.config_hash}, dim {fs.dim}): "
        f"{len(ids)} of {store.n_clips()} clips have features"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import make_demo

    labels = make_demo(args.out, seed=args.seed, progress=not args.quiet)
    print(f"demo data written to {args.out}; ground truth in {labels}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alwidget`` command."""
    parser = argparse.ArgumentParser(
        prog="alwidget", description="Active learning for labeling audio."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "ingest",
        help="add audio files or folders to a project database as clips",
        description="Add audio files or folders (recursively) to a project database as "
        "fixed-length clips. Bad files are reported and recorded, never fatal.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="audio files or folders")
    p.add_argument("--db", required=True, type=Path, help="project database (created if absent)")
    p.add_argument("--clip-seconds", type=float, default=1.0, help="clip length (default 1)")
    p.add_argument("--hop-seconds", type=float, help="step between clips (default: clip length)")
    p.add_argument("--min-last-seconds", type=float,
                   help="shortest final partial clip kept (default: half a clip)")
    p.add_argument("--name-pattern",
                   help='node/time in file names, e.g. "{node}_{time:%%Y%%m%%d_%%H%%M%%S}"')
    p.add_argument("--folder-pattern", help='node/time in folder names, e.g. "{node}"')
    p.add_argument("--project", help="project the folders belong to")
    p.add_argument("--max-channels", type=int, default=32, help="reject files with more channels")
    p.add_argument("--jobs", type=int, default=2, help="files read in parallel (default 2)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file failed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_ingest)

    p = sub.add_parser(
        "features",
        help="compute (or resume computing) features for every clip",
        description="Compute features for every clip that has none yet; resumable.",
    )
    p.add_argument("--db", required=True, type=Path, help="project database")
    p.add_argument("--extractor", default="logmel", help="extractor name (default logmel)")
    p.add_argument("--jobs", type=int, default=-1, help="worker processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_features)

    p = sub.add_parser(
        "demo",
        help="write the synthetic demo corpus",
        description="Write the synthetic demo corpus (2,000 one-second clips, 3 %% targets).",
    )
    p.add_argument("out", type=Path, nargs="?", default=Path("data/demo"),
                   help="output folder (default data/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "db", None) is not None and args.command != "ingest" and not args.db.exists():
        print(f"alwidget: error: database {str(args.db)!r} does not exist; "
              "create it with 'alwidget ingest'", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"alwidget: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alwidget: interrupted; what was committed is kept, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
