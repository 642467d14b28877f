"""Threads and the limiter: queued requests, concurrency, the request's context."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import anyio
import anyio.from_thread
import pytest

# Private: see test_default_limiter_is_the_adapters_own.
from anyio_bridge._backends import current_loop

# Private: the read-ahead is an internal bound, not an option; the test needs
# a body larger than it.
from anyio_bridge._wsgi.body import READ_AHEAD
from anyio_bridge.sync import async_to_sync
from anyio_bridge.wsgi import WsgiToAsgi

from .apps import WAIT, Environ, StartResponse
from .driver import Message, Response, http_scope, request

pytestmark = pytest.mark.anyio


class _BusyThread:
    """An application whose request to ``/first`` holds its thread until
    :attr:`release` is set; every request answers with the body it read."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.paths: list[str] = []

    def app(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/first":
            self.entered.set()
            assert self.release.wait(WAIT)
        data = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [data]


async def test_queued_request_whose_client_left_never_runs() -> None:
    """With every thread busy, a request waits for one; if its client
    disconnects meanwhile, the application is never called for it."""
    busy = _BusyThread()
    limiter = anyio.CapacityLimiter(1)
    adapter = WsgiToAsgi(busy.app, limiter=limiter)
    watching = anyio.Event()
    client_left = anyio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def queued_receive() -> Message:
        if messages:
            return messages.pop()
        watching.set()  # asked again: the request is waiting for a thread
        await client_left.wait()
        return {"type": "http.disconnect"}

    first, queued = Response(), Response()
    queued_done = anyio.Event()

    async def queued_request() -> None:
        scope = http_scope(path="/queued")
        await request(adapter, scope, receive=queued_receive, response=queued)
        queued_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        tg.start_soon(queued_request)
        await watching.wait()
        assert limiter.statistics().tasks_waiting == 1
        client_left.set()
        # It returns while the only thread is still busy with the first.
        with anyio.fail_after(WAIT):
            await queued_done.wait()
        assert limiter.statistics().tasks_waiting == 0
        assert limiter.borrowed_tokens == 1
        busy.release.set()
    assert first.status == 200
    assert queued.messages == []
    assert busy.paths == ["/first"]
    assert limiter.borrowed_tokens == 0


@pytest.mark.parametrize(
    ("parts", "max_body_size", "status"),
    [
        ([b"ab", b"cd"], None, 200),
        # More than the read-ahead: the rest waits in the server meanwhile.
        ([b"x" * (64 * 1024)] * (READ_AHEAD // (64 * 1024) + 2), None, 200),
        # Over the limit, found while queued: the application is told.
        ([b"ab", b"cd"], 3, 413),
    ],
)
async def test_queued_request_with_a_streamed_body_runs_once_a_thread_frees(
    parts: list[bytes], max_body_size: int | None, status: int
) -> None:
    busy = _BusyThread()
    limiter = anyio.CapacityLimiter(1)
    adapter = WsgiToAsgi(busy.app, limiter=limiter, max_body_size=max_body_size)
    first, queued = Response(), Response()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        scope = http_scope("POST", path="/queued")
        tg.start_soon(lambda: request(adapter, scope, parts, response=queued))
        await anyio.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 1
        busy.release.set()
    assert first.status == 200
    assert queued.status == status
    if status == 200:
        assert queued.body == b"".join(parts)


async def test_queued_request_whose_client_left_mid_upload_never_runs() -> None:
    busy = _BusyThread()
    adapter = WsgiToAsgi(busy.app, limiter=1)
    messages = [
        {"type": "http.request", "body": b"first part", "more_body": True},
        {"type": "http.request", "body": b"second part", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    first, queued = Response(), Response()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        # Queued behind the first, it reads on and sees the client leave:
        # it returns while the only thread is still busy.
        with anyio.fail_after(WAIT):
            await request(
                adapter,
                http_scope("POST", path="/queued"),
                receive=receive,
                response=queued,
            )
        busy.release.set()
    assert not messages
    assert queued.messages == []
    assert busy.paths == ["/first"]


async def test_requests_run_concurrently_up_to_the_limiter() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    four_running = threading.Event()
    release = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 4:
                four_running.set()
        try:
            assert release.wait(WAIT)
        finally:
            with lock:
                running -= 1
        start_response("200 OK", [])
        return [b"ok"]

    limiter = anyio.CapacityLimiter(4)
    adapter = WsgiToAsgi(app, limiter=limiter)
    results: list[int] = []

    async def one() -> None:
        results.append((await request(adapter)).status)

    async with anyio.create_task_group() as tg:
        try:
            for _ in range(16):
                tg.start_soon(one)
            # Serialized requests would never get here: four must overlap.
            assert await anyio.to_thread.run_sync(four_running.wait, WAIT)
            await anyio.wait_all_tasks_blocked()
            # The twelve others wait for a token; none has a thread.
            assert limiter.statistics().tasks_waiting == 12
            assert running == 4
        finally:
            release.set()
    assert results == [200] * 16
    assert peak == 4


async def test_default_limiter_is_the_adapters_own() -> None:
    seen: list[float] = []
    anyio_default = anyio.to_thread.current_default_thread_limiter()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(anyio_default.borrowed_tokens)
        start_response("200 OK", [])
        return []

    adapter = WsgiToAsgi(app)
    await request(adapter)
    assert seen == [0]  # no token of anyio's default limiter
    # Private: the limiter the adapter makes for each event loop is not
    # exposed, and counting 64 threads at once to see its size would be slow.
    limiter = adapter._settings.limiter(current_loop())
    # 64: the documented default (WsgiToAsgi's ``limiter``).
    assert (limiter.total_tokens, limiter.borrowed_tokens) == (64, 0)


async def test_requests_calling_to_thread_through_the_loop_cannot_starve_it() -> None:
    """Requests that hold every token of anyio's default limiter would deadlock
    here: each waits, through the loop, for a to_thread call needing a token."""
    anyio_default = anyio.to_thread.current_default_thread_limiter()
    saved = anyio_default.total_tokens
    anyio_default.total_tokens = 2
    barrier = threading.Barrier(3)

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        barrier.wait(10)  # all three requests are running
        value = anyio.from_thread.run(anyio.to_thread.run_sync, lambda: b"ok")
        start_response("200 OK", [])
        return [value]

    adapter = WsgiToAsgi(app)
    bodies: list[bytes] = []

    async def one() -> None:
        bodies.append((await request(adapter)).body)

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
    finally:
        anyio_default.total_tokens = saved
    assert bodies == [b"ok"] * 3


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


async def test_app_sees_the_request_context_and_can_call_the_loop() -> None:
    seen: list[Any] = []

    async def on_loop(value: int) -> int:
        await anyio.sleep(0)
        return value * 2

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(request_id.get())
        seen.append(anyio.from_thread.run(on_loop, 21))
        seen.append(async_to_sync(on_loop)(4))
        start_response("200 OK", [])
        return []

    request_id.set("abc")
    await request(WsgiToAsgi(app))
    assert seen == ["abc", 42, 8]
