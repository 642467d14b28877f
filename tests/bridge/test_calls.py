"""The protocol between a caller and its thread (anyio_bridge._bridge.calls):
cancellation landing at instants the public entry points cannot aim at, and
a loop that dies under a pending call."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Awaitable, Callable

import anyio
import pytest

from anyio_bridge import _backends, async_to_sync, sync_to_async
from anyio_bridge._bridge import state
from anyio_bridge._bridge.calls import SyncCall

# -- a loop that dies under a pending async_to_sync ------------------------------


class _CallerLoopClosed:
    """A thread calls async_to_sync, and the loop it belongs to is closed
    under it, with the task that started the thread still pending (what
    pytest-asyncio used to do)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.go_on = threading.Event()
        self.go_on.set()
        self.finished = threading.Event()
        self.errors: list[BaseException] = []

    async def never(self) -> None:
        self.ready.set()
        await anyio.sleep_forever()

    def worker(self, coroutine_function: Callable[[], Awaitable[None]]) -> None:
        self.go_on.wait(10)
        try:
            async_to_sync(coroutine_function)()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.finished.set()

    def run(self, start: Callable[[], Awaitable[object]]) -> None:
        pending: list[asyncio.Future[object]] = []

        async def main() -> None:
            pending.append(asyncio.ensure_future(start()))
            await anyio.to_thread.run_sync(self.ready.wait)

        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda loop, context: None)
        loop.run_until_complete(main())
        loop.close()
        self.go_on.set()

    def error(self) -> BaseException:
        assert self.finished.wait(10)
        return self.errors[0]


@pytest.mark.allow_leaks  # an anyio worker of the discarded loop stays parked
def test_loop_closed_under_pending_call_is_reported() -> None:
    """No hang: an error in the thread."""
    case = _CallerLoopClosed()
    worker = functools.partial(case.worker, case.never)
    case.run(lambda: anyio.to_thread.run_sync(worker, abandon_on_cancel=True))
    error = case.error()
    assert isinstance(error, RuntimeError)
    assert "closed while" in str(error)


@pytest.mark.parametrize("thread_sensitive", [True, False])
def test_loop_closed_under_a_coroutine_run_by_the_caller(
    thread_sensitive: bool,
) -> None:
    """The same for a sync_to_async thread, whose caller runs the coroutine."""
    case = _CallerLoopClosed()
    worker = functools.partial(case.worker, case.never)
    case.run(sync_to_async(worker, thread_sensitive=thread_sensitive))
    error = case.error()
    assert isinstance(error, RuntimeError)
    assert "closed while" in str(error)


@pytest.mark.allow_leaks  # an anyio worker of the discarded loop stays parked
def test_async_to_sync_after_the_callers_loop_closed() -> None:
    case = _CallerLoopClosed()
    case.go_on.clear()  # the thread calls async_to_sync once the loop is closed

    async def noop() -> None:  # pragma: no cover - must not run
        pass

    def worker() -> None:
        case.ready.set()
        case.worker(noop)

    case.run(sync_to_async(worker, thread_sensitive=False))
    error = case.error()
    assert isinstance(error, RuntimeError)
    assert "has finished" in str(error)


# -- a caller cancelled at a precise instant ----------------------------------------


@pytest.mark.anyio
async def test_cancellation_landing_before_a_sent_coroutine_is_taken() -> None:
    """The caller is cancelled with the thread's coroutine sent but not yet
    taken: the coroutine never runs and the thread gets cancellation."""
    loop = _backends.current_loop()
    outcomes: list[str] = []

    async def never_runs() -> None:  # pragma: no cover - must not run
        outcomes.append("ran")

    def body() -> None:
        # Queue the cancellation first, then send the coroutine: the loop
        # sees the cancellation before the wake-up that would take it.
        loop.call_soon_threadsafe(scope.cancel)
        try:
            async_to_sync(never_runs)()
        except anyio.get_cancelled_exc_class():
            outcomes.append("cancelled")

    with anyio.CancelScope() as scope:
        # Waiting for the thread, so that its outcome is known here.
        await sync_to_async(body, abandon_on_cancel=False)()
    assert scope.cancelled_caught
    assert outcomes == ["cancelled"]


@pytest.mark.anyio
async def test_an_outcome_ready_as_the_caller_is_cancelled_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The thread finished just before the caller took its cancellation: the
    caller raises the cancellation, and the exception is logged, not lost."""
    caplog.set_level(logging.ERROR, logger="anyio_bridge.sync")
    loop = _backends.current_loop()
    call, _ = SyncCall.start(
        int, contextvars.copy_context(), loop, None, None, "builtins.int", None
    )
    call.started = call.finished = True
    call.error = LookupError("finished just in time")
    assert not call.cancel(abandon=True)  # nothing left running
    assert state.abandoned.running() == []
    (record,) = caplog.records
    assert "builtins.int" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)
