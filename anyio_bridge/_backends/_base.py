"""The interface every event-loop backend implements, and the waiter.

A backend (:mod:`._asyncio`, :mod:`._trio`) is a stateless object holding the
few operations that need the event loop's native API; :class:`~.Loop` (in the
package's ``__init__``) holds one running loop and hands those operations
its native handle.  Nothing outside :mod:`anyio_bridge._backends` branches on
the backend.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from . import Loop

__all__ = ["Backend", "TaskStarter", "Waiter", "WorkerHooks"]


class Waiter:
    """A one-shot wake-up: a task :meth:`wait`\\ s, any thread :meth:`wake`\\ s.

    Waking before the wait makes the wait return at once.  After a cancelled
    wait, waiting again (say in a shielded scope) still sees a later wake.
    """

    __slots__ = ("_loop", "done")

    _loop: Loop
    done: bool

    def wake(self) -> bool:
        """Release the waiter from any thread; ``False`` if the loop is gone."""
        return self._loop.call_soon_threadsafe(self._set)

    def wake_batched(self) -> bool:
        """:meth:`wake`, batched with other threads' wake-ups of the same loop
        (see :meth:`~anyio_bridge._backends.Loop.call_soon_batched`)."""
        return self._loop.call_soon_batched(self._set)

    def wake_here(self) -> None:
        """Release the waiter from the loop's own thread (no thread hop)."""
        self._set()

    def reset(self) -> None:
        """Re-arm a woken waiter (in the loop's thread): the next :meth:`wait`
        returns on the next wake-up only."""
        raise NotImplementedError

    def _set(self) -> None:
        raise NotImplementedError

    def wait(self) -> Awaitable[None]:
        """Wait until woken (an awaitable; cancellable)."""
        raise NotImplementedError


class TaskStarter(Protocol):
    """Starts coroutines handed to a loop thread (see ``LoopThread``)."""

    def start(
        self, async_fn: Callable[[], Awaitable[object]], context: contextvars.Context
    ) -> None: ...


class Backend(Protocol):
    """What :class:`~anyio_bridge._backends.Loop` asks of an event loop.

    *native* is the loop's native handle: an asyncio event loop, or trio's
    ``TrioToken``.
    """

    #: anyio's name for the backend.
    name: str

    def call_soon_threadsafe(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> bool:
        """Schedule ``func(*args)`` on the loop from any thread; ``False`` if
        the loop has finished."""
        ...

    def call_soon(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> None:
        """Schedule ``func(*args)`` from the loop's own thread, after the
        running task yields (cheaper than :meth:`call_soon_threadsafe` where
        the loop has such a call)."""
        ...

    def start_task(
        self,
        native: Any,
        async_fn: Callable[[], Awaitable[object]],
        context: contextvars.Context,
    ) -> bool:
        """Start a task now (in the loop's thread); ``False`` if the loop takes
        no new tasks.  The task must not raise."""
        ...

    def is_alive(self, loop: Loop) -> bool:
        """``False`` once the loop can no longer run callbacks."""
        ...

    def current_time(self, native: Any) -> float:
        """The loop's clock (what cancel-scope deadlines are measured in), in
        the loop's thread; callable from a plain callback, outside any task."""
        ...

    def new_waiter(self, loop: Loop) -> Waiter:
        """A waiter for the current task (in the loop's thread)."""
        ...

    def new_cancelled(self) -> BaseException:
        """A fresh cancellation exception of this backend."""
        ...

    def thread_cancel_scope(self) -> object | None:
        """What a worker thread of the current task gets as its cancel scope
        (anyio's ``check_cancelled()`` walks it on asyncio; trio has none)."""
        ...

    def caller_scope(self) -> tuple[object | None, bool]:
        """:meth:`thread_cancel_scope`, and whether the caller owning it may
        already be cancelled (then a call must check before it starts), in one
        call: it is on every bridge call's path."""
        ...

    def forget_worker(self) -> None:
        """Drop this thread's worker state (a child after ``fork``)."""
        ...

    def task_starter(self) -> TaskStarter | None:
        """Something cheaper than :meth:`start_task` for a loop thread that
        runs many short coroutines, or ``None``."""
        ...


class WorkerHooks(Protocol):
    """A backend that keeps worker-thread state of its own beside anyio's
    (trio does, for ``trio.from_thread``)."""

    def enter_worker(self, native: Any, cancel_register: list[Any]) -> Any:
        """Make this thread a worker thread of the loop for the backend's own
        ``from_thread`` functions; return what :meth:`leave_worker` restores."""
        ...

    def leave_worker(self, saved: Any) -> None:
        """Undo :meth:`enter_worker`."""
        ...
