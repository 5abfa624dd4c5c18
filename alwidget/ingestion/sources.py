"""Where ingest's files come from: local folders, and object storage through ``fsspec``
(``s3://bucket/prefix``; MinIO and other S3-compatible servers through their endpoint).

Each file or object found is an :class:`Entry` with its size and a version (an object's
ETag, a local file's modification time and inode): a re-run of ingest skips the entries
whose location, size and version are what it stored last time (``listed_files``), so it reads
only what is new or changed. Objects are read as streams (a block at a time, never saved to
disk).

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
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..store import Store
from ..store.audios import check_no_credentials, is_url
from .files import AUDIO_EXTENSIONS, display_path, find_files

__all__ = ["BLOCK_BYTES", "Entry", "is_url", "last_key", "list_local", "list_objects",
           "location_prefix", "unchanged_since"]

#: Bytes fetched per request when an object is read (a stream: one block in memory).
BLOCK_BYTES = 1 << 21
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


def location_prefix(path: str) -> bytes:
    """The ``listed_files`` key range of a folder or prefix given to ingest.

    Examples
    --------
    >>> location_prefix("s3://port/n1/")
    b's3://port/n1/'
    """
    return os.fsencode(path)


def list_local(paths: list, errors: list[tuple[str, str]]) -> list[Entry]:
    """Entries of the audio files named or found below local ``paths`` (see
    :func:`~alwidget.ingestion.files.find_files`); a file that cannot be examined gets
    size -1 (it is read, and its error reported)."""
    out = []
    for path, found, root in find_files(paths, errors):
        try:
            st = os.stat(path)
            size, version = st.st_size, f"{st.st_mtime_ns}:{st.st_ino}"
            modified = datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")
        except OSError:
            size, version, modified = -1, "", None
        out.append(Entry(path, found, root, size, version, modified))
    return out


def _list_after(fs, root: str, after: Callable[[str], str | None]) -> dict[str, dict]:
    """The objects below ``root`` ("bucket/prefix") of an S3 filesystem: the keys directly
    under it, and those of each folder below it that sort after ``after(folder URL)`` (the
    greatest key stored from it, or None to list it all): ListObjectsV2 with StartAfter, so
    a time-ordered archive lists only what came since."""
    bucket, _, prefix = root.partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""

    def pages(**kw):
        token = None
        while True:
            page = fs.call_s3("list_objects_v2", Bucket=bucket, **kw,
                              **({"ContinuationToken": token} if token else {}))
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    found: dict[str, dict] = {}

    def keep(obj) -> None:
        found[f"{bucket}/{obj['Key']}"] = {"type": "file", "size": obj["Size"],
                                           "ETag": obj.get("ETag"),
                                           "LastModified": obj.get("LastModified")}

    folders = []
    for page in pages(Prefix=prefix, Delimiter="/"):
        folders += [p["Prefix"] for p in page.get("CommonPrefixes") or []]
        for obj in page.get("Contents") or []:
            keep(obj)
    for folder in folders:
        last = after(f"{fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol}://"
                     f"{bucket}/{folder}")
        start = {}
        if last is not None:
            start = {"StartAfter": last.split("://", 1)[1].split("/", 1)[1]}
        for page in pages(Prefix=folder, **start):
            for obj in page.get("Contents") or []:
                keep(obj)
    return found


def list_objects(url: str, errors: list[tuple[str, str]],
                 after: Callable[[str], str | None] | None = None) -> tuple[list[Entry], str]:
    """Entries of the audio objects at or below ``url`` (``s3://bucket/prefix``), listed
    with their size, ETag and modification time, and the URL of the prefix as the entries
    spell it; a listing that fails is added to ``errors`` (the URL, and what to do) and gives
    no entry.

    With ``after`` (S3 only), each folder directly below the prefix is listed only from
    after ``after(folder URL)`` (see ``ingest(..., after_last_key=True)``).

    Raises ``ImportError`` naming the package to install when fsspec lacks the protocol.

    Examples
    --------
    >>> errors = []
    >>> entries, root = list_objects("s3://port-archive/2024/", errors)  # doctest: +SKIP
    >>> entries[0].path, entries[0].version  # doctest: +SKIP
    ('s3://port-archive/2024/n1/n1_20240501_100000.wav', '15986aaa2edb1a5148af59d63d59e281')
    """
    check_no_credentials(url)
    try:
        import fsspec
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
    fs.invalidate_cache()  # a listing made earlier in this process is not this one
    try:
        single = fs.isfile(root)  # once, here: a network error is reported, not raised
        if single:
            found = {root: fs.info(root)}
        elif after is not None and protocol in _SIZED:
            found = _list_after(fs, root, after)
            if not found and not fs.exists(root):
                errors.append((shown, "no such bucket or prefix (nothing listed); check the "
                               "URL and the endpoint (AWS_ENDPOINT_URL_S3)"))
                return [], shown
        else:
            found = fs.find(root, detail=True)
            if not found and not fs.exists(root):
                errors.append((shown, "no such bucket or prefix (nothing listed); check the "
                               "URL and the endpoint (AWS_ENDPOINT_URL_S3)"))
                return [], shown
    except PermissionError:
        errors.append((shown, "permission denied listing it: the credentials in the "
                       "environment or profile may not list this bucket or prefix"))
        return [], shown
    except FileNotFoundError:
        errors.append((shown, "no such bucket or prefix; check the URL"))
        return [], shown
    except Exception as exc:  # a server that is down, a bad endpoint, ...
        errors.append((shown, f"cannot list it: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())}; check the endpoint and the network"))
        return [], shown
    base = root.rstrip("/") if not single else os.path.dirname(root)
    sized = protocol in _SIZED
    out = []
    for key in sorted(found):
        info = found[key]
        if info.get("type", "file") != "file" or \
                os.path.splitext(key)[1].lower() not in AUDIO_EXTENSIONS:
            continue
        size = int(info.get("size") or info.get("Size") or 0)
        etag = info.get("ETag") or info.get("etag") or info.get("md5")
        modified = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(modified, datetime):
            modified = modified.isoformat(timespec="seconds")
        elif isinstance(modified, (int, float)):
            modified = datetime.fromtimestamp(modified).isoformat(timespec="seconds")
        version = str(etag).strip('"') if etag else f"{modified}"
        full = fs.unstrip_protocol(key)

        def opener(key=key, size=size):
            kw = {"size": size} if sized else {}
            return fs.open(key, "rb", block_size=BLOCK_BYTES, cache_type="readahead", **kw)

        out.append(Entry(full, key, base, size, version,
                         None if modified is None else str(modified), opener))
    return out, fs.unstrip_protocol(base)


def unchanged_since(store: Store, entries: list[Entry], roots: list[str],
                    wanted=()) -> set[str]:
    """Paths of the entries stored by an earlier run whose size and version are the same
    since (``listed_files``): read with one key range per listed folder or prefix in
    ``roots``, then by key for entries elsewhere (reached through links). Entries in
    ``wanted`` (given windows) are always read."""
    listed = {}
    for root in {os.fsencode(r if is_url(r) else os.path.join(os.path.realpath(r), ""))
                 for r in roots}:
        listed.update(store.listed_under(root))
    listed.update(store.listed_at([k for k in (os.fsencode(e.path) for e in entries)
                                   if k not in listed]))
    out = set()
    for e in entries:
        hit = listed.get(os.fsencode(e.path))
        if hit is not None and e.size >= 0 and (hit.size_bytes, hit.version) == \
                (e.size, e.version) and e.path not in wanted:
            out.add(e.path)
    return out


def last_key(store: Store) -> Callable[[str], str | None]:
    """For listing a folder from after its greatest stored key: that key (None: list it all,
    also when an object of it waits to be tried again: see ``list_objects(after=)``)."""
    def last(folder: str) -> str | None:
        if store.has_ingest_errors_under(display_path(folder)):
            return None
        found = store.last_listed_under(os.fsencode(folder))
        return None if found is None else os.fsdecode(found)
    return last
