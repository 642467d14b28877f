"""The access log: one line per request, in the combined log format.

That is the common log format with the referrer and user agent after it,
the default of gunicorn's and hypercorn's access logs::

    127.0.0.1 - - [10/Oct/2025:13:55:36 +0200] "GET /?q=1 HTTP/1.1" 200 26 "-" "curl/8"

:class:`AccessLog` is an ASGI layer, outside the rest of the application,
so that the client is the one ``--proxy-headers`` found, the size is the
bytes of the body actually sent (``-`` for none, as in the common log
format), and the ``503`` of a shutdown is logged too.  The lines go at
``INFO`` to the logger :func:`open_access_log` makes, which writes them to
standard output or a file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final, TextIO

from .errors import ServeError
from .options import ACCESS_LOG_OFF

__all__ = ["LOGGER_NAME", "AccessLog", "close_access_log", "open_access_log"]

LOGGER_NAME: Final = "anyio_bridge.access"

_Scope = MutableMapping[str, Any]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, Callable[[], Awaitable[Any]], _Send], Awaitable[None]]

#: Bytes written as ``\xhh`` in the log, and ``"`` and ``\`` escaped.
_ESCAPES: Final = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0x100))},
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def open_access_log(
    target: str, log_level: str, stream: TextIO
) -> logging.Logger | None:
    """A logger writing the access log to *target*: ``-`` for *stream*, or a
    file; give it to :func:`close_access_log` at the end.

    None when there is no access log: ``--access-log off``, or a log level
    above ``info``.  The logger is not registered with :mod:`logging`, so
    that each server (each worker process) has its own, closed with it.

    :raises ServeError: the file cannot be opened.
    """
    level = logging.getLevelName(log_level.upper())
    if target == ACCESS_LOG_OFF or level > logging.INFO:
        return None
    handler: logging.Handler
    if target == "-":
        handler = logging.StreamHandler(stream)
    else:
        try:
            handler = logging.FileHandler(target, encoding="utf-8")
        except OSError as exc:
            raise ServeError(
                f"cannot open the access log {target!r}: {exc.strerror}; give "
                "a file that can be written, - for standard output, or off"
            ) from None
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger(LOGGER_NAME, logging.INFO)
    logger.addHandler(handler)
    return logger


def close_access_log(logger: logging.Logger) -> None:
    """Close the handler of a logger of :func:`open_access_log`."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _text(value: bytes) -> str:
    """*value* for the log: printable, quotes and backslashes escaped."""
    text = value.decode("latin-1")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_ESCAPES)


def _request_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str]:
    referer = agent = "-"
    for name, value in headers:
        if name == b"referer":
            referer = _text(value)
        elif name == b"user-agent":
            agent = _text(value)
    return referer, agent


class _Clock:
    """The log's local time, ``10/Oct/2025:13:55:36 +0200``, made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, when: float) -> str:
        second = int(when)
        if second != self._second:
            self._text = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
            self._second = second
        return self._text


class AccessLog:
    """An ASGI layer that logs a line for each HTTP request after its response."""

    def __init__(self, app: _ASGIApp, logger: logging.Logger) -> None:
        self.app = app
        self._logger = logger
        self._clock = _Clock()

    async def __call__(
        self, scope: _Scope, receive: Callable[[], Awaitable[Any]], send: _Send
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        when = time.time()
        status = "-"
        size = 0
        start_headers: Iterable[tuple[bytes, bytes]] = ()

        async def logged_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, size, start_headers
            kind = message["type"]
            if kind == "http.response.start":
                status = str(message["status"])
                start_headers = message.get("headers", ())
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            elif kind == "http.response.pathsend":
                # The file's size is what the layer that sends it declared.
                size += _content_length(start_headers)
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except Exception:
            if status == "-":
                status = "500"  # what the server answers
            raise
        finally:
            self._log(scope, when, status, size)

    def _log(self, scope: _Scope, when: float, status: str, size: int) -> None:
        client = scope.get("client")
        host = _text(str(client[0]).encode("latin-1", "replace")) if client else "-"
        target: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        referer, agent = _request_headers(scope["headers"])
        self._logger.info(
            '%s - - [%s] "%s %s HTTP/%s" %s %s "%s" "%s"',
            host,
            self._clock(when),
            _text(scope["method"].encode("latin-1", "replace")),
            _text(target),
            scope.get("http_version", "1.1"),
            status,
            size or "-",
            referer,
            agent,
        )


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0
