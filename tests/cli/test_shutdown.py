"""The shutdown gate (``_cli.shutdown``): requests cut by a shutdown get
``503`` when nothing was sent, on both backends, whoever cuts them.

Over loopback, through ``serve``: tests/cli/test_serve.py.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import anyio
import pytest

from anyio_bridge._cli.shutdown import UNAVAILABLE, ShutdownGate

pytestmark = pytest.mark.anyio

SCOPE = {"type": "http", "http_version": "1.1", "method": "GET", "path": "/"}
HTTP2 = {**SCOPE, "http_version": "2"}


class Sent(list[MutableMapping[str, Any]]):
    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        self.append(message)


def unavailable(close: bool = True) -> list[dict[str, Any]]:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(UNAVAILABLE)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    return [
        {"type": "http.response.start", "status": 503, "headers": headers},
        {"type": "http.response.body", "body": UNAVAILABLE, "more_body": False},
    ]


async def receive() -> dict[str, Any]:
    return {"type": "http.request"}  # pragma: no cover - never called


class Application:
    """Waits until cancelled, after sending the response start if *start*."""

    def __init__(self, start: bool = False) -> None:
        self.start = start
        self.entered = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        self.entered.set()
        await anyio.sleep_forever()


@pytest.mark.parametrize("scope", [SCOPE, HTTP2], ids=["http/1.1", "http/2"])
async def test_drained_requests_get_503(scope: dict[str, Any]) -> None:
    application = Application()
    gate = ShutdownGate(application)
    sent = Sent()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gate, scope, receive, sent)
        await application.entered.wait()
        assert gate.drain() == 1
    assert sent == unavailable(close=scope is SCOPE)
    # Later requests get it at once (on a connection kept alive).
    later = Sent()
    await gate(scope, receive, later)
    assert later == unavailable(close=scope is SCOPE)


async def test_drained_responses_that_had_started_end_there() -> None:
    application = Application(start=True)
    gate = ShutdownGate(application)
    sent = Sent()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gate, SCOPE, receive, sent)
        await application.entered.wait()
        assert gate.drain() == 1
    assert [message["status"] for message in sent] == [200]


async def test_requests_cancelled_by_the_server_get_503() -> None:
    """As hypercorn's own graceful timeout does in the worker processes."""
    application = Application()
    gate = ShutdownGate(application)
    sent = Sent()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gate, SCOPE, receive, sent)
        await application.entered.wait()
        tasks.cancel_scope.cancel()
    assert sent == unavailable()
    assert gate.drain() == 0  # it is gone


async def test_started_responses_cancelled_by_the_server_end_there() -> None:
    application = Application(start=True)
    gate = ShutdownGate(application)
    sent = Sent()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gate, SCOPE, receive, sent)
        await application.entered.wait()
        tasks.cancel_scope.cancel()
    assert [message["status"] for message in sent] == [200]


async def test_the_cancellation_goes_on_when_the_503_cannot_be_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    application = Application()
    gate = ShutdownGate(application)

    async def broken_send(message: MutableMapping[str, Any]) -> None:
        raise OSError("connection gone")

    caplog.set_level(logging.DEBUG, logger="anyio_bridge.serve")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gate, SCOPE, receive, broken_send)
        await application.entered.wait()
        tasks.cancel_scope.cancel()
    assert "could not answer 503 to a cancelled request" in caplog.text


async def test_finished_requests_are_forgotten() -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    gate = ShutdownGate(application)
    sent = Sent()
    await gate(SCOPE, receive, sent)
    assert [message["type"] for message in sent] == [
        "http.response.start",
        "http.response.body",
    ]
    assert gate.drain() == 0


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    gate = ShutdownGate(application)
    gate.drain()
    await gate({"type": "lifespan"}, receive, Sent())
    assert seen == ["lifespan"]
