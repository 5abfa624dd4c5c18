"""Where ingest's files come from: local folders, and object storage through ``fsspec``
(``s3://bucket/prefix``; MinIO and other S3-compatible servers through their endpoint).

Each file or object found is an :class:`Entry` with its size and a version (an object's
ETag, a local file's modification time and inode): a re-run of ingest skips the entries
whose location, size and version are what it stored last time (``listed_files``), so it reads
only what is new or changed; and it lists only what may have changed: local folders that
changed (:mod:`alwidget.ingestion.folders`), each folder of object storage from after the
newest key a complete listing of it found (:func:`list_objects`). Objects are read as streams (a block at a time,
never saved to disk).

Credentials are never taken as arguments of alwidget's own, stored or printed: ``fsspec``
(``s3fs``/``botocore``) finds them in the usual environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), a profile
(``AWS_PROFILE``, ``~/.aws/credentials``) or an instance role; the endpoint of an
S3-compatible server in ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``, or the profile's
``endpoint_url``), which feature extraction and the labeler then read the objects through
too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from ..store import Store
from ..store.audios import check_no_credentials, is_url
from .files import AUDIO_EXTENSIONS
from .timelevels import NEWEST_TIME_FOLDERS, time_children

__all__ = ["BLOCK_BYTES", "MAX_ATTEMPTS", "Entry", "ObjectListing", "is_url", "list_objects",
           "location_prefix", "unchanged_since"]

#: Bytes fetched per request when an object is read (a stream: one block in memory).
BLOCK_BYTES = 1 << 21
#: Runs that try a failed file again while its size and version stay the same (then only a
#: change of the file, or a full listing, tries it again).
MAX_ATTEMPTS = 3
_SIZED = {"s3", "s3a"}  # filesystems whose open() takes the listed size (no HEAD request)


@dataclass(frozen=True)
class Entry:
    """One file or object to ingest."""

    path: str        # what identifies it: a local file's resolved path, or an object's URL
    found: str       # the name node and time are read from
    root: str        # the folder or prefix given (``found`` relative to it: see parse_name)
    size: int
    version: str     # an object's ETag, or "mtime_ns:inode"
    modified_at: str | None
    opener: Callable | None = None  # opens an object as a stream; None: a local file
    recent: bool = False  # a local file modified within the settle time: may be written still


def location_prefix(path: str) -> bytes:
    """The ``listed_files`` key range of a folder or prefix given to ingest.

    Examples
    --------
    >>> location_prefix("s3://port/n1/")
    b's3://port/n1/'
    """
    return os.fsencode(path)


@dataclass
class ObjectListing:
    """What :func:`list_objects` found below one URL.

    Attributes
    ----------
    entries : list of Entry
        The audio objects listed.
    root : str
        The URL of the prefix as the entries spell it (``s3://bucket/prefix``).
    listed : bool
        False when the listing failed (reported in ``errors``): it tells nothing of what is
        there, and nothing is gone (:meth:`covers` is False).
    whole : list of (str, str)
        What was listed whole: ``(prefix URL, "tree")`` every object below it, ``(folder
        URL, "direct")`` the objects directly in it, ``(URL, "exact")`` that object. An
        object stored there and not listed now is gone (:meth:`covers`).
    folders : list of (str, str or None)
        Folder URLs (ending with ``/``) at and below the prefix with the URL of the greatest
        object directly in each that this listing saw (or the one remembered before), to
        record once the run stored what it found: a re-run lists each folder from after it.
    gone : list of str
        Folders remembered before that are no longer there.
    from_key : int
        Folders listed only from after their remembered key.
    vanished : list of str
        Objects that failed in an earlier run and are no longer there (their errors are
        cleared).
    skipped : int
        Folders a default re-run did not visit (older days: see :func:`list_objects`).
    failed : list of (str, str)
        Objects that failed in an earlier run and could not be looked up now (denied, a
        server error, the network), with the reason: recorded as another attempt.
    """

    entries: list[Entry]
    root: str
    listed: bool = True
    whole: list[tuple[str, str]] = field(default_factory=list)
    folders: list[tuple[str, str | None]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    from_key: int = 0
    vanished: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def covers(self, url: str) -> bool:
        """Whether ``url`` would have been listed, were it there (never for a listing that
        failed, even part-way)."""
        if not self.listed:
            return False
        for prefix, how in self.whole:
            if how == "exact" and url == prefix or how == "tree" and url.startswith(prefix) \
                    or how == "direct" and url.startswith(prefix) and \
                    "/" not in url[len(prefix):]:
                return True
        return False


def _key(location: bytes | str) -> str:
    """The key of a stored object's URL (``s3://bucket/key`` -> ``key``)."""
    return os.fsdecode(location).split("://", 1)[1].split("/", 1)[1]


def _folder_marks(fs, top: str, keys) -> list[tuple[str, str | None]]:
    """Every folder at and below ``top`` ("bucket/prefix/") of the listed ``keys``
    ("bucket/key"), with the URL of the greatest key directly in it (None: none)."""
    marks: dict[str, str | None] = {top: None}
    for k in sorted(keys):
        parts = k[len(top):].split("/")[:-1]
        for i in range(len(parts)):
            marks.setdefault(top + "".join(p + "/" for p in parts[:i + 1]), None)
        if _is_audio(k):
            marks[top + "".join(p + "/" for p in parts)] = k
    return [(fs.unstrip_protocol(f), None if k is None else fs.unstrip_protocol(k))
            for f, k in sorted(marks.items())]


def _is_audio(key: str) -> bool:
    return os.path.splitext(key)[1].lower() in AUDIO_EXTENSIONS


def _before(key: str) -> str:
    """A StartAfter value that lists ``key`` itself (the greatest shorter string)."""
    return key[:-1]


def _list_since(fs, root: str, store: Store, out: ObjectListing, failed: dict[str, object],
                folder_pattern: str | None) -> tuple[dict[str, dict], bool]:
    """The objects below ``root`` ("bucket/prefix") of an S3 filesystem that a re-run needs,
    and whether anything is there.

    Each folder visited is listed with a delimiter (its own objects, and its subfolders),
    from after the greatest key a complete listing of it found before
    (``listed_folders.last_key``), or from just before its oldest failed object (so that
    a failed object's size and ETag are seen at each re-run, and an object uploaded again
    is read); a folder never listed so is listed whole, and one with subfolders has its first
    page listed whole (a new subfolder may sort before its mark, the greatest audio key:
    "n1/2024-05-02/" before "n1/zz_notes.wav") and then jumps to the mark. Of a folder's
    subfolders, those new since its listing before are visited, those holding a failed
    object, and: where ``folder_pattern`` reads only a time from that level
    (:func:`~alwidget.ingestion.timelevels.time_children`: days, hours, dates) the
    :data:`~alwidget.ingestion.timelevels.NEWEST_TIME_FOLDERS` greatest-sorting ones and those
    whose name is no plausible date, else (nodes, or no pattern for it) all. So with a
    ``folder_pattern`` naming the time levels a re-run costs as many LISTs as the node
    folders, plus the two newest days of each, whatever the archive's age. Objects of
    ``failed`` (URL -> IngestError) that no visited folder lists from before them are
    looked up one by one, those with tries left (an object that cannot be looked up is
    recorded in ``out.failed`` and the listing goes on); the gone ones go in
    ``out.vanished``."""
    bucket, _, prefix = root.partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    scheme = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    base = f"{scheme}://{bucket}/{prefix}"
    marks = store.listed_folders_under(os.fsencode(base))
    timed = time_children(folder_pattern, f"{scheme}://{bucket}/", bucket, prefix, marks)
    found: dict[str, dict] = {}
    oldest_failed: dict[str, str] = {}  # folder key prefix -> its smallest failed key
    need: set[str] = set()  # folder key prefixes holding failed objects, and their parents
    for url in failed:
        if url.startswith(base):
            key = _key(url)
            folder = key[:key.rfind("/") + 1]
            oldest_failed[folder] = min(key, oldest_failed.get(folder, key))
            while len(folder) > len(prefix):
                need.add(folder)
                folder = folder[:folder.rstrip("/").rfind("/") + 1]

    def keep(obj) -> None:
        found[f"{bucket}/{obj['Key']}"] = {"type": "file", "size": obj["Size"],
                                           "ETag": obj.get("ETag"),
                                           "LastModified": obj.get("LastModified")}

    anything = bool(marks)
    below: dict[bytes, set[bytes]] = {}  # folder -> its remembered subfolders
    for loc in marks:
        if loc.endswith(b"/"):
            below.setdefault(loc[:loc.rstrip(b"/").rfind(b"/") + 1], set()).add(loc)
    listed_from: dict[str, str | None] = {}  # folder key prefix -> StartAfter (None: whole)
    todo = [prefix]
    while todo:
        key_prefix = todo.pop()
        folder = f"{scheme}://{bucket}/{key_prefix}"
        loc = os.fsencode(folder)
        mark = marks.get(loc)
        children = set(below.get(loc, ()))
        since = None if mark is None or mark.last_key is None else _key(mark.last_key)
        if since is not None and not _is_audio(since):  # a side file's, by an older version
            since = None
        start = since
        if start is not None and key_prefix in oldest_failed:
            start = min(since, _before(oldest_failed[key_prefix]))
        # a folder of folders: its first page from its beginning (a new subfolder may sort
        # before the mark: "n1/2024-05-02/" before "n1/zz.wav"), then from ``start``. (A folder
        # of objects only is listed from ``start``: its re-run costs what is new; a first
        # subfolder sorting before its mark waits for a full listing.)
        subs, objects, whole = _list_folder(fs, bucket, key_prefix, start,
                                            start is not None and bool(children))
        last = since
        for obj in objects:
            keep(obj)
            anything = True
            if _is_audio(obj["Key"]):  # a side file ("CONFIG.TXT") is never a mark
                last = obj["Key"] if last is None else max(last, obj["Key"])
        if whole:
            start = None
        listed_from[key_prefix] = start
        anything = anything or bool(subs or last)
        listed = {os.fsencode(f"{scheme}://{bucket}/{k}") for k in subs}
        if start is None:  # its objects and subfolders: all listed
            out.whole.append((folder, "direct"))
            for child in sorted(children - listed):
                out.gone.append(os.fsdecode(child))
                out.whole.append((os.fsdecode(child), "tree"))
            children &= listed
        else:
            out.from_key += 1
        out.folders.append((folder, f"{scheme}://{bucket}/{last}" if last else None))
        every = sorted(_key(c) for c in children | listed)
        old = {_key(c) for c in children}
        dated = sorted(k for k in old if timed.get(k, False))
        visit = {k for k in every if k not in old or k in need or not timed.get(k, False)}
        visit |= set(dated[-NEWEST_TIME_FOLDERS:])
        out.skipped += len(every) - len(visit)
        todo += sorted(visit, reverse=True)
    for url in failed:
        key = url.split("://", 1)[1]
        if key in found or not url.startswith(base):
            continue
        k = _key(url)
        start = listed_from.get(k[:k.rfind("/") + 1], "")
        if start != "" and (start is None or start < k):  # listed from before it: gone
            out.vanished.append(url)
            continue
        if getattr(failed[url], "attempts", 0) >= MAX_ATTEMPTS:
            continue
        try:
            found[key] = fs.info(key)
        except FileNotFoundError:
            out.vanished.append(url)
        except Exception as exc:  # denied, a server error, the network: this object only
            out.failed.append((url, _lookup_error(exc)))
    return found, anything


def _list_folder(fs, bucket: str, key_prefix: str, start: str | None, first_whole: bool):
    """One folder's listing with a delimiter: (its subfolder prefixes, its objects, whether
    all of it was listed). From after ``start`` (None: all); with ``first_whole`` the first
    page from the folder's beginning, then from after ``start`` if that page ended before it
    (one LIST more at most). A page cut off without a continuation token raises (it must
    never pass for the whole folder)."""
    subs, objects = [], []
    jump = start if first_whole else None
    after = None if first_whole else start
    whole, token = after is None, None
    while True:
        page = fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=key_prefix, Delimiter="/",
                          **({"ContinuationToken": token} if token else
                             {"StartAfter": after} if after else {}))
        seen = [p["Prefix"] for p in page.get("CommonPrefixes") or []]
        subs += seen
        contents = page.get("Contents") or []
        objects += contents
        seen += [o["Key"] for o in contents]
        if not page.get("IsTruncated"):
            return subs, objects, whole
        token = page.get("NextContinuationToken")
        if not token:
            raise OSError(f"the listing of {bucket}/{key_prefix} was cut off without a "
                          "continuation token (not an S3 ListObjectsV2 answer?)")
        if jump is not None and seen and max(seen) < jump:  # skip to what may be new
            token, after, jump, whole = None, jump, None, False


def _lookup_error(exc: Exception) -> str:
    """What to say of an object that a re-run could not look up."""
    if isinstance(exc, PermissionError):
        return ("permission denied looking it up: the credentials may not read this object; "
                "a re-run tries it again")
    return (f"cannot look it up: {type(exc).__name__}: {' '.join(str(exc).split())}; check "
            "the endpoint and the network (a re-run tries it again)")


def list_objects(url: str, errors: list[tuple[str, str]], store: Store | None = None, *,
                 full: bool = True, retry: dict | None = None,
                 folder_pattern: str | None = None) -> ObjectListing:
    """The audio objects at or below ``url`` (``s3://bucket/prefix``), listed with their
    size, ETag and modification time; a listing that fails is added to ``errors`` (the URL,
    and what to do) and gives no entry.

    With a ``store`` and ``full=False`` (S3 only: the default re-run of
    :func:`~alwidget.ingestion.ingest`), each folder at and below the prefix is listed with a
    delimiter from after the greatest key that a complete listing of that folder found
    before (S3's StartAfter; ``listed_folders.last_key``, recorded by the run once it stored
    what it found, whatever prefix it was given), new subfolders being found by the same
    listings; of time-ordered subfolders (days, hours: the levels where ``folder_pattern``,
    aligned as :func:`~alwidget.ingestion.names.parse_name` reads it, puts ``{time}`` and no
    ``{node}``; never guessed from names) only new ones and the two newest are visited, of
    all others every one (see ``_list_since``): for recorders that upload under time-stamped
    keys, with such a ``folder_pattern``, a re-run costs one LIST request per node folder and
    two per node's newest folders plus one per 1,000 new objects, not the archive. A folder
    never listed whole is listed whole; one with subfolders has its first page listed whole
    (a new subfolder may sort before its greatest audio key: side files never count), then
    from that key. Not seen then: an object uploaded later under a key that sorts before one
    already listed *in its own folder* (or rewritten in place: same key, new ETag), one
    uploaded into a time-ordered folder once two newer ones exist beside it, the first
    subfolder of a folder of objects only that sorts before its greatest audio key, and a
    new subfolder of a folder of 1,000 objects or more sorting after its first 1,000 keys
    and before that key; ``full=True`` lists every object. Objects that failed before (``retry``: URL -> its error) and are not listed again
    are looked up one by one. Other fsspec protocols are always listed whole.

    Raises ``ImportError`` naming the package to install when fsspec lacks the protocol.

    Examples
    --------
    >>> errors = []
    >>> listing = list_objects("s3://port-archive/2024/", errors)  # doctest: +SKIP
    >>> listing.entries[0].path, listing.entries[0].version  # doctest: +SKIP
    ('s3://port-archive/2024/n1/n1_20240501_100000.wav', '15986aaa2edb1a5148af59d63d59e281')
    """
    check_no_credentials(url)
    try:
        import fsspec  # noqa: F401
        from fsspec.core import url_to_fs
    except ImportError:
        raise ImportError("reading object storage needs fsspec and s3fs: "
                          'pip install "alwidget[s3]"') from None
    protocol = url.split("://", 1)[0]
    try:
        fs, root = url_to_fs(url)
    except ImportError as exc:
        raise ImportError(f"{protocol}:// needs a package that is not installed ({exc}); for "
                          's3:// run: pip install "alwidget[s3]"') from None
    shown = url.rstrip("/")
    out = ObjectListing([], shown, listed=False)
    fs.invalidate_cache()  # a listing made earlier in this process is not this one
    missing = "no such bucket or prefix (nothing listed); check the URL and the endpoint " \
              "(AWS_ENDPOINT_URL_S3)"
    try:
        found, single, anything = None, False, False
        if store is not None and not full and protocol in _SIZED:
            found, anything = _list_since(fs, root, store, out, retry or {},
                                          folder_pattern)
        if not anything:
            single = fs.isfile(root)  # once, here: a network error is reported, not raised
            if single:
                found = {root: fs.info(root)}
                out.whole, out.gone, out.folders = [(fs.unstrip_protocol(root), "exact")], \
                    [], []
            elif found is None:
                found = fs.find(root, detail=True)
                top = root.rstrip("/") + "/"
                out.whole.append((fs.unstrip_protocol(top), "tree"))
                if protocol in _SIZED:  # the folders below it, for the next default re-run
                    out.folders = _folder_marks(fs, top, found)
            if not found and not fs.exists(root):
                errors.append((shown, missing))
                return out
    except PermissionError:
        errors.append((shown, "permission denied listing it: the credentials in the "
                       "environment or profile may not list this bucket or prefix"))
        return out
    except FileNotFoundError:
        errors.append((shown, "no such bucket or prefix; check the URL"))
        return out
    except Exception as exc:  # a server that is down, a bad endpoint, ...
        errors.append((shown, f"cannot list it: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())}; check the endpoint and the network"))
        return out
    base = root.rstrip("/") if not single else os.path.dirname(root)
    sized = protocol in _SIZED
    for key in sorted(found):
        info = found[key]
        if info.get("type", "file") != "file" or not _is_audio(key):
            continue
        size = int(info.get("size") or info.get("Size") or 0)
        etag = info.get("ETag") or info.get("etag") or info.get("md5")
        modified = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(modified, datetime):
            modified = modified.isoformat(timespec="seconds")
        elif isinstance(modified, (int, float)):
            modified = datetime.fromtimestamp(modified).isoformat(timespec="seconds")
        version = str(etag).strip('"') if etag else f"{modified}"

        def opener(key=key, size=size):
            kw = {"size": size} if sized else {}
            return fs.open(key, "rb", block_size=BLOCK_BYTES, cache_type="readahead", **kw)

        out.entries.append(Entry(fs.unstrip_protocol(key), key, base, size, version,
                                 None if modified is None else str(modified), opener))
    out.root, out.listed = fs.unstrip_protocol(base), True
    return out


def unchanged_since(store: Store, entries: list[Entry], wanted=()) -> set[str]:
    """Paths of the entries stored by an earlier run whose size and version are the same
    since (``listed_files``, looked up by key: as many lookups as entries). Entries in
    ``wanted`` (given windows) are always read."""
    listed = store.listed_at([os.fsencode(e.path) for e in entries])
    out = set()
    for e in entries:
        hit = listed.get(os.fsencode(e.path))
        if hit is not None and e.size >= 0 and (hit.size_bytes, hit.version) == \
                (e.size, e.version) and e.path not in wanted:
            out.add(e.path)
    return out
