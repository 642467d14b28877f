"""The private machinery, where public behaviour cannot reach it deterministically."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context

import anyio
import anyio.from_thread
import pytest

from anyio_bridge import _backends, _state, async_to_sync, sync_to_async
from anyio_bridge._backends._trio import TaskRunners
from anyio_bridge._threads import LoopThread, SyncThread
from anyio_bridge.sync import AsyncSingleThreadContext


class Recorder:
    def __init__(self) -> None:
        self.ran = threading.Event()

    def run(self) -> None:
        self.ran.set()


# -- Loop and Waiter ---------------------------------------------------------------


def test_loop_reports_when_it_is_gone(anyio_backend: str) -> None:
    loops: list[_backends.Loop] = []

    async def main() -> None:
        loop = _backends.current_loop()
        assert loop is _backends.current_loop()  # cached per loop
        assert loop.is_alive()
        loops.append(loop)

    anyio.run(main, backend=anyio_backend)
    assert not loops[0].is_alive()
    assert not loops[0].call_soon_threadsafe(print)


def test_current_loop_outside_a_loop() -> None:
    with pytest.raises(anyio.NoEventLoopError):
        _backends.current_loop()


@pytest.mark.anyio
async def test_waiter_woken_before_the_wait() -> None:
    waiter = _backends.current_loop().new_waiter()
    waiter._set()  # what wake() schedules on the loop thread
    with anyio.fail_after(5):
        await waiter.wait()


@pytest.mark.anyio
async def test_waiter_woken_from_another_thread() -> None:
    waiter = _backends.current_loop().new_waiter()
    thread = threading.Thread(target=waiter.wake)
    thread.start()
    with anyio.fail_after(5):
        await waiter.wait()
    thread.join()


@pytest.mark.anyio
async def test_waiter_can_wait_again_after_a_cancelled_wait() -> None:
    waiter = _backends.current_loop().new_waiter()
    with anyio.move_on_after(0) as scope:
        await waiter.wait()
    assert scope.cancelled_caught
    waiter.wake()
    with anyio.fail_after(5):
        await waiter.wait()


@pytest.mark.anyio
async def test_waiter_woken_while_no_one_waits_after_a_cancelled_wait() -> None:
    waiter = _backends.current_loop().new_waiter()
    with anyio.move_on_after(0) as scope:
        await waiter.wait()
    assert scope.cancelled_caught
    waiter._set()  # the wake-up lands between the two waits
    with anyio.fail_after(5):
        await waiter.wait()
    assert waiter.done


def test_waiter_wake_after_the_loop_is_gone(anyio_backend: str) -> None:
    waiters: list[_backends.Waiter] = []

    async def main() -> None:
        waiters.append(_backends.current_loop().new_waiter())

    anyio.run(main, backend=anyio_backend)
    assert not waiters[0].wake()


# -- SyncThread and LoopThread ---------------------------------------------------


def test_sync_thread_lifecycle() -> None:
    thread = SyncThread("test sync thread")
    first = Recorder()
    assert thread.submit(first)
    thread.close()
    thread.close()  # idempotent
    assert not thread.submit(Recorder())
    thread.thread.join(5)
    assert first.ran.is_set()
    assert thread.exited
    settled = threading.Event()
    thread.on_settle(settled.set)  # already exited: called at once
    assert settled.is_set()


def test_sync_thread_settles_when_it_blocks() -> None:
    thread = SyncThread("test sync thread")
    settled = threading.Event()
    thread.on_settle(settled.set)
    assert not settled.is_set()
    thread.enter_blocking()
    assert settled.is_set()
    later = threading.Event()
    thread.on_settle(later.set)  # blocked now: called at once
    assert later.is_set()
    thread.exit_blocking()
    thread.close()
    thread.thread.join(5)


def test_trio_loop_thread_keeps_a_bounded_number_of_runner_tasks() -> None:
    pytest.importorskip("trio")
    callers = TaskRunners.MAX_IDLE + 2
    barrier = threading.Barrier(callers, timeout=10)

    async def together(n: int) -> int:
        # All the coroutines are running at once: one task each.
        await anyio.to_thread.run_sync(barrier.wait)
        return n

    with AsyncSingleThreadContext() as context:
        run = async_to_sync(together, backend="trio")
        # Each caller thread inside the context, so that they share its loop.
        contexts = [contextvars.copy_context() for _ in range(callers)]
        with ThreadPoolExecutor(callers) as pool:
            results = pool.map(Context.run, contexts, [run] * callers, range(callers))
            assert sorted(results) == list(range(callers))
        runners = context._loop_thread("trio")._runners
        assert runners is not None

        async def parked_meanwhile() -> int:
            # Runs in one of the parked tasks, after the others settled.
            return len(runners._idle)

        # The extra tasks ended; the others wait, and take the next work.
        count = async_to_sync(parked_meanwhile, backend="trio")
        assert count() == TaskRunners.MAX_IDLE - 1
        assert count() == TaskRunners.MAX_IDLE - 1


def test_loop_thread_start_failure_is_raised() -> None:
    with pytest.raises(LookupError):
        LoopThread("no-such-backend", "test loop")


def test_process_state_shutdown_and_fork_reset() -> None:
    process = _state._Process()
    sync_thread = process.shared_sync_thread()
    loop = process.loop_thread("asyncio")
    assert process.shared_sync_thread() is sync_thread
    assert process.loop_thread("asyncio") is loop
    process.shutdown()
    assert not sync_thread.thread.is_alive()
    assert not loop.thread.is_alive()
    process.after_fork_in_child()
    process.shutdown()  # nothing to stop


# -- thread claims ------------------------------------------------------------------


@pytest.mark.anyio
async def test_forgetting_claims_detaches_the_thread() -> None:
    def body() -> tuple[bool, bool]:
        before = _backends.foreign_worker_loop() is not None
        _backends.forget_thread_claims()
        after = _backends.foreign_worker_loop() is not None
        with pytest.raises(anyio.NoEventLoopError):
            anyio.from_thread.run_sync(int)
        return before, after

    assert await sync_to_async(body)() == (True, False)
    # The next call claims the thread afresh.
    assert await sync_to_async(anyio.from_thread.run_sync)(int) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_to_thread_worker_reaches_its_loop() -> None:
    import trio

    async def where() -> threading.Thread:
        return threading.current_thread()

    thread = await trio.to_thread.run_sync(async_to_sync(where))
    assert thread is threading.current_thread()


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


def test_pool_prefixes_cover_shared_threads() -> None:
    names = {
        _state.process.shared_sync_thread().thread.name,
        _state.process.loop_thread("asyncio").thread.name,
    }
    assert names == {"anyio_bridge thread-sensitive", "anyio_bridge asyncio loop"}


# -- a call whose caller is cancelled ------------------------------------------------


@pytest.mark.anyio
async def test_an_outcome_ready_as_the_caller_is_cancelled_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The thread finished just before the caller took its cancellation: the
    caller raises the cancellation, and the exception is logged, not lost."""
    from anyio_bridge.sync import _SyncCall

    caplog.set_level(logging.ERROR, logger="anyio_bridge.sync")
    loop = _backends.current_loop()
    call, _ = _SyncCall.start(
        int, contextvars.copy_context(), loop, None, None, sync_to_async(int)
    )
    call.started = call.finished = True
    call.error = LookupError("finished just in time")
    assert not call.cancel(abandon=True)  # nothing left running
    assert _state.abandoned.running() == []
    (record,) = caplog.records
    assert "builtins.int" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


class FakeAbandonedCall:
    def __init__(self, loop: object) -> None:
        self.loop = loop

    def describe(self) -> str:
        return "a call left running"


def test_waiting_for_abandoned_calls_can_time_out() -> None:
    registry = _state._Abandoned()
    loop, other_loop = object(), object()
    registry.add(FakeAbandonedCall(loop))
    assert registry.wait(other_loop, timeout=0)
    assert not registry.wait(loop, timeout=0)
    assert len(registry.running(loop)) == 1
    assert registry.running(other_loop) == []


def test_shutdown_reports_calls_left_running_and_does_not_wait_for_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = _state._Process()
    thread = process.shared_sync_thread()
    release = threading.Event()
    call = FakeAbandonedCall(object())
    thread.submit(Recorder())  # runs at once
    thread.submit(type("Stuck", (), {"run": lambda _: release.wait(10)})())
    _state.abandoned.add(call)
    try:
        process.shutdown()
        # Not joined: the thread is still busy with the stuck call.
        assert thread.thread.is_alive()
    finally:
        _state.abandoned.discard(call)
        release.set()
        thread.thread.join(10)
    assert [r.getMessage() for r in caplog.records] == [
        "a call left running is still running at interpreter exit: its caller "
        "was cancelled and did not wait for it; it is stopped with the process."
    ]
