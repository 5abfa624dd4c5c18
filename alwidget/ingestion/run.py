"""The ingest run: files in, ``audios`` + ``clips`` rows and ``ingest_errors`` out."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from tqdm.auto import tqdm

from ..store import NewAudio, Store
from .files import display_path, examine, find_files
from .names import compile_pattern, parse_name
from .windows import WindowError, check_against_files, checked_windows, clip_windows

__all__ = ["IngestSummary", "ingest"]


@dataclass
class IngestSummary:
    """What one ingest run did. ``str(summary)`` is the end-of-run report."""

    files: int = 0
    added: int = 0
    unchanged: int = 0
    clips: int = 0
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    unmatched_names: int = 0

    @property
    def hours(self) -> float:
        """Hours of audio added by this run."""
        return self.seconds / 3600

    def __str__(self) -> str:
        lines = [
            f"{self.files} audio files: {self.added} added ({self.clips} clips, "
            f"{self.hours:.2f} h), {self.unchanged} already stored, "
            f"{len(self.changed)} changed, {len(self.errors)} errors"
        ]
        if self.unmatched_names:
            lines.append(
                f"{self.unmatched_names} file names did not match the name pattern: "
                "node/time taken from folders or left empty"
            )
        for path in self.changed:
            lines.append(
                f"changed: {path}: content differs from the stored file; kept the stored "
                "version (ingest the new content under another name to add it)"
            )
        for path, reason in self.errors:
            lines.append(f"error: {path}: {reason}")
        return "\n".join(lines)


def _counted(results: Iterable, bar) -> Iterator:
    for r in results:
        bar.update()
        yield r


# -- the run ----------------------------------------------------------------
def ingest(
    paths: str | Path | Iterable[str | Path],
    db: Store | str | Path,
    *,
    clip_seconds: float | None = 1.0,
    hop_seconds: float | None = None,
    min_last_seconds: float | None = None,
    name_pattern: str | None = None,
    folder_pattern: str | None = None,
    project: str | None = None,
    max_channels: int = 32,
    n_jobs: int = 2,
    progress: bool = True,
    verbose: bool = True,
    windows: Mapping[str | os.PathLike, Iterable[tuple[float, float]]] | None = None,
) -> IngestSummary:
    """Ingest audio files or folders (recursively) into a store as clips.

    Re-ingesting the same files adds nothing; a file whose content changed
    since it was stored is reported and left as stored. A file that cannot
    be used never stops the run: it is recorded in the store's
    ``ingest_errors`` and in the summary, with the reason.

    Parameters
    ----------
    paths : path or list of paths
        Audio files and/or folders (searched recursively; links are followed
        but never in a loop). Files with other endings than
        :data:`AUDIO_EXTENSIONS` are ignored.
    db : Store or path
        The store, or the path of its database file (created if absent).
    clip_seconds : float or None, default 1.0
        Length of a clip; None makes one clip of each whole file.
    hop_seconds : float, optional
        Step between clip starts; defaults to ``clip_seconds``.
    min_last_seconds : float, optional
        Shortest final partial clip kept; defaults to ``clip_seconds / 2``.
        See the module docstring for the whole clip rule.
    name_pattern, folder_pattern : str, optional
        How to read node and recording time from names; see :func:`parse_name`.
    project : str, optional
        Project the folders belong to.
    max_channels : int, default 32
        Files with more channels are rejected as errors.
    n_jobs : int, default 2
        Files read and validated in parallel (threads).
    progress : bool, default True
        Show a progress bar (tqdm; works in notebooks and terminals).
    verbose : bool, default True
        Print the summary at the end.
    windows : mapping of path to list of (start_s, duration_s), optional
        For these files (which must be among ``paths``), exactly these windows are the
        clips, instead of the clip rule; a file stored already gets those it lacks.
        A bad window raises :class:`WindowError` and nothing is stored (see the module
        docstring).

    Returns
    -------
    IngestSummary

    Raises
    ------
    WindowError
        A given window starts before 0, has no positive length, or ends after its file.

    Examples
    --------
    >>> import alwidget
    >>> summary = alwidget.ingest("recordings/", "project.db", clip_seconds=1.0,
    ...                           name_pattern="{node}_{time:%Y%m%d_%H%M%S}")  # doctest: +SKIP
    400 audio files: 400 added (2000 clips, 0.56 h), 0 already stored, 0 changed, 0 errors

    Two clips of one file, whatever its length:

    >>> summary = alwidget.ingest(["calls/a.wav"], "project.db",
    ...                           windows={"calls/a.wav": [(0.0, 1.64), (3.2, 0.5)]})  # doctest: +SKIP
    """
    clip_windows(1.0, clip_seconds, hop_seconds, min_last_seconds)  # validates arguments
    if max_channels < 1:
        raise ValueError(f"max_channels={max_channels!r} must be >= 1")
    if name_pattern:
        compile_pattern(name_pattern)
    if folder_pattern:
        compile_pattern(folder_pattern)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    wanted = checked_windows(windows or {})
    store = db if isinstance(db, Store) else Store(db)
    summary = IngestSummary()
    walk_errors: list[tuple[str, str]] = []
    files = find_files(paths, walk_errors)
    named = {f for f, _ in files} | {os.path.abspath(os.fspath(p)) for p in paths}
    stray = [p for p in wanted if p not in named]
    if stray:
        raise ValueError(f"windows= names {len(stray)} files that are not among paths, e.g. "
                         f"{stray[0]!r}; add them to paths")
    summary.files = len(files)

    def work(item):
        return examine(item[0], max_channels)

    bar = tqdm(total=len(files), desc="ingest", unit="file", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        results = _counted(pool.map(work, files), bar)
        if wanted:  # every file read before anything is stored: a bad window stores nothing
            results = list(results)
            examined = {f: r for (f, _), r in zip(files, results) if f in wanted}
            try:
                check_against_files(store, wanted, examined)
            except WindowError:
                bar.close()
                raise
        for path, reason in walk_errors:
            store.add_ingest_error(path, reason)
            summary.errors.append((path, reason))
        for (path, root), (digest, props, error) in zip(files, results):
            shown = display_path(path)
            if error is not None:
                store.add_ingest_error(shown, error)
                summary.errors.append((shown, error))
                continue
            stored = store.find_audio(path)
            if stored is not None:
                if stored.content_hash == digest:
                    summary.unchanged += 1
                    if path in wanted:  # windows it was not stored with become new clips
                        summary.clips += len(store.add_clips(stored.id, wanted[path]))
                else:
                    reason = "content changed since it was ingested; the stored version is kept"
                    store.add_ingest_error(shown, reason)
                    summary.changed.append(shown)
                continue
            node, when, matched = parse_name(path, name_pattern, folder_pattern, root)
            summary.unmatched_names += int(bool(name_pattern) and not matched)
            audio = NewAudio(
                folder=os.path.dirname(path),
                file_name=os.path.basename(path),
                content_hash=digest,
                node=node,
                recorded_at=when,
                **props,
            )
            clips = wanted.get(path) or clip_windows(audio.duration_s, clip_seconds,
                                                     hop_seconds, min_last_seconds)
            with store.transaction():
                store.add_audio(audio, clips, project=project)
                store.clear_ingest_errors(shown)
            summary.added += 1
            summary.clips += len(clips)
            summary.seconds += audio.duration_s
    bar.close()
    if verbose:
        print(summary)
    return summary
