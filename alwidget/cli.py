"""The ``alwidget`` command line: ``ingest``, ``features``, ``demo``, ``simulate``, ``export``,
``import-labels``, ``detect``.

Run ``alwidget COMMAND --help`` for the options of each. A user error ends with one line
on stderr naming the file or value and what to do, and its own exit status
(:data:`EXIT_CODES`); ``alwidget --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
from pathlib import Path

__all__ = ["EXIT_CODES", "main"]

RARE_STRATEGIES = "random,lc,lc-tuned,ssal-0.95,ssal-0.98,ac-5,ac-10"

#: ``ingest --watch`` lists fully (``--full-listing``) once per this many seconds of polling
#: unless ``--full-listing-every`` says otherwise.
FULL_LISTING_SECONDS = 24 * 3600

#: Exit status of each way a command can end.
EXIT_CODES = {
    0: "done",
    1: "ingest --strict: some files could not be used (listed, and in ingest_errors)",
    2: "a bad option or input value, or an input file that does not exist (the message "
       "names it)",
    3: "the database cannot be used (not an alwidget database, a folder, a newer schema)",
    4: "the disk is full, or another system error reading or writing a file",
    5: "the database is read-only",
    6: "the database stayed locked by another program",
    7: "an optional package this command needs is not installed (the message says which)",
    70: "an internal error (a bug: run again with --debug and report the traceback)",
    130: "interrupted (what was committed is kept; run again to resume)",
}


def _finite(option: str, minimum: float = 0.0, *, inclusive: bool = False):
    """An argparse type: a finite number above ``minimum`` (or at it, if ``inclusive``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
        if not ok:
            raise argparse.ArgumentTypeError(
                f"{option} {text} must be a finite number {'>=' if inclusive else '>'} "
                f"{minimum:g}")
        return value
    return parse


def _ingest(args: argparse.Namespace) -> int:
    import os
    from .ingestion import ingest
    from .store import Store

    if args.endpoint_url:  # for this process and the feature workers it starts
        os.environ["AWS_ENDPOINT_URL_S3"] = args.endpoint_url
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.max_runs is not None and args.watch is None:
        raise ValueError("--max-runs counts the runs of --watch; give --watch SECONDS too")
    if args.max_runs is not None and args.max_runs < 1:
        raise ValueError(f"--max-runs {args.max_runs} must be >= 1")
    every = args.full_listing_every
    if every is not None and args.watch is None:
        raise ValueError("--full-listing-every counts the runs of --watch; give --watch "
                         "SECONDS too (or --full-listing for one run)")
    if every is not None and every < 1:
        raise ValueError(f"--full-listing-every {every} must be >= 1")
    if every is None and args.watch is not None:  # by default, once a day
        every = max(1, math.ceil(FULL_LISTING_SECONDS / args.watch))
    if args.features:
        from .features import get_extractor

        get_extractor(args.features)  # an unknown name fails before anything is read
    store = Store(args.db)
    if args.deployment is not None:
        from .nodes import apply_deployment

        d = apply_deployment(store, args.deployment)
        print(f"deployment {args.deployment}: {len(d.nodes)} nodes, {len(d.paths)} paths")
    runs = 0
    while True:
        summary = ingest(
            args.paths,
            store,
            clip_seconds=args.clip_seconds,
            hop_seconds=args.hop_seconds,
            min_last_seconds=args.min_last_seconds,
            name_pattern=args.name_pattern,
            folder_pattern=args.folder_pattern,
            project=args.project,
            max_channels=args.max_channels,
            n_jobs=args.jobs,
            progress=not args.quiet and args.watch is None,
            verbose=True,
            full_listing=args.full_listing or (every is not None
                                               and (runs + 1) % every == 0),
            settle_seconds=args.settle_seconds,
        )
        if args.features and (summary.added or runs == 0):
            from .features import extract_features

            fs = extract_features(store, args.features, n_jobs=args.feature_jobs,
                                  progress=not args.quiet and args.watch is None)
            print(f"{fs.extractor} features: new clips done")
        runs += 1
        if args.watch is None or (args.max_runs is not None and runs >= args.max_runs):
            break
        print(f"watching: next run in {args.watch:g} s (Ctrl-C stops; what is stored stays)",
              flush=True)
        _poll_wait(args.watch)
    return 1 if args.strict and summary.errors else 0


def _poll_wait(seconds: float) -> None:
    """The polling interval of ``ingest --watch`` (tests replace it)."""
    import time

    time.sleep(seconds)


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


def _simulate(args: argparse.Namespace) -> int:
    from . import datasets
    from .experiment import describe_pairs, run_rare_target, save_to_store
    from .learn import is_deep, make_model
    from .store import Store

    model = None if args.model is None else make_model(args.model)  # a bad name fails first
    crnn = (args.model or "").startswith("crnn")
    if args.extractor is None:  # the CRNN learns from spectrogram patches
        args.extractor = "logmel-frames" if crnn else "logmel"
    if crnn and (args.extractor != "logmel-frames" or args.features is not None):
        given = "--features" if args.features is not None else f"--extractor {args.extractor}"
        raise ValueError(f"--model {args.model} learns from log-mel spectrogram patches, not "
                         f"{given}: use --manifest with --extractor logmel-frames (the default "
                         "with --model crnn)")
    if is_deep(model):  # simulations are bounded by epochs: results independent of the load
        model.set_params(max_seconds=None)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    queries = args.queries if args.queries is not None else args.iterations
    if args.queries is None and args.iterations is not None:
        print(f"note: --iterations {args.iterations} means {args.iterations} queries (as "
              "--queries); it used to count model fits, one more than the queries",
              file=sys.stderr)
    fold_order = args.fold_order.split(",") if args.fold_order else None
    if fold_order and args.protocol == "batches":
        raise ValueError("--fold-order sets which fold validates which (rare-target protocol); "
                         "the batch protocol has no validation fold: leave it out")
    if args.features is not None:
        if args.labels is None:
            raise ValueError("--features needs --labels (a CSV with one row per feature row)")
        data = datasets.from_matrix(args.features, args.labels, label_column=args.label_column,
                                    fold_column=args.fold_column)
        store = Store(args.db) if args.db else None
        features = f"matrix:{args.features.name}:{_file_hash(args.features)}"
    elif args.manifest is not None:
        from .features import extract_features

        store = Store(args.db or out / "features.db")
        data = datasets.from_manifest(
            args.manifest, store, audio_root=args.audio_root, path_column=args.path_column,
            label_column=args.label_column, fold_column=args.fold_column,
            extractor=args.extractor, n_jobs=args.jobs, progress=not args.quiet)
        fs = extract_features(store, args.extractor, progress=False)  # computed above: a lookup
        features = f"{fs.extractor}:{fs.config_hash}"
        if crnn:  # the spectrogram's shape, from the set's config
            model.set_params(n_mels=int(fs.config["n_mels"]), n_frames=int(fs.config["n_frames"]))
    else:
        raise ValueError("give --manifest (audio) or --features and --labels (a matrix)")
    print(f"features: {features}")
    if args.protocol == "batches":
        from .experiment import run_batches

        strategies = args.strategies or "random,entropy,margin,mal-mf"
        result = run_batches(
            data.X, data.labels, data.folds, strategies=strategies.split(","),
            batch_size=args.batch_size, queries=9 if queries is None else queries,
            seeds=[int(s) for s in args.seeds.split(",")], oracle_error=args.oracle_error,
            model=model,
            n_jobs=args.jobs, progress=not args.quiet)
        paths = result.to_csv(out)
        print(result.summary_markdown())
        print(f"\nrecords: {paths['records']}\nsummary: {paths['summary']}")
        return 0
    print(f"folds: {describe_pairs(data.folds, fold_order)}")
    classes = sorted(set(data.labels.tolist()))
    targets = classes if args.target == "all" else args.target.split(",")
    result = run_rare_target(
        data.X, data.labels, data.folds, targets,
        strategies=(args.strategies or RARE_STRATEGIES).split(","),
        queries=100 if queries is None else queries,
        seeds=[int(s) for s in args.seeds.split(",")], oracle_error=args.oracle_error,
        model=model, positive_share=args.positive_share, fold_order=fold_order, n_jobs=args.jobs,
        start=args.start, progress=not args.quiet)
    paths = result.to_csv(out)
    result.save_figure(out / "learning_curves.html")
    if store is not None:
        save_to_store(result, store, name=f"simulate {','.join(targets)}", features=features)
    print(result.summary_markdown())
    print(f"\nrecords: {paths['records']}\nsummary: {paths['summary']}\n"
          f"figure: {out / 'learning_curves.html'}")
    return 0


def _file_hash(path: Path) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alwidget`` command."""
    parser = argparse.ArgumentParser(
        prog="alwidget", description="Active learning for labeling audio.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status:\n" + "\n".join(f"  {k:>3}  {v}" for k, v in EXIT_CODES.items()),
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "ingest",
        help="add audio files or folders to a project database as clips",
        description="Add audio files or folders (recursively) to a project database as "
        "fixed-length clips. Bad files are reported and recorded, never fatal.",
    )
    p.add_argument("paths", nargs="+",
                   help="audio files or folders, or object storage URLs (s3://bucket/prefix; "
                   "credentials from the environment or a profile, never from options)")
    p.add_argument("--db", required=True, type=Path, help="project database (created if absent)")
    p.add_argument("--clip-seconds", type=_finite("--clip-seconds"), default=1.0,
                   help="clip length (default 1)")
    p.add_argument("--hop-seconds", type=_finite("--hop-seconds"),
                   help="step between clips (default: clip length)")
    p.add_argument("--min-last-seconds", type=_finite("--min-last-seconds", inclusive=True),
                   help="shortest final partial clip kept (default: half a clip)")
    p.add_argument("--name-pattern",
                   help='node/time in file names, e.g. "{node}_{time:%%Y%%m%%d_%%H%%M%%S}"')
    p.add_argument("--folder-pattern", help='node/time in folder names, e.g. "{node}"')
    p.add_argument("--project", help="project the folders belong to")
    p.add_argument("--max-channels", type=int, default=32, help="reject files with more channels")
    p.add_argument("--jobs", type=int, default=2, help="files read in parallel (default 2)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file failed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--endpoint-url", help="S3-compatible server (MinIO), e.g. "
                   "http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3 or the profile's)")
    p.add_argument("--profile", help="credentials profile (~/.aws/credentials; as AWS_PROFILE)")
    p.add_argument("--deployment", type=Path,
                   help="YAML or CSV description of the nodes, written to the database first")
    p.add_argument("--watch", type=_finite("--watch"), metavar="SECONDS",
                   help="run again every SECONDS, adding only new files and objects")
    p.add_argument("--max-runs", type=int, help="with --watch: stop after this many runs")
    p.add_argument("--full-listing", action="store_true",
                   help="list every folder and object and examine every file (finds files "
                   "rewritten in place and objects uploaded late under an older key); by "
                   "default a re-run lists only local folders that changed and each s3:// "
                   "folder from after the newest key listed in it")
    p.add_argument("--settle-seconds", type=_finite("--settle-seconds", inclusive=True),
                   default=2.0, help="a local file modified less than this before a run may "
                   "still be written: its folder is listed again next run, and a file that "
                   "grew is stored again whole (default 2)")
    p.add_argument("--full-listing-every", type=int, metavar="RUNS",
                   help="with --watch: make every RUNS-th run a full listing (default: "
                   "once a day, RUNS = ceil(86400 / SECONDS))")
    p.add_argument("--features", metavar="EXTRACTOR",
                   help="compute these features (e.g. logmel) for the new clips after each run")
    p.add_argument("--feature-jobs", type=int, default=1,
                   help="worker processes for --features (default 1)")
    p.set_defaults(func=_ingest)

    p = sub.add_parser(
        "features",
        help="compute (or resume computing) features for every clip",
        description="Compute features for every clip that has none yet; resumable.",
    )
    p.add_argument("--db", required=True, type=Path, help="project database")
    p.add_argument("--extractor", default="logmel",
                   help="logmel (default; no model), yamnet (recommended for real recordings) "
                        "or yamnet-tags (the AudioSet tagger)")
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
    p = sub.add_parser(
        "simulate",
        help="compare query strategies with a simulated oracle (rare-target protocol)",
        description="For each target (one vs rest) and fold k: test = fold k, validation = "
        "the next fold, pool = the rest; start from 1 positive + 1 negative, then --queries "
        "queries of one clip each, through the same loop as a labeling session; test F1 at "
        "the threshold tuned on validation after every fit.",
    )
    src = p.add_argument_group("data: an audio manifest, or a feature matrix")
    src.add_argument("--manifest", type=Path, help="CSV with path, label and fold columns")
    src.add_argument("--audio-root", type=Path, help="folder the paths are relative to "
                     "(default: the manifest's folder)")
    src.add_argument("--path-column", default="path")
    src.add_argument("--features", type=Path, help=".npy matrix, one row per clip")
    src.add_argument("--labels", type=Path, help="CSV with the label and fold of each row")
    src.add_argument("--label-column", default="label")
    src.add_argument("--fold-column", default="fold")
    src.add_argument("--extractor", default=None, help="logmel (default), yamnet, or "
                     "logmel-frames (spectrogram patches; the default with --model crnn)")
    src.add_argument("--db", type=Path, help="store for features and results "
                     "(default with --manifest: OUT/features.db)")
    p.add_argument("--protocol", choices=("rare-target", "batches"), default="rare-target",
                   help="rare-target: one class vs rest, one query per iteration (default); "
                   "batches: multi-class, a batch per iteration, committee model")
    p.add_argument("--target", default="all", help="target class(es), comma-separated, or all")
    p.add_argument("--model", default=None,
                   help="learner: forest (default for rare-target; the committee for batches), "
                   "crnn (on logmel-frames), crnn-mc10 (Monte-Carlo dropout), head (an MLP on "
                   "embeddings, e.g. with --extractor yamnet), committee; crnn and head are "
                   "trained by epochs here (no time budget: results independent of the load)")
    p.add_argument("--strategies", help="comma-separated names (default: the rare-sound study's "
                   f"seven, {RARE_STRATEGIES}; with --protocol batches: random,entropy,margin,mal-mf)")
    p.add_argument("--batch-size", type=int, default=20, help="with --protocol batches")
    p.add_argument("--queries", type=int,
                   help="clips asked per run after the start (default 100: models are fitted "
                   "with 2 to 102 labels); with --protocol batches, batches after the first "
                   "(default 9)")
    p.add_argument("--iterations", type=int, help="old name of --queries (same meaning now)")
    p.add_argument("--fold-order", help="folds in protocol order, comma-separated (each test "
                   "fold is validated on the next); default: numbers as numbers, else text")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--positive-share", type=float,
                   help="subsample the pool's positives to this share (a rarer target)")
    p.add_argument("--start", choices=("random", "nearest"), default="random",
                   help="rare-target start: 1 random positive + 1 negative (default), or the "
                        "positive alone and its nearest clips until a negative is labeled")
    p.add_argument("--oracle-error", type=float, default=0.0,
                   help="error rate of a noisy oracle (default 0: ground truth)")
    p.add_argument("--jobs", type=int, default=-1, help="parallel runs (default: all cores)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_simulate)
    from .detect.command import add_parser as add_detect_parser
    from .exchange.command import add_parsers as add_exchange_parsers

    add_exchange_parsers(sub)  # export, import-labels
    add_detect_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (see :data:`EXIT_CODES`)."""
    from .store import StoreError, StoreFull, StoreLocked, StoreReadOnly

    args = build_parser().parse_args(argv)
    if getattr(args, "db", None) is not None and args.command == "features" and not args.db.exists():
        print(f"alwidget: error: database {str(args.db)!r} does not exist; "
              "create it with 'alwidget ingest'", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("alwidget: interrupted; what was committed is kept, run again to resume",
              file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        for kind, code in ((StoreFull, 4), (StoreReadOnly, 5), (StoreLocked, 6),
                           (StoreError, 3), (ImportError, 7), (ValueError, 2),
                           (TypeError, 2), (FileNotFoundError, 2), (OSError, 4),
                           (sqlite3.Error, 3)):
            if isinstance(exc, kind):
                print(f"alwidget: error: {_one_line(exc)}", file=sys.stderr)
                return code
        print(f"alwidget: internal error: {type(exc).__name__}: {_one_line(exc)}; run again "
              "with --debug for the traceback, and report it", file=sys.stderr)
        return 70


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or text}: {exc.filename}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
