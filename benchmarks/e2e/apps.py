"""The applications the servers import: Flask views and a raw ASGI hello.

Every server is a subprocess that imports this module by name
(``benchmarks.e2e.apps:ATTRIBUTE``, the repository root on ``PYTHONPATH``):

* ``app``: a Flask application, the WSGI app every WSGI server serves:

  - ``/hello``: ``Hello, world!`` (13 bytes), the view returns a string;
  - ``/sleep``: the same after ``time.sleep(0.02)`` (a view waiting on a
    database, say): it blocks its thread, so the server's thread count caps
    the rate at 64 / 20 ms = 3200 req/s;
  - ``/stream``: 1 MiB from a generator of 64 KiB chunks, no
    ``Content-Length`` (so HTTP/1.1 servers send it chunked).

* ``asgi_hello``: a plain ``async def`` answering ``Hello, world!`` to every
  request, with no framework: what an ASGI server does at best (its ceiling).
* ``bridged()``: a factory (``uvicorn --factory``) giving ``app`` wrapped in
  ``anyio_bridge.wsgi.WsgiToAsgi`` with 64 threads.

Flask is imported only if installed: without it ``app`` is missing (the WSGI
rows say "not installed (flask)") and ``asgi_hello`` still works.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

HELLO_BODY = b"Hello, world!"
SLEEP_S = 0.020
CHUNK_SIZE = 64 * 1024
STREAM_SIZE = 1024 * 1024
#: connections wrk keeps open, and the threads of every WSGI server
CONCURRENCY = 64
THREADS = 64

#: path -> (the body size every response must have, its exact body or None)
PATHS: dict[str, tuple[int, bytes | None]] = {
    "/hello": (len(HELLO_BODY), HELLO_BODY),
    "/sleep": (len(HELLO_BODY), HELLO_BODY),
    "/stream": (STREAM_SIZE, None),
}

_CHUNK = b"x" * CHUNK_SIZE


def _stream() -> Iterator[bytes]:
    for _ in range(STREAM_SIZE // CHUNK_SIZE):
        yield _CHUNK


def _flask_app() -> Any:
    from flask import Flask

    flask_app = Flask("bench_e2e")

    @flask_app.get("/hello")
    def hello() -> str:
        return "Hello, world!"

    @flask_app.get("/sleep")
    def sleep() -> str:
        time.sleep(SLEEP_S)
        return "Hello, world!"

    @flask_app.get("/stream")
    def stream() -> Any:
        return flask_app.response_class(_stream(), mimetype="application/octet-stream")

    return flask_app


try:
    import flask  # noqa: F401
except ImportError:  # the WSGI servers then fail to import `app`
    pass
else:
    app = _flask_app()


# ----------------------------------------------------------------- raw ASGI

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(HELLO_BODY)).encode()),
    ],
}
_BODY: Message = {"type": "http.response.body", "body": HELLO_BODY}


async def asgi_hello(scope: Scope, receive: Receive, send: Send) -> None:
    """``Hello, world!`` to every HTTP request; answers lifespan events."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(_START)
    await send(_BODY)


def bridged() -> Any:
    """``app`` in anyio_bridge's ``WsgiToAsgi``, 64 threads (for uvicorn)."""
    from anyio_bridge.wsgi import WsgiToAsgi

    return WsgiToAsgi(app, limiter=THREADS)
