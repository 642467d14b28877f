"""The WSGI side of a request: waiting for the response and handing it over.

The WSGI call returns once the application has sent ``http.response.start``
and the task has either sent a body message in the same step or yielded to
the loop.  What it returns depends on what it has by then:

* the whole response (the common case): a one-item list, no iterator;
* a file (``http.response.pathsend``): the server's ``wsgi.file_wrapper``
  when it offers one, else an iterable reading the file in chunks;
* otherwise a :class:`ResponseIterator` yielding body chunks as the
  application sends them.

A failure before anything reached the server is answered ``500``, one that
happens mid-body raises from the iterable, so the server drops the
connection.  Servers send headers with the first body bytes, so a ``500``
can still replace a response whose start was handed over without a body.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from .exchange import Exchange, logger

__all__ = ["FileIterator", "ResponseIterator", "plain_response", "respond"]

StartResponse = Callable[..., Any]


def plain_response(
    start_response: StartResponse, status: str, exc_info: Any = None
) -> list[bytes]:
    """A short ``text/plain`` response whose body is the status line."""
    body = status.encode("latin-1")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if exc_info is None:
        start_response(status, headers)
    else:
        start_response(status, headers, exc_info)
    return [body]


def _exc_info(reason: str) -> Any:
    try:
        raise RuntimeError(f"ASGI application failed: {reason}")
    except RuntimeError:
        return sys.exc_info()


def respond(
    exchange: Exchange, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """Wait for the response of *exchange* and hand it to the WSGI server."""
    settings = exchange.runtime.settings
    timeout = settings.response_timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        ready = exchange.pump(exchange.response_ready, deadline)
    except BaseException:
        exchange.finish(early=True)
        raise
    if not ready:
        exchange.finish(early=True)
        exchange.cancel_now()
        logger.error(
            "no response within response_timeout=%ss (%s %s): answering 504",
            timeout,
            exchange.scope["method"],
            exchange.scope["path"],
        )
        return plain_response(start_response, "504 Gateway Timeout")
    with exchange.lock:
        error = exchange.error
        data = exchange.take_chunks() if exchange.chunks else b""
        complete, path = exchange.complete, exchange.file
        status, headers = exchange.status, exchange.headers
    if error is not None or status is None:
        exchange.finish(early=True)
        return plain_response(start_response, "500 Internal Server Error")
    if complete:
        exchange.finish(early=False)
        if path is not None:
            return _file_response(
                path, environ, start_response, status, headers, settings.chunk_size
            )
        start_response(status, headers)
        return [data] if data else []
    iterator = ResponseIterator(exchange, start_response, data)
    try:
        start_response(status, headers)
    except BaseException:
        exchange.finish(early=True)
        raise
    return iterator


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except OSError as exc:
        logger.error("http.response.pathsend: cannot open %r: %s", path, exc)
        return None


def _file_response(
    path: str,
    environ: dict[str, Any],
    start_response: StartResponse,
    status: str,
    headers: list[tuple[str, str]],
    chunk_size: int,
) -> Iterable[bytes]:
    file = _open(path)
    if file is None:
        return plain_response(start_response, "500 Internal Server Error")
    try:
        start_response(status, headers)
    except BaseException:
        file.close()
        raise
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(file, chunk_size)  # type: ignore[no-any-return]
    return FileIterator(file, chunk_size)


class FileIterator:
    """A file in chunks, for servers without ``wsgi.file_wrapper``."""

    __slots__ = ("_file", "_size")

    def __init__(self, file: BinaryIO, chunk_size: int) -> None:
        self._file = file
        self._size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self._file.read(self._size)
        if not data:
            raise StopIteration
        return data

    def close(self) -> None:
        self._file.close()


class ResponseIterator:
    """The response body, chunk by chunk, as the application sends it."""

    __slots__ = ("_done", "_exchange", "_file", "_first", "_sent", "_start_response")

    def __init__(
        self, exchange: Exchange, start_response: StartResponse, first: bytes
    ) -> None:
        self._exchange = exchange
        self._start_response = start_response
        self._first = first
        self._sent = False
        self._done = False
        self._file: FileIterator | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            self._sent = True
            return data
        if self._file is not None:
            return next(self._file)
        if self._done:
            raise StopIteration
        exchange = self._exchange
        exchange.pump(exchange.chunk_ready)
        with exchange.lock:
            error = exchange.error
            data = exchange.take_chunks() if exchange.chunks else b""
            path = exchange.file
        if data:
            self._sent = True
            return data
        if error is not None:
            return self._failed(error)
        self._done = True
        exchange.finish(early=False)
        if path is not None:
            return self._send_file(path)
        raise StopIteration

    def _send_file(self, path: str) -> bytes:
        file = _open(path)
        if file is None:
            return self._failed("its pathsend file could not be opened")
        self._file = FileIterator(file, self._exchange.runtime.settings.chunk_size)
        return next(self._file)

    def _failed(self, reason: str) -> bytes:
        self._done = True
        self._exchange.finish(early=True)
        if not self._sent:
            # Nothing reached the client yet: replace the response (the
            # server raises here if it sent the headers after all).
            self._sent = True
            return plain_response(
                self._start_response, "500 Internal Server Error", _exc_info(reason)
            )[0]
        raise RuntimeError(
            f"ASGI application failed mid-response ({reason}); see its logged error"
        )

    def close(self) -> None:
        """Called by the server: early, the client is gone."""
        if self._file is not None:
            self._file.close()
        self._exchange.finish(early=not self._done)
