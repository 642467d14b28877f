"""Driving an ASGI app in-process: one request, and requests against the clock.

No server and no sockets: ``receive`` hands out the request body in 64 KiB
``http.request`` messages and then blocks, as a server's does until the
client leaves; ``send`` counts the body bytes and keeps the first few to
check the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from .app import CHUNK, CHUNK_SIZE, ASGIApp, Scope


def _scope(
    method: str, path: str, query: bytes = b"", size: int | None = None
) -> Scope:
    headers = [(b"host", b"bench.local"), (b"user-agent", b"bench_wsgi")]
    if size is not None:
        headers += [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(size).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


HELLO_SCOPE = _scope("GET", "/hello")
SLEEP_SCOPE = _scope("GET", "/sleep")


@dataclass
class Response:
    status: int = 0
    size: int = 0
    head: bytes = b""


async def exchange(app: ASGIApp, scope: Scope, upload: int = 0) -> Response:
    """One request through *app*: *upload* body bytes in, the response counted.

    ``receive`` hands out the body in 64 KiB messages, then blocks as a
    server's does until the client leaves; ``send`` counts body bytes and
    keeps the first few.
    """
    response = Response()
    remaining = upload
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal remaining, first
        if first or remaining:
            first = False
            size = min(remaining, CHUNK_SIZE)
            remaining -= size
            body = CHUNK if size == CHUNK_SIZE else CHUNK[:size]
            return {"type": "http.request", "body": body, "more_body": remaining > 0}
        await anyio.sleep_forever()
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            response.status = message["status"]
        elif kind == "http.response.body":
            body = message.get("body", b"")
            response.size += len(body)
            if len(response.head) < 64:
                response.head += bytes(body[:64])

    await app(dict(scope), receive, send)
    return response


def _check(
    response: Response, body: bytes | None = None, size: int | None = None
) -> None:
    if response.status != 200:
        raise RuntimeError(f"status {response.status}, expected 200")
    if body is not None and response.head != body:
        raise RuntimeError(f"body {response.head[:40]!r}, expected {body[:40]!r}")
    if size is not None and response.size != size:
        raise RuntimeError(f"got {response.size} body bytes, expected {size}")


async def hello_like(app: ASGIApp, scope: Scope) -> None:
    response = await exchange(app, scope)
    if response.status != 200:
        raise RuntimeError(f"status {response.status}, expected 200")


async def throughput(
    call: Callable[[], Any], concurrency: int, duration: float
) -> float:
    """Requests per second with *concurrency* requests in flight at all times.

    One untimed batch of *concurrency* requests warms up first (thread pools
    grow to size).  Requests that finish after the window are not counted;
    the ones still in flight are awaited (drained) before returning.
    """
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(call)
    clock = time.perf_counter
    count = 0
    start = clock()
    deadline = start + duration

    async def worker() -> None:
        nonlocal count
        while clock() < deadline:
            await call()
            if clock() <= deadline:
                count += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return count / duration


async def download(app: ASGIApp, size: int) -> float:
    scope = _scope("GET", "/download", str(size).encode())
    start = time.perf_counter()
    response = await exchange(app, scope)
    elapsed = time.perf_counter() - start
    _check(response, size=size)
    return elapsed


async def upload(app: ASGIApp, size: int) -> float:
    scope = _scope("POST", "/upload", size=size)
    start = time.perf_counter()
    response = await exchange(app, scope, upload=size)
    elapsed = time.perf_counter() - start
    _check(response, body=str(size).encode())
    return elapsed
