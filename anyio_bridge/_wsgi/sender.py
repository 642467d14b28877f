"""The request task's side of a response: sending what the thread handed over.

The request task parks on a native waiter until the outbox has items, sends
them (body parts that arrived together as one message), and after each sent
part lowers the channel's ``pending`` count, which lets a thread waiting for
room go on.  :func:`simple_response` answers requests the application never
sees or whose response failed before its start.
"""

from __future__ import annotations

import http
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from .body import LINGER_SECONDS
from .channel import BODY, ERROR, WANT_BODY, Channel
from .input import RequestBodyTooLarge
from .response import Start

__all__ = ["Sender", "simple_response"]


class Sender(Channel):
    """Sends the outbox's items as ASGI messages, on the event loop."""

    async def _send_items(
        self,
        send: Callable[[Any], Any],
        drop_rest: Callable[[], Awaitable[None]],
    ) -> bool:
        """Wait for the thread's next items and send them; ``False`` once done.

        Body parts that arrived together go out as one message: a response
        made in one go (the common case) is one start and one body message.
        Before the message that completes the response, *drop_rest* reads
        and drops what is left of the request body (see :meth:`_drop_rest`).
        """
        lock = self._lock
        while True:
            with lock:
                if self._aborted is not None:
                    return False
                if self._outbox:
                    items = list(self._outbox)
                    self._outbox.clear()
                    break
                waiter = self._waiter = self._loop.new_waiter()
            await waiter.wait()
        start: Start | None = None
        parts: list[bytes] = []
        for item in items:
            kind = item[0]
            if kind == BODY:
                start = start or item[1]
                parts.append(item[2])
                if item[3]:
                    continue
                self._release()
                if not self._body_done:
                    await drop_rest()
                await self._send_body(send, start, parts, more=False)
                return False
            if parts:
                await self._send_body(send, start, parts, more=True)
                start, parts = None, []
            if kind == WANT_BODY:
                continue
            self._release()
            if kind == ERROR:
                error = item[2]
                if item[1] is None:
                    raise error
                if isinstance(error, RequestBodyTooLarge):
                    if not self._body_done:
                        # A little more of the body first: see body.LINGER.
                        with anyio.move_on_after(LINGER_SECONDS):
                            await drop_rest()
                    await simple_response(send, 413, close=self.scope)
                    return False
            if not self._body_done:
                await drop_rest()
            if kind == ERROR:
                await simple_response(send, 500)
            else:  # PATHSEND
                await self._send_body(send, item[1], [], more=True)
                await send({"type": "http.response.pathsend", "path": item[2]})
            return False
        if parts:
            await self._send_body(send, start, parts, more=True)
        return True

    async def _send_body(
        self,
        send: Callable[[Any], Any],
        start: Start | None,
        parts: list[bytes],
        *,
        more: bool,
    ) -> None:
        if start is not None:
            await send(
                {"type": "http.response.start", "status": start[0], "headers": start[1]}
            )
            if not parts:
                return
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        await send({"type": "http.response.body", "body": data, "more_body": more})
        if more:
            self._sent(len(data))

    def _sent(self, size: int) -> None:
        with self._lock:
            self._pending -= size
            self._notify()


async def simple_response(
    send: Callable[[Any], Any],
    status: int,
    body: bytes | None = None,
    *,
    close: Mapping[str, Any] | None = None,
) -> None:
    """Send a short plain-text response.

    ``close`` is the request's scope when the adapter refuses a request whose
    body it leaves unread: an HTTP/1 client is then told not to reuse the
    connection (the server cannot keep it open with a body still pending, and
    a client that sent its next request on it would see it dropped).  HTTP/2
    forbids the header and needs none: streams end on their own.
    """
    if body is None:
        body = http.HTTPStatus(status).phrase.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close is not None and close.get("http_version", "1.1") in ("1.0", "1.1"):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
