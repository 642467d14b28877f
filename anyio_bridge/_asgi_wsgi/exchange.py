"""One request, shared by the WSGI server's thread and the event loop.

The WSGI thread (the server's worker thread calling the adapter) owns
``wsgi.input`` and the response iterable; the request task on the loop runs
the ASGI application.  They share the fields of :class:`Exchange`, guarded by
one :class:`threading.Lock`:

* request body, thread → loop: chunks read from ``wsgi.input`` wait in
  ``body``.  The thread reads only once the application has asked for the
  body, and then keeps at most :data:`READ_AHEAD` chunks ahead, so the
  application never waits for a read it could have overlapped and memory
  stays bounded.  A short read or a failing ``read()`` means the client is
  gone: the application's ``receive()`` gets ``http.disconnect``.
* response, loop → thread: the status and headers, then body chunks in
  ``chunks``.  The application's ``send()`` waits while more than the send
  buffer is waiting for the server, so a slow client slows the application
  instead of growing memory.
* ``finished``: the WSGI side is done with the request (the response was
  handed over whole, the server closed the iterable, or it gave up).  From
  then on ``receive()`` returns ``http.disconnect`` and ``send()`` raises
  :class:`~anyio_bridge.wsgi.ClientDisconnected`; if the response was not
  complete, the application is cancelled after ``disconnect_grace``.

This module holds the shared state and the WSGI thread's side; the loop's
side (``receive``, ``send``, running the application) is
:class:`~.task.RequestTask`, in :mod:`.task`.

Wake-ups are cheap and only happen when the other side is parked: the
thread parks on ``wakeup`` (a lock used as a binary semaphore), the loop's
tasks on :class:`~anyio_bridge._backends.Waiter`\\ s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import anyio

from .._backends import Waiter

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["DISCONNECT", "READ_AHEAD", "Exchange", "logger"]

logger = logging.getLogger("anyio_bridge.wsgi")

#: Request body chunks read ahead of the application, at most.
READ_AHEAD: Final = 2
READING, EOF, FAILED = 0, 1, 2
DISCONNECT: Final = {"type": "http.disconnect"}


class Exchange:
    """The state of one request; see the module docstring."""

    __slots__ = (
        "announced",
        "body",
        "body_sent",
        "body_state",
        "body_wanted",
        "buffered",
        "cancel_scope",
        "chunks",
        "complete",
        "error",
        "file",
        "finished",
        "head",
        "headers",
        "input",
        "lock",
        "received",
        "receivers",
        "remaining",
        "request_done",
        "runtime",
        "scope",
        "senders",
        "start_flushed",
        "status",
        "task_running",
        "wakeup",
        "wsgi_waiting",
    )

    def __init__(
        self,
        runtime: Runtime,
        scope: dict[str, Any],
        wsgi_input: Any,
        length: int | None,
        announced: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.scope = scope
        #: A HEAD request: the body the application sends is dropped (WSGI
        #: servers do not all drop it, and on a kept-alive connection it would
        #: be read as the start of the next response).
        self.head = scope["method"] == "HEAD"
        self.lock = threading.Lock()
        self.wakeup = threading.Lock()
        self.wakeup.acquire()
        self.wsgi_waiting = False
        # request body
        self.input = wsgi_input
        self.remaining = length
        self.announced = announced
        self.received = 0
        self.body: deque[bytes] = deque()
        self.body_state = EOF if length == 0 else READING
        self.body_wanted = False
        self.request_done = False
        self.receivers: list[Waiter] = []
        # response
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.start_flushed = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.body_sent = False
        self.file: str | None = None
        self.complete = False
        #: Why the application failed to respond (logged already), or None.
        self.error: str | None = None
        self.senders: list[Waiter] = []
        # both
        self.finished = False
        self.task_running = False
        self.cancel_scope: anyio.CancelScope | None = None

    # -- the WSGI thread ---------------------------------------------------

    def read_small_body(self, limit: int) -> None:
        """Read a body of at most *limit* bytes now, before the app starts.

        Most request bodies are small: handing them over whole saves the
        application a wait and the loop a wake-up.
        """
        size = self.remaining if self.remaining is not None else self.announced
        if size is None or not 0 < size <= limit:
            return
        # Until EOF, or the announced length (a server returning short reads
        # needs several); when reading to EOF, the read that finds it is cheap.
        while self.body_state == READING and self.received <= limit:
            self._read_chunk()

    def pump(self, ready: Callable[[], bool], deadline: float | None = None) -> bool:
        """Block the WSGI thread until ``ready()`` (checked under the lock).

        Meanwhile read the request body as the application asks for it.
        Returns ``False`` if *deadline* (:func:`time.monotonic`) passed first.
        """
        lock = self.lock
        while True:
            with lock:
                if ready():
                    return True
                read = (
                    self.body_wanted
                    and self.body_state == READING
                    and len(self.body) < READ_AHEAD
                )
                if not read:
                    self.wsgi_waiting = True
            if read:
                self._read_chunk()
            elif deadline is None:
                self.wakeup.acquire()
            elif not self.wakeup.acquire(timeout=max(deadline - time.monotonic(), 0)):
                with lock:
                    if self.wsgi_waiting:
                        self.wsgi_waiting = False
                        return False
                # pragma: no cover - a race: woken between the timeout and
                # the lock; the wake-up released the lock, so take it back.
                self.wakeup.acquire()  # pragma: no cover

    def _read_chunk(self) -> None:
        remaining = self.remaining
        size = self.runtime.settings.chunk_size
        if remaining is not None and remaining < size:
            size = remaining
        try:
            data = self.input.read(size)
        except Exception as exc:
            logger.debug("reading the request body failed: %r", exc)
            data = None
        with self.lock:
            if data is None or (not data and remaining is not None):
                self.body_state = FAILED  # short body: the client is gone
            elif not data:
                announced = self.announced
                short = announced is not None and self.received < announced
                self.body_state = FAILED if short else EOF
            else:
                self.received += len(data)
                self.body.append(data)
                if remaining is not None:
                    remaining = self.remaining = remaining - len(data)
                    if remaining <= 0:
                        self.body_state = EOF
            self._wake_all(self.receivers)

    def response_ready(self) -> bool:
        """The WSGI call can return (under the lock)."""
        return bool(
            self.chunks
            or self.complete
            or self.error is not None
            or (self.status is not None and self.start_flushed)
        )

    def chunk_ready(self) -> bool:
        """The response iterable has something to yield or to end with."""
        return bool(self.chunks or self.complete or self.error is not None)

    def given_up(self) -> bool:
        """The WSGI side is done with the request."""
        return self.finished

    def take_chunks(self) -> bytes:
        """Take the waiting body chunks as one (under the lock)."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.senders:
            self._wake_all(self.senders)
        return data

    def finish(self, *, early: bool) -> None:
        """The WSGI side is done with this request.

        *early*: the response was not delivered whole (the client went away,
        the server closed the iterable, a timeout): the application is
        cancelled after the disconnect grace.  Callable more than once.
        """
        with self.lock:
            if self.finished:
                return
            self.finished = True
            incomplete = early and not self.complete
            notify = self.task_running and (
                incomplete or self.receivers or self.senders
            )
        if notify:
            self.runtime.loop.call_soon_batched(partial(self._on_finished, incomplete))

    def cancel_now(self) -> None:
        """Cancel the application at once (the response timed out)."""
        self.runtime.loop.call_soon_batched(partial(self._cancel, 0.0))

    # -- the loop: callbacks the WSGI side schedules ----------------------------

    def _wake_wsgi(self) -> None:
        # Under the lock.
        if self.wsgi_waiting:
            self.wsgi_waiting = False
            self.wakeup.release()

    @staticmethod
    def _wake_all(waiters: list[Waiter]) -> None:
        # Under the lock, in the WSGI thread.
        for waiter in waiters:
            waiter.wake_batched()
        waiters.clear()

    def _on_finished(self, incomplete: bool) -> None:
        with self.lock:
            self._wake_here(self.receivers)
            self._wake_here(self.senders)
        if incomplete:
            self._cancel(self.runtime.settings.disconnect_grace)

    @staticmethod
    def _wake_here(waiters: list[Waiter]) -> None:
        for waiter in waiters:
            waiter.wake_here()
        waiters.clear()

    def _cancel(self, grace: float) -> None:
        scope = self.cancel_scope
        if scope is None or not self.task_running:
            return
        if grace <= 0:
            scope.cancel()
        else:
            scope.deadline = min(scope.deadline, self.runtime.loop.time() + grace)

    def _flush_start(self) -> None:
        with self.lock:
            self.start_flushed = True
            self._wake_wsgi()
