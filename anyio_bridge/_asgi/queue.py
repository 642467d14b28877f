"""An unbounded FIFO queue that works on asyncio and trio.

Used for the messages an ASGI application receives and sends in
:mod:`anyio_bridge.testing` and :mod:`anyio_bridge.server`.  It offers the part
of :class:`asyncio.Queue`'s interface those modules' users rely on
(``put_nowait``, ``put``, ``get``, ``get_nowait``, ``qsize``, ``empty``),
needs no closing, and is bound to no event loop: it only creates
:class:`anyio.Event` objects while a task waits.
"""

from __future__ import annotations

import asyncio  # compatibility: QueueEmpty is also asyncio.QueueEmpty
from collections import deque
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = ["MessageQueue", "QueueEmpty"]

T = TypeVar("T")


class QueueEmpty(anyio.WouldBlock, asyncio.QueueEmpty):
    """:meth:`MessageQueue.get_nowait` found no item.

    Both :class:`anyio.WouldBlock` and the :class:`asyncio.QueueEmpty` that
    :class:`asyncio.Queue` raises (and that code written for asgiref's queues
    catches).
    """


class MessageQueue(Generic[T]):
    """An unbounded first-in, first-out queue for one event loop's tasks.

    Putting never blocks.  Any number of tasks may wait in :meth:`get`; each
    item goes to exactly one of them.  The queue is not thread-safe: use it
    from the tasks of one event loop.
    """

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiters: set[anyio.Event] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} qsize={len(self._items)}>"

    def qsize(self) -> int:
        """The number of items in the queue."""
        return len(self._items)

    def empty(self) -> bool:
        """``True`` if the queue holds no items."""
        return not self._items

    def put_nowait(self, item: T) -> None:
        """Append *item* and wake the tasks waiting in :meth:`get`."""
        self._items.append(item)
        self._notify()

    async def put(self, item: T) -> None:
        """Append *item*; the same as :meth:`put_nowait`, but a checkpoint.

        If the calling task is already cancelled, the backend's cancellation
        exception is raised and the item is not added.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        self.put_nowait(item)
        await anyio.lowlevel.cancel_shielded_checkpoint()

    def get_nowait(self) -> T:
        """Remove and return the oldest item.

        :raises QueueEmpty: if the queue is empty (an :class:`anyio.WouldBlock`
            and an :class:`asyncio.QueueEmpty`).
        """
        if not self._items:
            raise QueueEmpty
        return self._items.popleft()

    async def get(self) -> T:
        """Remove and return the oldest item, waiting for one if needed.

        A cancelled wait raises the backend's cancellation exception and takes
        no item: nothing is lost.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while not self._items:
            await self._wait()
            waited = True
        item = self._items.popleft()
        if not waited:
            await anyio.lowlevel.cancel_shielded_checkpoint()
        return item

    async def _wait(self) -> None:
        """Wait until an item is put or :meth:`_notify` is called."""
        event = anyio.Event()
        self._waiters.add(event)
        try:
            await event.wait()
        finally:
            self._waiters.discard(event)

    def _notify(self) -> None:
        """Wake every task in :meth:`_wait`, so it looks at the queue again."""
        waiters, self._waiters = self._waiters, set()
        for event in waiters:
            event.set()
