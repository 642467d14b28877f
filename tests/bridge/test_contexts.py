"""ThreadSensitiveContext (with its own thread, or a given executor) and
AsyncSingleThreadContext."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from anyio_bridge import (
    AsyncSingleThreadContext,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)

pytestmark = pytest.mark.anyio


def thread_name() -> str:
    return threading.current_thread().name


def current_thread() -> threading.Thread:
    return threading.current_thread()


async def loop_identity() -> tuple[object, threading.Thread]:
    """Which loop, on which thread, this runs."""
    return anyio.lowlevel.current_token().native_token, threading.current_thread()


# -- ThreadSensitiveContext -----------------------------------------------------


async def test_thread_sensitive_context_gets_its_own_thread() -> None:
    shared = await sync_to_async(current_thread)()
    async with ThreadSensitiveContext() as ctx:
        first = await sync_to_async(current_thread)()
        # Re-entrant: an inner context changes nothing.
        async with ThreadSensitiveContext():
            inner = await sync_to_async(current_thread)()
        second = await sync_to_async(current_thread)()
        assert isinstance(ctx, ThreadSensitiveContext)
    assert first is inner is second
    assert first is not shared
    # The context's thread ends on exit.
    assert not first.is_alive()
    assert await sync_to_async(current_thread)() is shared


async def test_separate_contexts_run_in_parallel() -> None:
    """Two requests each in a ThreadSensitiveContext don't serialise."""
    barrier = threading.Barrier(2, timeout=10)

    async def request() -> threading.Thread:
        async with ThreadSensitiveContext():
            await sync_to_async(barrier.wait)()
            return await sync_to_async(current_thread)()

    results: list[threading.Thread] = []

    async def run() -> None:
        results.append(await request())

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(run)
    assert results[0] is not results[1]


async def test_unused_thread_sensitive_context_starts_no_thread() -> None:
    before = threading.active_count()
    async with ThreadSensitiveContext():
        assert threading.active_count() == before


async def test_task_outliving_its_context_falls_back_to_shared_thread() -> None:
    shared = await sync_to_async(current_thread)()
    release = anyio.Event()
    result: list[threading.Thread] = []

    async def late_call() -> None:
        await release.wait()
        result.append(await sync_to_async(current_thread)())

    async with anyio.create_task_group() as tg:
        async with ThreadSensitiveContext():
            tg.start_soon(late_call)
            await sync_to_async(current_thread)()
        release.set()
    assert result == [shared]


async def test_leaving_context_while_its_thread_waits_on_the_loop() -> None:
    """Leaving never waits for a thread that is itself waiting on the loop."""
    proceed = anyio.Event()
    entered = threading.Event()

    def blocker() -> str:
        async def wait_for_exit() -> str:
            entered.set()
            await proceed.wait()
            return "done"

        return async_to_sync(wait_for_exit)()

    async with anyio.create_task_group() as tg:
        results: list[str] = []

        async def run_blocker() -> None:
            results.append(await sync_to_async(blocker)())

        async with ThreadSensitiveContext():
            tg.start_soon(run_blocker)
            await anyio.to_thread.run_sync(entered.wait)
        # Reached only because leaving did not wait for the blocked thread.
        proceed.set()
    assert results == ["done"]


# -- ThreadSensitiveContext with an executor ------------------------------------


async def test_calls_inside_run_on_the_given_executor() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="given") as executor:
        async with ThreadSensitiveContext(executor=executor):
            assert await sync_to_async(thread_name)() == "given_0"

            async def in_a_task(names: list[str]) -> None:
                names.append(await sync_to_async(thread_name)())

            names: list[str] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(in_a_task, names)
            assert names == ["given_0"]
        # Left: back to the process-wide thread; the executor still works.
        assert await sync_to_async(thread_name)() == "anyio_bridge thread-sensitive"
        assert executor.submit(thread_name).result() == "given_0"


async def test_the_given_executor_wins_inside_other_contexts_and_async_to_sync() -> (
    None
):
    async def inner() -> tuple[str, str, str]:
        async with ThreadSensitiveContext(executor=executor):
            inside = await sync_to_async(thread_name)()
            nested = await sync_to_async(lambda: async_to_sync(probe)())()
        after = await sync_to_async(thread_name)()
        return inside, nested, after

    async def probe() -> str:
        # A nested async_to_sync: its thread serves the calls it makes.
        return await sync_to_async(thread_name)()

    def outer() -> tuple[str, tuple[str, str, str]]:
        return thread_name(), async_to_sync(inner)()

    with ThreadPoolExecutor(1, thread_name_prefix="given") as executor:
        async with ThreadSensitiveContext():
            outer_thread, (inside, nested, after) = await sync_to_async(outer)()
    assert outer_thread == "anyio_bridge ThreadSensitiveContext"
    assert inside == nested == "given_0"
    assert after == outer_thread


async def test_a_context_with_an_executor_is_entered_once() -> None:
    with ThreadPoolExecutor(1) as executor:
        context = ThreadSensitiveContext(executor=executor)
        async with context:
            with pytest.raises(RuntimeError, match="already entered"):
                await context.__aenter__()
        with pytest.raises(RuntimeError, match="cannot be entered again"):
            await context.__aenter__()


async def test_a_task_outliving_the_context_cannot_make_thread_sensitive_calls() -> (
    None
):
    left = anyio.Event()
    errors: list[str] = []

    async def outlives() -> None:
        await left.wait()
        try:
            await sync_to_async(thread_name)()
        except RuntimeError as exc:
            errors.append(str(exc))

    with ThreadPoolExecutor(1) as executor:
        async with anyio.create_task_group() as tg:
            async with ThreadSensitiveContext(executor=executor):
                tg.start_soon(outlives)
            left.set()
    assert errors == [
        "ThreadSensitiveContext with an executor has exited: tasks started "
        "inside it must finish before it exits"
    ]


# -- AsyncSingleThreadContext ---------------------------------------------------


def test_async_single_thread_context() -> None:
    leftover_cancelled = threading.Event()
    background_tasks: set[asyncio.Task[None]] = set()

    async def leave_task_behind() -> None:
        async def background() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                leftover_cancelled.set()

        # A task nobody waits for: the context's loop owns it until it closes.
        background_tasks.add(asyncio.get_running_loop().create_task(background()))

    shared = async_to_sync(loop_identity)()
    with AsyncSingleThreadContext() as ctx:
        one = async_to_sync(loop_identity)()
        with AsyncSingleThreadContext():  # re-entrant
            two = async_to_sync(loop_identity)()
        async_to_sync(leave_task_behind)()
        assert isinstance(ctx, AsyncSingleThreadContext)
        assert not leftover_cancelled.is_set()
    assert one == two
    assert one[0] is not shared[0]
    assert leftover_cancelled.is_set()
    assert not one[1].is_alive()


def test_unused_single_thread_context_starts_nothing() -> None:
    before = threading.active_count()
    with AsyncSingleThreadContext():
        pass
    assert threading.active_count() == before
