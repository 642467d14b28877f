"""ApplicationCommunicator used as asgiref's (without ``async with``, asyncio
only), and Channels' communicators that subclass it."""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anyio_bridge.testing
from anyio_bridge.testing import ApplicationCommunicator

from .apps import SCOPE, Failing, Receive, Recorder, Send, echo_app, variable

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------
# Without async with
# --------------------------------------------------------------------------

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@asyncio_only
async def test_asgiref_style_round_trip() -> None:
    variable.set("from the test")
    communicator = ApplicationCommunicator(echo_app, SCOPE)
    await communicator.send_input({"type": "ping"})
    message = await communicator.receive_output()
    assert message["message"] == {"type": "ping"}
    assert message["var"] == ""
    await communicator.send_input({"type": "stop"})
    await communicator.wait()


@asyncio_only
async def test_asgiref_style_timeout_cancels() -> None:
    app = Recorder()
    communicator = ApplicationCommunicator(app, SCOPE)
    with pytest.raises(TimeoutError):
        await communicator.receive_output(timeout=0.05)
    assert app.outcome == "cancelled"


@asyncio_only  # asyncio's own functions
async def test_asyncio_functions_take_the_future_as_an_awaitable() -> None:
    async def answer(scope: Any, receive: Receive, send: Send) -> str:
        await receive()
        return "the answer"

    async with ApplicationCommunicator(answer, SCOPE) as communicator:
        future = communicator.future
        assert not asyncio.isfuture(future)
        await communicator.send_input({"type": "go"})
        done, _ = await asyncio.wait([future])
        assert [task.result() for task in done] == ["the answer"]
        assert await asyncio.gather(future) == ["the answer"]


@asyncio_only
async def test_asgiref_style_calls_after_a_timeout_raise_the_cancellation() -> None:
    communicator = ApplicationCommunicator(Recorder(), SCOPE)
    with pytest.raises(TimeoutError):
        await communicator.receive_output(timeout=0.05)
    with pytest.raises(asyncio.CancelledError):
        await communicator.send_input({"type": "ping"})
    await communicator.wait()


@asyncio_only
async def test_asgiref_style_exception() -> None:
    communicator = ApplicationCommunicator(Failing(), SCOPE)
    with pytest.raises(ValueError, match="boom"):
        await communicator.wait()
    with pytest.raises(ValueError, match="boom"):
        communicator.stop()


@asyncio_only
async def test_asgiref_style_stop() -> None:
    app = Recorder()
    communicator = ApplicationCommunicator(app, SCOPE)
    assert await communicator.receive_nothing(timeout=0)
    await app.started.wait()
    communicator.stop()
    await app.ended.wait()
    assert app.outcome == "cancelled"


@asyncio_only
async def test_asgiref_style_then_async_with_is_refused() -> None:
    communicator = ApplicationCommunicator(echo_app, SCOPE)
    await communicator.send_input({"type": "stop"})
    await communicator.wait()
    with pytest.raises(RuntimeError, match="already started"):
        await communicator.__aenter__()


@asyncio_only
async def test_dropping_a_communicator_cancels_its_application() -> None:
    app = Recorder()
    communicator = ApplicationCommunicator(app, SCOPE)
    assert await communicator.receive_nothing(timeout=0)
    await app.started.wait()
    del communicator
    gc.collect()
    with anyio.fail_after(30):
        await app.ended.wait()
    assert app.outcome == "cancelled"


@asyncio_only
async def test_asgiref_style_future_starts_the_application() -> None:
    app = Recorder()
    communicator = ApplicationCommunicator(app, SCOPE)
    future = communicator.future  # as in asgiref, this starts it
    await app.started.wait()
    assert not future.done()
    await communicator.send_input({"type": "go"})
    assert await future is None
    assert app.outcome == "returned"


def test_dropping_a_communicator_after_its_loop_closed() -> None:
    async def start() -> ApplicationCommunicator:
        communicator = ApplicationCommunicator(echo_app, SCOPE)
        communicator._started()  # a task that never gets to run
        return communicator

    communicator = anyio.run(start)
    del communicator
    gc.collect()  # __del__ must not fail (unraisable errors fail the test)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_without_async_with_asks_for_it() -> None:
    communicator = ApplicationCommunicator(echo_app, SCOPE)
    for call in (
        lambda: communicator.send_input({"type": "ping"}),
        communicator.receive_output,
        communicator.receive_nothing,
        communicator.wait,
    ):
        with pytest.raises(RuntimeError, match="async with"):
            await call()
    with pytest.raises(RuntimeError, match="async with"):
        communicator.future  # noqa: B018 - reading it would start the application
    communicator.stop()  # never started: nothing to stop


# --------------------------------------------------------------------------
# Channels' communicators, subclassing this one
# --------------------------------------------------------------------------


@pytest.fixture
def channels_testing() -> Iterator[ModuleType]:
    """``channels.testing``, imported with this module as ``asgiref.testing``.

    So its communicators subclass ours, as they will with the asgiref alias.
    Every module involved is put back afterwards.
    """
    pytest.importorskip("channels")
    import channels

    def ours(name: str) -> bool:
        return name == "channels.testing" or name.startswith("channels.testing.")

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    saved_asgiref = sys.modules.get("asgiref.testing")
    saved_attribute = channels.__dict__.get("testing")
    for name in saved:
        del sys.modules[name]
    sys.modules["asgiref.testing"] = anyio_bridge.testing
    try:
        module = importlib.import_module("channels.testing")
        assert issubclass(module.WebsocketCommunicator, ApplicationCommunicator)
        yield module
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
        if saved_asgiref is None:  # pragma: no cover - asgiref is installed
            del sys.modules["asgiref.testing"]
        else:
            sys.modules["asgiref.testing"] = saved_asgiref
        if saved_attribute is None:  # pragma: no cover - depends on test order
            del channels.__dict__["testing"]
        else:  # pragma: no cover - depends on test order
            channels.__dict__["testing"] = saved_attribute


async def websocket_app(scope: Any, receive: Receive, send: Send) -> None:
    """Accepts, echoes "echo" frames, ignores the others."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "echo":
            await send({"type": "websocket.send", "text": "echo"})


async def test_channels_websocket_communicator(channels_testing: ModuleType) -> None:
    async with channels_testing.WebsocketCommunicator(
        websocket_app, "/ws/"
    ) as communicator:
        assert await communicator.connect() == (True, None)
        await communicator.send_to(text_data="echo")
        assert await communicator.receive_from() == "echo"
        await communicator.disconnect()


async def test_channels_disconnect_after_a_timeout(
    channels_testing: ModuleType,
) -> None:
    """Channels' ``disconnect()`` is ``send_input()`` then ``wait()``: after a
    timeout, ``send_input`` raises the cancellation, as with asgiref."""
    async with channels_testing.WebsocketCommunicator(
        websocket_app, "/ws/"
    ) as communicator:
        assert await communicator.connect() == (True, None)
        await communicator.send_to(text_data="ignored")
        with pytest.raises(TimeoutError):
            await communicator.receive_from(timeout=0.05)
        with pytest.raises(asyncio.CancelledError):
            await communicator.disconnect()


@asyncio_only  # without async with, as Channels' own tests do: asyncio only
async def test_channels_asgiref_style_disconnect_after_a_timeout(
    channels_testing: ModuleType,
) -> None:
    communicator = channels_testing.WebsocketCommunicator(websocket_app, "/ws/")
    assert await communicator.connect() == (True, None)
    with pytest.raises(TimeoutError):
        await communicator.receive_from(timeout=0.05)
    with pytest.raises(asyncio.CancelledError):
        await communicator.disconnect()
