"""The asyncio backend: wake-ups, waiters and tasks through the loop's own API.

asyncio is never imported here: a loop is only reached through the objects
anyio hands out, and ``sys.modules`` has asyncio whenever such a loop exists.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import _private
from ._base import TaskStarter, Waiter

if TYPE_CHECKING:
    from . import Loop

__all__ = ["BACKEND", "AsyncioBackend"]


class AsyncioBackend:
    """See :class:`~anyio_bridge._backends._base.Backend`."""

    name = "asyncio"

    def __init__(self) -> None:
        # Resolved on first use (asyncio is loaded by then), then direct.
        self._task_cancel_scope: Callable[[], Any] = self._resolve_task_cancel_scope

    def _resolve_task_cancel_scope(self) -> Any:
        get = self._task_cancel_scope = _private.asyncio_task_cancel_scope()
        return get()

    def call_soon_threadsafe(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> bool:
        try:
            native.call_soon_threadsafe(func, *args)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def call_soon(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> None:
        native.call_soon(func, *args)

    def start_task(
        self,
        native: Any,
        async_fn: Callable[[], Awaitable[object]],
        context: contextvars.Context,
    ) -> bool:
        context.run(native.create_task, async_fn())
        return True

    def current_time(self, native: Any) -> float:
        return native.time()  # type: ignore[no-any-return]

    def is_alive(self, loop: Loop) -> bool:
        return not loop.native.is_closed()

    def new_waiter(self, loop: Loop) -> Waiter:
        return _AsyncioWaiter(loop)

    def new_cancelled(self) -> BaseException:
        return sys.modules["asyncio"].CancelledError()  # type: ignore[no-any-return]

    def thread_cancel_scope(self) -> object | None:
        # anyio hands exactly this scope to its own worker threads, whose
        # check_cancelled() walks it and its parents.
        scope: object | None = self._task_cancel_scope()
        return scope

    def caller_scope(self) -> tuple[object | None, bool]:
        # thread_cancel_scope(), and the test anyio's worker threads use: this
        # scope or an unshielded parent has been cancelled.
        scope = current = self._task_cancel_scope()
        while current is not None:
            if current.cancel_called:
                return scope, True
            if current.shield:
                break
            current = _parent_scope(current)
        return scope, False

    def forget_worker(self) -> None:
        pass

    def task_starter(self) -> TaskStarter | None:
        return None


_parent_scope = _private.cancel_scope_parent


class _AsyncioWaiter(Waiter):
    __slots__ = ("_future", "_native")

    def __init__(self, loop: Loop) -> None:
        self._loop = loop
        self._native: Any = loop.native
        self.done = False
        # Made now, before the waker is started, so that waiting costs little.
        self._future: Any = self._native.create_future()

    def wake(self) -> bool:
        # The backend's call_soon_threadsafe, inlined: on every call's path.
        try:
            self._native.call_soon_threadsafe(self._set)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _set(self) -> None:
        self.done = True
        future = self._future
        if not future.done():
            future.set_result(None)

    def reset(self) -> None:
        self.done = False
        if self._future.done():
            self._future = self._native.create_future()

    def wait(self) -> Awaitable[None]:
        # The future itself is awaited, no coroutine around it.  After a
        # cancelled wait, a fresh one: the cancelled one stays cancelled.
        future = self._future
        if future.cancelled():
            future = self._future = self._native.create_future()
            if self.done:
                future.set_result(None)
        return future  # type: ignore[no-any-return]


BACKEND = AsyncioBackend()
