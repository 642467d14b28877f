"""An executor that runs submitted work on the thread that owns it.

:func:`~anyio_bridge.sync.async_to_sync` turns the calling thread into one of
these while it waits for its coroutine, so that thread-sensitive
:func:`~anyio_bridge.sync.sync_to_async` calls made by that coroutine come back
to the thread that started it.

:class:`CurrentThreadExecutor` raises :exc:`RuntimeError` when work is
submitted from the owning thread itself or after the executor finished, and
when its serving methods are called from another thread or a second time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from .threads import STOP, WorkItem

_T = TypeVar("_T")

__all__ = ["CurrentThreadExecutor"]


class _FutureItem:
    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(
        self,
        future: Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)
        finally:
            del self.fn, self.args, self.kwargs


class CurrentThreadExecutor(Executor):
    """Run submitted callables on the thread that created the executor.

    Other threads :meth:`submit` work; the owning thread runs it while it waits
    in :meth:`run_until_future`.  Once that returns the executor is finished
    and further submissions raise :exc:`RuntimeError`.

    :param old_executor: accepted for compatibility with asgiref, where it
        links nested executors; here each executor stands alone.
    """

    def __init__(self, old_executor: CurrentThreadExecutor | None = None) -> None:
        self._owner = threading.get_ident()
        self._queue: SimpleQueue[WorkItem] = SimpleQueue()
        self._lock = threading.Lock()
        self._finished = False
        self._old_executor = old_executor

    @property
    def finished(self) -> bool:
        """``True`` once the owning thread has stopped serving work."""
        return self._finished

    def run_until_future(self, future: Future[Any]) -> None:
        """Run submitted work on this thread until *future* is done.

        :raises RuntimeError: if called from a thread other than the one that
            created the executor, or a second time.
        """
        self._check_owner("run_until_future")
        future.add_done_callback(lambda _: self._queue.put(STOP))
        self.serve()

    def serve(
        self, alive: Callable[[], bool] | None = None, poll_interval: float = 1.0
    ) -> bool:
        """Run submitted work until :meth:`stop` is called; return ``True``.

        When *alive* is given it is called every *poll_interval* seconds of
        idleness; once it returns ``False`` serving stops and this returns
        ``False`` (used to notice an event loop that died under a pending call).
        """
        self._check_owner("serve")
        if self._finished:
            raise RuntimeError("this CurrentThreadExecutor has already finished")
        get = self._queue.get
        stopped_cleanly = True
        while True:
            if alive is None:
                item = get()
            else:
                try:
                    item = get(timeout=poll_interval)
                except Empty:
                    if alive():
                        continue
                    stopped_cleanly = False
                    break
            if item is STOP:
                break
            item.run()
            del item
        with self._lock:
            self._finished = True
        # Work accepted before the executor finished still runs, here.
        while True:
            try:
                item = self._queue.get_nowait()
            except Empty:
                break
            if item is not STOP:
                item.run()
        return stopped_cleanly

    def stop(self) -> None:
        """Make :meth:`serve` return once the work queued so far has run."""
        self._queue.put(STOP)

    def enqueue(self, item: WorkItem) -> bool:
        """Queue *item*; return ``False`` if the executor has finished."""
        with self._lock:
            if self._finished:
                return False
            self._queue.put(item)
            return True

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)`` to run on the owning thread.

        :raises RuntimeError: if called from the owning thread itself (it would
            wait on itself forever) or after the executor has finished.
        """
        if threading.get_ident() == self._owner:
            raise RuntimeError(
                "cannot submit to a CurrentThreadExecutor from its own thread: "
                "it would wait on itself"
            )
        future: Future[_T] = Future()
        if not self.enqueue(_FutureItem(future, fn, args, kwargs)):
            raise RuntimeError("CurrentThreadExecutor already quit or is broken")
        return future

    def _check_owner(self, what: str) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError(
                f"{what}() must be called from the executor's own thread"
            )
