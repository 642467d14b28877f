"""MessageQueue, the input queue StatelessServer hands out."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from anyio_bridge.server import MessageQueue

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------
# MessageQueue
# --------------------------------------------------------------------------


async def test_queue_basics() -> None:
    queue: MessageQueue[int] = MessageQueue()
    assert queue.empty()
    with pytest.raises(anyio.WouldBlock):
        queue.get_nowait()
    with pytest.raises(asyncio.QueueEmpty):  # as from asgiref's asyncio.Queue
        queue.get_nowait()
    queue.put_nowait(1)
    await queue.put(2)
    assert queue.qsize() == 2
    assert repr(queue) == "<MessageQueue qsize=2>"
    assert await queue.get() == 1
    assert queue.get_nowait() == 2
    assert queue.empty()


async def test_queue_get_waits_for_put() -> None:
    queue: MessageQueue[str] = MessageQueue()
    got: list[str] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        queue.put_nowait("x")
        queue.put_nowait("y")
    assert sorted(got) == ["x", "y"]
    assert queue.empty()


async def test_queue_cancelled_get_loses_nothing() -> None:
    queue: MessageQueue[str] = MessageQueue()
    with anyio.CancelScope() as scope:
        scope.cancel()
        queue.put_nowait("kept")
        await queue.get()
    assert scope.cancelled_caught
    assert queue.qsize() == 1
    assert await queue.get() == "kept"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.get)  # waits on the empty queue
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    queue.put_nowait("second")
    assert await queue.get() == "second"


async def test_queue_cancelled_put_adds_nothing() -> None:
    queue: MessageQueue[str] = MessageQueue()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await queue.put("dropped")
    assert queue.empty()
