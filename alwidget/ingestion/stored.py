"""How a file ingest read stands to the store: unchanged, changed, moved, a copy, new
(:func:`relation`), swapped with another (:func:`swaps_of`), or grown: a local file stored
while it may still have been written, that only got longer since (:func:`regrow_refusal`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable

from ..store import Audio, Listed, Store
from ..store.audios import is_url

__all__ = ["HEADER_BYTES", "body_hash", "digest_now", "regrow_refusal", "relation", "swaps_of"]

#: Bytes at the start of a file left out of :func:`body_hash`: the header, which a recorder
#: rewrites as the file grows (a WAV's data size, a FLAC's sample count).
HEADER_BYTES = 4096


def body_hash(path: str, size: int) -> str | None:
    """SHA-256 of the first ``size`` bytes of the local file ``path`` past its header (from
    ``min(HEADER_BYTES, size // 2)``); None when it cannot be read or is shorter.

    Examples
    --------
    >>> body_hash("rec/n1_20240501_100000.wav", 48044)  # doctest: +SKIP
    '3f1c...'
    """
    skip = min(HEADER_BYTES, size // 2)
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            fh.seek(skip)
            left = size - skip
            while left > 0:
                block = fh.read(min(left, 1 << 20))
                if not block:
                    return None
                sha.update(block)
                left -= len(block)
    except OSError:
        return None
    return sha.hexdigest()


def regrow_refusal(path: str, props: dict, stored: Audio, listed: Listed | None) -> str | None:
    """Why the changed file ``path`` (now ``props``) must not replace its stored version
    ``stored`` as a longer recording of the same sound (None: it may). It may only when it
    is a local file (an upload to object storage is whole: a longer object is another
    recording), stored while it may still have been written (``listed.growing_hash``: it was
    modified within the settle time of the run that stored it), longer, of the same sample
    rate, channels and format, and what was stored is unchanged (the hash of its stored
    length past the header is the one recorded)."""
    if is_url(path):
        return "an object is uploaded whole, so a new version is another recording"
    if listed is None or not listed.growing_hash:
        return "it was complete when it was stored (not modified within the settle time)"
    if props["frames"] <= stored.frames or (props["sample_rate"], props["channels"],
                                            props["format"]) != \
            (stored.sample_rate, stored.channels, stored.format):
        return "it is not a longer version of the same format, sample rate and channels"
    if body_hash(path, listed.size_bytes) != listed.growing_hash:
        return "what was stored is not its beginning any more (other audio, not a grown file)"
    return None


def relation(store: Store, path: str, digest: str, now: Callable,
              named: tuple[str | None, str | None] = (None, None)
              ) -> tuple[str, Audio | None]:
    """How a readable file (resolved ``path``, content ``digest``, ``named`` the node and
    recording time its name and folders give) stands to the store.

    "unchanged" or "changed" (stored at this path), "relinked" (stored under a path that
    leads here through a link), "moved" (its content is stored at a path that is gone or
    holds other content now), "copy" (its content is stored at a path that still holds it),
    or "new". ``now(path, default)`` is the digest of what a path holds now (see
    ``ingest``). A stored audio of the same content whose node or recording time differ
    from ``named`` is another recording (e.g. two digitally silent files of a dead
    microphone are byte-identical): not this file's copy, nor where it moved from.
    """
    stored = store.find_audio(path)
    if stored is not None:
        return ("unchanged" if stored.content_hash == digest else "changed"), stored
    node, when = named
    same = [a for a in store.audios_with_content(digest)
            if not (node is not None and a.node is not None and a.node != node)
            and not (when is not None and a.recorded_at is not None and a.recorded_at != when)]
    for a in same:
        if not is_url(a.path) and os.path.realpath(a.path) == path:
            return "relinked", a
    for a in same:
        if now(a.path, a.content_hash) != digest:
            return "moved", a
    return ("copy", same[0]) if same else ("new", None)


def swaps_of(store: Store, changed: dict[str, tuple], now: Callable) -> dict[str, Audio]:
    """Paths stored with other content whose content is a stored audio that left its own
    path, kept only where every audio in the way moves too (a swap, a circle of renames):
    path -> the audio to move there. The others stay "changed"."""
    plan: dict[str, Audio] = {}
    taken: set[int] = set()
    for path, (_, _, digest, _) in changed.items():
        for audio in store.audios_with_content(digest):
            if audio.id not in taken and now(audio.path, audio.content_hash) != digest:
                plan[path] = audio
                taken.add(audio.id)
                break
    while True:  # the audio stored at each planned path must itself be moving
        moving = {a.id for a in plan.values()}
        stuck = [p for p in plan if store.find_audio(p).id not in moving]
        if not stuck:
            return plan
        for p in stuck:
            del plan[p]


def digest_now(path: str, seen: dict[str, str]) -> str | None:
    """SHA-256 of what ``path`` holds now (from this run, else read), None when it is gone."""
    if path in seen:
        return seen[path]
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None
