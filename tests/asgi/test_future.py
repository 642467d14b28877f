"""ApplicationCommunicator.future: asgiref's task-shaped view of the run, its
done callbacks (anyio_bridge._asgi.future, through the public communicator)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anyio_bridge.testing import (
    ApplicationCancelled,
    ApplicationCommunicator,
    ApplicationFuture,
)

from .apps import SCOPE, Failing, Receive, Recorder, Send, echo_app, variable

pytestmark = pytest.mark.anyio

# -- future: asgiref's attribute, on both backends ---------------------------


async def test_future_of_an_application_that_returns() -> None:
    async def answer(scope: Any, receive: Receive, send: Send) -> str:
        await receive()
        return "the answer"

    async with ApplicationCommunicator(answer, SCOPE) as communicator:
        future = communicator.future
        assert not future.done()
        with pytest.raises(RuntimeError, match="still running"):
            future.result()
        with pytest.raises(RuntimeError, match="still running"):
            future.exception()
        await communicator.send_input({"type": "go"})
        assert await future == "the answer"
        assert future.done()
        assert not future.cancelled()
        assert future.exception() is None
        assert not future.cancel()  # already ended
    assert communicator.future.result() == "the answer"  # readable afterwards


async def test_future_cancel() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.started.wait()
        future = communicator.future
        assert future is communicator.future
        assert future.cancel()
        # As with an asyncio task: the cancellation is raised from the future.
        with pytest.raises(ApplicationCancelled, match="the application was"):
            await future
        assert future.done()
        assert future.cancelled()
        with pytest.raises(asyncio.CancelledError):
            future.result()
        with pytest.raises(asyncio.CancelledError):
            future.exception()
        assert not future.cancel()
        assert repr(future) == "<ApplicationFuture cancelled>"
    assert app.outcome == "cancelled"


async def test_future_cancel_with_a_message() -> None:
    async with ApplicationCommunicator(Recorder(), SCOPE) as communicator:
        assert communicator.future.cancel("enough")
        with pytest.raises(ApplicationCancelled) as info:
            await communicator.future
        assert info.value.args == ("enough",)


async def test_future_of_a_running_application() -> None:
    async with ApplicationCommunicator(Recorder(), SCOPE) as communicator:
        future = communicator.future
        assert isinstance(future, ApplicationFuture)
        assert repr(future) == "<ApplicationFuture running>"
        assert not future.cancelled()
        # asyncio's error for a task that has not ended, and ours.
        with pytest.raises(asyncio.InvalidStateError):
            future.result()
        with pytest.raises(RuntimeError):
            future.exception()
        await communicator.send_input({"type": "go"})
        assert await future is None
        assert repr(future) == "<ApplicationFuture returned None>"


async def test_private_future_attribute_starts_nothing() -> None:
    communicator = ApplicationCommunicator(echo_app, SCOPE)
    assert communicator._future is None  # asgiref's: None until started
    async with communicator:
        assert communicator._future is communicator.future


# -- done callbacks -------------------------------------------------------------


async def test_done_callbacks() -> None:
    app = Recorder()
    calls: list[tuple[str, object]] = []
    called = anyio.Event()

    def record(name: str) -> Any:
        def callback(future: ApplicationFuture) -> None:
            calls.append((name, variable.get("unset")))
            if len(calls) == 2:
                called.set()

        return callback

    unwanted = record("removed")
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        future = communicator.future
        variable.set("at add time")
        future.add_done_callback(record("first"))
        future.add_done_callback(unwanted)
        future.add_done_callback(unwanted)
        other = contextvars.Context()
        other.run(variable.set, "given context")
        future.add_done_callback(record("second"), context=other)
        variable.set("later")
        assert future.remove_done_callback(unwanted) == 2
        assert future.remove_done_callback(unwanted) == 0
        await communicator.send_input({"type": "go"})
        await future
        with anyio.fail_after(30):
            await called.wait()
    assert calls == [("first", "at add time"), ("second", "given context")]


async def test_done_callback_added_after_the_end() -> None:
    called = anyio.Event()
    seen: list[ApplicationFuture] = []

    def callback(future: ApplicationFuture) -> None:
        seen.append(future)
        called.set()

    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "stop"})
        await communicator.wait()
        communicator.future.add_done_callback(callback)
        assert not seen  # scheduled, as asyncio does, not called at once
        with anyio.fail_after(30):
            await called.wait()
    assert seen == [communicator.future]


async def test_failing_done_callback_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    called = anyio.Event()

    def failing(future: ApplicationFuture) -> None:
        called.set()
        raise KeyError("in the callback")

    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        communicator.future.add_done_callback(failing)
        await communicator.send_input({"type": "stop"})
        with anyio.fail_after(30):
            await called.wait()
        await communicator.wait()
        # The event loop goes on (on trio an error there would end the run).
        await anyio.lowlevel.checkpoint()
    [record] = [r for r in caplog.records if r.name == "anyio_bridge"]
    assert record.levelno == logging.ERROR
    assert "Exception in done callback" in record.getMessage()
    assert isinstance(record.exc_info and record.exc_info[1], KeyError)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_done_callback_added_after_the_loop_ended(backend: str) -> None:
    async def run() -> ApplicationFuture:
        async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
            await communicator.send_input({"type": "stop"})
            await communicator.wait()
        return communicator.future

    future = anyio.run(run, backend=backend)
    seen: list[ApplicationFuture] = []
    future.add_done_callback(seen.append)  # no loop to schedule it on: now
    assert seen == [future]


async def test_future_of_a_failed_application() -> None:
    async with ApplicationCommunicator(Failing(), SCOPE) as communicator:
        with pytest.raises(ValueError, match="boom"):
            await communicator.future
        error = communicator.future.exception()
        assert isinstance(error, ValueError)
        assert repr(communicator.future) == (
            "<ApplicationFuture failed with ValueError('boom')>"
        )
    # Raised through the future: leaving the block does not raise it again.
