"""Audio files: which names ingest reads, how paths are shown, and reading each file
completely once to validate and hash it, a block at a time (memory does not grow with the
file). Folders are walked by :mod:`alwidget.ingestion.folders`."""

from __future__ import annotations

import hashlib
import os
import re
import struct

import numpy as np
import soundfile as sf

from .levels import LevelMeter

__all__ = ["AUDIO_EXTENSIONS", "BadAudio", "display_path", "examine"]

#: File endings that ingest reads (what libsndfile decodes); others are ignored.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
     ".aifc", ".au", ".w64", ".rf64", ".caf"}
)

_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32,
         "FLOAT": 32, "DOUBLE": 64, "ALAW": 8, "ULAW": 8}
_BLOCK_FRAMES = 1 << 18  # frames decoded at a time to validate a file
_HASH_BYTES = 1 << 20  # bytes hashed at a time when libsndfile skips over part of a file


class BadAudio(Exception):
    """One file that cannot be ingested; the message is the stored reason."""


# -- paths --------------------------------------------------------------------
def display_path(path: str) -> str:
    """A path as text to show and to store in ``ingest_errors``: :func:`alwidget.audio.printable`
    (bytes that are not UTF-8 as ``\\xNN``).

    Examples
    --------
    >>> print(display_path(os.fsdecode(b"/rec/caf\\xe9.wav")))
    /rec/caf\\xe9.wav
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# -- reading one file ---------------------------------------------------------
def _wav_data_shortfall(fh, size: int) -> int:
    """Bytes missing from the data chunk of a RIFF/RIFX/RF64/BW64 WAVE file (0 when complete
    or not WAV); reads only chunk headers."""
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64", b"BW64") \
            or head[8:12] != b"WAVE":
        return 0
    fmt = ">I" if head[:4] == b"RIFX" else "<I"
    big = None  # the data size of an RF64/BW64 file, from its ds64 chunk
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        chunk = fh.read(8)
        if len(chunk) < 8:
            return 0
        length = struct.unpack(fmt, chunk[4:8])[0]
        if chunk[:4] == b"ds64" and length >= 16:
            big = struct.unpack("<Q", fh.read(16)[8:16])[0]
        if chunk[:4] == b"data":
            if length == 0xFFFFFFFF:  # RF64: the size is in ds64; else streamed, unknown
                if big is None:
                    return 0
                length = big
            return max(0, length - (size - pos - 8))
        pos += 8 + length + (length & 1)
    return 0


class _HashingReader:
    """A file for libsndfile's virtual I/O that hashes (SHA-256) every byte of it once, in
    order, as it is read: one pass over the file validates and hashes it.

    What libsndfile skips is hashed when it reads further on (or at the end, by
    :meth:`hexdigest`), so the digest is that of the whole file whatever the order of reads.
    """

    def __init__(self, fh, size: int):
        self._fh = fh
        self._size = size
        self._sha = hashlib.sha256()
        self._done = 0  # bytes [0, _done) are hashed
        #: the first error reading the file (libsndfile's callbacks cannot raise: a read that
        #: fails ends the data, and this says why)
        self.failure: Exception | None = None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buf) -> int:
        try:
            return self._readinto(buf)
        except Exception as exc:  # a dropped connection, a denied read: no more data
            self.failure = self.failure or exc
            return 0

    def _readinto(self, buf) -> int:
        pos = self._fh.tell()
        if pos > self._done:
            self._hash_upto(pos)
        n = self._fh.readinto(buf) or 0
        if pos + n > self._done:
            self._sha.update(memoryview(buf).cast("B")[self._done - pos : n])
            self._done = pos + n
        return n

    def read(self, size: int = -1) -> bytes:
        buf = bytearray(size if size >= 0 else max(0, self._size - self._fh.tell()))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def _hash_upto(self, end: int | None) -> None:
        """Hash the bytes from ``_done`` to ``end`` (None: to the end of the file)."""
        here = self._fh.tell()
        self._fh.seek(self._done)
        while end is None or self._done < end:
            chunk = self._fh.read(_HASH_BYTES if end is None else min(_HASH_BYTES,
                                                                       end - self._done))
            if not chunk:
                break
            self._sha.update(chunk)
            self._done += len(chunk)
        self._fh.seek(here)

    def hexdigest(self) -> str:
        """SHA-256 of the whole file (hashing what was not read yet)."""
        self._hash_upto(None)
        return self._sha.hexdigest()


def _inspect(path: str, max_channels: int, opener=None, size: int | None = None
             ) -> tuple[dict, str]:
    """Validate one file completely; return its properties and SHA-256, or raise BadAudio.

    ``opener()`` opens an object of object storage (a file-like object of ``size`` bytes,
    read as a stream); without it ``path`` is a local file."""
    try:
        fh = open(path, "rb") if opener is None else opener()
    except PermissionError:
        raise BadAudio("permission denied: cannot read the file; check its permissions") from None
    except FileNotFoundError:
        raise BadAudio("no such file (deleted since it was listed?)") from None
    except OSError as exc:
        raise BadAudio(f"cannot read the file: {exc.strerror or exc}") from None
    with fh:
        try:
            if size is None:
                size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise BadAudio("empty file (0 bytes)")
            missing = _wav_data_shortfall(fh, size)
            fh.seek(0)
        except BadAudio:
            raise
        except PermissionError:
            raise BadAudio("permission denied: cannot read the file; check its "
                           "permissions") from None
        except Exception as exc:  # OSError, or a remote store's own error
            raise BadAudio(f"cannot read the file: {_read_error(exc)}{_AGAIN}") from None
        reader = _HashingReader(fh, size)
        try:
            props = _decode(reader, max_channels, missing, size)
            digest = reader.hexdigest()
        except BadAudio:
            if reader.failure is None:
                raise
            props = None
        except Exception as exc:
            reader.failure = reader.failure or exc
        if reader.failure is not None:
            raise BadAudio(f"cannot read the file: {_read_error(reader.failure)}{_AGAIN}") \
                from None
    return props, digest


_AGAIN = " (not stored; the next ingest tries it again)"


def _read_error(exc: Exception) -> str:
    """What went wrong reading, in one line."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(f"{type(exc).__name__}: {text}".split())


def _decode(reader: _HashingReader, max_channels: int, missing: int, size: int) -> dict:
    """Decode the whole file a block at a time; its properties, or BadAudio."""
    try:
        snd = sf.SoundFile(reader)
    except OSError as exc:
        raise BadAudio(f"cannot read the file: {exc.strerror}") from None
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
        if missing:
            raise BadAudio(f"truncated: {missing} bytes of audio data are missing")
        decoded = 0
        meter = LevelMeter(snd.samplerate)
        buf = np.empty((min(_BLOCK_FRAMES, snd.frames), snd.channels), np.float32)
        try:
            while decoded < snd.frames:  # what readers of the file get: at most its frames
                block = snd.read(min(len(buf), snd.frames - decoded), dtype="float32",
                                 always_2d=True, out=buf[: snd.frames - decoded])
                if len(block) == 0:
                    break
                if not np.isfinite(block).all():
                    raise BadAudio("contains NaN or infinite samples")
                meter.update(block)
                decoded += len(block)
        except BadAudio:
            raise
        except OSError as exc:
            raise BadAudio(f"cannot read the file: {exc.strerror}") from None
        except Exception as exc:
            raise BadAudio(f"truncated or corrupt: decoding failed ({_sf_message(exc)})") from None
        exact = snd.format in ("WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF", "AU")
        if decoded == 0:
            raise BadAudio("zero-length audio: the file holds no samples")
        if exact and decoded < snd.frames:
            raise BadAudio(f"truncated: header says {snd.frames} frames, decoded {decoded}")
        return dict(
            sample_rate=int(snd.samplerate),
            bits_per_sample=_BITS.get(snd.subtype),
            frames=int(decoded),
            channels=int(snd.channels),
            format=snd.format,
            subtype=snd.subtype,
            size_bytes=int(size),
            levels=meter.result(),
        )


def _sf_message(exc: Exception) -> str:
    msg = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return re.sub(r"^Error opening <[^>]*>: ", "", msg).strip()


def examine(path: str, max_channels: int, opener=None, size: int | None = None
            ) -> tuple[str, dict | None, str | None]:
    """(content hash, properties or None, error reason or None) of one file.

    The file is read once, in blocks: its SHA-256 and the check that every sample decodes
    take constant memory, however long it is. ``opener`` and ``size`` read an object of
    object storage as a stream instead (see :mod:`alwidget.ingestion.sources`).
    """
    try:
        props, digest = _inspect(path, max_channels, opener, size)
    except BadAudio as exc:
        return "", None, str(exc)
    return digest, props, None
