"""Signed model files: alwidget unpickles only what alwidget wrote for this user.

A fitted t-SNE, UMAP or PCA model is a pickle, and loading a pickle runs whatever code it
names. So every model file beside a database carries an HMAC-SHA256 signature made with a
secret key that lives in the user's own config folder, never in the project:
``$ALWIDGET_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/alwidget``, else ``~/.config/alwidget``
(the key file ``model-signing.key`` is made on first use, mode 0600, in a folder of mode 0700).

The signature covers the file's name, the id of the fit the model belongs to and every
byte of the pickle. :func:`read_signed` reads the whole file into memory, checks all of
that, and only then unpickles those same bytes; a file that fails (not signed, signed
with another key, edited, of another fit, renamed) raises :class:`Untrusted` and nothing
in it is unpickled. The caller then refits the map, and writes a file signed with this
user's key. A project received from someone else therefore refits its maps once.

File layout: ``MAGIC``, the fit id and the signature (hex) on one line each, then the pickle.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import stat
import tempfile
from pathlib import Path

__all__ = ["KEY_NAME", "MAGIC", "Untrusted", "config_dir", "read_signed", "signing_key",
           "write_signed"]

#: First line of a signed model file.
MAGIC = b"alwidget signed pickle v1\n"
#: The key's file name inside :func:`config_dir`.
KEY_NAME = "model-signing.key"
_DOMAIN = b"alwidget map model\0"


class Untrusted(Exception):
    """A model file that is not loaded; the message says why in a few words."""


def config_dir() -> Path:
    """The user's alwidget config folder (where the signing key lives).

    ``$ALWIDGET_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/alwidget``, else ``~/.config/alwidget``.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.get("ALWIDGET_CONFIG_DIR")
    >>> os.environ["ALWIDGET_CONFIG_DIR"] = "/tmp/alwidget-config-example"
    >>> str(config_dir())
    '/tmp/alwidget-config-example'
    >>> _ = os.environ.pop("ALWIDGET_CONFIG_DIR") if saved is None else os.environ.update(
    ...     ALWIDGET_CONFIG_DIR=saved)
    """
    if os.environ.get("ALWIDGET_CONFIG_DIR"):
        return Path(os.environ["ALWIDGET_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "alwidget"


def signing_key() -> bytes:
    """This user's 32-byte signing key, made on first use (mode 0600).

    Raises :class:`Untrusted` when the key cannot be made or read, or when its file could
    be read or replaced by someone else (another owner, or permissions wider than 0600):
    then no model file is trusted, and maps are refitted instead of loaded.
    """
    folder = config_dir()
    path = folder / KEY_NAME
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # e.g. a symlink in its place, or no permission
        raise Untrusted(f"cannot read the signing key {str(path)!r} ({exc}); delete it (a new "
                        "key is made) or set ALWIDGET_CONFIG_DIR") from None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another process made
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        return _read_key(path)
    except OSError as exc:
        raise Untrusted(f"cannot make the signing key {str(path)!r} ({exc}); set "
                        "ALWIDGET_CONFIG_DIR to a folder of your own that you can write") from None


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise Untrusted(f"the signing key {str(path)!r} belongs to another user; delete it "
                            "(a new key is made) or set ALWIDGET_CONFIG_DIR")
        if os.name == "posix" and st.st_mode & 0o077:
            raise Untrusted(f"the signing key {str(path)!r} can be read or written by others "
                            f"(mode {st.st_mode & 0o777:o}); chmod 600 it")
        text = os.read(fd, 200).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise Untrusted(f"the signing key {str(path)!r} is damaged; delete it (a new key is "
                        "made, and maps are refitted once)")
    return key


def _signature(key: bytes, name: str, fit_id: str, payload) -> bytes:
    mac = hmac.new(key, _DOMAIN, hashlib.sha256)
    mac.update(name.encode() + b"\0" + fit_id.encode() + b"\0")
    mac.update(payload)
    return mac.hexdigest().encode()


def write_signed(path, obj, *, fit_id: str, key: bytes | None = None) -> None:
    """Pickle ``obj`` to ``path``, signed for ``fit_id`` (atomically).

    ``key`` defaults to this user's :func:`signing_key`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path, key = Path(tempfile.mkdtemp()) / "model.pkl", bytes(range(32))
    >>> write_signed(path, {"a": 1}, fit_id="f1", key=key)
    >>> read_signed(path, fit_id="f1", key=key)
    {'a': 1}
    >>> read_signed(path, fit_id="f2", key=key)
    Traceback (most recent call last):
    ...
    alwidget.projections.signing.Untrusted: it belongs to another fit of the map
    >>> read_signed(path, fit_id="f1", key=bytes(32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    alwidget.projections.signing.Untrusted: its signature does not match this user's key ...
    """
    path = Path(path)
    if "\n" in fit_id or "\0" in fit_id:
        raise ValueError(f"fit_id={fit_id!r} must be one line")
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    key = signing_key() if key is None else key
    head = MAGIC + fit_id.encode() + b"\n" + _signature(key, path.name, fit_id, payload) + b"\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: a killed kernel never leaves half a model
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_signed(path, *, fit_id: str, key: bytes | None = None):
    """The object pickled in ``path``, if this user's alwidget signed it for ``fit_id``.

    The file is read once into memory; the signature (made with ``key``, by default this
    user's :func:`signing_key`) is checked over those bytes, and only then are they
    unpickled. Raises :class:`Untrusted` (nothing unpickled) otherwise, and ``OSError``
    when the file cannot be read. See :func:`write_signed` for an example.
    """
    path = Path(path)
    data = _read_regular_file(path)
    if not data.startswith(MAGIC):
        raise Untrusted("it is not signed (written by an older alwidget, or by something else)")
    first = len(MAGIC)
    second = data.find(b"\n", first, first + 1024)
    third = data.find(b"\n", second + 1, second + 1 + 1024) if second >= 0 else -1
    if third < 0:
        raise Untrusted("its signature header is damaged")
    if data[first:second] != fit_id.encode():
        raise Untrusted("it belongs to another fit of the map")
    payload = memoryview(data)[third + 1:]
    key = signing_key() if key is None else key
    if not hmac.compare_digest(data[second + 1:third], _signature(key, path.name, fit_id, payload)):
        raise Untrusted("its signature does not match this user's key (a project received "
                        "from someone else, or an edited file)")
    return pickle.loads(payload)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, refusing a symlink, a FIFO or a device (which could hang or
    never end)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise Untrusted("it is a symbolic link, which alwidget never writes") from None
        raise exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Untrusted("it is not a regular file")
        return f.read()
