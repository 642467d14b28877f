"""Checking the application's response messages and turning them into WSGI's.

An invalid message raises :class:`ValueError` or :class:`TypeError` out of
the application's ``send()``: the application sees its mistake where it made
it, and the adapter answers ``500`` if nothing reached the server yet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Final

__all__ = ["HOP_BY_HOP", "body_of", "path_of", "status_and_headers"]

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]")
#: Headers PEP 3333 leaves to the server (``wsgiref`` refuses them outright).
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
_PHRASES: Final = {
    status.value: f"{status.value} {status.phrase}" for status in HTTPStatus
}


def status_and_headers(message: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The WSGI status line and header list of ``http.response.start``.

    :raises TypeError: the status is not an int, or a header name or value is
        not bytes.
    :raises ValueError: the status is outside 100-599, a header is not a
        pair, a name is not an HTTP token, or a value holds CR, LF or NUL.

    Hop-by-hop headers (``Connection``, ``Transfer-Encoding``...) are dropped:
    under WSGI the server owns the connection and the framing.
    """
    status = message.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"http.response.start 'status' must be an int, not {status!r}")
    if not 100 <= status <= 599:
        raise ValueError(f"http.response.start 'status' {status} is not in 100-599")
    headers: list[tuple[str, str]] = []
    raw: Iterable[Any] = message.get("headers", ())
    for header in raw:
        try:
            name, value = header
        except (TypeError, ValueError):
            raise ValueError(
                f"response header {header!r} is not a (name, value) pair"
            ) from None
        if not isinstance(name, (bytes, bytearray)) or not isinstance(
            value, (bytes, bytearray)
        ):
            raise TypeError(f"response header {header!r} must be a pair of bytes")
        if not _TOKEN.match(name):
            raise ValueError(f"invalid response header name {bytes(name)!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(
                f"response header {bytes(name)!r} has a value with CR, LF or NUL"
            )
        if bytes(name).lower() in HOP_BY_HOP:  # bytearray is not hashable
            continue
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    line = _PHRASES.get(status) or f"{status} Unknown"
    return line, headers


def body_of(message: dict[str, Any]) -> tuple[bytes, bool]:
    """``body`` and ``more_body`` of ``http.response.body``.

    :raises TypeError: ``body`` is not bytes-like.
    """
    body = message.get("body", b"")
    if type(body) is not bytes:
        if not isinstance(body, (bytearray, memoryview)):
            raise TypeError(
                f"http.response.body 'body' must be bytes, not {type(body).__name__}"
            )
        body = bytes(body)
    return body, bool(message.get("more_body", False))


def path_of(message: dict[str, Any]) -> str:
    """The file of ``http.response.pathsend``.

    :raises TypeError: ``path`` is not a string.
    :raises ValueError: ``path`` is not absolute.
    """
    path = message.get("path")
    if not isinstance(path, str):
        raise TypeError(f"http.response.pathsend 'path' must be a str, not {path!r}")
    if not os.path.isabs(path):
        raise ValueError(f"http.response.pathsend 'path' must be absolute: {path!r}")
    return path
