"""ApplicationCommunicator in ``async with`` (both backends): messages, the
application's exception, receive_nothing, stop, misuse, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anyio_bridge.testing import (
    ApplicationCancelled,
    ApplicationCommunicator,
    lifespan_scope,
)

from .apps import SCOPE, Failing, LegacyApp, Receive, Recorder, Send, echo_app, variable

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------
# ApplicationCommunicator with async with (both backends)
# --------------------------------------------------------------------------


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
