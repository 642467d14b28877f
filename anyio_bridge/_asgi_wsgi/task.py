"""The request task: the application's ``receive`` and ``send``, and its run.

The loop's side of an :class:`~.exchange.Exchange` (whose docstring describes
what both sides share): ``receive()`` hands over the body the WSGI thread
read, ``send()`` checks each response message and passes it to the thread,
and :meth:`RequestTask.run` runs the application and turns how it ended into
a response or a logged failure.  Nothing here raises out of the task.
"""

from __future__ import annotations

from typing import Any

import anyio

from .._backends import Waiter
from .._wsgi.input import ClientDisconnected
from .exchange import DISCONNECT, EOF, FAILED, READING, Exchange, logger
from .messages import body_of, path_of, status_and_headers

__all__ = ["RequestTask"]


class RequestTask(Exchange):
    """One request as its task on the loop sees it."""

    __slots__ = ()

    async def receive(self) -> dict[str, Any]:
        """The application's ``receive``."""
        while True:
            with self.lock:
                body = self.body
                if body:
                    chunk = body.popleft()
                    reading = self.body_state == READING
                    # A failed body is not over: the disconnect comes next.
                    more = bool(body) or self.body_state != EOF
                    if reading:
                        self.body_wanted = True
                        self._wake_wsgi()
                    elif not more:
                        self.request_done = True
                    return {"type": "http.request", "body": chunk, "more_body": more}
                if self.finished or self.body_state == FAILED:
                    return DISCONNECT
                if self.body_state == EOF:
                    if not self.request_done:
                        self.request_done = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                    if self.complete:
                        return DISCONNECT
                else:
                    self.body_wanted = True
                    self._wake_wsgi()
                waiter = self.runtime.loop.new_waiter()
                self.receivers.append(waiter)
            try:
                await waiter.wait()
            finally:
                self._forget(self.receivers, waiter)

    def _forget(self, waiters: list[Waiter], waiter: Waiter) -> None:
        if not waiter.done:  # cancelled while parked
            with self.lock:
                # Not there if a wake-up took it out but has not run yet.
                if waiter in waiters:  # pragma: no branch - that race
                    waiters.remove(waiter)

    async def send(self, message: dict[str, Any]) -> None:
        """The application's ``send``.

        :raises ClientDisconnected: the WSGI side is done with the request.
        :raises RuntimeError: a message out of order, or of an unknown type.
        :raises TypeError, ValueError: an invalid message.
        """
        kind = message["type"]
        if kind == "http.response.body":
            await self._send_body(*body_of(message))
        elif kind == "http.response.start":
            status, headers = status_and_headers(message)
            with self.lock:
                self._check_open()
                if self.status is not None:
                    raise RuntimeError("http.response.start sent twice")
                self.status, self.headers = status, headers
            # Hand the start over alone only if no body follows in the same
            # step of the task: the WSGI call then learns the whole shape of
            # the response at once (a list, or a file for wsgi.file_wrapper).
            self.runtime.loop.call_soon(self._flush_start)
        elif kind == "http.response.pathsend":
            path = path_of(message)
            with self.lock:
                self._check_started()
                if self.body_sent:
                    raise RuntimeError(
                        "http.response.pathsend must be the only body message"
                    )
                if not self.head:
                    self.file = path
                self.complete = True
                self._wake_wsgi()
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r} for HTTP")

    def _check_open(self) -> None:
        if self.finished:
            raise ClientDisconnected("the client is gone")

    def _check_started(self) -> None:
        self._check_open()
        if self.status is None:
            raise RuntimeError("a response body was sent before http.response.start")
        if self.complete:
            raise RuntimeError("a message was sent after the response was complete")

    async def _send_body(self, body: bytes, more: bool) -> None:
        limit = self.runtime.settings.send_buffer_size
        with self.lock:
            self._check_started()
            # HEAD: the body never reaches the server (its headers do).
            if body and not self.head:
                self.chunks.append(body)
                self.buffered += len(body)
                self.body_sent = True
            if not more:
                self.complete = True
            self._wake_wsgi()
            if not more or self.buffered <= limit:
                return
        while True:
            with self.lock:
                self._check_open()
                if self.buffered <= limit:
                    return
                waiter = self.runtime.loop.new_waiter()
                self.senders.append(waiter)
            try:
                await waiter.wait()
            finally:
                self._forget(self.senders, waiter)

    async def run(self) -> None:
        """The request task: run the application (never raises)."""
        runtime = self.runtime
        with self.lock:
            if self.finished:  # the WSGI side gave up before the task started
                return
            self.task_running = True
        try:
            error = await runtime.lifespan.started()
            if error is not None:
                self._fail(error, log=False)  # logged once, by the lifespan
                return
            state = runtime.lifespan.state
            if state is not None:
                self.scope["state"] = state.copy()
            if self.given_up():  # while the startup ran
                return
            with anyio.CancelScope() as scope:
                self.cancel_scope = scope
                await runtime.app(self.scope, self.receive, self.send)
            if scope.cancelled_caught:
                self._fail("the application was cancelled", log=False)
            else:
                self._returned()
        except BaseException as exc:
            self._raised(exc)
        finally:
            with self.lock:
                self.task_running = False
                self._wake_wsgi()

    def _returned(self) -> None:
        with self.lock:
            if self.complete or self.finished:
                return
            started = self.status is not None
        if started:
            self._fail("the application returned before completing its response")
        else:
            self._fail("the application returned without sending a response")

    def _raised(self, exc: BaseException) -> None:
        with self.lock:
            finished, complete = self.finished, self.complete
        if isinstance(exc, ClientDisconnected) and finished:
            logger.debug("the client went away during %s", self.scope["path"])
        elif isinstance(exc, self.runtime.loop.cancelled_class):
            logger.debug("request task cancelled: %s", self.scope["path"])
        else:
            logger.error(
                "Exception in ASGI application (%s %s)",
                self.scope["method"],
                self.scope["path"],
                exc_info=exc,
            )
        if not complete:
            self._fail(f"the application raised {type(exc).__name__}", log=False)

    def _fail(self, reason: str, *, log: bool = True) -> None:
        with self.lock:
            if self.finished:
                return
            if log:
                logger.error(
                    "%s (%s %s)", reason, self.scope["method"], self.scope["path"]
                )
            self.error = reason
            self._wake_wsgi()
