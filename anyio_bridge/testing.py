"""Test ASGI applications on asyncio and trio.

:class:`ApplicationCommunicator` runs an application as a server would and
lets a test exchange messages with it; it follows ``asgiref.testing``.  On top
of it, :func:`http_scope`, :func:`websocket_scope` and :func:`lifespan_scope`
build scopes, and :func:`http_request` makes a whole HTTP request in one
call.  ``docs/testing.md`` describes the behaviour in full; the companion
pytest plugin is :mod:`anyio_bridge.pytest_plugin`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, cast
from urllib.parse import quote, unquote

import anyio
import anyio.lowlevel
import sniffio

from ._future import ApplicationCancelled, ApplicationFuture, ApplicationRun
from ._queue import MessageQueue
from .compatibility import guarantee_single_callable
from .timeout import timeout as _timeout

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from typing_extensions import Self

    from .typing import HTTPScope, LifespanScope, WebSocketScope

__all__ = [
    "ApplicationCancelled",
    "ApplicationCommunicator",
    "ApplicationFuture",
    "HttpResponse",
    "http_request",
    "http_scope",
    "lifespan_scope",
    "websocket_scope",
]

Message: TypeAlias = dict[str, Any]
"""A message the application sent: ASGI messages are plain dictionaries."""


async def _run_application(
    application: Callable[..., Awaitable[object]],
    scope: Mapping[str, Any],
    input_queue: MessageQueue[Mapping[str, Any]],
    output_queue: MessageQueue[Message],
    run: ApplicationRun,
) -> None:
    # The task holds no reference to the communicator, so a communicator that
    # is dropped without being stopped can still be garbage-collected, and its
    # __del__ can then stop the application (asgiref behaves the same way).
    try:
        await run.run(lambda: application(scope, input_queue.get, output_queue.put))
    finally:
        # Wake receive_output() and receive_nothing(): nothing more will come.
        output_queue._notify()


#: asyncio tasks started by communicators used without ``async with``.
_asyncio_tasks: set[Any] = set()

_TRIO_NEEDS_ASYNC_WITH = (
    "on trio, ApplicationCommunicator runs the application in a task group "
    "and must be used as `async with ApplicationCommunicator(app, scope) as "
    "communicator:`; without `async with` it only works on asyncio"
)


class ApplicationCommunicator:
    """Run an ASGI application and exchange messages with it, for tests.

    The application is called once, with *scope*, a ``receive`` callable that
    returns what :meth:`send_input` was given, in order, and a ``send``
    callable that queues messages for :meth:`receive_output`.  It runs in a
    new task that starts with an empty :mod:`contextvars` context, as it
    would in a server.

    Use the communicator as ``async with ApplicationCommunicator(app, scope)
    as communicator:``.  The application then starts when the block is
    entered, runs in a task group owned by the block, and is cancelled and
    awaited when the block is left; this works on asyncio and trio.  If the
    application failed and no method has raised its exception yet, leaving
    the block raises it (unless the block itself is raising, or
    ``stop(exceptions=False)`` was called).

    Without ``async with``, the communicator works like asgiref's, on asyncio
    only: the first method call starts the application as an asyncio task;
    :meth:`wait` or :meth:`stop` ends it, or garbage collection of the
    communicator cancels it.  On trio, the methods then raise
    :class:`RuntimeError` asking for ``async with``.

    An exception raised by the application is kept, and the next
    :meth:`send_input`, :meth:`receive_output`, :meth:`receive_nothing`,
    :meth:`wait` or ``stop()`` raises it (again at every later call).
    :meth:`receive_output` first hands out the messages the application sent
    before it failed.

    Once the application has been cancelled (by a timeout of
    :meth:`receive_output` or :meth:`wait`, by :meth:`stop` or by
    ``future.cancel()``), :meth:`send_input`, :meth:`receive_output`,
    :meth:`receive_nothing` and ``stop()`` raise :class:`ApplicationCancelled`
    instead, on both backends, as asgiref's raise the task's
    :class:`asyncio.CancelledError` (of which it is a subclass); :meth:`wait`
    returns.  Leaving the ``async with`` block raises neither.

    :param application: an ASGI 3 application, or an ASGI 2 one (converted
        with :func:`~anyio_bridge.compatibility.guarantee_single_callable`).
    :param scope: the connection scope given to the application as is.
    """

    def __init__(
        self, application: Callable[..., Any], scope: Mapping[str, Any]
    ) -> None:
        #: The application, as an ASGI 3 callable.
        self.application: Callable[..., Awaitable[object]] = guarantee_single_callable(
            application
        )
        #: The scope given to the application.
        self.scope = scope
        #: Messages for the application's ``receive``.
        self.input_queue: MessageQueue[Mapping[str, Any]] = MessageQueue()
        #: Messages the application sent.
        self.output_queue: MessageQueue[Message] = MessageQueue()
        self._run: ApplicationRun | None = None
        self._task_group: TaskGroup | None = None
        self._closed = False
        self._ignore_failure = False
        self._loop: Any = None  # asyncio loop of a task started without async with

    def __repr__(self) -> str:
        if self._run is None:
            state = "not started"
        elif not self._run.finished:
            state = "running"
        elif self._run.exception is not None:
            state = f"failed with {self._run.exception!r}"
        else:
            state = "finished"
        return f"<{type(self).__name__} {state}>"

    # -- lifetime --------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the application in a new task group.

        :raises RuntimeError: if the application was already started (by an
            earlier ``async with`` or by a method call outside one).
        """
        if self._run is not None or self._closed:
            raise RuntimeError("this communicator has already started its application")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        run = self._run = ApplicationRun(anyio.CancelScope())
        contextvars.Context().run(
            task_group.start_soon,
            _run_application,
            self.application,
            self.scope,
            self.input_queue,
            self.output_queue,
            run,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancel the application and wait for its task to end.

        :raises Exception: the application's exception, if it failed, the
            block is not raising, and no method has raised that exception yet.
        """
        task_group, run = self._task_group, self._run
        if task_group is None or run is None:
            raise RuntimeError("this communicator is not in an async with block")
        self._task_group = None
        self._closed = True
        run.cancel_scope.cancel()
        if isinstance(exc, anyio.get_cancelled_exc_class()) and not isinstance(
            exc, ApplicationCancelled
        ):
            await task_group.__aexit__(exc_type, exc, tb)
        else:
            # Otherwise the task group would wrap the block's exception in an
            # exception group (or take an ApplicationCancelled for its own
            # cancellation); it only has to wait for the application here.
            await task_group.__aexit__(None, None, None)
        if exc is None and not run.reported and not self._ignore_failure:
            self._raise_failure(run)

    def _started(self) -> ApplicationRun:
        """The running application, started as an asyncio task if need be."""
        if self._closed:
            raise RuntimeError("this communicator's async with block has ended")
        if self._run is not None:
            return self._run
        if sniffio.current_async_library() != "asyncio":
            raise RuntimeError(_TRIO_NEEDS_ASYNC_WITH)
        run = self._run = ApplicationRun(anyio.CancelScope())
        # The asyncio loop, reached without importing asyncio (see _backends).
        loop: Any = anyio.lowlevel.current_token().native_token
        self._loop = loop
        coroutine = _run_application(
            self.application, self.scope, self.input_queue, self.output_queue, run
        )
        # The task takes a copy of the current context: make it an empty one.
        task = contextvars.Context().run(loop.create_task, coroutine)
        # asyncio keeps only weak references to tasks: hold this one until it
        # ends, so that it runs on even if the communicator is dropped.
        _asyncio_tasks.add(task)
        task.add_done_callback(_asyncio_tasks.discard)
        return run

    def __del__(self) -> None:
        run, loop = getattr(self, "_run", None), getattr(self, "_loop", None)
        if run is None or run.finished or loop is None:
            return
        # RuntimeError: the loop is closed, and the task is gone with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(run.cancel_scope.cancel)

    @property
    def future(self) -> ApplicationFuture:
        """The application's run, as asgiref's ``future`` attribute.

        See :class:`ApplicationFuture`; it is the same object at every read.
        As in asgiref, reading it starts the application if nothing has yet
        (outside ``async with``, on asyncio).  It stays readable after the
        ``async with`` block.

        :raises RuntimeError: on trio outside ``async with``.
        """
        run = self._run if self._run is not None else self._started()
        return run.future

    @property
    def _future(self) -> ApplicationFuture | None:
        """asgiref's private attribute: :attr:`future` once the application
        has started, else ``None``; reading it starts nothing."""
        return None if self._run is None else self._run.future

    # -- exchanging messages -----------------------------------------------------

    async def send_input(self, message: Mapping[str, Any]) -> None:
        """Queue *message* for the application's ``receive``.

        :param message: an ASGI message (a dictionary with a ``type`` key).
        :raises Exception: the application's exception, if it has failed.
        :raises ApplicationCancelled: if the application was cancelled.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        run.raise_outcome()
        await self.input_queue.put(message)

    async def receive_output(self, timeout: float | None = 1) -> Message:
        """Return the next message the application sent, waiting for it.

        Messages sent before the application failed are returned first; after
        them, the application's exception is raised.

        :param timeout: seconds to wait, or ``None`` to wait without limit.
        :returns: the message, as the application sent it.
        :raises TimeoutError: if no message came within *timeout*.  The
            application is then cancelled, and this waits for it to end; the
            next calls raise :class:`ApplicationCancelled`.
        :raises Exception: the application's exception, if it failed (also
            when it fails while being cancelled after the timeout).
        :raises ApplicationCancelled: if the application was cancelled (after
            the messages it sent before).
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        try:
            with _timeout(timeout):
                while True:
                    if not self.output_queue.empty():
                        return self.output_queue.get_nowait()
                    run.raise_outcome()
                    await self.output_queue._wait()
        except TimeoutError:
            await self._cancel_and_wait(run)
            self._raise_failure(run)
            raise

    async def receive_nothing(
        self, timeout: float = 0.1, interval: float = 0.01
    ) -> bool:
        """Check that the application sends nothing within *timeout* seconds.

        Returns as soon as a message is waiting, and at once when the
        application has already finished.  Waiting messages stay queued for
        :meth:`receive_output`.

        :param timeout: seconds to watch for a message.
        :param interval: accepted for compatibility with asgiref, which polls
            every *interval* seconds; this implementation is woken by the
            message itself, so the value is not used.
        :returns: ``True`` if no message is waiting, ``False`` otherwise.
        :raises Exception: the application's exception, if it has failed
            (before or during the wait).
        :raises ApplicationCancelled: if the application was cancelled before
            the call.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        run.raise_outcome()
        if self.output_queue.empty() and not run.finished:
            with anyio.move_on_after(timeout):
                await self.output_queue._wait()
        else:
            await anyio.lowlevel.checkpoint()
        self._raise_failure(run)
        return self.output_queue.empty()

    async def wait(self, timeout: float | None = 1) -> None:
        """Wait for the application to return.

        An application that ended because it was cancelled (by :meth:`stop`
        or after a timeout) counts as returned.

        :param timeout: seconds to wait, or ``None`` to wait without limit.
        :raises TimeoutError: if the application is still running after
            *timeout*.  It is then cancelled, and this waits for it to end.
        :raises Exception: the application's exception, if it failed.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        try:
            with _timeout(timeout):
                await run.wait()
        except TimeoutError:
            await self._cancel_and_wait(run)
            self._raise_failure(run)
            raise
        self._raise_failure(run)

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it is running; do nothing before it started.

        Cancellation is requested, not awaited: the application ends at its
        next checkpoint.  Use :meth:`wait` (or leave the ``async with`` block)
        to wait for it.

        :param exceptions: if the application has already failed, raise its
            exception (or :class:`ApplicationCancelled` if it was cancelled).
            ``False`` also stops the ``async with`` block from raising an
            exception no method has raised.
        :raises Exception: the application's exception, if it has already
            failed and *exceptions* is true.
        :raises ApplicationCancelled: if it was cancelled and *exceptions* is
            true.
        """
        run = self._run
        if not exceptions:
            self._ignore_failure = True
        if run is None:
            return
        if not run.finished:
            run.cancel_scope.cancel()
        elif exceptions:
            run.raise_outcome()

    # -- internals -----------------------------------------------------------------

    @staticmethod
    def _raise_failure(run: ApplicationRun) -> None:
        if run.exception is not None:
            run.reported = True
            raise run.exception

    @staticmethod
    async def _cancel_and_wait(run: ApplicationRun) -> None:
        run.cancel_scope.cancel()
        await run.wait()

    async def _next_message(self) -> Message:
        """The next message; used by :func:`http_request`.

        Unlike :meth:`receive_output`, this does not wait for a message from
        an application that has returned.
        """
        run = self._started()
        while True:
            if not self.output_queue.empty():
                return self.output_queue.get_nowait()
            self._raise_failure(run)
            if run.finished:
                raise RuntimeError(
                    "the application returned without completing the response"
                )
            await self.output_queue._wait()


# -- scopes ------------------------------------------------------------------------

HeadersArg = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
"""Headers for a scope: a mapping of names to values, or ``(name, value)``
pairs (``str`` or ``bytes``, so that a name can repeat)."""

_PATH_SAFE = "/%:@!$&'()*+,;=~"


def _encode_headers(headers: HeadersArg) -> list[tuple[bytes, bytes]]:
    pairs: Iterable[tuple[str | bytes, str | bytes]]
    if isinstance(headers, Mapping):
        pairs = cast("Mapping[str, str]", headers).items()
    else:
        pairs = headers
    encoded = []
    for name, value in pairs:
        raw_name = name if isinstance(name, bytes) else name.encode("latin-1")
        raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
        encoded.append((raw_name.lower(), raw_value))
    return encoded


def _split_target(path: str, query_string: bytes | str) -> tuple[str, bytes, bytes]:
    """``(path, raw_path, query_string)`` for a request target."""
    if "?" in path:
        if query_string:
            raise ValueError("give the query string in path or query_string, not both")
        path, query_string = path.split("?", 1)
    if isinstance(query_string, str):
        query_string = query_string.encode("latin-1")
    raw_path = quote(path, safe=_PATH_SAFE).encode("ascii")
    return unquote(path), raw_path, query_string


def _connection_scope(
    kind: str,
    path: str,
    query_string: bytes | str,
    headers: HeadersArg,
    scheme: str,
    http_version: str,
    root_path: str,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    extensions: dict[str, dict[object, object]] | None,
) -> dict[str, Any]:
    """The keys HTTP and WebSocket scopes share."""
    decoded, raw_path, query = _split_target(path, query_string)
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "scheme": scheme,
        "path": decoded,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root_path,
        "headers": _encode_headers(headers),
        "client": client,
        "server": server,
        "extensions": extensions,
    }


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query_string: bytes | str = b"",
    headers: HeadersArg = (),
    scheme: str = "http",
    http_version: str = "1.1",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    extensions: dict[str, dict[object, object]] | None = None,
) -> HTTPScope:
    """Build the scope of an HTTP request.

    :param method: the request method; upper-cased.
    :param path: the request path, percent-encoded or not, optionally followed
        by ``?`` and the query string.  The scope's ``path`` is decoded and its
        ``raw_path`` encoded.
    :param query_string: the query string, without ``?``.
    :param headers: request headers; names are lower-cased, ``str`` is
        encoded as latin-1.  Nothing is added.
    :param scheme: ``"http"`` or ``"https"``.
    :param http_version: ``"1.0"``, ``"1.1"`` or ``"2"``.
    :param root_path: the mount point of the application.
    :param client: the client's ``(host, port)``, or ``None``.
    :param server: the server's ``(host, port)``, or ``None``.
    :param extensions: the ``extensions`` entry, if any.
    :returns: a new scope (ASGI 3.0, spec version 2.3).
    :raises ValueError: if *path* contains a query string and *query_string*
        is given too.
    """
    scope = _connection_scope(
        "http",
        path,
        query_string,
        headers,
        scheme,
        http_version,
        root_path,
        client,
        server,
        extensions,
    )
    scope["method"] = method.upper()
    return cast("HTTPScope", scope)


def websocket_scope(
    path: str = "/",
    *,
    query_string: bytes | str = b"",
    headers: HeadersArg = (),
    subprotocols: Iterable[str] = (),
    scheme: str = "ws",
    http_version: str = "1.1",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    extensions: dict[str, dict[object, object]] | None = None,
) -> WebSocketScope:
    """Build the scope of a WebSocket connection.

    The parameters are those of :func:`http_scope`, without *method*, plus:

    :param subprotocols: the subprotocols the client offers, in order.
    :param scheme: ``"ws"`` or ``"wss"``.
    :returns: a new scope (ASGI 3.0, spec version 2.3).
    :raises ValueError: if *path* contains a query string and *query_string*
        is given too.
    """
    scope = _connection_scope(
        "websocket",
        path,
        query_string,
        headers,
        scheme,
        http_version,
        root_path,
        client,
        server,
        extensions,
    )
    scope["subprotocols"] = list(subprotocols)
    return cast("WebSocketScope", scope)


def lifespan_scope(state: dict[str, Any] | None = None) -> LifespanScope:
    """Build the scope of the lifespan connection.

    :param state: the ``state`` dictionary the server shares with requests;
        left out of the scope when ``None``.
    :returns: a new scope (ASGI 3.0, spec version 2.0).
    """
    scope: LifespanScope = {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
    }
    if state is not None:
        scope["state"] = state
    return scope


# -- one-call HTTP requests ------------------------------------------------------------


class HttpResponse(NamedTuple):
    """What :func:`http_request` returns; unpacks as ``status, headers, body``."""

    #: The status code of ``http.response.start``.
    status: int
    #: The response headers, as the application sent them.
    headers: list[tuple[bytes, bytes]]
    #: The body: every ``http.response.body`` chunk, joined.
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called *name* (any case), or ``None``.

        :param name: a header name.
        :returns: the value decoded as latin-1, or ``None`` if there is none.
        """
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


_IGNORED_RESPONSE_MESSAGES = frozenset(
    {"http.response.debug", "http.response.trailers"}
)


async def http_request(
    application: Callable[..., Any],
    method: str = "GET",
    path: str = "/",
    *,
    headers: HeadersArg = (),
    body: bytes = b"",
    scheme: str = "http",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    timeout: float | None = 10,
) -> HttpResponse:
    """Make one HTTP request to an ASGI application and return its response.

    The scope comes from :func:`http_scope`.  Headers get a ``host`` header
    (from *server*) and, with a body, a ``content-length`` header, unless
    *headers* has them.  The body is sent in one ``http.request`` message.
    Once the response is complete, the application's next ``receive``
    returns ``http.disconnect``, and this waits for the application to
    return, so that errors it raises after responding are not lost.
    ``http.response.debug`` and ``http.response.trailers`` messages are
    skipped.

    For a WSGI application, pass ``WsgiToAsgi(wsgi_app)`` (see
    :mod:`anyio_bridge.wsgi`).

    :param application: an ASGI 3 or ASGI 2 application.
    :param method: the request method.
    :param path: the path, optionally with ``?`` and a query string.
    :param headers: request headers, see :func:`http_scope`.
    :param body: the request body.
    :param scheme: ``"http"`` or ``"https"``.
    :param root_path: the mount point of the application.
    :param client: the client's ``(host, port)``, or ``None``.
    :param server: the server's ``(host, port)``, or ``None``.
    :param timeout: seconds the whole exchange may take, or ``None``.
    :returns: the status, headers and body of the response.
    :raises TimeoutError: if the exchange took longer than *timeout*.
    :raises Exception: what the application raised.
    :raises RuntimeError: if the application returned before completing
        the response, or sent a message out of order or of an unexpected type.
    """
    request_headers = _encode_headers(headers)
    names = {name for name, _ in request_headers}
    if b"host" not in names and server is not None:
        host, port = server
        value = host if port in (None, 80, 443) else f"{host}:{port}"
        request_headers.insert(0, (b"host", value.encode("latin-1")))
    if body and not names & {b"content-length", b"transfer-encoding"}:
        request_headers.append((b"content-length", str(len(body)).encode("ascii")))
    scope = http_scope(
        method,
        path,
        headers=request_headers,
        scheme=scheme,
        root_path=root_path,
        client=client,
        server=server,
    )
    with _timeout(timeout):
        async with ApplicationCommunicator(application, scope) as communicator:
            await communicator.send_input(
                {"type": "http.request", "body": body, "more_body": False}
            )
            response = await _read_response(communicator)
            await communicator.send_input({"type": "http.disconnect"})
            await communicator.wait(timeout=None)
    return response


async def _read_response(communicator: ApplicationCommunicator) -> HttpResponse:
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    while True:
        message = await communicator._next_message()
        kind = message.get("type")
        if kind == "http.response.start" and status is None:
            status = int(message["status"])
            response_headers = [
                (bytes(name), bytes(value))
                for name, value in message.get("headers", ())
            ]
        elif kind == "http.response.body" and status is not None:
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                return HttpResponse(status, response_headers, b"".join(chunks))
        elif kind not in _IGNORED_RESPONSE_MESSAGES:
            raise RuntimeError(f"unexpected message from the application: {message!r}")
