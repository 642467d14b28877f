"""Drive :class:`~anyio_bridge.wsgi.AsgiToWsgi` in-process, as a WSGI server would.

* :func:`make_environ` builds a PEP 3333 environ (``wsgiref.util``'s testing
  defaults under the test's own keys);
* :func:`start` calls the adapter through :func:`wsgiref.validate.validator`
  and returns a :class:`Call`: the status and headers it was given, and its
  iterable to read chunk by chunk; :func:`request` reads it all;
* the iterable is always closed (``with`` / :meth:`Call.close`), as servers do;
* :class:`Input` is a ``wsgi.input`` that records its reads (and can return
  short reads or fail);
* :class:`Gate` lets the test thread release an ASGI application waiting on
  the adapter's loop; :class:`Reached` lets it wait until the application
  sits at a given await; :func:`log_signal` until the adapter logged;
* :func:`serve` closes the adapter after the test.

No sleeps: every wait is on an event, bounded by :data:`WAIT` only so that a
broken adapter fails instead of hanging.
"""

from __future__ import annotations

import io
import logging
import threading
import wsgiref.util
import wsgiref.validate
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from anyio_bridge.wsgi import AsgiToWsgi

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType]

#: Seconds a test waits for something that happens at once, so that a broken
#: adapter fails the test instead of hanging it.  Not a timing threshold.
WAIT = 10.0
BACKENDS = ("asyncio", "trio")
TEXT = [(b"content-type", b"text/plain")]


def make_environ(
    method: str = "GET",
    path: str = "/",
    *,
    body: bytes | None = None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A PEP 3333 environ; *body* sets ``wsgi.input`` and ``CONTENT_LENGTH``.

    *headers* are HTTP header names (``"X-Thing"``) and native-string values;
    *extra* keys go in as they are, before the testing defaults.
    """
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
    }
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra)
    wsgiref.util.setup_testing_defaults(environ)
    return environ


class Input:
    """A ``wsgi.input`` that records the reads made of it.

    *max_read* caps what one ``read()`` returns (a server returning short
    reads); after *fail_after* bytes ``read()`` raises *error*; *on_read* is
    called (in the reading thread) after each read with the number of reads.
    """

    def __init__(
        self,
        data: bytes,
        *,
        max_read: int | None = None,
        fail_after: int | None = None,
        error: BaseException | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self._data = io.BytesIO(data)
        self._max_read = max_read
        self._fail_after = fail_after
        self._error = error or ConnectionResetError("the client is gone")
        self._on_read = on_read
        #: The size asked for by each read.
        self.sizes: list[int] = []
        self.threads: set[str] = set()

    @property
    def position(self) -> int:
        return self._data.tell()

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        self.threads.add(threading.current_thread().name)
        if self._fail_after is not None and self.position >= self._fail_after:
            raise self._error
        if self._max_read is not None and (size < 0 or size > self._max_read):
            size = self._max_read
        data = self._data.read(size)
        if self._on_read is not None:
            self._on_read(len(self.sizes))
        return data

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("the adapter reads with read()")

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("the adapter reads with read()")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("the adapter reads with read()")


class Call:
    """One WSGI call: what ``start_response`` got, and the response iterable.

    ``start_response`` behaves as PEP 3333 asks of a server: the headers count
    as sent with the first non-empty body chunk; a second call must carry
    ``exc_info`` and re-raises it once the headers are sent.
    """

    def __init__(
        self,
        adapter: Callable[..., Any],
        environ: dict[str, Any],
        *,
        validate: bool = True,
    ) -> None:
        self.environ = environ
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: ExcInfo | None = None
        self.headers_sent = False
        self.chunks: list[bytes] = []
        self.closed = False
        app = wsgiref.validate.validator(adapter) if validate else adapter
        self.iterable: Any = app(environ, self._start_response)
        self._iterator = iter(self.iterable)

    def _start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | tuple[None, None, None] | None = None,
        /,
    ) -> Callable[[bytes], object]:
        if self.status is not None:
            assert exc_info, "start_response called twice without exc_info"
            if self.headers_sent:
                assert exc_info[1] is not None
                raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, list(headers)
        self.exc_info = exc_info if exc_info and exc_info[0] is not None else None
        return self._write

    def _write(self, data: bytes) -> None:
        raise AssertionError("the adapter must not use write()")

    @property
    def original(self) -> Any:
        """The adapter's own return value (under the validator's wrapper)."""
        return getattr(self.iterable, "original_iterator", self.iterable)

    @property
    def code(self) -> int:
        assert self.status is not None, "start_response was not called"
        return int(self.status.split()[0])

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def next_chunk(self) -> bytes:
        """The next chunk; :class:`StopIteration` at the end."""
        data = next(self._iterator)
        if data:
            self.headers_sent = True
        self.chunks.append(data)
        return data

    def read(self) -> bytes:
        """Every chunk left, joined (those read before included)."""
        for data in self._iterator:
            if data:
                self.headers_sent = True
            self.chunks.append(data)
        return self.body

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            close = getattr(self.iterable, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Call:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(
    adapter: Callable[..., Any], environ: dict[str, Any], *, validate: bool = True
) -> Call:
    """Call *adapter*; the caller reads and closes the :class:`Call`.

    ``validate=False`` only for environs :mod:`wsgiref.validate` refuses
    (a test says why).
    """
    return Call(adapter, environ, validate=validate)


def request(
    adapter: Callable[..., Any], environ: dict[str, Any], *, validate: bool = True
) -> Call:
    """Call *adapter*, read the whole response, close the iterable."""
    with start(adapter, environ, validate=validate) as call:
        call.read()
    return call


@contextmanager
def serve(app: Callable[..., Any], **options: Any) -> Iterator[AsgiToWsgi]:
    """An adapter for *app*, closed (lifespan shutdown) after the block.

    ``lifespan`` defaults to ``"off"`` here: only the lifespan tests want it.
    """
    options.setdefault("lifespan", "off")
    adapter = AsgiToWsgi(app, **options)
    try:
        yield adapter
    finally:
        adapter.close()


class Gate:
    """Opened by a thread, waited for by a task on any anyio loop.

    Opening before the wait makes the wait return at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._waiters: list[tuple[anyio.Event, Any]] = []

    async def wait(self) -> None:
        with self._lock:
            if self._open:
                return
            event = anyio.Event()
            self._waiters.append((event, anyio.lowlevel.current_token()))
        await event.wait()

    def open(self) -> None:
        """Release the waiters (from any thread but their loop's)."""
        with self._lock:
            self._open = True
            waiters, self._waiters = self._waiters, []
        for event, token in waiters:
            anyio.from_thread.run_sync(event.set, token=token)

    @property
    def is_open(self) -> bool:
        return self._open


class _Signal(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("anyio_bridge."):
            self.event.set()


@contextmanager
def log_signal(level: int = logging.ERROR) -> Iterator[threading.Event]:
    """An event set when the adapter logs at *level* or above.

    For errors logged on the loop after the WSGI side got its response.  On
    the root logger, after pytest's ``caplog`` handler: the record is in
    ``caplog`` by the time the event is set.
    """
    handler = _Signal(level)
    logger = logging.getLogger()
    logger.addHandler(handler)
    try:
        yield handler.event
    finally:
        logger.removeHandler(handler)


class Reached:
    """A point an application reached on its loop, waited for by the test thread.

    :meth:`wait` returns once the application has set it *and* its loop has
    finished the step it set it in: the application then sits at the await
    that follows (a send() waiting on a full buffer, a parked receive()).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._token: Any = None

    def set(self) -> None:
        """Call on the loop, just before the await the test wants reached."""
        self._token = anyio.lowlevel.current_token()
        self._event.set()

    def wait(self) -> None:
        wait_for(self._event)
        anyio.from_thread.run_sync(_nothing, token=self._token)


def _nothing() -> None:
    pass


def wait_for(event: threading.Event) -> None:
    """Wait for *event*, set by the application on the loop."""
    assert event.wait(WAIT), "the event was never set"


async def text(send: Send, body: bytes = b"", status: int = 200) -> None:
    """A whole ``text/plain`` response."""
    await send({"type": "http.response.start", "status": status, "headers": TEXT})
    await send({"type": "http.response.body", "body": body})


async def lifespan_unsupported(scope: Scope) -> None:
    """Refuse a lifespan scope the way apps without lifespan support do."""
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope type {scope['type']}")
