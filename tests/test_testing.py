"""Tests for anyio_bridge.testing."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import importlib
import logging
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anyio_bridge.testing
from anyio_bridge.testing import (
    ApplicationCancelled,
    ApplicationCommunicator,
    ApplicationFuture,
    HttpResponse,
    http_request,
    http_scope,
    lifespan_scope,
    websocket_scope,
)
from anyio_bridge.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    Scope,
)
from anyio_bridge.wsgi import WsgiToAsgi

Receive = Any
Send = Any

SCOPE = {"type": "test"}
variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")


# --------------------------------------------------------------------------
# Sample applications
# --------------------------------------------------------------------------


async def echo_app(scope: Any, receive: Receive, send: Send) -> None:
    """Sends back every message, with the context variable's value."""
    while True:
        message = await receive()
        if message["type"] == "stop":
            return
        await send({"type": "echo", "message": message, "var": variable.get("")})


class Recorder:
    """An application that records how it ended."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.ended = anyio.Event()
        self.outcome = ""

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        self.started.set()
        try:
            await receive()
            self.outcome = "returned"
        except anyio.get_cancelled_exc_class():
            self.outcome = "cancelled"
            raise
        finally:
            self.ended.set()


class Failing:
    """Raises ValueError when started, after sending *sent* messages."""

    def __init__(self, sent: Iterable[dict[str, Any]] = ()) -> None:
        self.sent = list(sent)
        self.failed = anyio.Event()

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        for message in self.sent:
            await send(message)
        self.failed.set()
        raise ValueError("boom")


class LegacyApp:
    """ASGI 2 (double-callable): answers every message with its scope type."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})


# --------------------------------------------------------------------------
# ApplicationCommunicator with async with (both backends)
# --------------------------------------------------------------------------

pytestmark = pytest.mark.anyio


async def test_round_trip() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "ping", "n": 1})
        await communicator.send_input({"type": "ping", "n": 2})
        first = await communicator.receive_output()
        second = await communicator.receive_output()
        assert await communicator.receive_nothing()
    assert first["message"] == {"type": "ping", "n": 1}
    assert second["message"] == {"type": "ping", "n": 2}
    assert communicator.scope is SCOPE


async def test_application_starts_in_an_empty_context() -> None:
    variable.set("from the test")
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "ping"})
        assert (await communicator.receive_output())["var"] == ""


async def test_double_callable_application() -> None:
    async with ApplicationCommunicator(LegacyApp, lifespan_scope()) as communicator:
        await communicator.send_input({"type": "lifespan.startup"})
        assert await communicator.receive_output() == {
            "type": "lifespan.startup.complete"
        }
        await communicator.wait()


async def test_leaving_the_block_cancels_the_application() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE):
        await app.started.wait()
    assert app.outcome == "cancelled"
    assert app.ended.is_set()


async def test_wait_for_an_application_that_returns() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await communicator.send_input({"type": "go"})
        await communicator.wait()
        assert app.outcome == "returned"
        assert "finished" in repr(communicator)


async def test_wait_timeout_cancels_the_application() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        with pytest.raises(TimeoutError):
            await communicator.wait(timeout=0.05)
        assert app.outcome == "cancelled"
        assert app.ended.is_set()
        await communicator.wait()  # a cancelled application counts as returned


async def test_receive_output_timeout_cancels_the_application() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        with pytest.raises(TimeoutError):
            await communicator.receive_output(timeout=0.05)
        assert app.outcome == "cancelled"


async def test_receive_output_times_out_after_the_application_returned() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await communicator.send_input({"type": "go"})
        await communicator.wait()
        with pytest.raises(TimeoutError):
            await communicator.receive_output(timeout=0.05)
    assert app.outcome == "returned"


async def test_receive_output_without_timeout_waits_for_the_message() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "ping"})
        message = await communicator.receive_output(timeout=None)
    assert message["type"] == "echo"


async def test_error_while_cancelled_after_timeout_is_raised() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        with pytest.raises(ValueError, match="cleanup failed") as info:
            await communicator.receive_output(timeout=0.05)
        assert isinstance(info.value.__context__, TimeoutError)
        with pytest.raises(ValueError, match="cleanup failed"):
            await communicator.wait(timeout=0.05)


async def test_wait_timeout_then_error_while_cancelled_is_raised() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        with pytest.raises(ValueError, match="cleanup failed"):
            await communicator.wait(timeout=0.05)


# -- the application's exception ----------------------------------------------


async def test_exception_surfaces_from_send_input() -> None:
    app = Failing()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.failed.wait()
        with pytest.raises(ValueError, match="boom"):
            await communicator.send_input({"type": "ping"})
        # ...and again from every later call.
        with pytest.raises(ValueError, match="boom"):
            await communicator.send_input({"type": "ping"})
        with pytest.raises(ValueError, match="boom"):
            await communicator.wait()
        with pytest.raises(ValueError, match="boom"):
            communicator.stop()
        assert "failed with ValueError('boom')" in repr(communicator)


async def test_exception_surfaces_from_receive_output() -> None:
    app = Failing()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.failed.wait()
        with pytest.raises(ValueError, match="boom"):
            await communicator.receive_output()


async def test_exception_raised_while_receive_output_waits() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        raise ValueError("boom")

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await communicator.send_input({"type": "go"})
        with anyio.fail_after(30), pytest.raises(ValueError, match="boom"):
            await communicator.receive_output(timeout=60)


async def test_messages_sent_before_failing_come_first() -> None:
    app = Failing(sent=[{"type": "one"}, {"type": "two"}])
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.failed.wait()
        assert (await communicator.receive_output())["type"] == "one"
        assert (await communicator.receive_output())["type"] == "two"
        with pytest.raises(ValueError, match="boom"):
            await communicator.receive_output()


async def test_exception_surfaces_from_receive_nothing() -> None:
    app = Failing()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.failed.wait()
        with pytest.raises(ValueError, match="boom"):
            await communicator.receive_nothing()


async def test_exception_raised_while_receive_nothing_waits() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        raise ValueError("boom")

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await communicator.send_input({"type": "go"})
        with anyio.fail_after(30), pytest.raises(ValueError, match="boom"):
            await communicator.receive_nothing(timeout=60)


async def test_exception_surfaces_from_wait() -> None:
    async with ApplicationCommunicator(Failing(), SCOPE) as communicator:
        with pytest.raises(ValueError, match="boom"):
            await communicator.wait()


async def test_unreported_exception_is_raised_when_leaving() -> None:
    app = Failing()
    with pytest.raises(ValueError, match="boom"):
        async with ApplicationCommunicator(app, SCOPE):
            await app.failed.wait()


async def test_reported_exception_is_not_raised_again_when_leaving() -> None:
    async with ApplicationCommunicator(Failing(), SCOPE) as communicator:
        with pytest.raises(ValueError, match="boom"):
            await communicator.wait()


async def test_block_exception_is_not_masked_by_the_application_one() -> None:
    app = Failing()

    async def block() -> None:
        async with ApplicationCommunicator(app, SCOPE):
            await app.failed.wait()
            raise KeyError("from the block")

    with pytest.raises(KeyError):
        await block()


async def test_stop_without_exceptions_silences_the_failure() -> None:
    app = Failing()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.failed.wait()
        communicator.stop(exceptions=False)


# -- receive_nothing -----------------------------------------------------------


async def test_receive_nothing_with_a_waiting_message() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "ping"})
        # The message arrives during the wait; it is not consumed.
        with anyio.fail_after(30):
            assert not await communicator.receive_nothing(timeout=60)
        assert not await communicator.receive_nothing()
        assert (await communicator.receive_output())["type"] == "echo"
        assert await communicator.receive_nothing(timeout=0.01)


async def test_receive_nothing_returns_at_once_after_the_application_returned() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        await communicator.send_input({"type": "stop"})
        await communicator.wait()
        with anyio.fail_after(30):
            assert await communicator.receive_nothing(timeout=60)


# -- stop -----------------------------------------------------------------------


async def test_stop_cancels_a_running_application() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.started.wait()
        assert "running" in repr(communicator)
        communicator.stop()
        await communicator.wait()
        assert app.outcome == "cancelled"


async def test_stop_after_a_clean_return_does_nothing() -> None:
    async def answer(scope: Any, receive: Receive, send: Send) -> str:
        await receive()
        return "the answer"

    async with ApplicationCommunicator(answer, SCOPE) as communicator:
        await communicator.send_input({"type": "go"})
        await communicator.wait()
        communicator.stop()
        # The application's outcome stands: returned, not cancelled.
        assert communicator.future.result() == "the answer"
        assert not communicator.future.cancelled()
        assert repr(communicator.future) == "<ApplicationFuture returned 'the answer'>"
        await communicator.send_input({"type": "ping"})  # no cancellation to raise
    assert communicator.future.result() == "the answer"


async def test_stop_before_start_does_nothing() -> None:
    communicator = ApplicationCommunicator(echo_app, SCOPE)
    communicator.stop()
    assert repr(communicator) == "<ApplicationCommunicator not started>"


# -- misuse ---------------------------------------------------------------------


async def test_methods_after_the_block_are_refused() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        pass
    with pytest.raises(RuntimeError, match="has ended"):
        await communicator.send_input({"type": "ping"})
    with pytest.raises(RuntimeError, match="has ended"):
        await communicator.receive_output()
    with pytest.raises(RuntimeError, match="already started"):
        await communicator.__aenter__()


async def test_entering_twice_is_refused() -> None:
    async with ApplicationCommunicator(echo_app, SCOPE) as communicator:
        with pytest.raises(RuntimeError, match="already started"):
            await communicator.__aenter__()


async def test_exit_without_enter_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not in an async with block"):
        await ApplicationCommunicator(echo_app, SCOPE).__aexit__(None, None, None)


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


# -- after a cancellation, the next call raises it (as asgiref's do) -------------


async def test_calls_after_a_receive_output_timeout_raise_the_cancellation() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        with pytest.raises(TimeoutError):
            await communicator.receive_output(timeout=0.05)
        assert app.outcome == "cancelled"
        with pytest.raises(ApplicationCancelled):
            await communicator.send_input({"type": "ping"})
        # The class is asyncio's, on every backend: asgiref users catch it.
        with pytest.raises(asyncio.CancelledError):
            await communicator.receive_output()
        with pytest.raises(ApplicationCancelled):
            await communicator.receive_nothing()
        with pytest.raises(ApplicationCancelled):
            communicator.stop()
        communicator.stop(exceptions=False)
        await communicator.wait()  # wait() reports no cancellation
        assert "finished" in repr(communicator)
    # ...and neither does leaving the block.


async def test_calls_after_a_wait_timeout_raise_the_cancellation() -> None:
    async with ApplicationCommunicator(Recorder(), SCOPE) as communicator:
        with pytest.raises(TimeoutError):
            await communicator.wait(timeout=0.05)
        with pytest.raises(ApplicationCancelled):
            await communicator.send_input({"type": "ping"})


async def test_calls_after_stop_raise_the_cancellation() -> None:
    app = Recorder()
    async with ApplicationCommunicator(app, SCOPE) as communicator:
        await app.started.wait()
        communicator.stop()
        # Requested, not yet delivered: the application is still running.
        await communicator.send_input({"type": "ignored"})
        await communicator.wait()
        with pytest.raises(ApplicationCancelled):
            await communicator.send_input({"type": "ping"})


async def test_messages_sent_before_the_cancellation_come_first() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await send({"type": "goodbye"})

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        communicator.future.cancel()
        await communicator.wait()
        assert (await communicator.receive_output())["type"] == "goodbye"
        with pytest.raises(ApplicationCancelled):
            await communicator.receive_output()


async def test_an_application_that_swallows_its_cancellation_returned() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> str:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return "swallowed"
        raise AssertionError("not reached")  # pragma: no cover

    async with ApplicationCommunicator(app, SCOPE) as communicator:
        communicator.stop()
        assert await communicator.future == "swallowed"
        assert not communicator.future.cancelled()
        await communicator.send_input({"type": "ping"})  # nothing to raise


async def test_an_uncaught_cancellation_leaves_the_block_as_it_is() -> None:
    """Not taken by the task group for a cancellation of its own."""

    async def block() -> None:
        async with ApplicationCommunicator(Recorder(), SCOPE) as communicator:
            with pytest.raises(TimeoutError):
                await communicator.receive_output(timeout=0.05)
            await communicator.send_input({"type": "ping"})

    with pytest.raises(ApplicationCancelled):
        await block()
    await anyio.lowlevel.checkpoint()  # this task is not being cancelled


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


# --------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------


def test_http_scope_defaults() -> None:
    assert http_scope() == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": None,
    }


def test_http_scope_target_and_headers() -> None:
    scope = http_scope(
        "post",
        "/caf%C3%A9/a b?x=1&y=%20",
        headers=[("X-Name", "v"), (b"X-Raw", b"\xff"), ("x-name", "w")],
        scheme="https",
        root_path="/mount",
        client=None,
        server=None,
        extensions={"http.response.trailers": {}},
    )
    assert scope["method"] == "POST"
    assert scope["path"] == "/café/a b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["headers"] == [
        (b"x-name", b"v"),
        (b"x-raw", b"\xff"),
        (b"x-name", b"w"),
    ]
    assert scope["scheme"] == "https"
    assert scope["root_path"] == "/mount"
    assert scope["client"] is None
    assert scope["server"] is None
    assert scope["extensions"] == {"http.response.trailers": {}}


def test_http_scope_unicode_path_and_mapping_headers() -> None:
    scope = http_scope(
        path="/café", query_string="q=é", headers={"Content-Type": "text/plain"}
    )
    assert scope["path"] == "/café"
    assert scope["raw_path"] == b"/caf%C3%A9"
    assert scope["query_string"] == "q=é".encode("latin-1")
    assert scope["headers"] == [(b"content-type", b"text/plain")]


def test_http_scope_refuses_two_query_strings() -> None:
    with pytest.raises(ValueError, match="not both"):
        http_scope(path="/?a=1", query_string=b"b=2")


def test_websocket_scope() -> None:
    scope = websocket_scope("/chat?room=1", subprotocols=["v2", "v1"])
    assert scope["type"] == "websocket"
    assert scope["path"] == "/chat"
    assert scope["query_string"] == b"room=1"
    assert scope["subprotocols"] == ["v2", "v1"]
    assert scope["scheme"] == "ws"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert "method" not in scope


def test_lifespan_scope() -> None:
    assert lifespan_scope() == {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
    }
    state: dict[str, Any] = {}
    assert lifespan_scope(state)["state"] is state


# --------------------------------------------------------------------------
# http_request
# --------------------------------------------------------------------------


class HttpApp:
    """Echoes the request; records the scope, the body and what came next."""

    def __init__(self) -> None:
        self.scope: Any = None
        self.after_response: Any = None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        self.scope = scope
        request = await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
            }
        )
        await send({"type": "http.response.body", "body": b"got ", "more_body": True})
        await send({"type": "http.response.body", "body": request["body"]})
        self.after_response = await receive()


async def test_http_request() -> None:
    app = HttpApp()
    response = await http_request(app, "POST", "/items?x=1", body=b"payload")
    assert response == HttpResponse(
        201, [(b"content-type", b"text/plain"), (b"x-a", b"1")], b"got payload"
    )
    status, headers, body = response
    assert (status, headers[0], body) == (
        201,
        (b"content-type", b"text/plain"),
        b"got payload",
    )
    assert response.header("Content-Type") == "text/plain"
    assert response.header("missing") is None
    assert app.scope["method"] == "POST"
    assert app.scope["path"] == "/items"
    assert app.scope["query_string"] == b"x=1"
    assert app.scope["headers"] == [
        (b"host", b"testserver"),
        (b"content-length", b"7"),
    ]
    assert app.after_response == {"type": "http.disconnect"}


async def test_http_request_keeps_given_headers() -> None:
    app = HttpApp()
    await http_request(
        app,
        headers={"Host": "example.com", "Transfer-Encoding": "chunked"},
        body=b"x",
    )
    assert app.scope["headers"] == [
        (b"host", b"example.com"),
        (b"transfer-encoding", b"chunked"),
    ]


@pytest.mark.parametrize(
    ("server", "host"),
    [
        (("example.com", 8000), [(b"host", b"example.com:8000")]),
        (("example.com", 443), [(b"host", b"example.com")]),
        (("example.com", None), [(b"host", b"example.com")]),
        (None, []),
    ],
)
async def test_http_request_host_header(
    server: tuple[str, int | None] | None, host: list[tuple[bytes, bytes]]
) -> None:
    app = HttpApp()
    await http_request(app, server=server, scheme="https", root_path="/r")
    assert app.scope["headers"] == host
    assert app.scope["server"] == server
    assert app.scope["scheme"] == "https"
    assert app.scope["root_path"] == "/r"


async def test_http_request_to_a_double_callable_application() -> None:
    class Legacy:
        def __init__(self, scope: Scope) -> None:
            pass

        async def __call__(self, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body"})

    assert await http_request(Legacy) == (204, [], b"")


async def test_http_request_skips_debug_and_trailers() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.debug", "info": {}})
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"ok"})
        await send({"type": "http.response.trailers", "headers": []})

    assert await http_request(app) == (200, [], b"ok")


async def test_http_request_raises_the_application_error() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await http_request(app)


async def test_http_request_raises_an_error_after_the_response() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})
        raise ValueError("after the response")

    with pytest.raises(ValueError, match="after the response"):
        await http_request(app)


async def test_http_request_application_returning_early() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})

    with pytest.raises(RuntimeError, match="without completing the response"):
        await http_request(app)


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [{"type": "http.response.start", "status": 200}] * 2,
        [{"type": "websocket.send", "text": "x"}],
    ],
    ids=["body-first", "two-starts", "unknown"],
)
async def test_http_request_unexpected_messages(messages: list[dict[str, Any]]) -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)
        await anyio.sleep_forever()

    with pytest.raises(RuntimeError, match="unexpected message"):
        await http_request(app)


async def test_http_request_timeout_cancels_the_application() -> None:
    ended = anyio.Event()

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await anyio.sleep_forever()
        finally:
            ended.set()

    with pytest.raises(TimeoutError):
        await http_request(app, timeout=0.05)
    assert ended.is_set()


async def test_http_request_to_a_wsgi_application() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [
            environ["REQUEST_METHOD"].encode(),
            b" ",
            environ["HTTP_HOST"].encode(),
            b" ",
            body,
        ]

    response = await http_request(WsgiToAsgi(wsgi_app), "PUT", "/", body=b"data")
    assert response.status == 200
    assert response.header("content-type") == "text/plain"
    assert response.body == b"PUT testserver data"
