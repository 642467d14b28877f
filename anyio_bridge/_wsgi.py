"""The machinery behind :mod:`anyio_bridge.wsgi`.

One request is one :class:`WsgiToAsgiInstance`, shared by two sides:

* the **request task** (on the event loop) receives and sends ASGI messages;
* a **worker thread** (from :mod:`anyio_bridge._pool`) runs the WSGI
  application and iterates its response.

They talk through the instance's fields, guarded by one lock:

* thread → loop: an *outbox* of response items.  Each body part is handed
  over as soon as the application produces it (PEP 3333 wants that, and a
  streamed response must not wait for a buffer to fill); the thread wakes the
  request task natively only if it is parked.  Parts that arrive together
  are sent as one message, so a response made in one go -- the common case --
  costs one wake-up and two ``send`` calls.
* loop → thread: the *inbox* of request body pieces, filled by a reader task
  that only exists when the body or the response is streamed, and the
  ``aborted`` flag (client gone, request cancelled), both signalled through a
  :class:`threading.Condition` the thread waits on.
* backpressure: ``pending`` counts response bytes handed over but not yet
  sent; the thread waits while it exceeds the send buffer size.
"""

from __future__ import annotations

import functools
import http
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import copy_context
from io import BytesIO
from stat import S_ISREG
from types import TracebackType
from typing import Any, Final

from anyio import CapacityLimiter, WouldBlock, create_task_group

from ._backends import Loop, ThreadClaim, Waiter, current_loop
from ._pool import pool
from ._wsgi_environ import (
    ClientDisconnected,
    DuplicateHeadersError,
    FileWrapper,
    InputStream,
    RequestBodyTooLarge,
    build_environ,
)
from .local import bridge_enter

logger = logging.getLogger("anyio_bridge.wsgi")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
Headers = list[tuple[bytes, bytes]]

#: Requests running the application at once, per event loop, by default.
#: A limiter of the adapter's own: were WSGI requests to hold tokens of
#: anyio's default thread limiter, a full house of requests calling back into
#: the loop for code that itself uses ``anyio.to_thread`` would deadlock.
DEFAULT_THREADS: Final = 64
#: Request body bytes read ahead of the application.
READ_AHEAD: Final = 256 * 1024
DEFAULT_SEND_BUFFER: Final = 256 * 1024

# Response items, thread -> loop.  A "body" item carries the response start
# with the first one.  The last item of a request has more=False, or is an
# error or a pathsend.
_BODY: Final = 0  # (_BODY, start | None, data, more)
_ERROR: Final = 1  # (_ERROR, start | None, exception)
_PATHSEND: Final = 2  # (_PATHSEND, start, path)
_WANT_BODY: Final = 3  # (_WANT_BODY,): the thread waits for request body
Start = tuple[int, Headers]

_BAD_HEADER_CHARS: Final = frozenset("\r\n\0")
_BAD_NAME_CHARS: Final = frozenset("\r\n\0: \t")


class _Settings:
    """Options shared by every request of one adapter."""

    __slots__ = (
        "app",
        "duplicate_header_limit",
        "limiters",
        "max_body_size",
        "send_buffer_size",
        "tokens",
    )

    def __init__(
        self,
        app: WSGIApp,
        duplicate_header_limit: int | None,
        limiter: CapacityLimiter | int | None,
        max_body_size: int | None,
        send_buffer_size: int,
    ) -> None:
        if isinstance(limiter, int) and limiter < 1:
            raise ValueError("limiter must be at least 1")
        if max_body_size is not None and max_body_size < 0:
            raise ValueError("max_body_size must not be negative")
        if send_buffer_size < 1:
            raise ValueError("send_buffer_size must be at least 1")
        self.app = app
        self.duplicate_header_limit = duplicate_header_limit
        self.max_body_size = max_body_size
        self.send_buffer_size = send_buffer_size
        self.tokens = limiter
        self.limiters: weakref.WeakKeyDictionary[Loop, CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self, loop: Loop) -> CapacityLimiter:
        """The limiter for requests on *loop* (call on the loop's thread)."""
        tokens = self.tokens
        if isinstance(tokens, CapacityLimiter):
            return tokens
        limiter = self.limiters.get(loop)
        if limiter is None:
            limiter = CapacityLimiter(DEFAULT_THREADS if tokens is None else tokens)
            self.limiters[loop] = limiter
        return limiter


class _Nobody:
    """Stands for "no waiter": waking it does nothing."""

    __slots__ = ()

    def wake(self) -> bool:
        return False


_NOBODY: Final = _Nobody()


class _Aborted(Exception):
    """Internal: stop iterating, the request was aborted."""


class WsgiToAsgiInstance:
    """One request served by a WSGI application; see :class:`WsgiToAsgi`.

    Created by :class:`WsgiToAsgi` per request.  Like asgiref's class of the
    same name it can be created directly, with the same options as
    :class:`WsgiToAsgi`, and exposes :meth:`build_environ` and
    :meth:`start_response`.
    """

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        limiter: CapacityLimiter | int | None = None,
        max_body_size: int | None = None,
        send_buffer_size: int = DEFAULT_SEND_BUFFER,
        _settings: _Settings | None = None,
    ) -> None:
        if _settings is None:
            _settings = _Settings(
                wsgi_application,
                duplicate_header_limit,
                limiter,
                max_body_size,
                send_buffer_size,
            )
        self._settings = _settings
        self.scope: Mapping[str, Any] = {}
        # Thread side: the response as the application describes it.
        self._status: int | None = None
        self._headers: Headers = []
        self._started = False  # the start left the thread: no more changes
        self._streaming = False  # part of the response was handed over
        self._remaining: int | None = None  # Content-Length left to send
        self._head = False
        self._last = b""  # the part that completes a Content-Length
        #: Parts of a list or tuple response, handed over together at the end.
        self._held: list[bytes] | None = None
        # Shared, under _lock.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._outbox: deque[tuple[Any, ...]] = deque()
        self._waiter: Waiter | _Nobody = _NOBODY
        self._inbox: deque[bytes] = deque()
        self._inbox_size = 0
        self._body_done = True
        self._body_error: BaseException | None = None
        self._body_wanted = False
        self._reader_waiter: Waiter | _Nobody = _NOBODY
        self._reader_started = False
        #: The response is complete: the rest of the body is read and dropped.
        self._discarding = False
        self._body_waiter: Waiter | _Nobody = _NOBODY
        self._pending = 0
        self._aborted: BaseException | None = None
        self._thread_done = False
        self._abandoned = False

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
            await _simple_response(
                send, 400, b"Bad Request: too many repeated headers", close=scope
            )
            return
        declared = environ.get("CONTENT_LENGTH")
        if declared is not None:
            if not declared.isdigit():
                await _simple_response(
                    send, 400, b"Bad Request: bad Content-Length", close=scope
                )
                return
            limit = settings.max_body_size
            if limit is not None and int(declared) > limit:
                await _simple_response(send, 413, close=scope)
                return
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left before we started
        body: bytes = message.get("body", b"")
        limit = settings.max_body_size
        if limit is not None and len(body) > limit:
            await _simple_response(send, 413, close=scope)
            return
        self._received = len(body)
        self._reader_failure: Exception | None = None
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
            if kind == _BODY:
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
            if kind == _WANT_BODY:
                continue
            self._release()
            if kind == _ERROR:
                error = item[2]
                if item[1] is None:
                    raise error
                if isinstance(error, RequestBodyTooLarge):
                    await _simple_response(send, 413, close=self.scope)
                    return False
            if not self._body_done:
                await drop_rest()
            if kind == _ERROR:
                await _simple_response(send, 500)
            else:  # _PATHSEND
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
            self._changed.notify_all()

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
            waiter, self._body_waiter = self._body_waiter, _NOBODY
        waiter.wake()

    async def _drop_rest(self, receive: Callable[[], Any]) -> None:
        """Read and drop the rest of the request body (no reader task runs).

        Called when the response is complete but the application left part
        of the body unread.  Servers that stop reading a connection while an
        application does not consume its body (hypercorn) would otherwise
        never read the rest either, and a client that sends its whole body
        before reading the response would wait forever for both.  Reading
        stops past ``max_body_size`` or when the client leaves.
        """
        limit = self._settings.max_body_size
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
            self._changed.notify_all()

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
            reader_waiter, self._reader_waiter = self._reader_waiter, _NOBODY
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
                    self._body_error = RequestBodyTooLarge(
                        f"the request body exceeds {limit} bytes"
                    )
                    self._body_done = True
                elif data and not self._discarding:
                    self._inbox.append(data)
                    self._inbox_size += len(data)
                if not message.get("more_body", False):
                    self._body_done = True
                self._body_wanted = False
                self._changed.notify_all()
        return True

    def _abort(self, reason: BaseException) -> None:
        with self._lock:
            self._aborted = self._aborted or reason
            self._changed.notify_all()
            waiter, self._waiter = self._waiter, _NOBODY
            body_waiter, self._body_waiter = self._body_waiter, _NOBODY
        waiter.wake()
        body_waiter.wake()
        self._claim.cancel()

    def _let_go(self) -> None:
        """Leave the request (done, failed or cancelled); the thread may go on."""
        with self._lock:
            if self._aborted is None:
                self._aborted = ClientDisconnected("the request was abandoned")
                self._changed.notify_all()
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

    # -- the worker thread -----------------------------------------------------

    def _pull_body(self) -> bytes:
        """The next piece of request body, waiting for it if need be."""
        with self._lock:
            while True:
                if self._inbox:
                    data = self._inbox.popleft()
                    self._inbox_size -= len(data)
                    waiter, self._reader_waiter = self._reader_waiter, _NOBODY
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
                    self._outbox.append((_WANT_BODY,))
                    self._waiter.wake()
                    self._waiter = _NOBODY
                self._changed.wait()
        waiter.wake()  # the reader may read ahead again
        return data

    def _run(self) -> Callable[[], None]:
        """The job run by the worker thread: returns the final hand-over."""
        try:
            final = self._context.run(self._run_app)
        except BaseException as exc:  # pragma: no cover - _run_app catches all
            final = (_ERROR, None, exc)
        return functools.partial(self._finish, final)

    def _finish(self, final: tuple[Any, ...]) -> None:
        """Called once the thread is idle again: hand over the last item."""
        with self._lock:
            self._thread_done = True
            abandoned = self._abandoned
            if not abandoned:
                self._outbox.append(final)
                self._waiter.wake()
                self._waiter = _NOBODY
        if abandoned:
            # Nobody waits for this request any more: give the token back.
            self._loop.call_soon_threadsafe(self._release)

    def _run_app(self) -> tuple[Any, ...]:
        bridge_enter(self._source_thread)
        claim = self._claim
        saved = claim.enter()
        try:
            try:
                result = self._settings.app(self._environ, self.start_response)
            except BaseException as exc:
                return self._failed(exc)
            try:
                final = self._respond_with(result)
            except BaseException as exc:
                final = self._failed(exc)
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    if final[0] != _ERROR:
                        final = self._failed(exc)
                    else:
                        logger.exception("close() of the WSGI response failed")
            return final
        finally:
            claim.leave(saved)

    def _respond_with(self, result: Iterable[bytes]) -> tuple[Any, ...]:
        if isinstance(result, FileWrapper):
            path = self._pathsend_path(result)
            if path is not None:
                start = self._take_start()
                return (_PATHSEND, start, path)
        if not (self._head and self._status is not None):
            # A list or tuple is made in one go: hand it over whole, with one
            # wake-up of the request task, instead of part by part.
            if isinstance(result, (list, tuple)):
                self._held = []
            for data in result:
                if not isinstance(data, bytes):
                    raise TypeError(
                        "the WSGI response iterable must yield bytes, not "
                        f"{type(data).__name__}"
                    )
                if self._add(data):
                    break
        if self._status is None:
            raise RuntimeError("the WSGI application did not call start_response()")
        return self._final()

    def _pathsend_path(self, wrapper: FileWrapper) -> str | None:
        """The path to hand to the server instead of reading *wrapper*, if any."""
        if self._status is None or self._head or self._started:
            return None
        extensions = self.scope.get("extensions") or {}
        if "http.response.pathsend" not in extensions:
            return None
        filelike = wrapper.filelike
        try:
            name = filelike.name
            opened = os.fstat(filelike.fileno())
            at_start = filelike.tell() == 0
        except (AttributeError, OSError, ValueError):
            return None
        if not (isinstance(name, str) and at_start and S_ISREG(opened.st_mode)):
            return None
        path = os.path.abspath(name)
        try:
            same = os.path.samestat(os.stat(path), opened)
        except OSError:
            return None
        if not same or self._remaining not in (None, opened.st_size):
            return None
        return path

    def _add(self, data: bytes) -> bool:
        """Hand response bytes over; ``True`` when the response is complete."""
        if self._aborted is not None:
            raise _Aborted
        if self._status is None:
            raise RuntimeError("the WSGI application sent body before start_response()")
        if self._head:
            return True
        remaining = self._remaining
        done = False
        if remaining is not None:
            if len(data) >= remaining:
                data = data[:remaining]
                done = True
            self._remaining = remaining - len(data)
        if data and not done and self._held is not None:
            self._held.append(data)
        elif data and not done:
            # Handed over at once: the request task may be sending already,
            # or the application may block before its next part.
            start = self._take_start()
            with self._lock:
                self._outbox.append((_BODY, start, data, True))
                self._pending += len(data)
                self._waiter.wake()
                self._waiter = _NOBODY
            self._streaming = True
            self._wait_for_room()
        elif data:
            self._last = data
        return done

    def _final(self) -> tuple[Any, ...]:
        """The last body item: whatever is left, and the start if still here."""
        data, self._last = self._last, b""
        held, self._held = self._held, None
        if held:
            data = b"".join([*held, data])
        return (_BODY, self._take_start(), data, False)

    def _take_start(self) -> Start | None:
        if self._started:
            return None
        self._started = True
        assert self._status is not None
        return (self._status, self._headers)

    def _wait_for_room(self) -> None:
        limit = self._settings.send_buffer_size
        if self._pending <= limit:
            return
        with self._lock:
            while self._pending > limit and self._aborted is None:
                self._changed.wait()
            if self._aborted is not None:
                raise _Aborted

    def _failed(self, exc: BaseException) -> tuple[Any, ...]:
        if isinstance(exc, _Aborted) or self._aborted is not None:
            logger.debug("WSGI request aborted", exc_info=exc)
        else:
            request = f"{self.scope.get('method')} {self.scope.get('path')}"
            logger.error("Exception in WSGI application (%s)", request, exc_info=exc)
        # Until a first part was handed over, a 500 can still replace it all.
        self._started = True
        return (_ERROR, None if self._streaming else (500, []), exc)

    def start_response(
        self,
        status: str,
        response_headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333's ``start_response``: record the status and headers.

        Returns the ``write()`` callable.

        :raises ValueError: the status is not ``"NNN reason"``, or a header
            name or value is not a latin-1 string free of CR, LF and NUL.
        :raises RuntimeError: called a second time without *exc_info*.
        :raises BaseException: ``exc_info[1]``, when called with *exc_info*
            after the response start has been handed to the server.
        """
        if exc_info is not None:
            try:
                if self._started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise RuntimeError(
                "start_response() was already called; call it again only with exc_info"
            )
        self._status, self._headers, self._remaining = _parse_start(
            status, response_headers
        )
        return self._write

    def _write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        try:
            self._add(data)
        except _Aborted:
            raise ClientDisconnected("the client disconnected") from None


def _parse_start(
    status: str, headers: list[tuple[str, str]]
) -> tuple[int, Headers, int | None]:
    if not (
        isinstance(status, str)
        and len(status) >= 4
        and status[:3].isdigit()
        and status[3] == " "
        and not _BAD_HEADER_CHARS.intersection(status)
    ):
        raise ValueError(f"status must look like '200 OK', not {status!r}")
    raw: Headers = []
    remaining: int | None = None
    for name, value in headers:
        if not (
            isinstance(name, str)
            and isinstance(value, str)
            and name
            and not _BAD_NAME_CHARS.intersection(name)
            and not _BAD_HEADER_CHARS.intersection(value)
        ):
            raise ValueError(f"invalid response header: {name!r}: {value!r}")
        # HTTP allows no space or tab around a field value, and some servers
        # (uvicorn with h11) drop the response if there is one; Django writes
        # every Set-Cookie value with a leading space.
        value = value.strip(" \t")
        try:
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(
                f"response header is not latin-1: {name!r}: {value!r}"
            ) from None
        if raw[-1][0] == b"content-length":
            if not value.isdigit():
                raise ValueError(f"invalid Content-Length: {value!r}")
            remaining = int(value)
    return int(status[:3]), raw, remaining


async def _simple_response(
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


async def _lifespan(receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class WsgiToAsgi:
    """Serve a PEP 3333 (WSGI) application as an ASGI 3 application.

    :param wsgi_application: the WSGI application.
    :param duplicate_header_limit: requests repeating one header more often
        than this get ``400 Bad Request`` without reaching the application;
        ``None`` or 0 for no limit.
    :param limiter: how many requests may run the application at once: an
        :class:`anyio.CapacityLimiter`, a number of tokens (one limiter per
        event loop), or ``None`` for 64 tokens per event loop
        (:data:`DEFAULT_THREADS`), not shared with anything else.
    :param max_body_size: the largest request body accepted, in bytes
        (``None``: no limit).  A larger ``Content-Length`` gets ``413`` at
        once; a streamed body that grows past it makes ``wsgi.input`` reads
        raise :class:`RequestBodyTooLarge`.
    :param send_buffer_size: how many response bytes the application may
        produce ahead of the server before its thread waits.
    :raises ValueError: for a limiter below 1, a negative ``max_body_size`` or
        a ``send_buffer_size`` below 1.
    """

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        limiter: CapacityLimiter | int | None = None,
        max_body_size: int | None = None,
        send_buffer_size: int = DEFAULT_SEND_BUFFER,
    ) -> None:
        self.wsgi_application = wsgi_application
        self._settings = _Settings(
            wsgi_application,
            duplicate_header_limit,
            limiter,
            max_body_size,
            send_buffer_size,
        )

    @property
    def duplicate_header_limit(self) -> int | None:
        return self._settings.duplicate_header_limit

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
    ) -> None:
        """Serve one ASGI connection scope (see :meth:`WsgiToAsgiInstance.__call__`)."""
        instance = WsgiToAsgiInstance(self.wsgi_application, _settings=self._settings)
        await instance(scope, receive, send)
