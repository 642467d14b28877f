"""The backend layer (anyio_bridge._backends): Loop, Waiter, thread claims and
trio's task runners.  Private names: their behaviour cannot be reached
deterministically through the public entry points."""

from __future__ import annotations

import contextvars
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
import trio

from anyio_bridge import (
    AsyncSingleThreadContext,
    _backends,
    async_to_sync,
    sync_to_async,
)
from anyio_bridge._backends import _private
from anyio_bridge._backends._trio import TaskRunners

# -- Loop and Waiter -------------------------------------------------------------


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


@pytest.mark.anyio
async def test_call_soon_runs_after_the_task_yields_in_order() -> None:
    loop = _backends.current_loop()
    seen: list[int] = []
    for round_ in range(3):  # on trio: the parked queue task, woken again
        loop.call_soon(seen.append, 2 * round_)
        loop.call_soon(seen.append, 2 * round_ + 1)
        assert len(seen) == 2 * round_
        event = anyio.Event()
        loop.call_soon(event.set)
        with anyio.fail_after(5):
            await event.wait()
    assert seen == list(range(6))


@pytest.mark.anyio
async def test_call_soon_batched_runs_everything_with_one_wake_up() -> None:
    loop = _backends.current_loop()
    seen: list[int] = []
    event = anyio.Event()
    # The loop is busy (this task runs): the later calls join the first one's
    # wake-up instead of scheduling their own.
    assert loop.call_soon_batched(lambda: seen.append(1))
    assert loop.call_soon_batched(lambda: seen.append(2))
    assert loop.call_soon_batched(event.set)
    with anyio.fail_after(5):
        await event.wait()
    assert seen == [1, 2]
    waiter = loop.new_waiter()
    assert waiter.wake_batched()
    with anyio.fail_after(5):
        await waiter.wait()


def test_call_soon_batched_after_the_loop_is_gone(anyio_backend: str) -> None:
    loops: list[_backends.Loop] = []

    async def main() -> None:
        loops.append(_backends.current_loop())

    anyio.run(main, backend=anyio_backend)
    assert not loops[0].call_soon_batched(print)
    assert not loops[0].call_soon_batched(print)  # nothing left queued


@pytest.mark.anyio
async def test_loop_time_is_the_clock_of_cancel_scopes() -> None:
    loop = _backends.current_loop()
    before = anyio.current_time()
    now = loop.time()
    assert before <= now <= anyio.current_time()


@pytest.mark.anyio
async def test_waiter_woken_here() -> None:
    waiter = _backends.current_loop().new_waiter()
    waiter.wake_here()
    with anyio.fail_after(5):
        await waiter.wait()
    assert waiter.done


def test_current_loop_on_trio_without_asyncio_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A trio program need not import asyncio; finding the loop must not either.
    async def main() -> None:
        monkeypatch.delitem(sys.modules, "asyncio")
        assert _backends._current_native() is trio.lowlevel.current_trio_token()

    trio.run(main)


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


# -- trio's task runners ------------------------------------------------------------


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


@pytest.mark.anyio
async def test_claims_nest_and_restore_the_outer_claim() -> None:
    """A bridge call inside a bridge call on the same thread: leaving the
    inner claim gives the thread back the outer one's loop and cancel scope."""
    loop = _backends.current_loop()
    outer_scope, inner_scope = object(), object()
    outer = _backends.ThreadClaim(loop, outer_scope)
    inner = _backends.ThreadClaim(loop, inner_scope)
    seen: list[object] = []

    def in_thread() -> None:
        state = _private.anyio_thread_state()
        saved_outer = outer.enter()
        saved_inner = inner.enter()
        seen.append(state.current_cancel_scope)
        _backends.ThreadClaim.leave(saved_inner)
        seen.append(state.current_cancel_scope)
        seen.append(state.current_token)
        _backends.ThreadClaim.leave(saved_outer)
        seen.append(getattr(state, "current_cancel_scope", None))

    thread = threading.Thread(target=in_thread)
    thread.start()
    await anyio.to_thread.run_sync(thread.join)
    assert seen == [inner_scope, outer_scope, loop.token, None]
