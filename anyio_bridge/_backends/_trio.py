"""The trio backend: wake-ups through the ``TrioToken``, waiters parked with
``wait_task_rescheduled``, system tasks, and trio's worker-thread state.

trio is never imported here: it is in ``sys.modules`` whenever a trio loop
exists.
"""

from __future__ import annotations

import contextvars
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import _private
from ._base import TaskStarter, Waiter
from ._context import run_in_context

if TYPE_CHECKING:
    from . import Loop

__all__ = ["BACKEND", "TaskRunners", "TrioBackend", "in_trio_run"]


def _trio() -> Any:
    return sys.modules["trio"]


def in_trio_run() -> bool:
    """Whether this thread runs a trio loop (trio is loaded)."""
    return bool(_trio().lowlevel.in_trio_run())


class TrioBackend:
    """See :class:`~anyio_bridge._backends._base.Backend` and
    :class:`~anyio_bridge._backends._base.WorkerHooks`."""

    name = "trio"

    def __init__(self) -> None:
        self._data: Any = None

    def call_soon_threadsafe(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> bool:
        try:
            native.run_sync_soon(func, *args)
        except RuntimeError:  # trio.RunFinishedError
            return False
        return True

    def call_soon(
        self, native: Any, func: Callable[..., object], *args: object
    ) -> None:
        # trio has no same-thread call_soon, and its thread-safe one writes
        # to the wake-up socket every time: a parked system task is cheaper.
        _soon_queue().call_soon(func, args)

    def start_task(
        self,
        native: Any,
        async_fn: Callable[[], Awaitable[object]],
        context: contextvars.Context,
    ) -> bool:
        # A system task: trio cancels it when the main task ends.
        try:
            _trio().lowlevel.spawn_system_task(async_fn, context=context)
        except RuntimeError:  # "Nursery is closed to new arrivals"
            return False
        return True

    def current_time(self, native: Any) -> float:
        return _trio().current_time()  # type: ignore[no-any-return]

    def is_alive(self, loop: Loop) -> bool:
        return self.call_soon_threadsafe(loop.native, _noop)

    def new_waiter(self, loop: Loop) -> Waiter:
        return _TrioWaiter(loop)

    def new_cancelled(self) -> BaseException:
        return _private.new_trio_cancelled()

    def thread_cancel_scope(self) -> object | None:
        return None  # trio tells through cancel_register (see enter_worker)

    def caller_scope(self) -> tuple[object | None, bool]:
        return _NO_SCOPE

    def enter_worker(self, native: Any, cancel_register: list[Any]) -> Any:
        data = self._thread_data()
        if data is None:  # pragma: no cover - only if trio moved it
            return None
        state: dict[str, Any] = data.__dict__
        saved = (
            state.get("token"),
            state.get("abandon_on_cancel"),
            state.get("cancel_register"),
            state.get("task_register"),
        )
        state["token"] = native
        # abandon_on_cancel=True makes trio.from_thread.run use the token (a
        # system task) rather than messages to a host task we don't have.
        state["abandon_on_cancel"] = True
        state["cancel_register"] = cancel_register
        state["task_register"] = [None]
        return saved

    def leave_worker(self, saved: Any) -> None:
        data = self._thread_data()
        if saved is not None and data is not None:
            _restore(data.__dict__, saved)

    def forget_worker(self) -> None:
        data = _private.trio_thread_state()
        if data is not None:
            _restore(data.__dict__, (None, None, None, None))

    def _thread_data(self) -> Any:
        """trio's thread-local worker state, looked up once (trio is loaded:
        a trio loop exists)."""
        data = self._data
        if data is None:
            data = self._data = _private.trio_thread_state()
        return data

    def task_starter(self) -> TaskStarter | None:
        return TaskRunners()

    @staticmethod
    def worker_token() -> Any:
        """The ``TrioToken`` of a trio worker thread this is, or ``None``."""
        return getattr(_private.trio_thread_state(), "token", None)


_FIELDS = ("token", "abandon_on_cancel", "cancel_register", "task_register")
#: What a worker thread of a trio task gets: no scope (see enter_worker), and
#: trio's own cheap checkpoint tells whether the caller is cancelled.
_NO_SCOPE: tuple[object | None, bool] = (None, True)


def _restore(state: dict[str, Any], values: tuple[Any, ...]) -> None:
    token, abandon_on_cancel, cancel_register, task_register = values
    _put(state, "token", token)
    _put(state, "abandon_on_cancel", abandon_on_cancel)
    _put(state, "cancel_register", cancel_register)
    _put(state, "task_register", task_register)


def _put(state: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        state.pop(name, None)
    else:
        state[name] = value


def _noop() -> None:
    pass


class _TrioWaiter(Waiter):
    __slots__ = ("_task",)

    def __init__(self, loop: Loop) -> None:
        self._loop = loop
        self.done = False
        self._task: Any = None

    def reset(self) -> None:
        self.done = False

    def _set(self) -> None:
        self.done = True
        task, self._task = self._task, None
        if task is not None:
            _trio().lowlevel.reschedule(task)

    async def wait(self) -> None:
        if self.done:
            return
        lowlevel = _trio().lowlevel
        self._task = lowlevel.current_task()

        def abort(_: object) -> Any:
            self._task = None
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)


class _SoonQueue:
    """Callbacks run by one parked system task of the trio run, after the
    task that scheduled them yields (``call_soon`` from the loop's thread)."""

    __slots__ = ("_items", "_parked", "_task")

    def __init__(self) -> None:
        self._items: deque[tuple[Callable[..., object], tuple[object, ...]]] = deque()
        self._task: Any = None
        self._parked = False

    def call_soon(self, func: Callable[..., object], args: tuple[object, ...]) -> None:
        self._items.append((func, args))
        if self._parked:
            self._parked = False
            _trio().lowlevel.reschedule(self._task)
        elif self._task is None:
            self._task = _trio().lowlevel.spawn_system_task(self._run)

    async def _run(self) -> None:
        lowlevel = _trio().lowlevel
        items = self._items

        def abort(_: object) -> Any:
            self._parked = False
            return lowlevel.Abort.SUCCEEDED

        while True:
            while items:
                func, args = items.popleft()
                func(*args)
            self._parked = True
            await lowlevel.wait_task_rescheduled(abort)


_SOON: Any = None


def _soon_queue() -> _SoonQueue:
    """This trio run's :class:`_SoonQueue` (made on first use)."""
    global _SOON
    if _SOON is None:
        _SOON = _trio().lowlevel.RunVar("anyio_bridge.soon")
    queue: _SoonQueue | None = _SOON.get(None)
    if queue is None:
        queue = _SoonQueue()
        _SOON.set(queue)
    return queue


class TaskRunners:
    """Trio tasks kept parked to run coroutines handed to their loop.

    Starting a trio task (and ending it) costs more than waking one that
    waits.  A loop that runs many short coroutines for other threads keeps up
    to :attr:`MAX_IDLE` tasks that finished one, parked, and hands them the
    next.  Each coroutine runs in the context it was handed with (see
    :func:`~anyio_bridge._backends._context.run_in_context`) and must not raise, as
    for :meth:`Loop.spawn`.  Parked tasks end when the loop's run ends.
    """

    MAX_IDLE = 8

    def __init__(self) -> None:
        self._idle: list[Any] = []

    def start(
        self, async_fn: Callable[[], Awaitable[object]], context: contextvars.Context
    ) -> None:
        """Run ``async_fn()`` in *context*; call in the loop's thread."""
        lowlevel = _trio().lowlevel
        if self._idle:
            task = self._idle.pop()
            lowlevel.reschedule(task, sys.modules["outcome"].Value((async_fn, context)))
        else:
            lowlevel.spawn_system_task(self._run, async_fn, context)

    async def _run(
        self, async_fn: Callable[[], Awaitable[object]], context: contextvars.Context
    ) -> None:
        lowlevel = _trio().lowlevel
        task = lowlevel.current_task()
        idle = self._idle

        def abort(_: object) -> Any:
            idle.remove(task)
            return lowlevel.Abort.SUCCEEDED

        while True:
            await run_in_context(context, async_fn)
            del async_fn, context
            if len(idle) >= self.MAX_IDLE:
                return
            idle.append(task)
            async_fn, context = await lowlevel.wait_task_rescheduled(abort)


BACKEND = TrioBackend()
