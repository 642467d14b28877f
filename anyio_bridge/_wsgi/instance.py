"""One request served by a WSGI application: :class:`WsgiToAsgiInstance`.

The instance leads the request through its course: refuse what the
application must not see, take a thread token, start the application on a
worker thread, send its response (starting a reader task when the body or
the response streams), and let go of the thread in every case.  The concern
classes it derives from do the rest: :mod:`.body`, :mod:`.response`,
:mod:`.sender`, over the shared state of :mod:`.channel`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from contextvars import copy_context
from io import BytesIO
from typing import Any

from anyio import CapacityLimiter, WouldBlock, create_task_group

from .._backends import ThreadClaim, current_loop
from .._bridge.pool import pool
from .body import BodyChannel
from .environ import DuplicateHeadersError, build_environ
from .input import InputStream
from .response import ResponseWriter
from .sender import Sender, simple_response
from .settings import DEFAULT_SEND_BUFFER, Settings, WSGIApp

__all__ = ["WsgiToAsgiInstance"]


class WsgiToAsgiInstance(ResponseWriter, BodyChannel, Sender):
    """One request served by a WSGI application; see :class:`WsgiToAsgi`.

    Created by :class:`WsgiToAsgi` per request.  Like asgiref's class of the
    same name it can be created directly, with the same options as
    :class:`WsgiToAsgi`, and exposes :meth:`build_environ` and
    :meth:`start_response`.
    """

    # One object by design, from one class per concern: see .channel.

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        limiter: CapacityLimiter | int | None = None,
        max_body_size: int | None = None,
        send_buffer_size: int = DEFAULT_SEND_BUFFER,
        _settings: Settings | None = None,
    ) -> None:
        if _settings is None:
            _settings = Settings(
                wsgi_application,
                duplicate_header_limit,
                limiter,
                max_body_size,
                send_buffer_size,
            )
        self._settings = _settings
        self.scope: Mapping[str, Any] = {}
        super().__init__()

    # -- environ -----------------------------------------------------------

    def build_environ(self, scope: Mapping[str, Any], body: Any) -> dict[str, Any]:
        """The PEP 3333 environ for *scope*, reading the request body from *body*.

        *body* is a binary file-like object, or ``bytes``.

        :raises ValueError: a header occurs more than ``duplicate_header_limit``
            times.
        """
        if isinstance(body, bytes | bytearray | memoryview):
            body = BytesIO(body)
        return build_environ(
            scope, body, duplicate_header_limit=self._settings.duplicate_header_limit
        )

    # -- the request task ----------------------------------------------------

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
    ) -> None:
        """Serve one ASGI connection scope.

        :raises ValueError: for a scope type other than ``http``, ``lifespan``
            and ``websocket``.
        :raises Exception: whatever the application raised, once the response
            start has been sent (the server then drops the connection).
        """
        self.scope = scope
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"WsgiToAsgi cannot handle {kind!r} scopes")

    async def _http(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
    ) -> None:
        settings = self._settings
        try:
            environ = build_environ(
                scope, None, duplicate_header_limit=settings.duplicate_header_limit
            )
        except DuplicateHeadersError:
            await simple_response(
                send, 400, b"Bad Request: too many repeated headers", close=scope
            )
            return
        declared = environ.get("CONTENT_LENGTH")
        if declared is not None:
            if not declared.isdigit():
                await simple_response(
                    send, 400, b"Bad Request: bad Content-Length", close=scope
                )
                return
            limit = settings.max_body_size
            if limit is not None and int(declared) > limit:
                await simple_response(send, 413, close=scope)
                return
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left before we started
        body: bytes = message.get("body", b"")
        limit = settings.max_body_size
        if limit is not None and len(body) > limit:
            await simple_response(send, 413, close=scope)
            return
        self._received = len(body)
        self._reader_failure = None
        if message.get("more_body", False):
            self._body_done = False
            environ["wsgi.input"] = InputStream(body, self._pull_body)
        else:
            environ["wsgi.input"] = BytesIO(body)
        self._head = scope["method"] == "HEAD"
        self._environ = environ
        loop = self._loop = current_loop()
        self._context = copy_context()
        # The loop's thread: Local values set there follow into the app's.
        self._source_thread = threading.get_ident()
        self._claim = ThreadClaim(loop, loop.backend.thread_cancel_scope())
        limiter = self._limiter = settings.limiter(loop)
        try:
            limiter.acquire_on_behalf_of_nowait(self)
        except WouldBlock:
            if not await self._wait_for_thread(limiter, receive):
                return  # the client left while the request was queued
        self._released = False
        try:
            pool.submit(self._run)
        except BaseException:  # pragma: no cover - thread creation failed
            self._release()
            raise
        try:
            await self._respond(receive, send)
        finally:
            self._let_go()

    async def _wait_for_thread(
        self, limiter: CapacityLimiter, receive: Callable[[], Any]
    ) -> bool:
        """Wait for a token of *limiter*; ``False`` if the client left first.

        Meanwhile the request keeps receiving: its body goes to the inbox (as
        the reader task would put it there, up to the read-ahead), and once
        the whole body is in, the next message can only be
        ``http.disconnect``.  So a request whose client gave up never takes a
        thread -- unless its body is larger than the read-ahead, whose
        messages then wait in the server until a thread reads them.
        """
        left = acquired = False
        async with create_task_group() as tg:

            async def watch() -> None:
                nonlocal left
                if await self._receive_body(receive):
                    await receive()
                left = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            await limiter.acquire_on_behalf_of(self)
            acquired = True
            tg.cancel_scope.cancel()
        # Both at once: anyio granted a token through its shielded checkpoint
        # while the disconnect arrived.  The client is gone all the same.  Not
        # reachable on purpose: the two tasks' order in one tick is the
        # backend's to choose.
        if left and acquired:  # pragma: no cover
            limiter.release_on_behalf_of(self)
        return not left

    async def _respond(
        self, receive: Callable[[], Any], send: Callable[[Any], Any]
    ) -> None:
        if not await self._send_items(
            send, functools.partial(self._drop_rest, receive)
        ):
            return
        # The body or the response streams: a reader task feeds the body to
        # the thread and then watches for the client leaving.  Errors are
        # raised after the task group, so the server sees them unwrapped.
        failure: Exception | None = None
        async with create_task_group() as tg:
            self._reader_started = True
            tg.start_soon(self._read_body, receive)
            try:
                while await self._send_items(send, self._drop_rest_by_reader):
                    pass
            except Exception as exc:
                failure = exc
            tg.cancel_scope.cancel()
        failure = failure or self._reader_failure
        if failure is not None:
            raise failure


async def _lifespan(receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
