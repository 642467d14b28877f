"""The one WSGI application every adapter serves, and its sizes and rates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

CHUNK_SIZE = 64 * 1024
CHUNK = b"x" * CHUNK_SIZE
HELLO_BODY = b"Hello, world!"
SLEEP_S = 0.020
HELLO_CONCURRENCY = 32
SLEEP_CONCURRENCY = 64
LOOPBACK_CONCURRENCY = 16

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


_TEXT = ("Content-Type", "text/plain")
_HELLO_HEADERS = [_TEXT, ("Content-Length", str(len(HELLO_BODY)))]


def _chunks(size: int) -> Iterator[bytes]:
    full, rest = divmod(size, CHUNK_SIZE)
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


def bench_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """The one WSGI application every adapter serves, dispatching on the path.

    ``/hello``: 13 bytes in a list; ``/sleep``: the same after blocking 20 ms;
    ``/download?N``: N bytes as a generator of 64 KiB chunks; ``/upload``:
    reads ``CONTENT_LENGTH`` bytes from ``wsgi.input`` in 64 KiB reads and
    answers how many it got.
    """
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO_BODY]
    if path == "/sleep":
        time.sleep(SLEEP_S)
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO_BODY]
    if path == "/download":
        size = int(environ["QUERY_STRING"])
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(size)),
            ],
        )
        return _chunks(size)
    if path == "/upload":
        stream = environ["wsgi.input"]
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
        total = 0
        while remaining > 0:
            data = stream.read(min(CHUNK_SIZE, remaining))
            if not data:
                break
            total += len(data)
            remaining -= len(data)
        body = str(total).encode()
        start_response("200 OK", [_TEXT, ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [_TEXT])
    return [b"not found"]
