"""The few operations that need an event loop's native API.

Everything else in the package is written against anyio.  What lives here is
what anyio has no public, cheap equivalent for, measured on the hot paths:

* waking the loop from a foreign thread without blocking that thread
  (``call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio);
* a one-shot waiter a task can park on and a foreign thread can release,
  cheaper than :class:`anyio.Event` (an asyncio future; trio's
  ``wait_task_rescheduled``);
* starting a task on a loop from a foreign thread;
* telling whether the current thread runs an event loop and whether a loop is
  still alive;
* making a thread that anyio did not start look like an anyio worker thread,
  so that :func:`anyio.from_thread.run` and
  :func:`anyio.from_thread.check_cancelled` work inside thread-sensitive calls.
  That touches anyio's and trio's thread-local state; every access is guarded
  so that a change in either library degrades to "not a worker thread" instead
  of breaking.

The module never imports asyncio: an asyncio loop is only reached through the
objects anyio hands out, and ``sys.modules`` tells whether asyncio is loaded.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import sniffio

# anyio's private thread-local state, see the module docstring.  The version
# range in pyproject.toml pins anyio to releases that have it.
from anyio._core._eventloop import threadlocals as _anyio_threadlocals
from anyio.lowlevel import EventLoopToken, current_token

from ._coroutines import run_in_context

__all__ = [
    "Loop",
    "ThreadClaim",
    "current_loop",
    "foreign_worker_loop",
    "forget_thread_claims",
    "loop_for_token",
    "running_loop_here",
]


def _trio() -> Any:
    return sys.modules["trio"]


class Loop:
    """One running event loop, as seen from any thread.

    Obtain it with :func:`current_loop` (in the loop's thread) or
    :func:`loop_for_token`; instances are cached per loop.
    """

    __slots__ = ("__weakref__", "_native", "cancelled_class", "is_trio", "token")

    def __init__(self, token: EventLoopToken) -> None:
        self.token = token
        self._native: Any = token.native_token
        trio = sys.modules.get("trio")
        self.is_trio = trio is not None and isinstance(
            self._native, trio.lowlevel.TrioToken
        )
        #: The backend's cancellation exception class, known without a running
        #: loop (a coroutine can be closed by the garbage collector).
        self.cancelled_class: type[BaseException] = (
            token.backend_class.cancelled_exception_class()
        )

    @property
    def native(self) -> Any:
        """The native loop: an asyncio event loop, or trio's ``TrioToken``."""
        return self._native

    def call_soon_threadsafe(self, func: Callable[..., object], *args: object) -> bool:
        """Schedule ``func(*args)`` on this loop; callable from any thread.

        Returns ``False`` instead of raising when the loop has finished.
        """
        try:
            if self.is_trio:
                self._native.run_sync_soon(func, *args)
            else:
                self._native.call_soon_threadsafe(func, *args)
        except RuntimeError:  # asyncio: loop closed; trio: RunFinishedError
            return False
        return True

    def spawn(
        self,
        async_fn: Callable[[], Awaitable[object]],
        context: contextvars.Context | None = None,
    ) -> bool:
        """Start ``async_fn()`` as a new task on this loop, in *context*.

        For use from other threads; does not wait.  The task must not raise: on
        trio it is a system task, whose errors would crash the whole run.
        Returns ``False`` if the loop has finished (a trio run so near its end
        that it takes no new task drops it: see :meth:`start_task`).
        *context* defaults to a copy of the current one.
        """
        if context is None:
            context = contextvars.copy_context()
        return self.call_soon_threadsafe(self.start_task, async_fn, context)

    def start_task(
        self, async_fn: Callable[[], Awaitable[object]], context: contextvars.Context
    ) -> bool:
        """Start ``async_fn()`` as a new task on this loop now, in *context*.

        Call it in the loop's thread, while the loop runs.  On asyncio the
        task is made with the loop's ``create_task``; on trio it is a system
        task (trio cancels it when the main task ends).  The task must not
        raise, as for :meth:`spawn`.  Returns ``False``, instead of raising,
        if the loop takes no new tasks (trio, once the main task has ended).
        """
        if not self.is_trio:
            context.run(self._native.create_task, async_fn())
            return True
        try:
            _trio().lowlevel.spawn_system_task(async_fn, context=context)
        except RuntimeError:  # "Nursery is closed to new arrivals"
            return False
        return True

    def is_alive(self) -> bool:
        """Return ``False`` once this loop can no longer run callbacks."""
        if self.is_trio:
            return self.call_soon_threadsafe(_noop)
        return not self._native.is_closed()

    def new_waiter(self) -> Waiter:
        """A waiter for the current task of this loop (call in the loop's thread)."""
        return _TrioWaiter(self) if self.is_trio else _AsyncioWaiter(self)

    def new_cancelled(self) -> BaseException:
        """A fresh instance of this backend's cancellation exception."""
        if self.is_trio:
            return _trio().Cancelled._create()  # type: ignore[no-any-return]
        return self.cancelled_class()


def _noop() -> None:
    pass


class TaskRunners:
    """Trio tasks kept parked to run coroutines handed to their loop.

    Starting a trio task (and ending it) costs more than waking one that
    waits.  A loop that runs many short coroutines for other threads keeps up
    to :attr:`MAX_IDLE` tasks that finished one, parked, and hands them the
    next.  Each coroutine runs in the context it was handed with (see
    :func:`~anyio_bridge._coroutines.run_in_context`) and must not raise, as
    for :meth:`Loop.spawn`.  Parked tasks end when the loop's run ends.
    """

    MAX_IDLE = 8

    def __init__(self) -> None:
        self._idle: list[Any] = []

    def start(self, async_fn: Callable[[], Awaitable[object]], context: Any) -> None:
        """Run ``async_fn()`` in *context*; call in the loop's thread."""
        lowlevel = _trio().lowlevel
        if self._idle:
            task = self._idle.pop()
            lowlevel.reschedule(task, sys.modules["outcome"].Value((async_fn, context)))
        else:
            lowlevel.spawn_system_task(self._run, async_fn, context)

    async def _run(
        self, async_fn: Callable[[], Awaitable[object]], context: Any
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

    def reset(self) -> None:
        """Re-arm a woken waiter (in the loop's thread): the next :meth:`wait`
        returns on the next wake-up only."""
        raise NotImplementedError

    def _set(self) -> None:
        raise NotImplementedError

    def wait(self) -> Awaitable[None]:
        """Wait until woken (an awaitable; cancellable)."""
        raise NotImplementedError


class _AsyncioWaiter(Waiter):
    __slots__ = ("_future",)

    def __init__(self, loop: Loop) -> None:
        self._loop = loop
        self.done = False
        # Made now, before the waker is started, so that waiting costs little.
        self._future: Any = loop._native.create_future()

    def wake(self) -> bool:
        # Loop.call_soon_threadsafe, inlined: this runs on every call's path.
        try:
            self._loop._native.call_soon_threadsafe(self._set)
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
            self._future = self._loop._native.create_future()

    def wait(self) -> Awaitable[None]:
        # The future itself is awaited, no coroutine around it.  After a
        # cancelled wait, a fresh one: the cancelled one stays cancelled.
        future = self._future
        if future.cancelled():
            future = self._future = self._loop._native.create_future()
            if self.done:
                future.set_result(None)
        return future  # type: ignore[no-any-return]


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


_loops: weakref.WeakKeyDictionary[object, Loop] = weakref.WeakKeyDictionary()
_loops_lock = threading.Lock()


def loop_for_token(token: EventLoopToken) -> Loop:
    """The :class:`Loop` behind an anyio token."""
    native = token.native_token
    loop = _loops.get(native)
    if loop is None:
        with _loops_lock:
            loop = _loops.setdefault(native, Loop(token))
    return loop


class _LastLoop(threading.local):
    native: Any = None
    loop: Loop | None = None


_last_loop = _LastLoop()


def current_loop() -> Loop:
    """The :class:`Loop` running the current task.

    :raises anyio.NoEventLoopError: outside a running asyncio or trio loop.
    """
    native = _current_native()
    cache = _last_loop
    if native is not None and native is cache.native:
        return cache.loop  # type: ignore[return-value]
    loop = loop_for_token(current_token())
    cache.native, cache.loop = loop._native, loop
    return loop


def _current_native() -> Any:
    native: Any = None
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = None
    if library == "trio":
        native = _trio().lowlevel.current_trio_token()
    elif library == "asyncio":
        native = sys.modules["asyncio"]._get_running_loop()
    return native


def running_loop_here() -> bool:
    """Return ``True`` if the current thread is running an asyncio or trio loop."""
    asyncio: Any = sys.modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        return True
    trio: Any = sys.modules.get("trio")
    return trio is not None and bool(trio.lowlevel.in_trio_run())


def foreign_worker_loop() -> Loop | None:
    """The loop of an anyio or trio worker thread that this package did not start.

    ``None`` when the current thread is not such a worker thread.
    """
    token = getattr(_anyio_threadlocals, "current_token", None)
    if isinstance(token, EventLoopToken):
        return loop_for_token(token)
    data = _trio_thread_data()
    trio_token = getattr(data, "token", None)
    if trio_token is None:
        return None
    from anyio._backends._trio import TrioBackend  # trio is loaded: it made the token

    return loop_for_token(EventLoopToken(TrioBackend, trio_token))


def _trio_thread_data() -> Any:
    """trio's thread-local record of the task that started a worker thread."""
    global _trio_data
    if _trio_data is None and "trio" in sys.modules:
        threads = sys.modules.get("trio._threads")
        _trio_data = getattr(threads, "PARENT_TASK_DATA", None)
    return _trio_data


_trio_data: Any = None


def asyncio_cancel_scope() -> Any:
    """The anyio cancel scope the current asyncio task is in, if anyio knows it.

    anyio hands exactly this scope to its own worker threads, whose
    ``check_cancelled()`` walks it and its parents.
    """
    global _asyncio_internals
    if _asyncio_internals is None:
        from anyio._backends._asyncio import _task_states

        _asyncio_internals = (_task_states, sys.modules["asyncio"].current_task)
    task_states, current_task = _asyncio_internals
    state = task_states.get(current_task())
    return None if state is None else state.cancel_scope


_asyncio_internals: tuple[Any, Any] | None = None


def asyncio_cancel_requested(scope: Any) -> bool:
    """Whether *scope* (from `asyncio_cancel_scope`) or an unshielded parent
    has been cancelled: the test anyio's worker threads use."""
    while scope is not None:
        if scope.cancel_called:
            return True
        if scope.shield:
            return False
        scope = scope._parent_scope
    return False


class ThreadClaim:
    """What a thread-sensitive call shares with the thread that runs it.

    Created on the loop thread; :meth:`cancel` is called there when the caller
    is cancelled, and makes :func:`anyio.from_thread.check_cancelled` raise in
    the worker thread from then on.
    """

    __slots__ = ("cancel_scope", "loop", "trio_cancel_register")

    def __init__(self, loop: Loop, cancel_scope: object | None) -> None:
        self.loop = loop
        # asyncio: anyio walks this scope and its parents in check_cancelled().
        self.cancel_scope = cancel_scope
        # trio: trio.from_thread.check_cancelled() calls element 0 once set.
        self.trio_cancel_register: list[Callable[[], object] | None] = [None]

    def cancel(self) -> None:
        if self.loop.is_trio:
            self.trio_cancel_register[0] = self._raise_trio_cancelled

    def _raise_trio_cancelled(self) -> None:
        raise self.loop.new_cancelled()

    def enter(self) -> tuple[Any, ...]:
        """Make this thread look like an anyio worker thread of the claim's loop.

        Inside, :func:`anyio.from_thread.run`, :func:`anyio.from_thread.run_sync`
        and :func:`anyio.from_thread.check_cancelled` work as in a thread
        started by :func:`anyio.to_thread.run_sync`.  Returns what
        :meth:`leave` needs to restore the previous state, so claims nest.
        """
        anyio_state: dict[str, Any] = _anyio_threadlocals.__dict__
        saved_anyio = (
            anyio_state.get("current_token"),
            anyio_state.get("current_cancel_scope"),
        )
        anyio_state["current_token"] = self.loop.token
        anyio_state["current_cancel_scope"] = self.cancel_scope
        if not self.loop.is_trio:
            return (saved_anyio, None)
        trio_state: dict[str, Any] = _trio_thread_data().__dict__
        saved_trio = (
            trio_state.get("token"),
            trio_state.get("abandon_on_cancel"),
            trio_state.get("cancel_register"),
            trio_state.get("task_register"),
        )
        trio_state["token"] = self.loop._native
        # abandon_on_cancel=True makes trio.from_thread.run use the token (a
        # system task) rather than messages to a host task we don't have.
        trio_state["abandon_on_cancel"] = True
        trio_state["cancel_register"] = self.trio_cancel_register
        trio_state["task_register"] = [None]
        return (saved_anyio, saved_trio)

    @staticmethod
    def leave(saved: tuple[Any, ...]) -> None:
        """Undo :meth:`enter`, given what it returned."""
        _restore(_anyio_threadlocals.__dict__, _ANYIO_FIELDS, saved[0])
        if saved[1] is not None:
            _restore(_trio_thread_data().__dict__, _TRIO_FIELDS, saved[1])


def _restore(state: dict[str, Any], names: tuple[str, ...], values: Any) -> None:
    for name, value in zip(names, values, strict=True):
        if value is None:
            state.pop(name, None)
        else:
            state[name] = value


_ANYIO_FIELDS = ("current_token", "current_cancel_scope")
_TRIO_FIELDS = ("token", "abandon_on_cancel", "cancel_register", "task_register")


def forget_thread_claims() -> None:
    """Drop anyio's and trio's worker-thread state of the current thread.

    Called in a child process after :func:`os.fork`: the loop that state points
    to lives in the parent and must never be used from the child.
    """
    _restore(_anyio_threadlocals.__dict__, _ANYIO_FIELDS, (None, None))
    data = _trio_thread_data()
    if data is not None:  # pragma: no branch - trio is loaded in the test run
        _restore(data.__dict__, _TRIO_FIELDS, (None,) * len(_TRIO_FIELDS))
