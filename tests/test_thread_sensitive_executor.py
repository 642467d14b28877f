"""ThreadSensitiveContext(executor=...): thread-sensitive calls on a given executor."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from anyio_bridge import ThreadSensitiveContext, async_to_sync, sync_to_async

pytestmark = pytest.mark.anyio


def thread_name() -> str:
    return threading.current_thread().name


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
