"""The ingest run: files in, ``audios`` + ``clips`` rows and ``ingest_errors`` out."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from tqdm.auto import tqdm

from ..store import ListedFolder, NewAudio, Store, StoreNameClash
from .files import AUDIO_EXTENSIONS, display_path, examine
from .names import compile_pattern, parse_name
from .folders import list_local
from .summary import IngestSummary, copy_reason
from .sources import MAX_ATTEMPTS, Entry, is_url, list_objects, unchanged_since
from .stored import body_hash, digest_now, regrow_refusal, relation as relation_of, swaps_of
from .windows import WindowError, check_against_files, checked_windows, clip_windows

__all__ = ["IngestSummary", "ingest"]


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
    full_listing: bool = False,
    settle_seconds: float = 2.0,
) -> IngestSummary:
    """Ingest audio files or folders (recursively) into a store as clips.

    A file is identified by its resolved path (``os.path.realpath``) and its content
    (SHA-256), so each content is stored once:

    * re-ingesting the same files adds nothing, also through a link to them;
    * a stored file found at a new path (moved or renamed, its folder too) keeps its audio
      id, clips, features and labels; its path is updated (``summary.moved``);
    * a copy of a stored file that still exists is not stored again: it is reported
      (``summary.duplicates``) and recorded in ``ingest_errors``, so that the store says
      why the file has no clips of its own; a file of the same content whose node or
      recording time (from its name and folders) differ is another recording and is stored
      (a dead microphone's digitally silent files are byte-identical);
    * a file whose content changed since it was stored is reported and left as stored,
      unless it is a local file stored while it may have been written (modified within
      ``settle_seconds``) that only grew (longer, same format, sample rate and channels,
      its stored part unchanged: :func:`~alwidget.ingestion.stored.regrow_refusal`): then
      it is stored again whole (``summary.grown``), keeping its audio id, clips, features
      and labels, with the clips a fresh ingest gives (the short last clip lengthened);
    * a local file that changes while it is read (still being written) is not stored: it
      is read again by the next run (``summary.writing``); one modified less than
      ``settle_seconds`` before the run is stored, and examined again by the next run;
    * a file that failed is tried again by the next runs while its size or version change,
      else :data:`~alwidget.ingestion.sources.MAX_ATTEMPTS` times in all
      (``summary.failed_before``); a full listing tries it again;
    * a re-run reads only what is new or changed: a file or object stored by an earlier run
      whose size and version (an object's ETag, a file's modification time and inode) are
      the same is not read again (``summary.read`` counts what was read);
    * and lists only what changed, so that its cost follows the new files, not the archive:
      a local folder whose modification time is unchanged since the last run is not listed
      (adding, removing or renaming a file changes it; rewriting a file in place does not),
      and in a folder that changed, a stored file of the same size, modification time and
      inode is not examined; in object storage each folder visited is listed only from after
      the newest key a complete listing of it found (S3 StartAfter: recorders upload under
      time-stamped keys), and of time-ordered subfolders (days, hours) only new ones and the
      newest are visited (:func:`~alwidget.ingestion.sources.list_objects`). ``full_listing=True`` lists and
      examines everything: it finds files rewritten in place and objects uploaded late under
      a key that sorts before one stored (run it now and then, e.g. daily: ``alwidget
      ingest --watch`` does by default).

    ``paths`` may hold URLs of object storage (``s3://bucket/prefix``, through ``fsspec``):
    objects are listed with their ETags and read as streams, never saved to disk; node and
    time come from the object's key as from a path (``folder_pattern`` relative to the
    prefix given). Credentials and the endpoint come from the environment or a profile
    (:mod:`alwidget.ingestion.sources`), never from alwidget, and are never stored: there are
    no fsspec options here, so that feature extraction and the labeler, which read the
    objects later (in other processes too), reach them the same way.

    A file that cannot be used never stops the run: it is recorded in the store's
    ``ingest_errors`` and in the summary, with the reason. Names that are not valid UTF-8
    are kept losslessly (``os.fsdecode`` of their bytes) and shown with ``\\xNN`` for the bytes
    that are not. Each file is read once, in blocks: memory does not grow with its length.

    Parameters
    ----------
    paths : path or list of paths
        Audio files and/or folders (searched recursively; links are followed
        but never in a loop; files are stored under their resolved paths). Files
        with other endings than :data:`AUDIO_EXTENSIONS` are ignored.
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
    full_listing : bool, default False
        List every folder and object and examine every file, as a first run does, instead
        of only what changed (see above; :mod:`alwidget.ingestion.folders`,
        :func:`~alwidget.ingestion.sources.list_objects`). Given ``windows`` list fully.
    settle_seconds : float, default 2.0
        A local file modified less than this before the run may still be written: it is
        stored, and its folder is listed again by the next run, which reads it again if its
        size or modification time changed (a file that grew is stored again whole).

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

    A bucket of a MinIO server (endpoint and credentials in the environment), node from the
    first folder below the prefix:

    >>> summary = alwidget.ingest("s3://port-archive/2024/", "project.db", clip_seconds=10,
    ...                           folder_pattern="{node}")  # doctest: +SKIP

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
    urls = [p for p in paths if is_url(p)]
    paths = [p for p in paths if not is_url(p)]
    wanted = checked_windows(windows or {})
    store = db if isinstance(db, Store) else Store(db)
    store.check_writable("an ingest")  # before reading any file
    full_listing = bool(full_listing or wanted)  # windows name files: list them all
    if not settle_seconds >= 0:
        raise ValueError(f"settle_seconds={settle_seconds!r} must be >= 0 (seconds)")
    summary = IngestSummary(full_listing=full_listing)
    walk_errors: list[tuple[str, str]] = []
    recorded = store.ingest_errors()
    failures = {e.path: e for e in recorded
                if os.path.splitext(e.path)[1].lower() in AUDIO_EXTENSIONS}
    local = list_local(paths, walk_errors, store, full=full_listing, settle_ns=int(
        settle_seconds * 1e9), retry=[p for p in failures if not is_url(p)])
    summary.folders_skipped, summary.folders_listed = local.skipped, local.listed
    entries: list[Entry] = local.entries
    listings = []
    looked_up: list[tuple[str, str]] = []
    erred = {e.path for e in recorded}  # errors past: folders opened, failed files gone
    past = [p for p in local.reached + [display_path(v) for v in local.vanished]
            if p in erred]
    for url in urls:
        listing = list_objects(url, walk_errors, store, full=full_listing, retry={
            p: e for p, e in failures.items() if is_url(p)}, folder_pattern=folder_pattern)
        looked_up += listing.failed  # failed before, and could not be looked up now
        if listing.listed:  # listed now: its listing error is past
            past += [display_path(url.rstrip("/"))] + listing.vanished
        entries += listing.entries
        listed = {e.path for e in listing.entries}  # failed objects a listing no longer finds
        past += [p for p in failures if is_url(p) and p not in listed and listing.covers(p)]
        summary.prefixes_from_key += listing.from_key
        summary.folders_skipped += listing.skipped
        listings.append(listing)  # a prefix not listed tells nothing of what is gone
    named = {e.path for e in entries} | {os.path.realpath(os.fspath(p)) for p in paths}
    stray = [p for p in wanted if p not in named]
    if stray:
        raise ValueError(f"windows= names {len(stray)} files that are not among paths, e.g. "
                         f"{display_path(stray[0])!r}; add them to paths")
    summary.files = len(entries) + len(local.known)
    # stored by an earlier run, the same since: not read
    skipped = unchanged_since(store, entries, wanted) | local.known
    summary.unchanged += len(skipped)
    given_up = set() if full_listing else {  # failed often, the same since: not read
        e.path for e in entries if e.path not in skipped and e.path not in wanted
        and (f := failures.get(display_path(e.path))) is not None
        and f.attempts >= MAX_ATTEMPTS and (f.size_bytes, f.version) == (e.size, e.version)}
    summary.failed_before = len(given_up)
    entry_of: dict[str, Entry] = {}
    for e in entries:  # listed twice (nested roots): the first root names it, as locally
        if e.path not in skipped and e.path not in given_up:
            entry_of.setdefault(e.path, e)
    files = [(e.path, e.found, e.root) for e in entry_of.values()]
    summary.read = len(files)
    deployed = sorted(store.path_nodes().items(), key=lambda kv: -len(kv[0]))

    writing: set[str] = set()  # local files that changed while they were read

    def work(item):
        e = entry_of[item[0]]
        result = examine(e.path, max_channels, e.opener, e.size if e.opener else None)
        if e.opener is None and e.size >= 0:
            try:
                st = os.stat(e.path)
                if (st.st_size, f"{st.st_mtime_ns}:{st.st_ino}") != (e.size, e.version):
                    writing.add(e.path)
            except OSError:
                pass  # gone meanwhile: what was read is reported as read
        return result

    def now(path: str, default: str) -> str | None:
        """Digest of what ``path`` holds now: read in this run, stored and not changed
        since, or read now; None when it is gone. An object under no prefix listed in this
        run: ``default`` (taken to hold what was stored)."""
        if path in seen:
            return seen[path]
        if path in skipped:
            return default
        if is_url(path):
            return None if any(x.covers(path) for x in listings) else default
        return digest_now(path, seen)

    def remember(path: str, audio_id: int) -> None:
        """Record the size and version ``path`` was stored with (next runs skip it)."""
        e = entry_of.get(path)
        if e is not None and e.size >= 0 and e.version:
            growing = body_hash(path, e.size) if e.recent and e.opener is None else None
            store.put_listed(os.fsencode(path), e.size, e.version, e.modified_at, audio_id,
                             growing)

    bar = tqdm(total=len(files), desc="ingest", unit="file", disable=not progress)
    pool = ThreadPoolExecutor(max_workers=max(1, n_jobs))
    try:
        results = _counted(pool.map(work, files), bar)
        if wanted:  # every file read before anything is stored: a bad window stores nothing
            results = list(results)
            examined = {f: r for (f, _, _), r in zip(files, results) if f in wanted}
            try:
                check_against_files(store, wanted, examined)
            except WindowError:
                bar.close()
                raise
        if not store.read_only:
            for path in past:
                store.clear_ingest_errors(path)
        for path, reason in walk_errors:
            store.add_ingest_error(path, reason)
            summary.errors.append((path, reason))
        for path, reason in looked_up:  # another attempt, its size and version kept
            f = failures[path]
            store.add_ingest_error(path, reason, f.size_bytes, f.version)
            summary.errors.append((path, reason))
        seen: dict[str, str] = {}  # path -> digest of the files read so far
        changed: dict[str, tuple] = {}  # path -> (found, root, digest, props): settled last

        def refuse(shown: str, reason: str, path: str | None = None) -> None:
            e = entry_of.get(path)  # its size and version: tried again when they change
            store.add_ingest_error(shown, reason, *((e.size, e.version) if e else ()))
            summary.errors.append((shown, reason))

        def named(path, found, root) -> tuple[str | None, str | None, bool]:
            """Node (as text) and recording time from the name, folders and deployment."""
            node, when, matched = parse_name(found, name_pattern, folder_pattern, root)
            if node is None:  # the node the deployment assigned the folder or prefix to
                node = next((n for p, n in deployed if path.startswith(p.rstrip("/") + "/")),
                            None)
            return (display_path(node) if node is not None else None), when, matched

        def add(path, found, root, digest, props) -> None:
            shown = display_path(path)
            node, when, matched = named(path, found, root)
            summary.unmatched_names += int(bool(name_pattern) and not matched)
            audio = NewAudio(
                folder=os.path.dirname(path),
                file_name=os.path.basename(path),
                content_hash=digest,
                node=node,  # names are text
                recorded_at=when,
                **props,
            )
            clips = wanted.get(path) or clip_windows(audio.duration_s, clip_seconds,
                                                     hop_seconds, min_last_seconds)
            try:
                with store.transaction():
                    remember(path, store.add_audio(audio, clips, project=project))
                    store.clear_ingest_errors(shown)
            except StoreNameClash as exc:
                return refuse(shown, str(exc), path)
            summary.added += 1
            summary.clips += len(clips)
            summary.seconds += audio.duration_s

        def grew(path, found, root, digest, props) -> str | None:
            """Store again whole a stored file that only grew (it was stored while it may
            still have been written): None; else why it is another recording."""
            stored = store.find_audio(path)
            refusal = "it is not stored" if stored is None else regrow_refusal(
                path, props, stored, store.listed_at([os.fsencode(path)]).get(
                    os.fsencode(path)))
            if refusal is not None:
                return refusal
            audio = NewAudio(folder=os.path.dirname(path), file_name=os.path.basename(path),
                             content_hash=digest, **props)
            clips = clip_windows(audio.duration_s, clip_seconds, hop_seconds, min_last_seconds)
            with store.transaction():
                added, relabel = store.regrow_audio(stored.id, audio, clips)
                summary.clips += len(added)
                remember(path, stored.id)
                store.clear_ingest_errors(display_path(path))
            summary.seconds += audio.duration_s - stored.duration_s
            summary.grown.append(display_path(path))
            summary.listen_again += relabel
            return None

        def handle(path, found, root, digest, props) -> None:
            shown = display_path(path)
            relation, stored = relation_of(store, path, digest, now,
                                         named(path, found, root)[:2])
            if relation == "changed":  # unless its content moved elsewhere: see _swaps
                changed[path] = (found, root, digest, props)
                return
            if relation == "new":
                return add(path, found, root, digest, props)
            # stored already: never a second audio of one content
            if relation == "unchanged" and path not in wanted:
                summary.unchanged += 1  # nothing else to write (a read-only store is fine)
                if not store.read_only:
                    remember(path, stored.id)
                return
            try:
                with store.transaction():
                    if relation in ("moved", "relinked"):
                        store.move_audio(stored.id, path)
                        store.clear_ingest_errors(shown)
                        summary.moved.append((stored.path, path))
                        remember(path, stored.id)
                    elif relation == "copy":
                        e = entry_of[path]
                        store.add_ingest_error(shown, copy_reason(stored.path), e.size,
                                               e.version)
                        summary.duplicates.append((path, stored.path))
                    else:
                        summary.unchanged += 1
                        remember(path, stored.id)
                    if path in wanted:  # windows it was not stored with become new clips
                        summary.clips += len(store.add_clips(stored.id, wanted[path]))
            except StoreNameClash as exc:
                return refuse(shown, str(exc), path)
            freed = None if relation != "moved" else \
                stored.path if is_url(stored.path) else os.path.realpath(stored.path)
            if freed in changed:  # its old path holds another file, read earlier: settle it
                handle(freed, *changed.pop(freed))

        for (path, found, root), (digest, props, error) in zip(files, results):
            if path in writing:  # changed while read (an error too): read by the next run
                summary.writing.append(display_path(path))
                continue
            if error is not None:
                if found != path and not is_url(path) and not os.path.exists(path):
                    error = f"{error} (a link, {display_path(found)}, leads to it)"
                refuse(display_path(path), error, path)
                continue
            seen[path] = digest
            handle(path, found, root, digest, props)
        swaps = swaps_of(store, changed, now)
        if swaps:  # files swapped or renamed in a circle: each audio follows its content
            with store.transaction():
                for path, audio in swaps.items():  # first out of the way (names are unique)
                    store.move_audio(audio.id, os.path.join(os.path.dirname(path),
                                                            f".alwidget-moving-{audio.id}"))
                for path, audio in swaps.items():
                    store.move_audio(audio.id, path)
                    store.clear_ingest_errors(display_path(path))
                    summary.moved.append((audio.path, path))
                    remember(path, audio.id)
                    if path in wanted:
                        summary.clips += len(store.add_clips(audio.id, wanted[path]))
        for path in [p for p in changed if p not in swaps]:
            shown = display_path(path)
            why = grew(path, *changed[path])
            if why is None:
                continue
            reason = (f"content changed since it was ingested ({why}); the stored version, "
                      "its clips and labels are kept: if it is a new recording, give it a new "
                      "name and ingest it again")
            elsewhere = [a for a in store.audios_with_content(changed[path][2]) if a.path != path]
            if elsewhere:  # e.g. another stored file was renamed over this one
                reason += (f" (it now holds the content stored for {display_path(elsewhere[0].path)};"
                           " move files one at a time, or ingest the folder that holds both)")
            e = entry_of[path]
            store.add_ingest_error(shown, reason, e.size, e.version)
            summary.changed.append(shown)
        if not store.read_only:  # all found is stored: the next run skips what is unchanged
            again = {os.fsencode(os.path.dirname(p)) for p in writing}
            store.put_listed_folders(
                [dataclasses.replace(f, mtime_ns=-1) if f.resolved in again else f
                 for f in local.folders] + [
                    ListedFolder(os.fsencode(f), os.fsencode(f), -1, 0, 0,
                                 None if k is None else os.fsencode(k))
                    for x in listings if x.listed for f, k in x.folders],
                local.gone + [os.fsencode(f) for x in listings if x.listed for f in x.gone])
    finally:  # an error or Ctrl-C: files not read yet are not read
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    if verbose:
        print(summary)
    return summary
