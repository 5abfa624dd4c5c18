"""Local folders listed for ingest: recursively, following links but never looping, and on a
re-run only the folders that changed since the last run.

Adding, removing or renaming an entry of a folder changes the folder's modification time
(``st_mtime_ns``); rewriting a file in place does not. So a re-run (``full=False``, the
default of :func:`~alwidget.ingestion.ingest`):

* does not list a folder whose modification time, inode and device are those recorded when
  it was last listed (``listed_folders``): it only visits the subfolders recorded for it
  (one ``stat`` per folder);
* lists a folder that changed (one read of its entries, and one ``stat`` per file in it:
  the cost of a re-run grows with the number of files in each folder that changed, so a
  node/day layout keeps it small), and examines the files that are not stored yet, or
  whose size, modification time or inode differ from the stored ones (a file replaced by a
  rename, or deleted and written again, even when its inode is reused);
* examines the files whose ingest failed before (``retry``: one ``stat`` each) wherever
  they are, without listing their folders;
* so it never sees a file **rewritten in place** (same name and inode: its folder is
  unchanged), nor a change behind a link to a file: ``full=True`` (``ingest(...,
  full_listing=True)``, ``alwidget ingest --full-listing``) examines every file, as the
  first run does.

A folder modified less than :data:`RECENT_NS` before the listing started, or holding a file
modified less than the settle time before it (``settle_ns``: a file that may still be
written; its entry is marked ``recent``), is listed again next time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

from ..store import ListedFolder, Store
from .files import AUDIO_EXTENSIONS, display_path
from .sources import Entry

__all__ = ["RECENT_NS", "LocalListing", "list_local"]

#: A folder modified this close (ns) to the start of a listing is listed again next time.
RECENT_NS = 2_000_000_000


@dataclass
class LocalListing:
    """What :func:`list_local` found.

    Attributes
    ----------
    entries : list of Entry
        Files to compare with what is stored (examined now: size and version).
    known : set of str
        Resolved paths of files listed in a changed folder and taken as stored (stored
        at the same inode): not examined.
    folders : list of ListedFolder
        Folders listed, to record once the run has stored what it found
        (``Store.put_listed_folders``); those skipped keep what was recorded.
    gone : list of bytes
        Recorded folders that are no longer there.
    skipped : int
        Folders not listed: unchanged since the last run.
    listed : int
        Folders listed.
    reached : list of str
        Folders opened (as shown): an earlier error opening or listing them is past.
    vanished : list of str
        Files of ``retry`` (failed before) that are no longer there.
    """

    entries: list[Entry] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    folders: list[ListedFolder] = field(default_factory=list)
    gone: list[bytes] = field(default_factory=list)
    skipped: int = 0
    listed: int = 0
    reached: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)


def _entry(path: str, found: str, root: str, settled_ns: int,
           st: os.stat_result | None = None) -> Entry:
    """An entry with the size and version (``mtime_ns:inode``) of ``path`` (``st``, else
    stat'ed now), ``recent`` when modified after ``settled_ns``; size -1 when it cannot be
    examined (it is read, and its error reported)."""
    try:
        st = st if st is not None else os.stat(path)
        size, version = st.st_size, f"{st.st_mtime_ns}:{st.st_ino}"
        modified = datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")
        recent = st.st_mtime_ns > settled_ns
    except OSError:
        size, version, modified, recent = -1, "", None, False
    return Entry(path, found, root, size, version, modified, recent=recent)


def list_local(paths: Iterable[str | Path], errors: list[tuple[str, str]],
               store: Store | None = None, *, full: bool = True, retry: Iterable[str] = (),
               settle_ns: int = 0) -> LocalListing:
    """The audio files named or found below local ``paths``.

    A file is listed by its resolved path (``os.path.realpath``: no links, no ``..``),
    which identifies it: reached through links or named twice, it is listed once. Its entry
    keeps the path it was found by and the folder given (both absolute), from which node and
    time are read. Folders that cannot be read and directory loops are added to ``errors``.

    Parameters
    ----------
    paths : iterable of path
        Files and folders.
    errors : list
        Receives ``(path as shown, reason)`` of what could not be listed.
    store : Store, optional
        What earlier runs listed (``listed_folders``, ``listed_files``); None lists all.
    full : bool, default True
        List every folder and examine every file; False skips what is unchanged (see the
        module docstring).
    retry : iterable of str
        Resolved paths of files whose ingest failed before: those below ``paths`` are
        examined, whether their folder is listed or not (``vanished`` when gone).
    settle_ns : int, default 0
        A file modified less than this before the listing started is marked ``recent`` (it
        may still be written) and its folder is listed again next time.

    Returns
    -------
    LocalListing

    Examples
    --------
    >>> errors = []
    >>> listing = list_local(["recordings/"], errors, store, full=False)  # doctest: +SKIP
    >>> listing.skipped, len(listing.entries)  # doctest: +SKIP
    (1250, 3)
    """
    out = LocalListing()
    # resolved -> (as found, root, examine: True, False or the stat made when listed)
    found: dict[str, tuple[str, str, object]] = {}
    incremental = store is not None and not full
    start_ns = time.time_ns()
    settled_ns = start_ns - max(0, int(settle_ns))
    roots = []
    for p in paths:
        p = os.path.abspath(os.fspath(p))
        if os.path.isdir(p):
            roots.append((os.path.realpath(p).rstrip(os.sep) + os.sep, p))
            known = store.listed_folders_under(os.fsencode(p)) if incremental else {}
            _Walk(p, errors, out, found, known, start_ns, settled_ns, store if incremental
                  else None).visit(p, ())
        elif os.path.lexists(p):
            found.setdefault(os.path.realpath(p), (p, os.path.dirname(p), True))
        else:
            errors.append((display_path(p), "no such file or folder"))
    for path in retry:  # failed before: examined, its folder listed or not
        if path in found and found[path][2] is not False:
            continue
        root = next((p for real, p in roots if path.startswith(real)), None)
        if root is None:
            continue
        if not os.path.lexists(path):
            out.vanished.append(path)
        elif os.path.isfile(path):
            found[path] = (path, root, True)
    for real, (as_found, root, examine) in found.items():
        if examine is False:
            out.known.add(real)
        else:
            out.entries.append(_entry(real, as_found, root, settled_ns,
                                      None if examine is True else examine))
    return out


class _Walk:
    """One folder given to :func:`list_local`, walked depth first in name order."""

    def __init__(self, root, errors, out, found, known, start_ns, settled_ns, store):
        self.root, self.errors, self.out, self.found = root, errors, out, found
        self.known, self.start_ns, self.store = known, start_ns, store
        self.settled_ns = settled_ns
        self.children: dict[bytes, list[bytes]] = {}
        for loc in known:
            self.children.setdefault(os.path.dirname(loc), []).append(loc)
        self.seen: set[tuple[int, int]] = set()

    def visit(self, folder: str, ancestors: tuple, recorded: bool = False) -> None:
        try:
            st = os.stat(folder)
        except OSError as exc:
            if recorded and isinstance(exc, FileNotFoundError):  # e.g. a link's folder gone
                self.out.gone.append(os.fsencode(folder))
            else:  # remembered, so that the next run tries it again
                self.errors.append((display_path(folder),
                                    f"cannot open folder: {exc.strerror}"))
                self.out.folders.append(ListedFolder(os.fsencode(folder),
                                                     os.fsencode(folder), -1, 0, 0))
            return
        self.out.reached.append(display_path(folder))
        loc = os.fsencode(folder)
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            self.errors.append((display_path(folder), "directory loop: this link leads back to "
                                "a folder above it; not followed"))
            return
        if ident in self.seen:  # the same folder reached by another link: listed already
            self.out.folders.append(ListedFolder(loc, loc, -1, st.st_ino, st.st_dev))
            return
        self.seen.add(ident)
        was = self.known.get(loc)
        if was is not None and (was.mtime_ns, was.inode, was.device) == \
                (st.st_mtime_ns, st.st_ino, st.st_dev):
            self.out.skipped += 1  # unchanged: its recorded subfolders may have changed
            for child in sorted(self.children.get(loc, ())):
                self.visit(os.fsdecode(child), ancestors + (ident,), recorded=True)
            return
        self._list(folder, loc, st, ancestors + (ident,))

    def _list(self, folder: str, loc: bytes, st: os.stat_result, ancestors: tuple) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.errors.append((display_path(folder), f"cannot list folder: {exc.strerror}; "
                                "check its permissions"))
            self.out.folders.append(ListedFolder(loc, os.fsencode(os.path.realpath(folder)),
                                                 -1, st.st_ino, st.st_dev))  # tried next run
            return
        self.out.listed += 1
        real = os.path.realpath(folder)
        recent = st.st_mtime_ns > self.start_ns - RECENT_NS
        files, subfolders = [], set()
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                files.append((entry, None, None, None))
                subfolders.add(os.fsencode(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                try:
                    link = entry.is_symlink()
                    fst = None if link else entry.stat(follow_symlinks=False)
                except OSError:
                    link, fst = True, None
                resolved = os.path.realpath(entry.path) if link else os.path.join(real,
                                                                                  entry.name)
                # a file that may still be written: its folder is listed again next time
                recent = recent or fst is not None and fst.st_mtime_ns > self.settled_ns
                files.append((entry, resolved, link, fst))
        self.out.folders.append(ListedFolder(loc, os.fsencode(real),
                                             -1 if recent else st.st_mtime_ns,
                                             st.st_ino, st.st_dev))
        stored = {}
        if self.store is not None:  # files stored with this size, mtime and inode: stored
            stored = self.store.listed_at([os.fsencode(r) for _, r, link, _ in files
                                           if r is not None and not link])
        for entry, resolved, link, fst in files:
            if resolved is None:
                self.visit(entry.path, ancestors)
                continue
            hit = None if fst is None else stored.get(os.fsencode(resolved))
            same = hit is not None and (hit.size_bytes, hit.version) == \
                (fst.st_size, f"{fst.st_mtime_ns}:{fst.st_ino}")
            self.found.setdefault(resolved, (entry.path, self.root,
                                             False if same else fst or True))
        self.out.gone += [c for c in self.children.get(loc, ()) if c not in subfolders]
