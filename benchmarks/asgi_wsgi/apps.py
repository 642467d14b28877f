"""The ASGI application every adapter serves, and the sizes used.

A plain ``async def`` with no framework, dispatching on the path, so the
numbers are the adapters' and the server's, not a router's:

* ``/hello``: 13 bytes, ``Content-Length`` set, one body message;
* ``/sleep``: the same after ``await anyio.sleep(0.02)`` (asyncio or trio);
* ``/download?N``: N bytes in 64 KiB ``http.response.body`` messages;
* ``/upload``: reads the request body to its end and answers how many bytes
  it got (so the client checks the size).

It answers lifespan startup and shutdown, as most applications do (a2wsgi
never sends lifespan events; AsgiToWsgi's default ``lifespan="auto"`` does).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import anyio

CHUNK_SIZE = 64 * 1024
CHUNK = b"x" * CHUNK_SIZE
HELLO_BODY = b"Hello, world!"
SLEEP_S = 0.020
#: connections the load generator keeps open (and gunicorn's threads)
CONCURRENCY = 64

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_TEXT = (b"content-type", b"text/plain")
_HELLO_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [_TEXT, (b"content-length", str(len(HELLO_BODY)).encode())],
}
_HELLO_BODY: Message = {"type": "http.response.body", "body": HELLO_BODY}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _download(size: int, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(size).encode()),
            ],
        }
    )
    full, rest = divmod(size, CHUNK_SIZE)
    for _ in range(full):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": CHUNK[:rest]})


async def _upload(receive: Receive, send: Send) -> None:
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = str(total).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_TEXT, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def bench_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The one ASGI application every adapter serves (see the module doc)."""
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
        return
    if kind != "http":
        raise RuntimeError(f"unsupported scope type {kind!r}")
    path = scope["path"]
    if path == "/hello":
        await send(_HELLO_START)
        await send(_HELLO_BODY)
    elif path == "/sleep":
        await anyio.sleep(SLEEP_S)
        await send(_HELLO_START)
        await send(_HELLO_BODY)
    elif path == "/download":
        await _download(int(scope["query_string"] or 0), send)
    elif path == "/upload":
        await _upload(receive, send)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": [_TEXT]})
        await send({"type": "http.response.body", "body": b"not found"})


# ------------------------------------------------------------- the reference


def _wsgi_chunks(size: int) -> Iterator[bytes]:
    full, rest = divmod(size, CHUNK_SIZE)
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


_WSGI_HELLO = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO_BODY)))]


def reference_wsgi_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Any:
    """The same endpoints as a plain WSGI app: what gunicorn costs on its own.

    ``/sleep`` blocks its thread in ``time.sleep(0.02)`` (gunicorn has 64).
    """
    path = environ["PATH_INFO"]
    if path in ("/hello", "/sleep"):
        if path == "/sleep":
            time.sleep(SLEEP_S)
        start_response("200 OK", _WSGI_HELLO)
        return [HELLO_BODY]
    if path == "/download":
        size = int(environ["QUERY_STRING"] or 0)
        headers = [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(size)),
        ]
        start_response("200 OK", headers)
        return _wsgi_chunks(size)
    if path == "/upload":
        stream, total = environ["wsgi.input"], 0
        while data := stream.read(CHUNK_SIZE):
            total += len(data)
        body = str(total).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
        )
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
