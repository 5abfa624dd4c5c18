"""Live views: one view of each kind per session, and widget updates on the kernel's thread.

Re-running a notebook cell ``LabelingWidget(session)`` makes a new view; :func:`replace_view`
closes the one it replaces, so a session never feeds views nobody sees (each would decode
audio on every decision). ipywidgets must only be touched from the kernel's main thread:
:class:`MainThread` runs an update there when it is asked from another thread (e.g. a map
computed in the background).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

__all__ = ["MainThread", "live_view", "release_view", "replace_view"]

_LIVE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # session -> {kind: ref}
_LIVE_LOCK = threading.RLock()  # reentrant: a collected widget's __del__ closes it


def replace_view(session, kind: str, view) -> None:
    """Make ``view`` the live view of ``kind`` ("labeler", "map", "app") for ``session``.

    The view it replaces, if any, is closed (closing stops it listening to the session).

    Examples
    --------
    >>> class View:
    ...     closed = False
    ...     def close(self):
    ...         self.closed = True
    >>> class Session:
    ...     pass
    >>> s, first, second = Session(), View(), View()
    >>> replace_view(s, "labeler", first)
    >>> replace_view(s, "labeler", second)
    >>> first.closed, second.closed, live_view(s, "labeler") is second
    (True, False, True)
    """
    with _LIVE_LOCK:
        views = _LIVE.setdefault(session, {})
        old = views.get(kind)
        old = None if old is None else old()
        views[kind] = weakref.ref(view)
    if old is not None and old is not view:
        old.close()


def release_view(session, kind: str, view) -> None:
    """Forget ``view`` as the live view of ``kind`` (it is being closed)."""
    with _LIVE_LOCK:
        views = _LIVE.get(session, {})
        ref = views.get(kind)
        if ref is not None and ref() in (view, None):
            del views[kind]


def live_view(session, kind: str):
    """The live view of ``kind`` for ``session``, or None."""
    with _LIVE_LOCK:
        ref = _LIVE.get(session, {}).get(kind)
    return None if ref is None else ref()


class MainThread:
    """Runs widget updates on the thread of the event loop that was running when made.

    In a Jupyter kernel, cells run inside the kernel's asyncio loop on its main thread:
    :meth:`call` from another thread hands the update to that loop
    (``loop.call_soon_threadsafe``) and returns at once. With no loop running (plain
    scripts, tests), or from the loop's own thread, the update runs at once.

    Examples
    --------
    >>> import threading
    >>> main = MainThread()  # no loop runs here: updates run where they are asked
    >>> seen = []
    >>> def update():
    ...     seen.append(threading.current_thread().name)
    >>> t = threading.Thread(target=main.call, args=(update,), name="worker")
    >>> t.start(); t.join()
    >>> seen
    ['worker']
    """

    def __init__(self):
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def call(self, fn, *args) -> None:
        """Run ``fn(*args)`` on the loop's thread (now, if this is it or no loop runs)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running() or self._in_loop():
            fn(*args)
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile (the kernel is shutting down)
            pass

    @property
    def running(self) -> bool:
        """Whether the loop runs (in a kernel: there is a browser to tell)."""
        loop = self.loop
        return loop is not None and not loop.is_closed() and loop.is_running()

    def post(self, fn, *args) -> None:
        """Run ``fn(*args)`` later on the loop's thread, never now: for notices from threads
        that hold locks ``fn`` may take. Without a running loop (no kernel: no browser to
        tell), nothing is run."""
        if not self.running:
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False
