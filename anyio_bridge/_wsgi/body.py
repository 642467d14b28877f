"""The request body, between the request task and the application's thread.

The request task receives the body into the channel's *inbox*, up to
:data:`READ_AHEAD` bytes ahead of the application (a reader task does it
while the application runs); the thread pulls it from there through
``wsgi.input`` (:class:`~.input.InputStream`).  When the response is
complete with body left unread, the rest is read and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .channel import NOBODY, WANT_BODY, Channel
from .input import ClientDisconnected, RequestBodyTooLarge

__all__ = ["READ_AHEAD", "BodyChannel"]

#: Request body bytes read ahead of the application.
READ_AHEAD: Final = 256 * 1024
#: Bytes past ``max_body_size`` still read (and dropped) before the ``413``
#: goes out: a server closing a connection with unread data makes the kernel
#: reset it, and a client that sent a little too much would lose the answer.
LINGER: Final = 256 * 1024
#: Seconds the ``413`` waits for those bytes at most: a client that stopped
#: sending without closing must not hold its answer back.
LINGER_SECONDS: Final = 1.0


class BodyChannel(Channel):
    """The request body's way from ``receive`` to ``wsgi.input``."""

    # -- the worker thread ---------------------------------------------------

    def _pull_body(self) -> bytes:
        """The next piece of request body, waiting for it if need be."""
        with self._lock:
            while True:
                if self._inbox:
                    data = self._inbox.popleft()
                    self._inbox_size -= len(data)
                    waiter, self._reader_waiter = self._reader_waiter, NOBODY
                    break
                if self._body_error is not None:
                    raise self._body_error
                if self._aborted is not None:
                    raise ClientDisconnected("the client disconnected")
                if self._body_done:
                    return b""
                self._body_wanted = True
                if not self._reader_started:
                    # Wake the request task: it starts the reader task.
                    self._reader_started = True
                    self._outbox.append((WANT_BODY,))
                    self._waiter.wake()
                    self._waiter = NOBODY
                self._wait_for_change()
        waiter.wake()  # the reader may read ahead again
        return data

    # -- the request task ----------------------------------------------------

    async def _read_body(self, receive: Callable[[], Any]) -> None:
        """Feed the request body to the thread, then watch for a disconnect."""
        try:
            if await self._receive_body(receive):
                self._body_finished()
                while (await receive())["type"] == "http.request":
                    pass
                self._abort(ClientDisconnected("the client disconnected"))
        except Exception as exc:
            self._reader_failure = exc
            self._abort(ClientDisconnected("receiving the request failed"))

    def _body_finished(self) -> None:
        with self._lock:
            waiter, self._body_waiter = self._body_waiter, NOBODY
        waiter.wake()

    async def _drop_rest(self, receive: Callable[[], Any]) -> None:
        """Read and drop the rest of the request body (no reader task runs).

        Called when the response is complete but the application left part
        of the body unread.  Servers that stop reading a connection while an
        application does not consume its body (hypercorn) would otherwise
        never read the rest either, and a client that sends its whole body
        before reading the response would wait forever for both.  Reading
        stops :data:`LINGER` bytes past ``max_body_size`` or when the client
        leaves.
        """
        limit = self._settings.max_body_size
        if limit is not None:
            limit += LINGER
        received = self._received
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
            if limit is not None and received > limit:
                break
        with self._lock:
            self._body_done = True
            self._notify()

    async def _drop_rest_by_reader(self) -> None:
        """:meth:`_drop_rest` when the reader task owns ``receive``."""
        with self._lock:
            # The reader has ended when the client left while earlier parts of
            # the same hand-over were being sent: nothing would wake us.  The
            # window is a few sends wide and no test can aim at it.
            if self._aborted is not None:  # pragma: no cover
                return
            self._discarding = True
            self._inbox.clear()
            self._inbox_size = 0
            reader_waiter, self._reader_waiter = self._reader_waiter, NOBODY
            waiter = self._body_waiter = self._loop.new_waiter()
        reader_waiter.wake()
        await waiter.wait()

    async def _receive_body(self, receive: Callable[[], Any]) -> bool:
        """Receive the body into the inbox; ``False`` if the client left."""
        lock = self._lock
        limit = self._settings.max_body_size
        while not self._body_done:
            with lock:
                waiter = None
                if self._inbox_size >= READ_AHEAD and not self._body_wanted:
                    waiter = self._reader_waiter = self._loop.new_waiter()
            if waiter is not None:
                await waiter.wait()
                continue
            message = await receive()
            if message["type"] != "http.request":
                self._abort(ClientDisconnected("the client disconnected"))
                return False
            data: bytes = message.get("body", b"")
            with lock:
                # Kept on the instance: reading may stop (cancelled) and go on
                # in another task (see _wait_for_thread).
                received = self._received = self._received + len(data)
                if limit is not None and received > limit:
                    if self._body_error is None:
                        self._body_error = RequestBodyTooLarge(
                            f"the request body exceeds {limit} bytes"
                        )
                        self._discarding = True
                    # Read on (dropping) a little, so that the 413 is not lost
                    # to a connection reset (see LINGER).
                    if received > limit + LINGER:
                        self._body_done = True
                elif data and not self._discarding:
                    self._inbox.append(data)
                    self._inbox_size += len(data)
                if not message.get("more_body", False):
                    self._body_done = True
                self._body_wanted = False
                self._notify()
        return True
