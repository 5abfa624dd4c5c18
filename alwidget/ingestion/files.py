"""Finding audio files under folders, and reading each one completely once to validate it."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

__all__ = ["AUDIO_EXTENSIONS", "BadAudio", "display_path", "examine", "find_files"]

#: File endings that ingest reads (what libsndfile decodes); others are ignored.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
     ".aifc", ".au", ".w64", ".rf64", ".caf"}
)

_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32,
         "FLOAT": 32, "DOUBLE": 64, "ALAW": 8, "ULAW": 8}
_BLOCK_FRAMES = 1 << 18


class BadAudio(Exception):
    """One file that cannot be ingested; the message is the stored reason."""


# -- finding files ------------------------------------------------------------
def display_path(path: str) -> str:
    """A path as valid UTF-8 text: undecodable bytes shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(root: str, errors: list[tuple[str, str]]) -> Iterator[str]:
    """Audio files below ``root``, sorted, following links but never looping."""
    seen: set[tuple[int, int]] = set()

    def visit(folder: str, ancestors: tuple[tuple[int, int], ...]) -> Iterator[str]:
        try:
            st = os.stat(folder)
        except OSError as exc:
            errors.append((display_path(folder), f"cannot open folder: {exc.strerror}"))
            return
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            errors.append((display_path(folder), "directory loop: this link leads back to a "
                           "folder above it; not followed"))
            return
        if ident in seen:  # the same folder reached by another link: scanned already
            return
        seen.add(ident)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            errors.append((display_path(folder), f"cannot list folder: {exc.strerror}; "
                           "check its permissions"))
            return
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from visit(entry.path, ancestors + (ident,))
            elif Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS:
                yield entry.path

    yield from visit(root, ())


def find_files(
    paths: Iterable[str | Path], errors: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(file, root) pairs for every audio file named or found below the given paths."""
    found: list[tuple[str, str]] = []
    for p in paths:
        p = os.path.abspath(os.fspath(p))
        if os.path.isdir(p):
            found += [(f, p) for f in _walk(p, errors)]
        elif os.path.lexists(p):
            found.append((p, os.path.dirname(p)))
        else:
            errors.append((display_path(p), "no such file or folder"))
    unique = dict.fromkeys(found)  # keep order, drop repeats
    return list(unique)


# -- reading one file ---------------------------------------------------------
def _wav_data_shortfall(data: bytes) -> int:
    """Bytes missing from a RIFF/WAVE data chunk (0 when complete or not WAV)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return 0
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        size = struct.unpack(fmt, data[pos + 4 : pos + 8])[0]
        if data[pos : pos + 4] == b"data":
            if size == 0xFFFFFFFF:  # streamed WAV: size unknown
                return 0
            return max(0, size - (len(data) - pos - 8))
        pos += 8 + size + (size & 1)
    return 0


def _inspect(path: str, max_channels: int) -> tuple[dict, bytes]:
    """Validate one file completely; return its properties or raise BadAudio."""
    if not _is_utf8(path):
        raise BadAudio("file name is not valid UTF-8; rename the file (or its folder)")
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            data = fh.read()
    except PermissionError:
        raise BadAudio("permission denied: cannot read the file; check its permissions") from None
    except OSError as exc:
        raise BadAudio(f"cannot read the file: {exc.strerror}") from None
    if size == 0 or not data:
        raise BadAudio("empty file (0 bytes)")
    try:
        snd = sf.SoundFile(io.BytesIO(data))
    except Exception as exc:  # libsndfile raises several types for unreadable data
        raise BadAudio(f"not a readable audio file: {_sf_message(exc)}") from None
    with snd:
        if snd.channels <= 0:
            raise BadAudio("the file declares 0 channels")
        if snd.channels > max_channels:
            raise BadAudio(
                f"{snd.channels} channels is more than max_channels={max_channels}; "
                "pass a larger max_channels to accept it (clips are mixed to mono)"
            )
        if snd.samplerate <= 0:
            raise BadAudio(f"sample rate {snd.samplerate} is not positive")
        if snd.frames <= 0:
            raise BadAudio("zero-length audio: the file holds no samples")
        missing = _wav_data_shortfall(data)
        if missing:
            raise BadAudio(f"truncated: {missing} bytes of audio data are missing")
        decoded = 0
        try:
            for block in snd.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    raise BadAudio("contains NaN or infinite samples")
                decoded += len(block)
        except BadAudio:
            raise
        except Exception as exc:
            raise BadAudio(f"truncated or corrupt: decoding failed ({_sf_message(exc)})") from None
        exact = snd.format in ("WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF", "AU")
        if decoded == 0:
            raise BadAudio("zero-length audio: the file holds no samples")
        if exact and decoded < snd.frames:
            raise BadAudio(f"truncated: header says {snd.frames} frames, decoded {decoded}")
        props = dict(
            sample_rate=int(snd.samplerate),
            bits_per_sample=_BITS.get(snd.subtype),
            frames=int(decoded),
            channels=int(snd.channels),
            format=snd.format,
            subtype=snd.subtype,
            size_bytes=int(size),
        )
    return props, data


def _sf_message(exc: Exception) -> str:
    msg = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return re.sub(r"^Error opening <[^>]*>: ", "", msg).strip()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def examine(path: str, max_channels: int) -> tuple[str, dict | None, str | None]:
    """(content hash, properties or None, error reason or None) of one file."""
    try:
        props, data = _inspect(path, max_channels)
    except BadAudio as exc:
        return "", None, str(exc)
    return _hash(data), props, None
