"""The state one request's two sides share under one lock, and its ending.

The request task (event loop) and the worker thread (application) of one
request share the fields declared on :class:`Channel`, guarded by ``_lock``;
the thread waits on the condition ``_changed``, the request task parks on a
native :class:`~anyio_bridge._backends.Waiter`.

The concern classes (:mod:`.body`, :mod:`.response`, :mod:`.sender`) derive
from :class:`Channel`, and :class:`~.instance.WsgiToAsgiInstance` from all
three: one request is one object, by design.  Separate collaborator objects
would each need the lock, the condition and the waiters, and every body
part would pay extra attribute hops and calls on both sides of the
hand-over; as one object, each shared field is one attribute access and a
request creates nothing more than before.  Each class keeps to its concern
and declares the fields it reads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from anyio import CapacityLimiter

from .._backends import Loop, ThreadClaim, Waiter
from .input import ClientDisconnected
from .settings import Settings

__all__ = [
    "BODY",
    "ERROR",
    "NOBODY",
    "PATHSEND",
    "WANT_BODY",
    "Aborted",
    "Channel",
    "Nobody",
]

# Response items, thread -> loop.  A "body" item carries the response start
# with the first one.  The last item of a request has more=False, or is an
# error or a pathsend.
BODY: Final = 0  # (BODY, start | None, data, more)
ERROR: Final = 1  # (ERROR, start | None, exception)
PATHSEND: Final = 2  # (PATHSEND, start, path)
WANT_BODY: Final = 3  # (WANT_BODY,): the thread waits for request body


class Nobody:
    """Stands for "no waiter": waking it does nothing."""

    __slots__ = ()

    def wake(self) -> bool:
        return False

    def wake_batched(self) -> bool:
        return False


NOBODY: Final = Nobody()


class Aborted(Exception):
    """Internal: stop iterating, the request was aborted."""


class Channel:
    """The fields both sides of one request share, and ending the request.

    Everything from ``_lock`` down is read and written under ``_lock``; the
    fields set by the request task before the thread starts (``_loop``,
    ``_claim``, ``_limiter``...) are read-only afterwards.
    """

    _settings: Settings
    scope: Mapping[str, Any]
    # Set by the request task before the thread starts.
    _loop: Loop
    _claim: ThreadClaim
    _limiter: CapacityLimiter
    _released: bool
    _received: int
    _reader_failure: Exception | None

    def __init__(self) -> None:
        # Shared, under _lock.
        self._lock = threading.Lock()
        # Made by the thread the first time it waits (most requests never
        # do): a Condition costs more to build than the rest of this.
        self._changed: threading.Condition | None = None
        self._outbox: deque[tuple[Any, ...]] = deque()
        self._waiter: Waiter | Nobody = NOBODY
        self._inbox: deque[bytes] = deque()
        self._inbox_size = 0
        self._body_done = True
        self._body_error: BaseException | None = None
        self._body_wanted = False
        self._reader_waiter: Waiter | Nobody = NOBODY
        self._reader_started = False
        #: The response is complete: the rest of the body is read and dropped.
        self._discarding = False
        self._body_waiter: Waiter | Nobody = NOBODY
        self._pending = 0
        self._aborted: BaseException | None = None
        self._thread_done = False
        self._abandoned = False

    def _wait_for_change(self) -> None:
        """Wait until another side changes something (under ``_lock``)."""
        changed = self._changed
        if changed is None:
            changed = self._changed = threading.Condition(self._lock)
        changed.wait()

    def _notify(self) -> None:
        """Wake the thread if it waits (under ``_lock``)."""
        if self._changed is not None:
            self._changed.notify_all()

    def _abort(self, reason: BaseException) -> None:
        with self._lock:
            self._aborted = self._aborted or reason
            self._notify()
            waiter, self._waiter = self._waiter, NOBODY
            body_waiter, self._body_waiter = self._body_waiter, NOBODY
        waiter.wake()
        body_waiter.wake()
        self._claim.cancel()

    def _let_go(self) -> None:
        """Leave the request (done, failed or cancelled); the thread may go on."""
        with self._lock:
            if self._aborted is None:
                self._aborted = ClientDisconnected("the request was abandoned")
                self._notify()
            done = self._thread_done
            self._abandoned = not done
        if done:
            self._release()
        else:
            self._claim.cancel()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter.release_on_behalf_of(self)

    def _finish(self, final: tuple[Any, ...]) -> None:
        """Called once the thread is idle again: hand over the last item."""
        with self._lock:
            self._thread_done = True
            abandoned = self._abandoned
            if not abandoned:
                self._outbox.append(final)
                # Batched: under load many threads finish while the loop is
                # busy, and one wake-up serves them all.
                self._waiter.wake_batched()
                self._waiter = NOBODY
        if abandoned:
            # Nobody waits for this request any more: give the token back.
            self._loop.call_soon_batched(self._release)
