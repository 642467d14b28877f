"""Threads that run work handed to them: dedicated sync threads and loop threads.

Two kinds of long-lived thread exist in the package, both documented in
``docs/threads-and-cancellation.md``:

* :class:`SyncThread` -- a thread that runs thread-sensitive calls one at a time,
  in order.  One is shared by the process; each
  :class:`~anyio_bridge.sync.ThreadSensitiveContext` that is used gets its own.
* :class:`LoopThread` -- a thread running an anyio event loop, on which
  :func:`~anyio_bridge.sync.async_to_sync` runs coroutines when called from
  plain synchronous code.

Work items are objects with a ``run()`` method that never raises.  Creating
a :class:`LoopThread` raises what starting its loop raised (e.g.
:exc:`LookupError` for an unknown backend); nothing else here raises.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from contextvars import Context
from functools import partial
from queue import SimpleQueue
from typing import Any, Protocol

import anyio

from .._backends import Loop, TaskStarter, current_loop

__all__ = ["STOP", "LoopThread", "SyncThread", "WorkItem"]


class WorkItem(Protocol):
    def run(self) -> None: ...


class _Stop:
    def run(self) -> None:  # pragma: no cover - never run, only compared
        raise AssertionError


STOP: WorkItem = _Stop()


class SyncThread:
    """A daemon thread running submitted work items one at a time, in order.

    :meth:`close` lets it finish what was already submitted, then it exits.
    """

    def __init__(self, name: str) -> None:
        self._queue: SimpleQueue[WorkItem] = SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._exited = False
        #: How many async_to_sync calls made on this thread are waiting.
        self.blocked = 0
        self._settle_callbacks: list[Callable[[], object]] = []
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def submit(self, item: WorkItem) -> bool:
        """Queue *item*; return ``False`` if the thread was closed."""
        with self._lock:
            if self._closed:
                return False
            self._queue.put(item)
            return True

    def close(self) -> None:
        """Stop accepting work; the thread exits once the queued items have run."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(STOP)

    def on_settle(self, callback: Callable[[], object]) -> None:
        """Call *callback* once, when the thread exits or starts waiting on a loop.

        Called at once (from the caller) if either has already happened.  Used
        by :class:`~anyio_bridge.sync.ThreadSensitiveContext` to wait for its
        thread without ever waiting on a thread that itself waits on the loop.
        """
        with self._lock:
            if not (self._exited or self.blocked):
                self._settle_callbacks.append(callback)
                return
        callback()

    @property
    def exited(self) -> bool:
        """``True`` once the thread has run everything and is ending."""
        return self._exited

    def enter_blocking(self) -> None:
        """Record that code on this thread now waits for the event loop."""
        with self._lock:
            self.blocked += 1
            callbacks, self._settle_callbacks = self._settle_callbacks, []
        for callback in callbacks:
            callback()

    def exit_blocking(self) -> None:
        with self._lock:
            self.blocked -= 1

    def _main(self) -> None:
        get = self._queue.get
        while (item := get()) is not STOP:
            item.run()
            del item
        with self._lock:
            self._exited = True
            callbacks, self._settle_callbacks = self._settle_callbacks, []
        for callback in callbacks:
            callback()


class LoopThread:
    """A daemon thread running an anyio event loop until :meth:`stop` is called."""

    def __init__(
        self, backend: str, name: str, options: Mapping[str, Any] | None = None
    ) -> None:
        self.backend = backend
        self._options = dict(options) if options else None
        self._started = threading.Event()
        self._stop_event: anyio.Event | None = None
        self._loop: Loop | None = None
        self._runners: TaskStarter | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._started.wait()
        self._raise_startup_error()

    def _raise_startup_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    @property
    def loop(self) -> Loop:
        assert self._loop is not None
        return self._loop

    def _main(self) -> None:
        try:
            anyio.run(self._serve, backend=self.backend, backend_options=self._options)
        except BaseException as exc:  # e.g. an unknown backend or trio missing
            self._error = exc
            self._started.set()

    def spawn(
        self, async_fn: Callable[[], Awaitable[object]], context: Context
    ) -> bool:
        """Run ``async_fn()`` in *context* as a task of this loop (any thread).

        Like :meth:`Loop.spawn`; on trio, a finished task is kept parked and
        handed the next coroutine, which is cheaper than starting a task.
        """
        runners = self._runners
        if runners is None:
            return self.loop.spawn(async_fn, context)
        return self.loop.call_soon_threadsafe(runners.start, async_fn, context)

    def submit(
        self, async_fn: Callable[[], Awaitable[object]], context: Context
    ) -> bool:
        """Like :meth:`spawn`, with one wake-up of the loop for all the tasks
        submitted while it was busy (a server thread per request calls it).

        Returns ``False`` if the loop has finished.
        """
        runners = self._runners
        start = self.loop.start_task if runners is None else runners.start
        return self.loop.call_soon_batched(partial(start, async_fn, context))

    async def _serve(self) -> None:
        self._stop_event = anyio.Event()
        loop = self._loop = current_loop()
        self._runners = loop.backend.task_starter()
        self._started.set()
        await self._stop_event.wait()

    def stop(self, timeout: float | None = None) -> None:
        """End the loop (cancelling what still runs on it) and wait for the thread."""
        assert self._stop_event is not None  # set before __init__ returns
        self.loop.call_soon_threadsafe(self._stop_event.set)
        self.thread.join(timeout)
